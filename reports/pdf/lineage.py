"""The lineage report PDF (spec: reports.md, 'Lineage report'), with the lineage drawn as a diagram.

Metrics shape (built by reports.lineage and reports.builders): {"datasets": [{role, name, version, sha256, rows,
schema, target, positive_label, provenance, licence}], "model_version": {...}, "parents": [{id, model, version,
stage, artifact_sha256}], "reports": [{id, kind, verdict, pdf_sha256, json_sha256, reviewed}], "metric_claims":
{performance_report, tolerance, metrics: [reports.claims.compare rows]}, "promotion_requests":
[{id, target_stage, status, seq, hash, gates: [{name, passed, detail}], evidence_at_decision: {kind: {report_id,
...}}}], "approvals": [{request, who, role, decision, when, comment, artifact_sha256, evidence_digests: {kind:
{report_id, pdf_sha256, json_sha256, ...}}, lapse_reason, seq, hash}], "stage_changes": [{seq, hash, ts, old, new,
request}], "audit_entries": [{seq, ts, action, object: {type, id, repr}, hash, inclusion_proof: a proof document
| None}], "chain_verification": {ok, head_seq, rule, failed_seq}, "checkpoint": {...} | None}
"""

from __future__ import annotations

from typing import Any

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import KeepTogether, Paragraph

from reports.pdf.document import H2, SMALL, CoverInfo, build, closing, cover, para, table

MAPPING = [
    ["Diagram, Dataset versions", "EU AI Act Annex IV 2(d) (data provenance); Art. 10 data governance"],
    ["Training, Model artifact", "EU AI Act Annex IV 2(a)-(c); SR 11-7 documentation"],
    ["Evidence, Approvals", "SR 11-7 validation and effective challenge; EU AI Act Art. 14 human oversight"],
    ["Stage history, Audit extract", "EU AI Act Art. 12 record-keeping; Annex IV 6 (changes over the lifecycle)"],
]
SCHEMA_SHOWN = 100
LIMITATIONS = [
    "Lineage lists what was registered: data used outside the registry is not shown.",
    "The audit extract is verified against the whole chain at generation time; a later verification is needed to "
    "extend that assurance past this report.",
]

TITLES = ["Datasets", "Model", "Evidence", "Requests", "Approvals", "Stage changes"]
BOX_WIDTH, GAP, PAD = 27 * mm, 3.6 * mm, 2.5
MIN_BOX, BOX_GAP, TITLE_HEIGHT = 10 * mm, 3 * mm, 8 * mm
# A part of the diagram is one drawing, which never splits: each stays well inside an A4 frame (267 mm).
PART_HEIGHT = 200 * mm
# Labels shrink through these sizes to fit three lines; at the smallest the box grows to hold every line.
FONT_SIZES = (6.5, 5.5, 4.8)


def _wrap(label: str, size: float, width: float) -> list[str]:
    """The label broken into lines no wider than `width`: at spaces, and inside a word too long for a line."""
    lines: list[str] = []
    for line in simpleSplit(label, "DejaVu", size, width):
        while stringWidth(line, "DejaVu", size) > width:
            cut = 1
            while stringWidth(line[:cut + 1], "DejaVu", size) <= width:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines or [""]


def _fit(label: str) -> tuple[float, list[str], float]:
    """Font size, lines and box height that show the whole label inside its box."""
    for size in FONT_SIZES:
        lines = _wrap(label, size, BOX_WIDTH - 2 * PAD)
        if len(lines) <= 3:
            break
    return size, lines, max(MIN_BOX, len(lines) * size * 1.2 + 2 * PAD)


def _box(d: Drawing, x: float, top: float, label: str, colour: str) -> float:
    size, lines, height = _fit(label)
    d.add(Rect(x, top - height, BOX_WIDTH, height, fillColor=colors.HexColor(colour), strokeColor=colors.grey,
               strokeWidth=0.5))
    block = len(lines) * size * 1.2
    y = top - (height - block) / 2 - size
    for line in lines:
        d.add(String(x + PAD, y, line, fontName="DejaVu", fontSize=size))
        y -= size * 1.2
    return height


