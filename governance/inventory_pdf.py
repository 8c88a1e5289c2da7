"""The inventory as of an instant as a PDF (issue 22 §3): the log's head then, the latest signed checkpoint, the
policies and roles, and every model with its versions, people, requests and approvals, each production version
with its promotion entry's inclusion proof. Deterministic (the same database state and instant give the same
bytes) and stamped, as the evidence reports are, with the SHA-256 of the JSON it shows in every page's footer.

Laid out a model at a time as reportlab consumes the story, from `inventory.whole()`'s pages: the inventory's
dicts are never all held at once, only the PDF being written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, Spacer, Table, TableStyle

from audit.format import jcs
from audit.models import Checkpoint
from governance import inventory
from reports.pdf.document import H1, H2, LEAD, SMALL, para, table, text
from reports.pdf.document import render as render_pdf

# A4 less the margins and the frame's padding, as the reports' tables; a SHA-256 in hex fits on a line of VALUE.
KEY, VALUE = 42 * mm, 133 * mm
SUB = ParagraphStyle("sub", parent=LEAD, fontName="DejaVu-Bold", spaceBefore=4, spaceAfter=2)
# What the footer's SHA-256 is of: these members of the inventory JSON, the models of every page in order.
DIGESTED = ("checkpoint", "head", "models", "policies_in_force", "roles")
# How many flowables are laid out ahead of reportlab's place in the story: more than any run it keeps together.
AHEAD = 64


def digest(document: dict[str, Any]) -> str:
    """The SHA-256 a PDF's footer states for `document`: RFC 8785 of its members in DIGESTED (for a verifier)."""
    return hashlib.sha256(jcs.canonical({k: document[k] for k in DIGESTED})).hexdigest()


class _Digest:
    """`digest` of the whole document, fed a model at a time: RFC 8785 writes an object's members sorted by name,
    so the models fall between `head` and `policies_in_force` and are hashed as they pass."""

    def __init__(self, first: dict[str, Any]) -> None:
        self._hash = hashlib.sha256(b'{"checkpoint":' + jcs.canonical(first["checkpoint"]) + b',"head":'
                                    + jcs.canonical(first["head"]) + b',"models":[')
        self._tail = (b'],"policies_in_force":' + jcs.canonical(first["policies_in_force"]) + b',"roles":'
                      + jcs.canonical(first["roles"]) + b"}")
        self._models = 0
        self._hex: str | None = None

    def add(self, model: dict[str, Any]) -> None:
        self._hash.update((b"," if self._models else b"") + jcs.canonical(model))
        self._models += 1

    def hexdigest(self) -> str:
        if self._hex is None:
            self._hash.update(self._tail)
            self._hex = self._hash.hexdigest()
        return self._hex


class _Story(list[Any]):
    """The story, topped up from `more` whenever reportlab asks how much is left (its build loop reads `len()`
    before each flowable and takes from the front): only a few models' flowables exist at a time."""

    def __init__(self, start: list[Any], more: Iterator[list[Any]]) -> None:
        super().__init__(start)
        self._more = more

    def __len__(self) -> int:
        while super().__len__() < AHEAD and (chunk := next(self._more, None)) is not None:
            self.extend(chunk)
        return super().__len__()


def render(as_of: dt.datetime | None, model: str | None = None) -> bytes:
    """The inventory as of `as_of` (the present when None), of every model or of the one named `model` then."""
    pages = _pages(as_of, model)
    first = next(pages)
    stamp = _Digest(first)
    title = _title(first, as_of, model)
    start = _cover(first, title, as_of, model)

    def models() -> Iterator[list[Any]]:
        shown = 0
        for page in itertools.chain([first], pages):
            for one in page["models"]:
                stamp.add(one)
                shown += 1
                yield _model(one)
        if not shown:
            yield [para("No model was registered at this instant.")]

    head = first["head"]
    at = f"entry {head['seq']}" if head else "no entry"
    return render_pdf(_Story(start, models()), title=title,
                      footer=lambda: f"Inventory at {at} · inventory JSON SHA-256 {stamp.hexdigest()}")


