"""The inventory as of any instant: what was registered, in which stage, whose, under which policy, decided by
whom on what evidence, all read from the log's entries up to that instant (audit.history's spans), with the
log's head at the instant and, for each version in production, its promotion entry's inclusion proof against
the latest checkpoint.

The present is the same computation at the log's head: `as_of=None`. One function per reader: the API, the
admin page, the CLI and the PDF (governance.inventory_pdf) all call `inventory` or `model_inventory`.

The instant T is the last entry recorded at or before T (entries are stamped in seq order, under the head's
lock): everything that entry or an earlier one recorded, nothing later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from audit import history, merkle
from audit.checkpoints import fetch_nodes
from audit.format.entry import format_ts
from audit.format.rfc6962 import leaf_hash
from audit.models import AuditEntry, ChainHead, Checkpoint, StateSpan
from config.errors import InvalidInput, NotFound
from config.ids import BIGINT, ascii_digits

MODEL = "registry.registeredmodel"
VERSION = "registry.modelversion"
PERSONNEL = "registry.modelpersonnel"
REQUEST = "governance.promotionrequest"
APPROVAL = "governance.approval"
POLICY = "governance.policy"
ROLE = "governance.role"
STAGE_CHANGE = "registry.modelversion.stage_change"
PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class Instant:
    """The entry the state is read at: the last one recorded at or before the instant asked for."""

    seq: int
    hash: str
    ts: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "ts": self.ts}


def parse_as_of(text: str) -> dt.datetime:
    """An instant as every channel takes it: ISO 8601 with a UTC offset (or Z), not in the future."""
    example = "give an ISO 8601 date and time with its UTC offset, such as 2026-03-31T23:59:59Z"
    text = text.strip()
    if not text:
        raise InvalidInput(f"as_of is empty: {example}")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"as_of {text[:60]!r} is not a date and time: {example}") from exc
    offset = value.utcoffset()
    if offset is None:
        raise InvalidInput(f"as_of {text[:60]!r} has no UTC offset: an instant needs one (Z for UTC); {example}")
    if abs(offset) > dt.timedelta(hours=14):
        raise InvalidInput("as_of: the UTC offset must be within ±14:00")
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise InvalidInput("as_of is out of range: it must fall within the years 1 to 9999 in UTC") from exc
    if value > timezone.now() and value > _head_ts():
        raise InvalidInput(f"as_of {text[:60]!r} is in the future: the log can say only what has happened")
    return value


def format_instant(value: dt.datetime) -> str:
    """An instant as the inventory gives it back: the entries' format (audit.chain.format_ts), with the year in four
    digits whatever it is (strftime writes the year 1 as "1", which no ISO 8601 reader, ours included, takes)."""
    value = value.astimezone(dt.UTC)
    return f"{value.year:04d}" + value.strftime("-%m-%dT%H:%M:%S.%fZ")


def parse_number(name: str, text: str | None) -> int | None:
    """A page's `after` or `limit` as every channel takes it: a whole number that fits the id columns."""
    if text is None:
        return None
    if not ascii_digits(text) or int(text) > BIGINT:
        raise InvalidInput(f"{name} must be a whole number between 0 and {BIGINT}, not {text[:40]!r}")
    return int(text)


def _head_ts() -> dt.datetime:
    """The last entry's time: an instant up to it is answerable even when the database's clock, which stamps
    entries, runs ahead of this process's."""
    ts = ChainHead.objects.filter(pk=1).values_list("ts", flat=True).first()
    return ts or dt.datetime.min.replace(tzinfo=dt.UTC)


def instant(as_of: dt.datetime | None) -> Instant | None:
    """The entry the state as of `as_of` is read at (the head when None); None before the first entry."""
    if as_of is None:
        head = ChainHead.objects.filter(pk=1).values_list("seq", "hash", "ts").first()
        if head is None or not head[0]:
            return None
        return Instant(head[0], head[1], format_ts(head[2]) if head[2] else "")
    # Only the chain's entries: a row put into the table past the head (INSERT is not refused there) is in no
    # chain and `audit verify`, which reads up to the head, never sees it.
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    row = (AuditEntry.objects.filter(ts__lte=as_of, seq__lte=head_seq).order_by("-ts", "-seq")
           .values_list("seq", "hash", "ts").first())
    return Instant(row[0], row[1], format_ts(row[2])) if row else None