def _arrow(d: Drawing, x1: float, y1: float, x2: float, y2: float) -> None:
    d.add(Line(x1, y1, x2, y2, strokeColor=colors.grey, strokeWidth=0.6))
    d.add(Polygon([x2, y2, x2 - 4, y2 + 2, x2 - 4, y2 - 2], fillColor=colors.grey, strokeColor=colors.grey))


def _columns(m: dict[str, Any]) -> list[tuple[list[str], str]]:
    return [
        ([f"{d['role']}: {d['name']}@{d['version']}" for d in m["datasets"]], "#dfeaf7"),
        ([f"parent v{p['version']}" for p in m["parents"]] + [f"v{m['model_version']['version']} (this)"], "#fde9c9"),
        ([f"{r['kind']} #{r['id']}: {r['verdict']}" for r in m["reports"]], "#e3f4e1"),
        ([f"request #{r['id']} -> {r['target_stage']}" for r in m["promotion_requests"]], "#f3e1f4"),
        ([f"{a['who']} ({a['role']}): {a['decision']}" for a in m["approvals"]], "#fff7c2"),
        ([f"{s['old']} -> {s['new']}" for s in m["stage_changes"]], "#f6d5d5"),
    ]


def _parts(labels: list[str]) -> list[list[str]]:
    """A column's boxes in runs that each fit one part of the diagram, in order."""
    parts: list[list[str]] = [[]]
    used = 0.0
    for label in labels:
        height = _fit(label)[2] + BOX_GAP
        if parts[-1] and used + height > PART_HEIGHT - TITLE_HEIGHT:
            parts.append([])
            used = 0.0
        parts[-1].append(label)
        used += height
    return parts


def diagram(m: dict[str, Any]) -> list[Drawing]:
    """The lineage as one drawing per part: a column with more boxes than a page holds continues in the next part,
    so any number of reports, requests or approvals fits."""
    columns = [(_parts(labels or ["none"]), colour if labels else "#eeeeee") for labels, colour in _columns(m)]
    count = max(len(parts) for parts, _ in columns)
    drawings = []
    for n in range(count):
        shown = [(parts[n] if n < len(parts) else [], colour) for parts, colour in columns]
        height = TITLE_HEIGHT + max(sum(_fit(label)[2] + BOX_GAP for label in labels) for labels, _ in shown)
        d = Drawing(6 * BOX_WIDTH + 5 * GAP, height)
        for i, ((labels, colour), title) in enumerate(zip(shown, TITLES, strict=True)):
            x = i * (BOX_WIDTH + GAP)
            if labels:
                d.add(String(x, height - 5 * mm, title if n == 0 else f"{title} (continued)",
                             fontName="DejaVu-Bold", fontSize=7 if n == 0 else 6))
            top = height - TITLE_HEIGHT
            for label in labels:
                top -= _box(d, x, top, label, colour) + BOX_GAP
            if i and n == 0:
                _arrow(d, x - GAP, height - TITLE_HEIGHT - MIN_BOX / 2, x, height - TITLE_HEIGHT - MIN_BOX / 2)
        drawings.append(d)
    return drawings


def _diagram_story(m: dict[str, Any]) -> list[Any]:
    drawings = diagram(m)
    if len(drawings) == 1:
        return drawings
    story: list[Any] = []
    for n, d in enumerate(drawings, 1):
        caption = para(f"Diagram part {n} of {len(drawings)}" + (": each column continues in order from the part "
                                                                  "before." if n > 1 else "."), SMALL)
        story.append(KeepTogether([caption, d]))
    return story


def _bound_to(m: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["Approval (seq)", "Bound to", "Report", "PDF SHA-256", "JSON SHA-256"]]
    for a in m["approvals"]:
        rows.append([a["seq"], "model artifact", "—", a["artifact_sha256"], "—"])
        for kind, ev in sorted(a["evidence_digests"].items()):
            rows.append([a["seq"], f"{kind} report", f"#{ev.get('report_id')}" + (f" ({ev['verdict']})" if
                        ev.get("verdict") else ""), ev.get("pdf_sha256", ""), ev.get("json_sha256", "")])
    return rows


