"""What the log recorded an object as when it was made, held against its row at the moment a decision reads it.

The writer refuses a save that changes a field fixed when the object was made (GovernedModel.IMMUTABLE_FIELDS), in
every channel. A row can still be changed past the writer: on PostgreSQL by SQL that appends an entry of its own
making in the same transaction, on SQLite by a connection that loads our guard function. Such a change is in the log
for `audit verify` to name (the replay keeps what the creation recorded), but a decision made before anyone runs it
would have been made on the changed row: a request's frozen rule asking for no approvals, an approval's validity
pushed back. A decision therefore reads these fields only once they equal what the object's first entry recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db.models import Min

from audit import chain, writer
from audit.governed import UNSET, GovernedModel
from audit.models import AuditEntry
from config.errors import Conflict


class NotAsRecorded(Conflict):
    """A row's fixed field differs from what the log recorded when the object was made."""


def require_as_made(objects: Iterable[GovernedModel], *, unrecorded_ok: bool = False) -> None:
    """Refuse (NotAsRecorded, a 409) when one of `objects` (all of one model) is not as the log recorded it: a field
    fixed when it was made (IMMUTABLE_FIELDS) that differs from what its first entry recorded, or a field set once
    (AUDIT_SET_ONCE) that differs from the first value any of its entries set, or is set where none did.

    A fixed field the first entry does not name was None if the column can be (an entry records what differs from
    nothing), and is not judged if it cannot (the entry was written before the field existed). `unrecorded_ok`: an
    object no entry names (made by a migration before the log recorded its kind) is not judged."""
    objs = list(objects)
    if not objs:
        return
    model = type(objs[0])
    fixed = [n for n in model.IMMUTABLE_FIELDS if n not in model.AUDIT_SECRETS]
    once = [n for n in model.AUDIT_SET_ONCE if n not in model.AUDIT_SECRETS]
    with_ = model.AUDIT_SET_WITH
    if not fixed and not once and not with_:
        return
    type_ = writer.object_ref(objs[0]).type  # the type the writer records it under
    ids = {str(o.pk): o for o in objs}
    entries = AuditEntry.objects.filter(object_type=type_, object_id__in=list(ids))
    if not once and not with_:  # the first entry of each is enough
        entries = AuditEntry.objects.filter(seq__in=entries.values("object_id").annotate(first=Min("seq"))
                                            .values("first"))
    history: dict[str, list[tuple[int | None, dict[str, Any]]]] = {}
    for object_id, seq, canonical in entries.order_by("seq").values_list("object_id", "seq", "canonical"):
        history.setdefault(object_id, []).append((seq, json.loads(bytes(canonical))["changes"]))
    # And this transaction's, not yet appended (a report succeeding settles requests before its entry is).
    for item in writer.pending_entries(type_):
        if item.obj.id in ids:
            history.setdefault(item.obj.id, []).append((None, item.changes))
    fields = {f.name: f for f in model._meta.concrete_fields}
    for object_id, obj in ids.items():
        recorded = history.get(object_id)
        if not recorded:
            if unrecorded_ok:
                continue
            raise NotAsRecorded(f"{obj._meta.verbose_name} {obj} has no entry recording how it was made: nothing is "
                                "decided on it", rule="record.not_as_made")
        values = obj.audit_values()
        first_seq, made = recorded[0]
        differ = [n for n in fixed if n in values and (
            not chain.same(made[n].get("new"), values[n]) if n in made
            else fields[n].null and values[n] is not None)]
        for name in once:
            if name not in values:
                continue
            first_set = next((c[name]["new"] for _, c in recorded if c.get(name, {}).get("new") not in UNSET), None)
            if (values[name] not in UNSET) if first_set is None else not chain.same(first_set, values[name]):
                differ.append(name)
        for key, companions in with_.items():
            # The entry that set `key` recorded what its companions became with it; they stay so.
            setting = next((c for _, c in recorded if c.get(key, {}).get("new") not in UNSET), None)
            if setting is not None:
                differ.extend(n for n in companions if n in values and n in setting
                              and not chain.same(setting[n].get("new"), values[n]))
        if differ:
            raise NotAsRecorded(
                f"{obj._meta.verbose_name} {obj} is not as its entries "
                f"({'this transaction' if first_seq is None else f'from #{first_seq}'}) recorded it: "
                f"{', '.join(sorted(differ))} {'was' if len(differ) == 1 else 'were'} changed outside the product. "
                "Nothing is decided on it; run `audit verify` and restore the row from the log",
                rule="record.not_as_made")