class _Reader:
    """The spans in force at one entry, with the people and roles they name."""

    def __init__(self, at: Instant | None) -> None:
        self.seq = at.seq if at is not None else 0
        if self.seq:
            history.catch_up(self.seq)
        self._users: dict[str, dict[str, Any]] | None = None

    def alive(self, type_: str) -> Any:
        return history.alive(self.seq, type_) if self.seq else StateSpan.objects.none()

    def users(self) -> dict[str, dict[str, Any]]:
        if self._users is None:
            self._users = {s.object_id: s.fields for s in self.alive(history.USER).only("object_id", "fields")}
        return self._users

    def name(self, user_id: Any) -> str | None:
        if user_id is None:
            return None
        fields = self.users().get(str(user_id))
        return str(fields.get("username")) if fields and fields.get("username") is not None else f"#{user_id}"

    def scoped(self, type_: str, scopes: list[int]) -> list[StateSpan]:
        return list(self.alive(type_).filter(scope__in=scopes).order_by("number", "object_id"))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _common(reader: _Reader, at: Instant | None, as_of: dt.datetime | None, checkpoint_size: int) -> dict[str, Any]:
    policies = [
        {"id": s.object_id, "name": s.fields.get("name"), "version": s.fields.get("version"),
         "rules": s.fields.get("rules"), "rules_sha256": _digest(s.fields.get("rules")),
         "updated_by": reader.name(s.fields.get("updated_by"))}
        for s in reader.alive(POLICY).order_by("number", "object_id") if s.fields.get("is_active") is True
    ]
    groups = {s.object_id: s.fields.get("name") for s in reader.alive(history.GROUP)}
    roles = []
    for span in reader.alive(ROLE).order_by("object_id"):
        holders = sorted(str(f.get("username")) for f in reader.users().values()
                         if span.object_id in (f.get(history.ROLES) or ()))
        roles.append({"code": span.object_id, "group": groups.get(str(span.fields.get("group"))),
                      "holders": holders})
    checkpoint = Checkpoint.objects.filter(size=checkpoint_size).first()
    return {
        "as_of": format_instant(as_of) if as_of is not None else None,
        "head": at.as_json() if at is not None else None,
        "checkpoint": checkpoint.as_json() if checkpoint is not None else None,
        "policies_in_force": policies,
        "roles": roles,
    }


def _models(reader: _Reader, spans: list[StateSpan], checkpoint_size: int) -> list[dict[str, Any]]:
    if not spans:
        return []
    scopes = [s.number for s in spans if s.number is not None]
    by_model: dict[int | None, dict[str, list[StateSpan]]] = {n: {} for n in scopes}
    for type_ in (VERSION, PERSONNEL, REQUEST, APPROVAL):
        for span in reader.scoped(type_, scopes):
            by_model.setdefault(span.scope, {}).setdefault(type_, []).append(span)
    production = [s.object_id for parts in by_model.values() for s in parts.get(VERSION, ())
                  if s.fields.get("stage") == "production"]
    promotions = _promotions(reader.seq, production, checkpoint_size)
    return [_model(reader, span, by_model.get(span.number, {}), promotions) for span in spans]


