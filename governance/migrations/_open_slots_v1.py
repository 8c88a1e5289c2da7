"""The open slots of a pending request as migration 0008 derived them, frozen here: a migration must do what it did
when it was written, whatever governance.slots says today (issue 21 §5). The same rule as governance.slots.derive
on the day of 0008; tests/governance/test_slots.py holds the two to the same answers while they agree."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class Facts(NamedTuple):
    expires_at: dt.datetime
    requested_by_id: int | None
    model_id: int
    registered_at: dt.datetime
    registered_by_id: int


class Slot(NamedTuple):
    needed: int
    full_until: dt.datetime | None
    facts: Facts


def derive(status: str, rule: Mapping[str, Any], counted: Iterable[tuple[str, dt.datetime]],
           facts: Facts) -> dict[str, Slot]:
    if status != "pending":
        return {}
    valid: dict[str, list[dt.datetime]] = defaultdict(list)
    for role, valid_until in counted:
        valid[role].append(valid_until)
    out: dict[str, Slot] = {}
    for role, n in (rule.get("approvals") or {}).items():
        needed = int(n)
        if needed > 0:
            latest = sorted(valid[role], reverse=True)
            out[role] = Slot(needed, latest[needed - 1] if len(latest) >= needed else None, facts)
    return out
