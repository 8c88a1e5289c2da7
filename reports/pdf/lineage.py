"""The lineage report PDF (spec: reports.md, 'Lineage report'), with the lineage drawn as a diagram.

The metrics it renders have the shape of `LineageMetrics` below (built from the registry and the audit log, which
is the authoritative record of approvals and stage changes). Timestamps are ISO 8601 strings in UTC.
"""

from __future__ import annotations

import itertools
from typing import Any, TypedDict

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph

from reports.pdf.document import BOLD, FONT, H2, WIDTH, CoverInfo, build, bullets, closing, para, table
from reports.pdf.document import cover as cover_page


class DatasetRef(TypedDict):
    role: str  # "training" or "evaluation"
    name: str
    version: int
    sha256: str
    rows: int | None
    schema: list[dict[str, Any]]  # [{"name", "type", "nulls"?}]
    provenance: str
    licence: str


class ModelVersionRef(TypedDict):
    id: int
    version: int
    artifact_sha256: str
    artifact_size: int
    artifact_format: str
    framework: str
    framework_version: str
    code_repository: str
    code_commit: str
    python_version: str
    packages: dict[str, str]
    hyperparameters: dict[str, Any]


class AuditEntryRef(TypedDict):
    seq: int
    ts: str
    action: str
    hash: str
    inclusion_proof: list[str] | None  # audit path against the checkpoint, None until a checkpoint covers it


class LineageMetrics(TypedDict, total=False):
    datasets: list[DatasetRef]
    model_version: ModelVersionRef
    parents: list[dict[str, Any]]  # nearest first: {"id", "model", "version", "stage", "artifact_sha256"}
    reports: list[dict[str, Any]]  # {"id", "kind", "verdict", "pdf_sha256", "json_sha256"}
    promotion_requests: list[dict[str, Any]]  # {"id", "target_stage", "status", "seq", "hash"}
    # {"request", "who", "role", "decision", "when", "comment", "digests": {kind: json sha256}, "seq", "hash"}
    approvals: list[dict[str, Any]]
    stage_changes: list[dict[str, Any]]  # {"seq", "hash", "ts", "old", "new", "request"}
    audit_entries: list[AuditEntryRef]
    chain_verification: dict[str, Any]  # {"ok", "entries_checked", "last_seq", "rule", "failed_seq"}
    checkpoint: dict[str, Any] | None  # the signed checkpoint the inclusion proofs are against


MAPPING = [
    ["1 Diagram, 2 Dataset versions", "EU AI Act Annex IV 2(d) (data provenance, characteristics) and Art. 10 (data "
                                      "governance)"],
    ["3 Training, 4 Model artifact", "EU AI Act Annex IV 2(a)-(c) (development, design); SR 11-7 documentation "
                                     "usable by someone unfamiliar with the model"],
    ["5 Evidence, 6 Approvals", "SR 11-7 validation and effective challenge; EU AI Act Art. 14 (human oversight) "
                                "and Art. 17 (quality management)"],
    ["7 Stage history, 8 Audit extract", "EU AI Act Art. 12 (record-keeping, automatic logs) and Annex IV 6 "
                                         "(changes over the lifecycle)"],
]
LIMITATIONS = [
    "Lineage lists what was registered: data or code used outside the registry does not appear.",
    "The chain was verified at generation; that assurance covers the log up to the head on the cover. Verify the "
    "exported log again to extend it.",
    "Inclusion proofs exist only for entries covered by a signed checkpoint.",
]
COLUMNS = [("Datasets", "#dfeaf7"), ("Model versions", "#fde9c9"), ("Evidence", "#e3f4e1"),
           ("Promotion requests", "#f0e1f4"), ("Approvals", "#fff4bf"), ("Stage changes", "#f6d5d5")]
MAX_BOXES = 10
BOX_W, BOX_H, GAP_X, GAP_Y = (WIDTH - 5 * 5 * mm) / 6, 11 * mm, 5 * mm, 3.5 * mm


def _fit(label: str, size: float) -> str:
    while stringWidth(label, FONT, size) > BOX_W - 4 and len(label) > 2:
        label = label[:-2] + "…"
    return label


def _nodes(m: dict[str, Any]) -> list[list[tuple[str, list[str], str]]]:
    """Per column: (node id, two lines of label, colour) in the order drawn."""
    mv = m["model_version"]
    return [
        [(f"d{i}", [f"{d['role']}: {d['name']} v{d['version']}", f"{d['sha256'][:12]}…, {d['rows']} rows"], "")
         for i, d in enumerate(m["datasets"])],
        [(f"p{i}", [f"parent v{p['version']} ({p.get('stage', '')})", f"{p['artifact_sha256'][:12]}…"], "")
         for i, p in reversed(list(enumerate(m["parents"])))]
        + [("v", [f"v{mv['version']} (this version)", f"{mv['artifact_sha256'][:12]}…"], "#f7c77e")],
        [(f"r{r['id']}", [f"{r['kind']} #{r['id']}", f"verdict {r['verdict']}"], "") for r in m["reports"]],
        [(f"q{q['id']}", [f"request #{q['id']}", f"to {q['target_stage']}: {q['status']}"], "")
         for q in m["promotion_requests"]],
        [(f"a{i}", [f"{a['who']} ({a['role']})", f"{a['decision']} #{a['request']}"], "")
         for i, a in enumerate(m["approvals"])],
        [(f"s{s['seq']}", [f"{s['old']} → {s['new']}", f"seq {s['seq']}"], "") for s in m["stage_changes"]],
    ]


