"""The state as of any entry: each governed object's fields over spans of the log (audit.models.StateSpan).

The spans are derived from the entries alone, in seq order, by the rules the replay folds by (audit.replay,
docs/audit-log.md "Replaying the log"): an entry that creates an object opens its first span; one that changes
any of its fields closes the open span at its seq and opens the next; a delete closes the last. Reading the
state as of entry S is then a lookup, `since <= S < until`, however long the log: what `GET /api/v1/inventory/
?as_of=` reads (governance.inventory).

What a span keeps of an object: its fields as the log records them (secrets and auth's password left out), a
governed many-to-many field as the sorted list of linked ids, and for a user the codes of the roles they held
(from `governance.role.grant` / `governance.role.revoke`, the entries that name roles by their code).

The spans are a cache of the log, never a record: `catch_up` folds in the entries after `StateHead.seq` (every
reader of an instant past it calls it first), `rebuild` starts them over, and `check` (run by `audit verify`)
derives them afresh from the entries and names every span that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Q

from audit.format.jcs import shown
from audit.models import AuditEntry, ChainHead, StateHead, StateSpan

USER = "auth.user"
GROUP = "auth.group"
_LEFT_OUT = {USER: frozenset({"password", "last_login"})}
_ROLE_CHANGE = "role"  # the change governance.role.grant / revoke record on the user
ROLES = "roles"  # the span field holding a user's role codes
_BATCH = 5000

Key = tuple[str, str]


@dataclass(frozen=True)
class Plan:
    """What the spans keep, by object type: fields, whole-set link fields, and how to find an object's model."""

    fields: dict[str, frozenset[str]]
    lists: dict[str, frozenset[str]]
    # type -> ("self", "") for the registered model itself, (field, parent type) for what belongs to one.
    parents: dict[str, tuple[str, str]]


def plan() -> Plan:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from audit.governed import GovernedModel
    from audit.reconcile import governed_models

    def type_of(model: type[models.Model]) -> str:
        return f"{model._meta.app_label}.{model._meta.model_name}"

    kept: list[type[models.Model]] = [m for m in governed_models() if issubclass(m, GovernedModel)]
    kept += [get_user_model(), Group]
    fields: dict[str, frozenset[str]] = {}
    lists: dict[str, frozenset[str]] = {}
    parents: dict[str, tuple[str, str]] = {}
    for model in kept:
        type_ = type_of(model)
        left_out = _LEFT_OUT.get(type_, frozenset())
        fields[type_] = frozenset(f.name for f in model._meta.concrete_fields if f.name not in left_out)
        lists[type_] = frozenset(f.name for f in model._meta.local_many_to_many) if issubclass(
            model, GovernedModel) else frozenset()
        scope = getattr(model, "AUDIT_SCOPE", None)
        if scope == "self":
            parents[type_] = ("self", "")
        elif scope:
            related = model._meta.get_field(scope).related_model
            assert related is not None and not isinstance(related, str)
            parents[type_] = (scope, type_of(related))
    return Plan(fields=fields, lists=lists, parents=parents)


def _number(id_: str) -> int | None:
    return int(id_) if id_.isdigit() and len(id_) < 19 else None