def _claims(m: dict[str, Any]) -> list[Any]:
    """Declared metrics beside the latest performance report's measurement, with the difference flagged."""
    mc = m.get("metric_claims") or {}
    rows = mc.get("metrics") or []
    source = (f"performance report #{mc['performance_report']}" if mc.get("performance_report")
              else "no performance report had succeeded by the frozen audit head")
    intro = para(f"Metrics: declared by the developer at registration, and measured by the product ({source}). A "
                 f"difference beyond {mc.get('tolerance')} is flagged; gates read only the measured values.")
    if not rows:
        return [intro, para("Nothing declared and nothing measured.")]
    return [KeepTogether([intro, table([["Metric", "Declared", "Measured", "Declared - measured", "Flag"]] + [
        [r["metric"], "—" if r["declared"] is None else f"{r['declared']:.4f}",
         "n/a" if r["measured"] is None else f"{r['measured']:.4f}",
         "—" if r["difference"] is None else f"{r['difference']:+.4f}",
         "FLAGGED" if r["flagged"] else r.get("note", "")] for r in rows],
        [35 * mm, 25 * mm, 25 * mm, 35 * mm, 50 * mm])])]


def _decided(m: dict[str, Any]) -> list[Any]:
    """Each decided request's gate results as its decision froze them."""
    rows: list[list[Any]] = [["Request", "Status", "Gate", "Result", "Detail"]]
    for r in m["promotion_requests"]:
        for g in r.get("gates") or []:
            rows.append([f"#{r['id']} -> {r['target_stage']}", r["status"], g.get("name", ""),
                         "PASS" if g.get("passed") else "FAIL", g.get("detail", "")])
    if len(rows) == 1:
        return []
    return [KeepTogether([para("Gate results frozen at each decision."),
                          table(rows, [28 * mm, 17 * mm, 33 * mm, 13 * mm, 79 * mm])])]


def _verification(m: dict[str, Any]) -> str:
    cv = m["chain_verification"]
    if cv["ok"]:
        return (f"Verification of the whole chain at generation: OK. Every entry from seq 1 to the audit head frozen "
                f"for this report (seq {cv['head_seq']}) verified, and so did every entry appended after it until the "
                "report was computed (their number depends on when that was, so it is not stated here; the run is "
                "itself recorded in the log as audit.log.verify).")
    where = (" (after the frozen head)" if cv["failed_seq"] is not None and cv["failed_seq"] > cv["head_seq"] else "")
    return (f"Verification of the whole chain at generation: FAILED, rule {cv['rule']} at seq {cv['failed_seq']}"
            f"{where}; the audit head frozen for this report is seq {cv['head_seq']}.")