def _edges(m: dict[str, Any]) -> list[tuple[str, str]]:
    """Who led to whom: data and parents to the version, the version to its evidence, evidence to the requests
    whose approvals were bound to its digest, requests to their approvals and the stage changes they made."""
    edges = [(f"d{i}", "v") for i in range(len(m["datasets"]))]
    chain = [f"p{i}" for i in reversed(range(len(m["parents"])))] + ["v"]
    edges += list(itertools.pairwise(chain))
    edges += [("v", f"r{r['id']}") for r in m["reports"]]
    by_digest = {r["json_sha256"]: f"r{r['id']}" for r in m["reports"]}
    for q in m["promotion_requests"]:
        bound = {by_digest[d] for a in m["approvals"] if a["request"] == q["id"]
                 for d in (a.get("digests") or {}).values() if d in by_digest}
        edges += [(r, f"q{q['id']}") for r in sorted(bound)] or [("v", f"q{q['id']}")]
    edges += [(f"q{a['request']}", f"a{i}") for i, a in enumerate(m["approvals"])]
    edges += [(f"q{s['request']}" if s.get("request") else "v", f"s{s['seq']}") for s in m["stage_changes"]]
    return edges


def diagram(m: dict[str, Any]) -> Drawing:
    columns = _nodes(m)
    rows = min(MAX_BOXES, max(1, *(len(c) for c in columns)))
    height = 8 * mm + rows * (BOX_H + GAP_Y)
    d = Drawing(WIDTH, height)
    where: dict[str, tuple[float, float]] = {}
    boxes = []
    for ci, ((title, colour), nodes) in enumerate(zip(COLUMNS, columns, strict=True)):
        x = ci * (BOX_W + GAP_X)
        d.add(String(x, height - 4 * mm, title, fontName=BOLD, fontSize=6.5))
        shown = nodes if len(nodes) <= MAX_BOXES else [*nodes[: MAX_BOXES - 1],
                                                       ("more", [f"+ {len(nodes) - MAX_BOXES + 1} more", "see tables"],
                                                        "")]
        for ri, (node, lines, own) in enumerate(shown or [("none", ["none", ""], "#eeeeee")]):
            y = height - 8 * mm - (ri + 1) * BOX_H - ri * GAP_Y
            where[node] = (x, y)
            boxes.append((x, y, lines, own or colour))
    for a, b in _edges(m):
        if a in where and b in where:
            (x1, y1), (x2, y2) = where[a], where[b]
            if x1 == x2:  # parent above child in the same column
                d.add(Line(x1 + BOX_W / 2, y1, x2 + BOX_W / 2, y2 + BOX_H, strokeColor=colors.grey, strokeWidth=0.6))
                continue
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            d.add(Line(sx, sy, ex, ey, strokeColor=colors.grey, strokeWidth=0.6))
            d.add(Polygon([ex, ey, ex - 4, ey + 2, ex - 4, ey - 2], fillColor=colors.grey, strokeColor=colors.grey,
                          strokeWidth=0.3))
    for x, y, lines, colour in boxes:
        d.add(Rect(x, y, BOX_W, BOX_H, fillColor=colors.HexColor(colour), strokeColor=colors.grey, strokeWidth=0.5))
        d.add(String(x + 2, y + BOX_H - 4.2 * mm, _fit(lines[0], 6), fontName=FONT, fontSize=6))
        d.add(String(x + 2, y + 2.2 * mm, _fit(lines[1], 5.5), fontName=FONT, fontSize=5.5,
                     fillColor=colors.HexColor("#444444")))
    return d


def _schema(d: dict[str, Any]) -> str:
    cols = d.get("schema") or []
    return ", ".join(f"{c.get('name')} ({c.get('type')})" for c in cols) or "not recorded"


