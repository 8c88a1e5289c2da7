"""The one writer of the audit log: every governed change and its entry, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from audit import chain, merkle, permits
from audit.context import current_actor, current_context
from audit.format.entry import action_ok, changes_ok, entry_hash, format_ts, tail
from audit.format.jcs import canonical
from audit.format.rfc6962 import CompactRange, leaf_hash
from audit.governed import EXPECTED, UNSET, GovernedModel
from audit.models import ENTRY_COLUMNS, AuditEntry, ChainHead, MerkleNode, entry_columns
from config.errors import Conflict, PermissionDenied

# The services ask the writer, their door, for the two permits they may hold themselves.
permit_append = permits.permit_append
permit_governed_writes = permits.permit_governed_writes
deciding = permits.deciding

_buffer: ContextVar[_Buffer | None] = ContextVar("audit_buffer", default=None)


@dataclass(frozen=True)
class ObjectRef:
    type: str
    id: str
    repr: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "repr": self.repr}


@dataclass
class PendingEntry:
    action: str
    obj: ObjectRef
    changes: dict[str, Any]
    actor: dict[str, Any]
    context: dict[str, Any]
    seq: int | None = None
    hash: str | None = None


@dataclass
class _Buffer:
    depth: int
    conn: BaseDatabaseWrapper
    savepoints_made: int  # the connection's count of savepoints ever made, when the buffer began
    pending: list[PendingEntry] = field(default_factory=list)

    def at_its_level(self) -> bool:
        """Whether the current connection is this buffer's and no savepoint was opened since: not in an
        atomic block (savepoint_ids), nor by hand (transaction.savepoint(), which only the count shows).
        An entry buffered after a savepoint rolled back by hand would outlive its change."""
        conn = self.conn
        return (conn is connections[DEFAULT_DB_ALIAS] and len(conn.savepoint_ids) == self.depth
                and conn.savepoint_state == self.savepoints_made)


def _object_type(obj: models.Model) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}"


def object_ref(obj: models.Model | ObjectRef) -> ObjectRef:
    if isinstance(obj, ObjectRef):
        return obj
    return ObjectRef(type=_object_type(obj), id=str(obj.pk), repr=str(obj))


@contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic` whose audit entries are appended together just before it ends.

    Appending once per transaction holds the chain head's lock for the shortest time and
    costs one round of writes however many objects the service changed.
    """
    outer = _buffer.get()
    conn = connections[DEFAULT_DB_ALIAS]
    # The outermost block of an autocommit connection commits when it ends: its entries can travel
    # with the COMMIT in one round trip (see pg_append.append).
    ends_transaction = not conn.in_atomic_block and conn.get_autocommit()
    if outer is not None and outer.conn is conn and outer.pending and outer.at_its_level():
        # The entries of this nested block are appended at its savepoint, at once: those buffered before it
        # go first, at their own level, or the log would record a policy's activation before its creation
        # and a replay of it would not give the tables.
        _flush(conn, outer.pending)
        outer.pending = []
    with transaction.atomic():
        if outer is not None and outer.conn is conn:
            yield
            return
        buf = _Buffer(depth=len(conn.savepoint_ids), conn=conn, savepoints_made=conn.savepoint_state)
        token = _buffer.set(buf)
        try:
            yield
            # A block marked for rollback commits nothing, so it has nothing to append.
            if not conn.needs_rollback:
                _flush(conn, buf.pending, commit=ends_transaction)
        finally:
            _buffer.reset(token)


@contextmanager
def _unit() -> Iterator[None]:
    """One change and its entry: a savepoint, unless already in the buffering transaction.

    Inside `atomic()` a savepoint per object would cost two round trips; instead a failure between
    the change and its entry dooms the whole transaction, so neither can be committed alone.
    """
    buf = _buffer.get()
    if buf is not None and buf.at_its_level():
        try:
            yield
        except BaseException:
            transaction.set_rollback(True)
            raise
        return
    with atomic():
        yield


