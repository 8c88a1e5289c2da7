"""The lineage report PDF (spec: reports.md, 'Lineage report'), with the lineage drawn as a diagram.

Metrics shape (built by reports.lineage): {"datasets": [{role, name, version, sha256, rows, schema, provenance,
licence}], "model_version": {...}, "parents": [...], "reports": [{id, kind, verdict, pdf_sha256, json_sha256}],
"promotion_requests": [{id, target_stage, status, seq, hash}], "approvals": [{request, who, role, decision, when,
comment, digests, seq, hash}], "stage_changes": [{seq, hash, ts, old, new, request}], "audit_entries": [{seq, ts,
action, hash, inclusion_proof}], "chain_verification": {...}, "checkpoint": {...} | None}
"""

from __future__ import annotations

from typing import Any

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph

from reports.pdf.document import H2, CoverInfo, build, closing, cover, para, table

MAPPING = [
    ["Diagram, Dataset versions", "EU AI Act Annex IV 2(d) (data provenance); Art. 10 data governance"],
    ["Training, Model artifact", "EU AI Act Annex IV 2(a)-(c); SR 11-7 documentation"],
    ["Evidence, Approvals", "SR 11-7 validation and effective challenge; EU AI Act Art. 14 human oversight"],
    ["Stage history, Audit extract", "EU AI Act Art. 12 record-keeping; Annex IV 6 (changes over the lifecycle)"],
]
LIMITATIONS = [
    "Lineage lists what was registered: data used outside the registry is not shown.",
    "The audit extract is verified against the whole chain at generation time; a later verification is needed to "
    "extend that assurance past this report.",
]


def _box(d: Drawing, x: float, y: float, w: float, label: str, colour: str) -> None:
    d.add(Rect(x, y, w, 10 * mm, fillColor=colors.HexColor(colour), strokeColor=colors.grey, strokeWidth=0.5))
    d.add(String(x + 2, y + 4 * mm, label[:34], fontName="DejaVu", fontSize=6.5))


def _arrow(d: Drawing, x1: float, y1: float, x2: float, y2: float) -> None:
    d.add(Line(x1, y1, x2, y2, strokeColor=colors.grey, strokeWidth=0.6))
    d.add(Polygon([x2, y2, x2 - 4, y2 + 2, x2 - 4, y2 - 2], fillColor=colors.grey, strokeColor=colors.grey))


def diagram(m: dict[str, Any]) -> Drawing:
    columns = [
        ([f"{d['role']}: {d['name']}@{d['version']}" for d in m["datasets"]], "#dfeaf7"),
        ([f"parent v{p['version']}" for p in m["parents"]] + [f"v{m['model_version']['version']} (this)"], "#fde9c9"),
        ([f"{r['kind']} #{r['id']}: {r['verdict']}" for r in m["reports"]], "#e3f4e1"),
        ([f"request #{r['id']} -> {r['target_stage']}" for r in m["promotion_requests"]], "#f3e1f4"),
        ([f"{a['who']} ({a['role']}): {a['decision']}" for a in m["approvals"]], "#fff7c2"),
        ([f"{s['old']} -> {s['new']}" for s in m["stage_changes"]], "#f6d5d5"),
    ]
    height = max(1, max(len(c[0]) for c in columns)) * 13 * mm + 12 * mm
    d = Drawing(180 * mm, height)
    titles = ["Datasets", "Model", "Evidence", "Requests", "Approvals", "Stage changes"]
    width, gap = 27 * mm, 3.6 * mm
    for i, ((labels, colour), title) in enumerate(zip(columns, titles, strict=True)):
        x = i * (width + gap)
        d.add(String(x, height - 5 * mm, title, fontName="DejaVu-Bold", fontSize=7))
        for j, label in enumerate(labels or ["none"]):
            _box(d, x, height - 18 * mm - j * 13 * mm, width, label, colour if labels else "#eeeeee")
        if i:
            _arrow(d, x - gap, height - 13 * mm, x, height - 13 * mm)
    return d