def _story(info: CoverInfo, m: dict[str, Any], signoffs: list[dict[str, Any]]) -> list[Any]:
    mv = m["model_version"]
    story: list[Any] = cover_page(info, f"Lineage report — {info.model_title}")
    story += [Paragraph("1. Lineage diagram", H2),
              para("Dataset versions → model version (and its parents) → evaluations and reports → promotion "
                   "requests → approvals → stage changes. Arrows from evidence to a request mean an approval of "
                   "that request was bound to the report's digest."),
              diagram(m), Paragraph("2. Dataset versions", H2),
              table([["Role", "Dataset", "SHA-256", "Rows", "Provenance", "Licence"]] + [
                  [d["role"], f"{d['name']} v{d['version']}", d["sha256"], d["rows"], d["provenance"] or "—",
                   d["licence"] or "—"] for d in m["datasets"]],
                  [18 * mm, 28 * mm, 52 * mm, 14 * mm, 40 * mm, WIDTH - 152 * mm]),
              *bullets([f"Schema of {d['name']} v{d['version']}: {_schema(d)}" for d in m["datasets"]]),
              Paragraph("3. Training", H2),
              table([["Item", "Value"], ["Code", f"{mv['code_repository'] or '—'} @ {mv['code_commit'] or '—'}"],
                     ["Python", mv["python_version"] or "—"],
                     ["Packages", ", ".join(f"{k} {v}" for k, v in sorted(mv["packages"].items())) or "—"],
                     ["Hyperparameters", ", ".join(f"{k}={v}" for k, v in sorted(mv["hyperparameters"].items()))
                      or "—"],
                     ["Parents", "; ".join(f"v{p['version']} ({p['artifact_sha256']})" for p in m["parents"])
                      or "none"]], [35 * mm, WIDTH - 35 * mm]),
              Paragraph("4. Model artifact", H2),
              table([["SHA-256", "Size (bytes)", "Format", "Framework"],
                     [mv["artifact_sha256"], mv["artifact_size"], mv["artifact_format"],
                      f"{mv['framework']} {mv['framework_version']}"]], [75 * mm, 25 * mm, 25 * mm, WIDTH - 125 * mm]),
              Paragraph("5. Evidence", H2),
              table([["Report", "Verdict", "PDF SHA-256", "JSON SHA-256"]] + [
                  [f"{r['kind']} #{r['id']}", r["verdict"], r["pdf_sha256"], r["json_sha256"]] for r in m["reports"]],
                  [30 * mm, 16 * mm, (WIDTH - 46 * mm) / 2, (WIDTH - 46 * mm) / 2])
              if m["reports"] else para("No report on this version yet."),
              Paragraph("6. Approvals", H2),
              table([["Request", "Who", "Role", "When", "Decision", "Comment", "Bound to digests"]] + [
                  [a["request"], a["who"], a["role"], a["when"], a["decision"], a["comment"] or "",
                   "; ".join(f"{k}: {v}" for k, v in sorted((a.get("digests") or {}).items())) or "—"]
                  for a in m["approvals"]], [14 * mm, 20 * mm, 22 * mm, 26 * mm, 16 * mm, 30 * mm, WIDTH - 128 * mm])
              if m["approvals"] else para("No approval recorded yet."),
              Paragraph("7. Stage history", H2),
              table([["Seq", "When", "From", "To", "Request", "Audit entry hash"]] + [
                  [s["seq"], s["ts"], s["old"], s["new"], s.get("request") or "—", s["hash"]]
                  for s in m["stage_changes"]], [12 * mm, 34 * mm, 20 * mm, 20 * mm, 16 * mm, WIDTH - 102 * mm])
              if m["stage_changes"] else para("No stage change recorded yet."),
              Paragraph("8. Audit extract", H2), *_audit(m)]
    return story + closing(MAPPING, LIMITATIONS, signoffs)


def _audit(m: dict[str, Any]) -> list[Any]:
    cv, cp = m["chain_verification"], m.get("checkpoint")
    verdict = "verified" if cv["ok"] else f"FAILED ({cv.get('rule')} at seq {cv.get('failed_seq')})"
    out: list[Any] = [
        para(f"Verification of the whole chain at generation: {verdict}; {cv['entries_checked']} entries checked, "
             f"up to seq {cv['last_seq']}."),
        para(f"Inclusion proofs are against the signed checkpoint of size {cp['size']}, root {cp['root']}." if cp
             else "No signed checkpoint covers these entries yet: no inclusion proofs."),
        table([["Seq", "When", "Action", "Entry hash", "Inclusion proof (audit path)"]] + [
            [e["seq"], e["ts"], e["action"], e["hash"], " ".join(e.get("inclusion_proof") or []) or "—"]
            for e in m["audit_entries"]], [12 * mm, 30 * mm, 38 * mm, 45 * mm, WIDTH - 125 * mm]),
    ]
    return out


def render_lineage(cover: CoverInfo, metrics: dict[str, Any], charts: dict[str, bytes],
                   signoffs: list[dict[str, Any]]) -> bytes:
    """`metrics` has the shape of LineageMetrics; `charts` is unused (the diagram is drawn as vector graphics)."""
    return build(lambda: _story(cover, metrics, signoffs), cover,
                 f"Lineage report {cover.report_id}: {cover.model_name} v{cover.version}")