def _model(reader: _Reader, span: StateSpan, parts: dict[str, list[StateSpan]],
           promotions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    f = span.fields
    approvals: dict[str, list[dict[str, Any]]] = {}
    for a in parts.get(APPROVAL, ()):
        g = a.fields
        approvals.setdefault(str(g.get("request")), []).append({
            "id": a.number, "approver": reader.name(g.get("approver")), "role": g.get("role"),
            "decision": g.get("decision"), "comment": g.get("comment"), "evidence_digests": g.get("evidence_digests"),
            "created_at": g.get("created_at"), "valid_until": g.get("valid_until"), "lapsed_at": g.get("lapsed_at"),
            "lapse_reason": g.get("lapse_reason") or None,
        })
    versions = {v.object_id: v.fields.get("version") for v in parts.get(VERSION, ())}
    return {
        "id": span.number,
        "name": f.get("name"),
        "title": f.get("title"),
        "owner": reader.name(f.get("owner")),
        "developers": sorted(str(reader.name(u)) for u in f.get("developers") or ()),
        "risk_tier": f.get("risk_tier"),
        "business_unit": f.get("business_unit"),
        "eu_ai_act_category": f.get("eu_ai_act_category"),
        "registered_at": f.get("created_at"),
        "personnel": [
            {"user": reader.name(p.fields.get("user")), "role": p.fields.get("role"),
             "started_at": p.fields.get("started_at"), "ended_at": p.fields.get("ended_at")}
            for p in parts.get(PERSONNEL, ())
        ],
        "versions": [
            {"id": v.number, "version": v.fields.get("version"), "stage": v.fields.get("stage"),
             "stage_changed_at": v.fields.get("stage_changed_at"), "artifact_sha256": v.fields.get("artifact_sha256"),
             "artifact_format": v.fields.get("artifact_format"), "created_by": reader.name(v.fields.get("created_by")),
             "created_at": v.fields.get("created_at"),
             **({"promotion": promotions.get(v.object_id)} if v.fields.get("stage") == "production" else {})}
            for v in parts.get(VERSION, ())
        ],
        "requests": [
            {"id": r.number, "version": versions.get(str(r.fields.get("version"))),
             "version_id": r.fields.get("version"), "target_stage": r.fields.get("target_stage"),
             "status": r.fields.get("status"), "requested_by": reader.name(r.fields.get("requested_by")),
             "is_revalidation": r.fields.get("is_revalidation"),
             "policy": {"name": r.fields.get("policy_name"), "version": r.fields.get("policy_version")},
             "created_at": r.fields.get("created_at"), "expires_at": r.fields.get("expires_at"),
             "decided_at": r.fields.get("decided_at"), "decision_evidence": r.fields.get("decision_evidence"),
             "decision_gates": r.fields.get("decision_gates"), "approvals": approvals.get(r.object_id, [])}
            for r in parts.get(REQUEST, ())
        ],
    }


def _promotions(seq: int, version_ids: list[str], checkpoint_size: int) -> dict[str, dict[str, Any]]:
    """For each version in production at `seq`, the entry that put it there and that entry's inclusion proof
    against the latest checkpoint (null, saying why, when the checkpoint is older than the entry)."""
    if not version_ids:
        return {}
    from django.db.models import Max

    last = dict(AuditEntry.objects.filter(object_type=VERSION, object_id__in=version_ids, action=STAGE_CHANGE,
                                          seq__lte=seq).values("object_id").annotate(m=Max("seq"))
                .values_list("object_id", "m"))
    hashes = dict(AuditEntry.objects.filter(seq__in=list(last.values())).values_list("seq", "hash"))
    keys: list[Any] = merkle.root_keys(checkpoint_size) if checkpoint_size else []
    for entry_seq in last.values():
        if entry_seq <= checkpoint_size:
            keys += merkle.inclusion_keys(entry_seq - 1, checkpoint_size)
    nodes = fetch_nodes(keys) if keys else {}
    root = merkle.root(checkpoint_size, nodes).hex() if checkpoint_size else None
    out: dict[str, dict[str, Any]] = {}
    for version_id, entry_seq in last.items():
        proof: dict[str, Any] | None = None
        if entry_seq <= checkpoint_size:
            proof = {"leaf_index": entry_seq - 1, "tree_size": checkpoint_size,
                     "leaf_hash": leaf_hash(hashes[entry_seq]).hex(),
                     "proof": [h.hex() for h in merkle.inclusion_proof(entry_seq - 1, checkpoint_size, nodes)],
                     "root": root}
        out[version_id] = {
            "seq": entry_seq, "entry_hash": hashes[entry_seq], "inclusion": proof,
            **({} if proof else {"inclusion_pending": f"the latest checkpoint covers {checkpoint_size} entries; "
                                                      f"this one is entry {entry_seq}"}),
        }
    return out


def _checkpoint_size() -> int:
    return Checkpoint.objects.order_by("-size").values_list("size", flat=True).first() or 0


def inventory(*, as_of: dt.datetime | None = None, after: int | None = None, limit: int = PAGE,
              at: Instant | None = None, checkpoint_size: int | None = None) -> dict[str, Any]:
    """One page of the inventory as of `as_of` (the present when None): the models registered then, by id,
    after the model id `after`; with `next`, the id to ask after for the next page (null on the last).
    `at` and `checkpoint_size`: the entry to read at and the checkpoint to prove against, when the caller has
    fixed them (the pages of one document); by default the instant's entry and the latest checkpoint."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    at = at if at is not None else instant(as_of)
    size = checkpoint_size if checkpoint_size is not None else _checkpoint_size()
    reader = _Reader(at)
    out = _common(reader, at, as_of, size)
    spans = reader.alive(MODEL).filter(number__isnull=False)
    if after is not None:
        spans = spans.filter(number__gt=after)
    page = list(spans.order_by("number")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    out["models"] = _models(reader, page, size)
    out["next"] = page[-1].number if more else None
    return out


def model_inventory(name: str, *, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """One model's part of the inventory as of `as_of`, by the name it had then."""
    at = instant(as_of)
    reader = _Reader(at)
    span = reader.alive(MODEL).filter(fields__name=name).first()
    if span is None:
        when = f"as of {format_instant(as_of)}" if as_of is not None else "now"
        raise NotFound(f"no model named {name!r} was registered {when}")
    size = _checkpoint_size()
    out = _common(reader, at, as_of, size)
    out["model"] = _models(reader, [span], size)[0]
    return out


def whole(*, as_of: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every page of the inventory as of `as_of`, in order (the CLI and the PDF): all read at one entry and proved
    against one checkpoint, though the log grows or a checkpoint is made while they are read."""
    at = instant(as_of)
    size = _checkpoint_size()
    after: int | None = None
    while True:
        page = inventory(as_of=as_of, after=after, limit=MAX_PAGE, at=at, checkpoint_size=size)
        yield page
        if page["next"] is None:
            return
        after = page["next"]