def render_lineage(cover_info: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                   signoffs: list[dict[str, Any]]) -> bytes:
    m = metrics
    mv = m["model_version"]
    story = cover(cover_info, f"Lineage report — {cover_info.model_name} v{cover_info.version}")
    story += [Paragraph("1. Lineage diagram", H2), diagram(m), Paragraph("2. Dataset versions", H2),
              table([["Role", "Dataset", "SHA-256", "Rows", "Provenance", "Licence"]] + [
                  [d["role"], f"{d['name']}@{d['version']}", d["sha256"], d["rows"], d["provenance"], d["licence"]]
                  for d in m["datasets"]], [16 * mm, 28 * mm, 50 * mm, 12 * mm, 38 * mm, 26 * mm])]
    for d in m["datasets"]:
        story.append(para(f"Schema of {d['name']}@{d['version']}: "
                          + ", ".join(f"{c['name']} ({c['type']})" for c in d["schema"])))
    story += [Paragraph("3. Training", H2), table([["Item", "Value"],
              ["Code", f"{mv['code_repository']} @ {mv['code_commit']}"], ["Python", mv["python_version"]],
              ["Packages", ", ".join(f"{k} {v}" for k, v in sorted(mv["packages"].items()))],
              ["Hyperparameters", ", ".join(f"{k}={v}" for k, v in sorted(mv["hyperparameters"].items()))],
              ["Parents", ", ".join(f"v{p['version']} ({p['artifact_sha256'][:16]}…)" for p in m["parents"])
               or "none"]], [35 * mm, 135 * mm]),
              Paragraph("4. Model artifact", H2), table([["SHA-256", "Size", "Format", "Framework"], [
                  mv["artifact_sha256"], mv["artifact_size"], mv["artifact_format"],
                  f"{mv['framework']} {mv['framework_version']}"]], [80 * mm, 25 * mm, 20 * mm, 45 * mm]),
              Paragraph("5. Evidence", H2), table([["Report", "Verdict", "PDF SHA-256", "JSON SHA-256"]] + [
                  [f"{r['kind']} #{r['id']}", r["verdict"], r["pdf_sha256"], r["json_sha256"]] for r in m["reports"]],
                  [30 * mm, 15 * mm, 62 * mm, 62 * mm]),
              Paragraph("6. Approvals", H2), table([["Request", "Who", "Role", "When", "Decision", "Comment",
                                                     "Bound to digests"]] + [
                  [a["request"], a["who"], a["role"], a["when"], a["decision"], a["comment"],
                   "; ".join(f"{k}: {v}" for k, v in sorted(a["digests"].items()))] for a in m["approvals"]],
                  [14 * mm, 18 * mm, 22 * mm, 28 * mm, 15 * mm, 30 * mm, 43 * mm]),
              Paragraph("7. Stage history", H2), table([["Seq", "When", "From", "To", "Request", "Entry hash"]] + [
                  [s["seq"], s["ts"], s["old"], s["new"], s["request"], s["hash"]] for s in m["stage_changes"]],
                  [12 * mm, 35 * mm, 18 * mm, 18 * mm, 15 * mm, 72 * mm]),
              Paragraph("8. Audit extract", H2)]
    cv = m["chain_verification"]
    story.append(para(f"Verification of the whole chain at generation: {'OK' if cv['ok'] else 'FAILED'}, "
                      f"{cv['entries_checked']} entries up to seq {cv['last_seq']}"
                      + (f"; failure: {cv['rule']} at seq {cv['failed_seq']}" if not cv["ok"] else "") + "."))
    cp = m.get("checkpoint")
    story.append(para(f"Inclusion proofs against checkpoint size {cp['size']}, root {cp['root']}." if cp else
                      "No checkpoint covers these entries yet: no inclusion proofs."))
    story.append(table([["Seq", "When", "Action", "Entry hash", "Inclusion proof (audit path)"]] + [
        [e["seq"], e["ts"], e["action"], e["hash"], " ".join(h[:16] + "…" for h in e["inclusion_proof"] or []) or "—"]
        for e in m["audit_entries"]], [12 * mm, 32 * mm, 38 * mm, 45 * mm, 43 * mm]))
    story += closing(MAPPING, LIMITATIONS, signoffs)
    return build(story, title=f"Lineage report {cover_info.report_id}", report_id=cover_info.report_id,
                 metrics_sha256=cover_info.metrics_sha256)