def render_lineage(cover_info: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                   signoffs: list[dict[str, Any]]) -> bytes:
    m = metrics
    mv = m["model_version"]
    story = cover(cover_info, f"Lineage report — {cover_info.model_name} v{cover_info.version}")
    story += [Paragraph("1. Lineage diagram", H2), *_diagram_story(m), Paragraph("2. Dataset versions", H2),
              table([["Role", "Dataset", "SHA-256", "Rows", "Provenance", "Licence"]] + [
                  [d["role"], f"{d['name']}@{d['version']}", d["sha256"], d["rows"], d["provenance"], d["licence"]]
                  for d in m["datasets"]], [16 * mm, 28 * mm, 50 * mm, 12 * mm, 38 * mm, 26 * mm])]
    for d in m["datasets"]:
        # A wide data set's schema (up to 2,000 columns) would fill pages; the JSON twin holds all of it.
        shown, rest = d["schema"][:SCHEMA_SHOWN], len(d["schema"]) - SCHEMA_SHOWN
        label = (f" Target {d['target']}, positive label {d['positive_label']!r}." if d.get("target") else "")
        story.append(para(f"Schema of {d['name']}@{d['version']} ({len(d['schema'])} columns): "
                          + ", ".join(f"{c['name']} ({c['type']})" for c in shown)
                          + (f" and {rest} more (in the JSON twin)." if rest > 0 else ".") + label))
    story += [Paragraph("3. Training", H2), table([["Item", "Value"],
              ["Code", f"{mv['code_repository']} @ {mv['code_commit']}"], ["Python", mv["python_version"]],
              ["Packages", ", ".join(f"{k} {v}" for k, v in sorted(mv["packages"].items()))],
              ["Hyperparameters", ", ".join(f"{k}={v}" for k, v in sorted(mv["hyperparameters"].items()))],
              ["Parents", ", ".join(f"v{p['version']} ({p['artifact_sha256'][:16]}…)" for p in m["parents"])
               or "none"]], [35 * mm, 135 * mm]),
              Paragraph("4. Model artifact", H2), table([["SHA-256", "Size", "Format", "Framework"], [
                  mv["artifact_sha256"], mv["artifact_size"], mv["artifact_format"],
                  f"{mv['framework']} {mv['framework_version']}"]], [80 * mm, 25 * mm, 20 * mm, 45 * mm]),
              Paragraph("5. Evidence", H2),
              para("Reviewed: a decision that stands (an approval that did not lapse, or a rejection) was bound to "
                   "the report. A report no decision was bound to, such as one that arrived after the decision, is "
                   "marked not reviewed."),
              table([["Report", "Verdict", "Reviewed", "PDF SHA-256", "JSON SHA-256"]] + [
                  [f"{r['kind']} #{r['id']}", r["verdict"], "yes" if r.get("reviewed") else "not reviewed",
                   r["pdf_sha256"], r["json_sha256"]] for r in m["reports"]],
                  [28 * mm, 13 * mm, 17 * mm, 56 * mm, 56 * mm]),
              *_claims(m),
              *_decided(m),
              Paragraph("6. Approvals", H2),
              table([["Seq", "Request", "Who", "Role", "When", "Decision", "Comment"]] + [
                  [a["seq"], a["request"], a["who"], a["role"], a["when"],
                   a["decision"] + (f" (lapsed: {a['lapse_reason']})" if a["lapse_reason"] else ""), a["comment"]]
                  for a in m["approvals"]], [12 * mm, 15 * mm, 25 * mm, 27 * mm, 32 * mm, 24 * mm, 35 * mm]),
              KeepTogether([para("What each approval was bound to: the model artifact and every evidence report "
                                 "it saw, by digest."),
                            table(_bound_to(m), [17 * mm, 24 * mm, 19 * mm, 55 * mm, 55 * mm])]),
              Paragraph("7. Stage history", H2), table([["Seq", "When", "From", "To", "Request", "Entry hash"]] + [
                  [s["seq"], s["ts"], s["old"], s["new"], s["request"], s["hash"]] for s in m["stage_changes"]],
                  [12 * mm, 35 * mm, 18 * mm, 18 * mm, 15 * mm, 72 * mm]),
              Paragraph("8. Audit extract", H2),
              para("Every audit entry about this model version, its reports, its promotion requests and their "
                   "approvals, up to the audit head frozen for this report."),
              para(_verification(m))]
    cp = m.get("checkpoint")
    story.append(para(
        f"Inclusion proofs against checkpoint size {cp['size']}, root {cp['root']}. Proof hashes are shortened to "
        "16 hex digits here; each full proof is in this report's JSON twin (audit_entries[].inclusion_proof), a "
        "document the standalone verifier checks as is: python -m audit.verifier --proof FILE --key PEM."
        if cp else "No checkpoint covers these entries yet: no inclusion proofs."))
    story.append(table([["Seq", "When", "Action", "Object", "Entry hash", "Inclusion proof (audit path)"]] + [
        [e["seq"], e["ts"], e["action"], e["object"]["repr"], e["hash"],
         " ".join(h[:16] + "…" for h in (e["inclusion_proof"] or {}).get("proof", [])) or "—"]
        for e in m["audit_entries"]], [11 * mm, 26 * mm, 32 * mm, 28 * mm, 38 * mm, 35 * mm]))
    story += closing(MAPPING, LIMITATIONS, signoffs)
    return build(story, title=f"Lineage report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