@dataclass
class Span:
    object_type: str
    object_id: str
    scope: int | None
    since: int
    until: int | None
    fields: dict[str, Any]
    pk: int | None = None  # the stored row, for a span stored before this run
    # The stored `number` column; for a derived span, what the object's id gives. The inventory lists, pages and
    # groups by it and shows it as the id, so it is fingerprinted with the rest: a number changed by hand is named.
    number: int | None = None

    def __post_init__(self) -> None:
        if self.number is None:
            self.number = _number(self.object_id)

    def digest(self) -> int:
        """The span's fingerprint: equal spans, equal numbers (summed, they fingerprint a set of spans)."""
        text = json.dumps([self.object_type, self.object_id, self.number, self.scope, self.since, self.until,
                           self.fields], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


@dataclass
class Deriver:
    """Folds entries into spans. `load` fetches stored open spans (a catch-up); without it, nothing is stored
    (a rebuild, a check). `scope_of` finds a stored object's model when it is not among the open spans."""

    plan: Plan
    load: Callable[[list[Key]], dict[Key, Span]] | None = None
    scope_of: Callable[[Key], int | None] | None = None
    open: dict[Key, Span] = field(default_factory=dict)
    scopes: dict[Key, int | None] = field(default_factory=dict)
    closed: list[Span] = field(default_factory=list)  # spans this run opened and closed
    closed_stored: list[tuple[int, int]] = field(default_factory=list)  # (stored row, until)

    def prefetch(self, keys: Iterable[Key]) -> None:
        if self.load is None:
            return
        missing = [k for k in set(keys) if k not in self.open and k[0] in self.plan.fields]
        if missing:
            for key, span in self.load(missing).items():
                self.open[key] = span
                self.scopes[key] = span.scope

    def apply(self, seq: int, entry: dict[str, Any]) -> None:
        obj = entry["object"]
        type_ = obj["type"]
        kept = self.plan.fields.get(type_)
        if kept is None:
            return
        key = (type_, str(obj["id"]))
        verb = entry["action"].rpartition(".")[2]
        current = self.open.get(key)
        if verb == "delete":
            if current is not None:
                self._close(current, seq)
                del self.open[key]
            return
        fields = dict(current.fields) if current is not None else {}
        changed = verb == "create" and current is None
        lists = self.plan.lists.get(type_, frozenset())
        for name, change in (entry.get("changes") or {}).items():
            new = change.get("new") if isinstance(change, dict) else None
            if name in kept:
                value = new
            elif name in lists and isinstance(new, list):
                value = sorted(str(v) for v in new)
            elif type_ == USER and name == _ROLE_CHANGE:
                roles = set(fields.get(ROLES) or ())
                if new:
                    roles.add(str(new))
                elif change.get("old"):
                    roles.discard(str(change["old"]))
                name, value = ROLES, sorted(roles)
            else:
                continue  # a login's lockout, auth's links by name, `promotion_request` beside a stage change
            if name not in fields or fields[name] != value:
                fields[name] = value
                changed = True
        if not changed:
            return
        if current is None:
            scope = self._scope(type_, key, fields)
        else:
            scope = current.scope
            self._close(current, seq)
        self.open[key] = Span(type_, key[1], scope, seq, None, fields)

    def _close(self, span: Span, seq: int) -> None:
        span.until = seq
        if span.pk is None:
            self.closed.append(span)
        else:
            self.closed_stored.append((span.pk, seq))

    def _scope(self, type_: str, key: Key, fields: dict[str, Any]) -> int | None:
        parent = self.plan.parents.get(type_)
        scope: int | None = None
        if parent is not None:
            if parent[0] == "self":
                scope = _number(key[1])
            elif fields.get(parent[0]) is not None:
                parent_key = (parent[1], str(fields[parent[0]]))
                if parent_key in self.scopes:
                    scope = self.scopes[parent_key]
                elif self.scope_of is not None:
                    scope = self.scopes[parent_key] = self.scope_of(parent_key)
        if parent is not None:
            self.scopes[key] = scope
        return scope

    def take_closed(self) -> list[Span]:
        out, self.closed = self.closed, []
        return out

    def spans(self) -> Iterator[Span]:
        """Every span this run made: those it closed, then those still open."""
        yield from self.take_closed()
        yield from (s for s in self.open.values() if s.pk is None)


def _entries(after: int, upto: int) -> Iterator[tuple[int, dict[str, Any]]]:
    decode = json.JSONDecoder().decode
    rows = (AuditEntry.objects.filter(seq__gt=after, seq__lte=upto).order_by("seq")
            .values_list("seq", "canonical"))
    for seq, raw in rows.iterator(chunk_size=_BATCH):
        yield seq, decode(bytes(raw).decode())


def _chunks(after: int, upto: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    chunk: list[tuple[int, dict[str, Any]]] = []
    for item in _entries(after, upto):
        chunk.append(item)
        if len(chunk) >= _BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stored_open(keys: list[Key]) -> dict[Key, Span]:
    by_type: dict[str, list[str]] = {}
    for type_, id_ in keys:
        by_type.setdefault(type_, []).append(id_)
    out: dict[Key, Span] = {}
    for type_, ids in by_type.items():
        rows = StateSpan.objects.filter(object_type=type_, object_id__in=ids, until__isnull=True)
        for row in rows:
            out[(type_, row.object_id)] = Span(type_, row.object_id, row.scope, row.since, None, row.fields, row.pk)
    return out


def _stored_scope(key: Key) -> int | None:
    return (StateSpan.objects.filter(object_type=key[0], object_id=key[1]).values_list("scope", flat=True)
            .first())


def _store(spans: Iterable[Span]) -> None:
    rows = [(s.object_type, s.object_id, _number(s.object_id), s.scope, s.since, s.until, s.fields) for s in spans]
    if not rows:
        return
    if connection.vendor == "postgresql" and len(rows) > 200:
        # COPY: a rebuild stores a span per entry or so, and row-by-row INSERTs were most of its time.
        columns = "object_type, object_id, number, scope, since, until, fields"
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY {StateSpan._meta.db_table} ({columns}) FROM STDIN") as copy:
            for *head, fields in rows:
                copy.write_row((*head, dumps(fields)))
        return
    StateSpan.objects.bulk_create(
        [StateSpan(object_type=t, object_id=i, number=n, scope=sc, since=since, until=until, fields=f)
         for t, i, n, sc, since, until, f in rows],
        batch_size=2000,
    )


def _log_head() -> int:
    return ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


def folded() -> int:
    """The last entry the stored spans have folded in."""
    return StateHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


def catch_up(upto: int | None = None) -> int:
    """Fold the entries after the spans' head up to `upto` (default: the log's head) into the stored spans;
    return the spans' head. One at a time: a concurrent caller waits, then finds the work done."""
    target = _log_head() if upto is None else min(upto, _log_head())
    if folded() >= target:
        return folded()
    with transaction.atomic():
        head, _ = StateHead.objects.select_for_update().get_or_create(pk=1)
        if head.seq >= target:
            return head.seq
        deriver = Deriver(plan(), load=_stored_open if head.seq else None, scope_of=_stored_scope)
        for chunk in _chunks(head.seq, target):
            deriver.prefetch((e["object"]["type"], str(e["object"]["id"])) for _, e in chunk)
            for seq, entry in chunk:
                deriver.apply(seq, entry)
            _store(deriver.take_closed())
        for pk, until in deriver.closed_stored:
            StateSpan.objects.filter(pk=pk).update(until=until)
        _store(s for s in deriver.open.values() if s.pk is None)
        head.seq = target
        head.save(update_fields=["seq"])
        return target


def rebuild() -> int:
    """Start the spans over from the first entry."""
    with transaction.atomic():
        head, _ = StateHead.objects.select_for_update().get_or_create(pk=1)
        StateSpan.objects.all().delete()
        head.seq = 0
        head.save(update_fields=["seq"])
    return catch_up()


def alive(seq: int, object_type: str) -> models.QuerySet[StateSpan]:
    """The spans of `object_type` in force just after entry `seq` (the spans must reach it: `catch_up`)."""
    return StateSpan.objects.filter(object_type=object_type, since__lte=seq).filter(
        Q(until__isnull=True) | Q(until__gt=seq))


@dataclass(frozen=True)
class SpanDivergence:
    object_type: str
    object_id: str
    since: int
    log: Any  # the span as the entries give it ({"until", "scope", "fields"}), or None
    table: Any  # the stored span, or None

    def __str__(self) -> str:
        return (f"state span {self.object_type}#{self.object_id} from entry {self.since}: "
                f"log {shown(self.log)} table {shown(self.table)}")


def check(limit: int = 100) -> Iterator[SpanDivergence]:
    """Every stored span that differs from the spans the entries give, up to the spans' head: derived afresh,
    fingerprinted type by type, and compared span by span only where a type's fingerprints differ. Read in
    one snapshot (audit.verification runs it in its own) or while no catch-up runs."""
    head = folded()
    derived = _derive(head)
    stored: dict[str, int] = {}
    for row in _stored_rows():
        stored[row.object_type] = stored.get(row.object_type, 0) + row.digest()
    reported = 0
    for type_ in sorted(set(derived) | set(stored)):
        if derived.get(type_, 0) % 2**256 == stored.get(type_, 0) % 2**256:
            continue
        for divergence in _compare(head, type_):
            yield divergence
            reported += 1
            if reported >= limit:
                return


def _derive(upto: int, only: str | None = None) -> dict[str, int]:
    sums: dict[str, int] = {}
    for span in _derived_spans(upto, only):
        sums[span.object_type] = sums.get(span.object_type, 0) + span.digest()
    return sums


def _derived_spans(upto: int, only: str | None = None) -> Iterator[Span]:
    deriver = Deriver(plan())
    for chunk in _chunks(0, upto):
        for seq, entry in chunk:
            deriver.apply(seq, entry)
        for span in deriver.take_closed():
            if only is None or span.object_type == only:
                yield span
    yield from (s for s in deriver.spans() if only is None or s.object_type == only)


def _stored_rows(only: str | None = None) -> Iterator[Span]:
    rows = StateSpan.objects.order_by("pk").values_list("object_type", "object_id", "scope", "since", "until",
                                                         "fields", "number")
    if only is not None:
        rows = rows.filter(object_type=only)
    for type_, id_, scope, since, until, fields, number in rows.iterator(chunk_size=_BATCH):
        span = Span(type_, id_, scope, since, until, fields)
        span.number = number  # as stored, null included: a null where the id is a number differs
        yield span


def _compare(upto: int, type_: str) -> Iterator[SpanDivergence]:
    def shown(span: Span) -> dict[str, Any]:
        return {"until": span.until, "scope": span.scope, "number": span.number, "fields": span.fields}

    derived = {(s.object_id, s.since): s for s in _derived_spans(upto, type_)}
    for span in _stored_rows(type_):
        mine = derived.pop((span.object_id, span.since), None)
        if mine is None or mine.digest() != span.digest():
            yield SpanDivergence(type_, span.object_id, span.since, shown(mine) if mine else None, shown(span))
    for (id_, since), span in sorted(derived.items()):
        yield SpanDivergence(type_, id_, since, shown(span), None)