def record(
    *,
    action: str,
    obj: models.Model | ObjectRef,
    changes: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> PendingEntry:
    """Record an event; it is appended with the transaction it belongs to, or at once."""
    jsonable = {k: chain.jsonable(v) for k, v in (changes or {}).items()}
    _check_changes(jsonable)
    return _record(action, obj, jsonable, context)


def _record(
    action: str, obj: models.Model | ObjectRef, changes: dict[str, Any], context: dict[str, Any] | None
) -> PendingEntry:
    """`record` for changes already made JSON values and shaped {old, new} (as `_diff` makes them)."""
    _check_action(action)
    ctx = current_context()
    if context:
        ctx.update({k: chain.jsonable(v) for k, v in context.items()})
    pending = PendingEntry(
        action=action, obj=object_ref(obj), changes=changes, actor=current_actor().as_json(), context=ctx
    )
    permits.note(pending.obj.type, pending.obj.id)
    buf = _buffer.get()
    # An entry made inside a nested savepoint is appended at once, so that rolling back that
    # savepoint takes the entry with the change and never leaves one without the other.
    if buf is not None and buf.at_its_level():
        buf.pending.append(pending)
    else:
        # Entries already buffered at the outer level stay there: appending them here would
        # tie them to this savepoint, and its rollback would drop them while their changes stay.
        with transaction.atomic():
            _flush(connections[DEFAULT_DB_ALIAS], [pending])
    return pending


def pending_change(object_type: str, object_id: Any, field: str) -> tuple[bool, Any]:
    """The newest change this transaction has recorded to one field of an object and not yet appended (the log
    as it will be at COMMIT): (True, its new value), or (False, None) if none."""
    buf = _buffer.get()
    if buf is None or buf.conn is not connections[DEFAULT_DB_ALIAS]:
        return False, None
    for item in reversed(buf.pending):
        if item.obj.type == object_type and item.obj.id == str(object_id):
            change = item.changes.get(field)
            if isinstance(change, dict) and "new" in change:
                return True, change["new"]
    return False, None


def pending_entries(object_type: str) -> list[PendingEntry]:
    """This transaction's entries about objects of `object_type` not yet appended (the log as it will be at
    COMMIT), oldest first."""
    buf = _buffer.get()
    if buf is None or buf.conn is not connections[DEFAULT_DB_ALIAS]:
        return []
    return [item for item in buf.pending if item.obj.type == object_type]


def _check_changes(changes: dict[str, Any]) -> None:
    # The spec's shape of `changes`, which every verifier checks: an entry without it would fail them all.
    for name, change in changes.items():
        if not changes_ok({name: change}):
            raise ValueError(f'audit change {name!r} must be {{"old": value, "new": value}}, got {change!r}')


def _check_action(action: str) -> None:
    # The spec's rule, which every verifier applies: ASCII only, so "registry.modèle.create" is refused.
    if not action_ok(action):
        raise ValueError(f"audit action must be dotted lower case app.subject.verb, got {action!r}")


def _diff(old: dict[str, Any], new: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in sorted(set(old) | set(new)):
        before, after = chain.jsonable(old.get(name)), chain.jsonable(new.get(name))
        if before != after:
            if name in secrets:
                changes[chain.digest_key(name)] = {"old": chain.secret_digest(before, name),
                                                   "new": chain.secret_digest(after, name)}
                before, after = chain.REDACTED, chain.REDACTED
            changes[name] = {"old": before, "new": after}
    return changes


def _action_for(obj: models.Model, verb: str) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}.{verb}"


def save(
    obj: GovernedModel,
    *,
    action: str | None = None,
    extra_changes: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> PendingEntry | None:
    """Save a governed object and record what changed; nothing changed records nothing."""
    creating = obj._state.adding
    if not creating and obj.pk is None:
        # An update of no row: Django would INSERT it, under an "update" entry, past every check made on creation.
        raise Conflict(f"{obj._meta.verbose_name} {obj} has no row to update (it was never saved); nothing was "
                       "changed")
    before: dict[str, Any] = {} if creating else getattr(obj, "_audit_snapshot", {})
    _refuse_held_changes(obj, creating)
    if creating and obj.pk is not None and type(obj)._base_manager.filter(pk=obj.pk).exists():
        raise Conflict(f"{obj._meta.verbose_name} {obj} already exists: it is changed by an update of the row as "
                       "loaded, never made again; nothing was changed")
    with _unit():
        permits.note(_object_type(obj), None if creating else obj.pk)
        with permits.writing():
            saved: list[str] | None = None
            if before:
                saved = _save_changed_fields(obj, before)
            elif creating:
                obj.save(force_insert=True)  # never an UPDATE under a "create" entry
            else:  # an instance not loaded from its row (made up, or marked as stored): never an INSERT
                if not type(obj)._base_manager.filter(pk=obj.pk).exists():
                    raise Conflict(f"{obj._meta.verbose_name} {obj} has no row to update; nothing was changed")
                obj.save(force_update=True)
        after = obj.audit_values()
        # After a save of the changed fields only, no other field can differ from before.
        old, new = (before, after) if saved is None else (
            {n: before[n] for n in saved if n in before}, {n: after.get(n) for n in saved})
        changes = _with_extra(_diff(old, new, obj.AUDIT_SECRETS), extra_changes)
        obj._audit_snapshot = after  # type: ignore[attr-defined]
        if not changes and not creating:
            return None
        return _record(action or _action_for(obj, "create" if creating else "update"), obj, changes, context)


def _refuse_held_changes(obj: GovernedModel, creating: bool) -> None:
    """Refuse, before anything is written and whichever channel asked, a save that changes a field the writer holds:
    one only a decision sets (DECIDED_FIELDS: a version's stage) outside `permits.deciding()`, which the decision that
    approves a request holds, an object being made with it at its default (403 `record.decided`); one fixed when the
    object was made (IMMUTABLE_FIELDS), or set once (AUDIT_SET_ONCE) and set (403 `record.fixed`). Compared with the
    stored row, read once, not the instance's snapshot, which the caller holds and could have made up."""
    model = type(obj)  # the class's declaration, not anything set on the instance
    decided = () if permits.deciding_permitted() else model.DECIDED_FIELDS
    with_ = model.AUDIT_SET_WITH
    fixed_names = set() if creating else {*model.IMMUTABLE_FIELDS, *model.AUDIT_SET_ONCE, *with_,
                                          *(n for ns in with_.values() for n in ns)}
    if not decided and not fixed_names:
        return
    fields = {f.name: f for f in obj._meta.concrete_fields if f.name in fixed_names or f.name in decided}
    if creating:
        stored: dict[str, Any] | None = {f.attname: f.get_default() for f in fields.values()}
    else:
        stored = model._base_manager.filter(pk=obj.pk).values(*(f.attname for f in fields.values())).first()
    if stored is None:
        return  # no row to keep: the save itself finds that
    after = obj.audit_values()

    def changed(name: str) -> bool:
        return name in after and not chain.same(chain.jsonable(stored[fields[name].attname]), after[name])

    moved = sorted(n for n in decided if n in fields and changed(n))
    if moved:
        raise PermissionDenied(f"{', '.join(moved)} of {obj._meta.verbose_name} {obj} "
                               f"{'is' if len(moved) == 1 else 'are'} set only by a decision (an approved promotion "
                               "request applies it); nothing was changed", rule="record.decided")
    sealed = {n for key, ns in with_.items() if stored[fields[key].attname] not in UNSET for n in ns}
    fixed = sorted({name for name in fixed_names if name in fields
                    and (name in model.IMMUTABLE_FIELDS or name in sealed
                         or (name in model.AUDIT_SET_ONCE and stored[fields[name].attname] not in UNSET))
                    and changed(name)})
    if fixed:
        raise PermissionDenied(f"{', '.join(fixed)} of {obj._meta.verbose_name} {obj} cannot be changed: "
                               f"{'it is' if len(fixed) == 1 else 'they are'} fixed once set, as the log recorded; "
                               "nothing was changed", rule="record.fixed")


def _with_extra(changes: dict[str, Any], extra_changes: dict[str, Any] | None) -> dict[str, Any]:
    extra = {name: chain.jsonable(value) for name, value in (extra_changes or {}).items()}
    _check_changes(extra)
    changes.update(extra)
    return changes


@cache
def _unlogged_fields(model: type[models.Model]) -> tuple[str, ...]:
    """Fields left out of the log (bookkeeping, bulky results): written whenever the row is."""
    audit_exclude = getattr(model, "AUDIT_EXCLUDE", ())
    return tuple(f.name for f in model._meta.concrete_fields
                 if (f.name in audit_exclude or getattr(f, "auto_now", False)) and not f.primary_key)


def _save_changed_fields(obj: GovernedModel, before: dict[str, Any]) -> list[str]:
    """Write only the fields this change changed (and those the log leaves out); return the changed
    ones. A full row written from an instance loaded before another transaction committed would put
    back that transaction's fields: a description edited alongside an approval undid the promotion it
    applied, while the log said it had happened."""
    changed = list(_diff(before, obj.audit_values(), ()))
    if not changed:
        return changed
    # The row is updated only if each changed field still holds the value the entry gives as "old"
    # (JSON values aside: databases compare those unreliably). Another transaction that changed one
    # meanwhile makes this a conflict, never an entry whose "old" the row never held.
    fields: list[Any] = [obj._meta.get_field(name) for name in changed]
    obj.__dict__[EXPECTED] = {f.attname: before[f.name] for f in fields
                              if f.name in before and not isinstance(f, models.JSONField)}
    try:
        obj.save(update_fields=changed + [name for name in _unlogged_fields(type(obj)) if name not in changed])
    except DatabaseError as exc:
        if type(exc) is not DatabaseError or "did not affect any rows" not in str(exc):
            raise  # a database error, not Django finding no row to update
        raise Conflict(f"{obj._meta.verbose_name} {obj} was changed or deleted meanwhile; nothing was changed: "
                       "reload it and try again") from exc
    finally:
        obj.__dict__.pop(EXPECTED, None)
    return changed


def delete(
    obj: GovernedModel, *, action: str | None = None, extra_changes: dict[str, Any] | None = None
) -> PendingEntry:
    """Delete a governed object and record its last values (and `extra_changes`: what goes with it, such
    as its many-to-many links)."""
    with _unit():
        ref = object_ref(obj)
        permits.note(ref.type, ref.id)
        before = obj.audit_values()
        with permits.writing():
            obj.delete()
        changes = _with_extra(_diff(before, {}, obj.AUDIT_SECRETS), extra_changes)
        return _record(action or _action_for(obj, "delete"), ref, changes, None)


def _row(item: PendingEntry) -> dict[str, Any]:
    """The entry's columns, and its canonical JSON up to the members the append itself decides."""
    head_members = {
        "action": item.action,
        "actor": item.actor,
        "changes": item.changes,
        "context": item.context,
        "object": item.obj.as_json(),
    }
    # RFC 8785 orders members by name; "prev", "seq", "ts" and "v" all sort after "object", so
    # the canonical form is this prefix followed by those four.
    prefix = canonical(head_members)[:-1] + b","
    return {"prefix": prefix.decode(), **dict(zip(ENTRY_COLUMNS, entry_columns(head_members), strict=True))}


def _flush(conn: BaseDatabaseWrapper, pending: list[PendingEntry], *, commit: bool = False) -> None:
    """Append the pending entries; with `commit`, as the last statement of the transaction.

    `commit` is only asked for by the outermost `atomic()` just before Django commits; when the
    entries went with the COMMIT, Django's own commit finds the transaction ended and sends nothing.
    """
    if not pending:
        return
    rows = [_row(item) for item in pending]
    if conn.vendor == "postgresql":
        # Imported here, not above: pg_append needs psycopg, which a SQLite install does not have (no cycle).
        from audit import pg_append

        with conn.cursor() as cursor:
            appended = pg_append.append(cursor, timezone.now(), rows, commit=commit)
    else:
        appended = _append_in_python(rows)
    for item, (seq, digest) in zip(pending, appended, strict=True):
        item.seq, item.hash = seq, digest


def _append_in_python(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    head = ChainHead.objects.select_for_update().get(pk=1)
    now = timezone.now()
    ts = max(now, head.ts) if head.ts else now
    ts_text = format_ts(ts)
    seq, prev = head.seq, head.hash
    frontier = bytes(head.frontier)
    tree = CompactRange(seq, [frontier[i : i + 32] for i in range(0, len(frontier), 32)])
    entries: list[AuditEntry] = []
    finished: list[tuple[int, int, bytes]] = []  # the complete aligned subtrees the leaves make
    out: list[tuple[int, str]] = []
    for row in rows:
        seq += 1
        raw = row["prefix"].encode() + tail(prev=prev, seq=seq, ts_text=ts_text)
        digest = entry_hash(raw)
        fields = {k: v for k, v in row.items() if k != "prefix"}
        entries.append(AuditEntry(seq=seq, ts=ts, canonical=raw, prev=prev, hash=digest, **fields))
        tree.append(leaf_hash(digest), finished)
        out.append((seq, digest))
        prev = digest
    nodes = [MerkleNode(key=MerkleNode.make_key(level, index), hash=node)
             for level, index, node in finished if level >= merkle.STORED_LEVEL]
    with permit_append():
        AuditEntry.objects.bulk_create(entries)
        MerkleNode.objects.bulk_create(nodes)
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev, ts=ts, frontier=b"".join(tree.nodes))
    return out


def head() -> tuple[int, str, dt.datetime | None]:
    row = ChainHead.objects.get(pk=1)
    return row.seq, row.hash, row.ts