def _pages(as_of: dt.datetime | None, model: str | None) -> Iterator[dict[str, Any]]:
    if model is None:
        yield from inventory.whole(as_of=as_of)
        return
    one = inventory.model_inventory(model, as_of=as_of)
    yield {**{k: v for k, v in one.items() if k != "model"}, "models": [one["model"]], "next": None}


def _utc(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" + (".%f" if value.microsecond else "") + " UTC")


def _when(ts: Any) -> str:
    """An entry's timestamp (2026-03-31T23:59:59.123456Z) to the second, for a table; '' when there is none."""
    return str(ts)[:19].replace("T", " ") if ts else ""


def _title(first: dict[str, Any], as_of: dt.datetime | None, model: str | None) -> str:
    if as_of is not None:
        title = f"Inventory as of {_utc(as_of)}"
    else:
        title = f"Inventory at entry {first['head']['seq'] if first['head'] else 0} (present)"
    return f"{title}: model {model}" if model is not None else title


def _grid(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    """The reports' table, against the left margin as the headings are."""
    t = table(rows, widths, header=header)
    t.hAlign = "LEFT"
    return t


def _pairs(rows: list[tuple[str, Any]]) -> Table:
    return _grid([[label, value] for label, value in rows], [KEY, VALUE], header=False)


def _lines(values: list[Any]) -> Paragraph:
    return Paragraph("<br/>".join(text(v) for v in values), SMALL)


def _cover(first: dict[str, Any], title: str, as_of: dt.datetime | None, model: str | None) -> list[Any]:
    head = first["head"]
    asked = _utc(as_of) if as_of is not None else "the present: the log's head when this document was made"
    instant: list[tuple[str, Any]] = [("Asked for", asked),
                                      ("Models", f"the model {model} only" if model is not None else "every model")]
    if head:
        instant += [("Read at entry", f"seq {head['seq']}: the last entry recorded at or before the instant"),
                    ("Entry hash", head["hash"]), ("Entry recorded (UTC)", head["ts"])]
    else:
        instant.append(("Read at entry", "none: no entry had been recorded by then, so nothing was registered"))
    return [
        Paragraph(text(title), H1),
        para("What the audit log's entries up to the instant say: the registered models, each version's stage, "
             "owners and developers, who held which role, the policies in force, the promotion requests with their "
             "approvals and the evidence digests each approval was bound to; and, for each version in production, "
             "the entry that promoted it with its inclusion proof against the latest signed checkpoint."),
        Paragraph("The instant", H2), _pairs(instant),
        Paragraph("Latest signed checkpoint", H2), *_checkpoint(first["checkpoint"], head),
        Paragraph("Policies in force", H2), _policies(first["policies_in_force"]),
        Paragraph("Roles and their holders", H2), _roles(first["roles"]),
        Paragraph("How to verify this document", H2), *_how_to_verify(model),
        PageBreak(), Paragraph("Models", H1),
    ]


def _checkpoint(cp: dict[str, Any] | None, head: dict[str, Any] | None) -> list[Any]:
    if cp is None:
        return [para("None made yet: no inclusion proof can be given. A checkpoint is made on schedule, or by "
                     "manage.py audit checkpoint; render this document again after it.")]
    document = Checkpoint.objects.filter(size=cp["size"]).values_list("document", flat=True).first()
    rows: list[tuple[str, Any]] = [
        ("Size", f"{cp['size']} entries" + (f" (entries after {cp['size']} are not covered yet)"
                                            if head and head["seq"] > cp["size"] else "")),
        ("Root", cp["root"]), ("Head", cp["head"]), ("Made (UTC)", cp["ts"]), ("Key id", cp["key"]),
        ("Log id", cp["log"]), ("Signed document", document),
    ]
    return [_pairs(rows)]


def _policies(policies: list[dict[str, Any]]) -> Any:
    if not policies:
        return para("No policy was in force.")
    return _grid([["Name", "Version", "Rules SHA-256", "Last changed by"]]
                 + [[p["name"], p["version"], p["rules_sha256"], p["updated_by"] or ""] for p in policies],
                 [35 * mm, 16 * mm, 100 * mm, 24 * mm])


def _roles(roles: list[dict[str, Any]]) -> Any:
    if not roles:
        return para("No role was held.")
    if any(r["group"] for r in roles):
        return _grid([["Role", "Group", "Holders"]]
                     + [[r["code"], r["group"] or "", ", ".join(r["holders"]) or "nobody"] for r in roles],
                     [KEY, 40 * mm, VALUE - 40 * mm])
    # The roles the migrations made are in the log by code only: no group to name.
    return _grid([["Role", "Holders"]] + [[r["code"], ", ".join(r["holders"]) or "nobody"] for r in roles],
                 [KEY, VALUE])


def _how_to_verify(model: str | None) -> list[Any]:
    source = (f"GET /api/v1/inventory/{model}/?as_of=T, its \"model\" as the only one of \"models\""
              if model is not None else
              "GET /api/v1/inventory/?as_of=T&limit=100, then each next page with after=<next>: head, checkpoint, "
              "policies_in_force and roles as the first page gives them, models of every page in order")
    steps = [
        "The SHA-256 in every page's footer is that of the JSON this document shows, as the API gives it: "
        f"{{checkpoint, head, models, policies_in_force, roles}} from {source}, serialised per RFC 8785. T is the "
        "instant above; for the present, the entry's recorded time. Compute it and compare.",
        "The same database state and instant give the same bytes: ask for this document again "
        "(GET /api/v1/inventory.pdf?as_of=T) and compare the file's SHA-256, sent as X-Content-SHA256. A checkpoint "
        "made since changes the checkpoint and the proofs, and so the bytes.",
        "Each inclusion proof: the leaf hash is SHA-256(0x00 || the entry hash's 32 bytes); folding in the proof's "
        "hashes by RFC 9162 §2.1.3.2 must give the root, which must be the checkpoint's. The checkpoint's "
        "signature is Ed25519 over the RFC 8785 serialisation of its document without \"sig\", by the key with its "
        "key id (GET /api/v1/audit/checkpoints/keys/). Or GET /api/v1/audit/entries/<seq>/proof/ and "
        "python -m audit.verifier --proof with the keys you trust (docs/audit-log.md).",
    ]
    return [para(f"{n}. {step}") for n, step in enumerate(steps, 1)]


def _model(m: dict[str, Any]) -> list[Any]:
    people = [f"{p['user']} ({p['role']}) from {_when(p['started_at'])}"
              + (f" to {_when(p['ended_at'])}" if p.get("ended_at") else "") for p in m["personnel"]]
    story: list[Any] = [
        Paragraph(text(f"{m['name']} — {m['title']}" if m.get("title") else m["name"]), H2),
        _pairs([("Owner", m["owner"] or "none"), ("Developers", ", ".join(m["developers"]) or "none"),
                ("Risk tier", m["risk_tier"]), ("Business unit", m["business_unit"] or ""),
                ("EU AI Act category", m["eu_ai_act_category"]),
                ("Registered (UTC)", _when(m["registered_at"])), ("Personnel", _lines(people or ["none"]))]),
        Paragraph("Versions", SUB),
    ]
    if m["versions"]:
        story.append(_grid([["Version", "Stage", "Stage changed (UTC)", "Artifact SHA-256"]] + [
            [v["version"], v["stage"], _when(v["stage_changed_at"]), v["artifact_sha256"] or ""]
            for v in m["versions"]], [14 * mm, 20 * mm, 30 * mm, 111 * mm]))
    else:
        story.append(para("None registered."))
    for v in m["versions"]:
        if v["stage"] == "production":
            story += [Paragraph(text(f"Version {v['version']} in production: its promotion entry and inclusion "
                                     "proof"), SUB), _promotion(v.get("promotion"))]
    story.append(Paragraph("Promotion requests", SUB))
    if not m["requests"]:
        story.append(para("None."))
    for r in m["requests"]:
        story += _request(r)
    return story


def _promotion(p: dict[str, Any] | None) -> Any:
    if p is None:
        return para("No stage-change entry up to this instant puts it there.")
    rows: list[tuple[str, Any]] = [("Promotion entry", f"seq {p['seq']}"), ("Entry hash", p["entry_hash"])]
    proof = p.get("inclusion")
    if proof is None:
        rows.append(("Inclusion proof", f"none yet: {p.get('inclusion_pending', 'no checkpoint')}"))
    else:
        hashes = [f"{n}. {h}" for n, h in enumerate(proof["proof"], 1)]
        rows += [("Leaf index", proof["leaf_index"]), ("Tree size", proof["tree_size"]),
                 ("Leaf hash", proof["leaf_hash"]), ("Proof hashes", _lines(hashes or ["none: the tree has one leaf"])),
                 ("Root", proof["root"])]
    return _pairs(rows)


def _request(r: dict[str, Any]) -> list[Any]:
    policy = r.get("policy") or {}
    said = (f"Request #{r['id']}: version {r['version']} to {r['target_stage']}, {r['status']}"
            f"{' (revalidation)' if r.get('is_revalidation') else ''}; requested by {r['requested_by']} on "
            f"{_when(r['created_at'])} UTC" + (f", decided {_when(r['decided_at'])} UTC" if r.get("decided_at") else "")
            + f"; policy {policy.get('name')} version {policy.get('version')}.")
    story: list[Any] = [Paragraph(text(said), LEAD)]
    if not r["approvals"]:
        return [*story, para("No approval recorded.", SMALL), Spacer(1, 1.5 * mm)]
    rows: list[list[Any]] = [["Approver", "Role", "Decision", "Date (UTC)", "Comment"]]
    style = []
    for a in r["approvals"]:
        lapsed = f" (lapsed {_when(a['lapsed_at'])}: {a.get('lapse_reason') or ''})" if a.get("lapsed_at") else ""
        rows.append([a["approver"], a["role"], f"{a['decision']}{lapsed}", _when(a["created_at"]), a.get("comment")])
        rows.append([_evidence(a.get("evidence_digests")), "", "", "", ""])
        # The evidence spans the row under its approval, and a page never falls between them.
        style += [("SPAN", (0, len(rows) - 1), (-1, len(rows) - 1)),
                  ("NOSPLIT", (0, len(rows) - 2), (-1, len(rows) - 1))]
    t = _grid(rows, [24 * mm, 30 * mm, 26 * mm, 30 * mm, 65 * mm])
    t.setStyle(style)
    return [*story, t, Spacer(1, 1.5 * mm)]


def _evidence(digests: Any) -> Any:
    """The evidence an approval was bound to: each report with its digests, a line each."""
    if not isinstance(digests, dict) or not digests:
        return _lines(["Evidence bound to: none recorded"])
    rows: list[list[Any]] = []
    for kind, ev in sorted(digests.items()):
        if not isinstance(ev, dict):
            rows.append([kind, _lines([ev])])
            continue
        rows.append([f"{kind} report #{ev.get('report_id')} ({ev.get('verdict')})", _lines(
            [f"{k.removesuffix('_sha256').upper()} SHA-256 {v}" if k.endswith("_sha256") else f"{k}: {v}"
             for k, v in sorted(ev.items(), key=lambda kv: (kv[0] != "pdf_sha256", kv[0]))
             if k not in ("report_id", "verdict")])])
    inner = Table([[Paragraph("Evidence bound to:", SMALL), ""]]
                  + [[Paragraph(text(label), SMALL), digests] for label, digests in rows], [40 * mm, 128 * mm],
                  hAlign="LEFT")
    inner.setStyle(TableStyle([("SPAN", (0, 0), (-1, 0)), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
    return inner
