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

from django.db.models import Min

from audit import chain
from audit.governed import GovernedModel
from audit.models import AuditEntry
from config.errors import Conflict


class NotAsRecorded(Conflict):
    """A row's fixed field differs from what the log recorded when the object was made."""


def _object_type(obj: GovernedModel) -> str:
    meta = obj._meta.concrete_model._meta  # type: ignore[union-attr]
    return f"{meta.app_label}.{meta.model_name}"


def require_as_made(objects: Iterable[GovernedModel]) -> None:
    """Refuse (NotAsRecorded, a 409) when a fixed field of one of `objects` (all of one model) differs from the
    value its first entry recorded, or its first entry does not record it. One query for all of them."""
    objs = list(objects)
    if not objs:
        return
    first = objs[0]
    names = [n for n in first.IMMUTABLE_FIELDS if n not in first.AUDIT_SECRETS]
    if not names:
        return
    type_ = _object_type(first)
    ids = {str(o.pk): o for o in objs}
    firsts = (AuditEntry.objects.filter(object_type=type_, object_id__in=list(ids))
              .values("object_id").annotate(first=Min("seq")).values("first"))
    made = {object_id: (seq, json.loads(bytes(canonical))["changes"])
            for object_id, seq, canonical in AuditEntry.objects.filter(seq__in=firsts)
            .values_list("object_id", "seq", "canonical")}
    for object_id, obj in ids.items():
        if object_id not in made:
            raise NotAsRecorded(f"{obj._meta.verbose_name} {obj} has no entry recording how it was made: nothing is "
                                "decided on it", rule="record.not_as_made")
        seq, recorded = made[object_id]
        values = obj.audit_values()
        # A field the creation left out was None (an entry records what differs from nothing).
        differ = sorted(n for n in names if n in values
                        and recorded.get(n, {}).get("new") != chain.jsonable(values[n]))
        if differ:
            raise NotAsRecorded(
                f"{obj._meta.verbose_name} {obj} is not as its first entry (#{seq}) recorded it: {', '.join(differ)} "
                f"{'was' if len(differ) == 1 else 'were'} changed outside the product. Nothing is decided on it; "
                "run `audit verify` and restore the row from the log", rule="record.not_as_made")
