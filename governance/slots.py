"""The open approval slots of pending requests (governance.OpenSlot), the table the queue reads instead of each rule.

A derived table, not a governed one: every row follows from a request (its status and frozen rule) and its approvals
(role, decision, lapse, validity), which change only by `save` (bulk writes of governed rows are refused). So it is
kept by their own saves: `connect` makes every save of a request and every save or deletion of an approval re-derive
that request's rows in the same transaction, whichever service, admin action or test clock made it, and
`slots_rebuild` derives the whole table again from the rows (migration 0008, `manage.py governance rebuild-slots`),
saying how many requests it found different. Time is not in the table: it says until when a role's slots are all
filled, and the queue compares that with the moment it is read (rules.awaiting_filter).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from governance.models import Approval, Decision, OpenSlot, PromotionRequest, RequestStatus

# role -> (approvals needed, until when they are all filled: None while fewer approvals count than are needed)
Slots = dict[str, tuple[int, dt.datetime | None]]


def derive(status: str, rule: Mapping[str, Any], counted: Iterable[tuple[str, dt.datetime]]) -> Slots:
    """The rows of one request: none unless it is pending; for each role its frozen rule asks `n` > 0 approvals of,
    the `n`-th latest validity among its approvals that are not lapsed (the `n` slots are filled exactly while that
    one is valid: rules.open_slots counts the approvals valid at `now`, and `n` of them are valid until then)."""
    if status != RequestStatus.PENDING:
        return {}
    valid: dict[str, list[dt.datetime]] = defaultdict(list)
    for role, valid_until in counted:
        valid[role].append(valid_until)
    out: Slots = {}
    for role, n in (rule.get("approvals") or {}).items():
        needed = int(n)
        if needed > 0:
            latest = sorted(valid[role], reverse=True)
            out[role] = (needed, latest[needed - 1] if len(latest) >= needed else None)
    return out


def _counted(request_ids: Iterable[int]) -> dict[int, list[tuple[str, dt.datetime]]]:
    out: dict[int, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for request_id, role, valid_until in (Approval.objects.filter(request_id__in=request_ids, decision=Decision.APPROVE,
                                                                  lapsed_at__isnull=True)
                                          .values_list("request_id", "role", "valid_until")):
        out[request_id].append((role, valid_until))
    return out


def stored(request_ids: Iterable[int] | None = None) -> dict[int, Slots]:
    """The table as it stands (for `request_ids`, or all of it)."""
    rows = OpenSlot.objects.all() if request_ids is None else OpenSlot.objects.filter(request_id__in=request_ids)
    out: dict[int, Slots] = defaultdict(dict)
    for request_id, role, needed, full_until in rows.values_list("request_id", "role", "needed", "full_until"):
        out[request_id][role] = (needed, full_until)
    return dict(out)


def _rows(request_id: int, slots: Slots) -> list[OpenSlot]:
    return [OpenSlot(request_id=request_id, role=role, needed=needed, full_until=full_until)
            for role, (needed, full_until) in sorted(slots.items())]


def _replace(wanted: dict[int, Slots]) -> None:
    """Replace the rows of each request in `wanted` with its slots."""
    if wanted:
        OpenSlot.objects.filter(request_id__in=list(wanted)).delete()
        OpenSlot.objects.bulk_create([row for pk, slots in wanted.items() for row in _rows(pk, slots)])


def slots_sync(request: PromotionRequest) -> bool:
    """Re-derive one request's rows from it (as just saved) and its approvals; True if they changed."""
    counted = _counted([request.pk])[request.pk] if request.status == RequestStatus.PENDING else []
    wanted = derive(request.status, request.policy_rule, counted)
    if wanted == stored([request.pk]).get(request.pk, {}):
        return False
    _replace({request.pk: wanted})
    return True


def slots_rebuild() -> int:
    """Derive the whole table again from the requests and approvals; returns how many requests' rows it found
    different (0 when every save kept it, as it should)."""
    with transaction.atomic():
        # The requests first, locked: a decision saving one meanwhile waits, and is derived again after.
        pending = dict(PromotionRequest.objects.select_for_update().filter(status=RequestStatus.PENDING)
                       .values_list("pk", "policy_rule"))
        counted = _counted(pending)
        have = stored()
        wanted = {pk: derive(RequestStatus.PENDING, rule, counted[pk]) for pk, rule in pending.items()}
        changed = {pk: wanted.get(pk, {}) for pk in set(wanted) | set(have)
                   if wanted.get(pk, {}) != have.get(pk, {})}
        _replace(changed)
    return len(changed)


def _request_saved(sender: Any, instance: PromotionRequest, **kwargs: Any) -> None:
    slots_sync(instance)


def _approval_changed(sender: Any, instance: Approval, **kwargs: Any) -> None:
    request = PromotionRequest.objects.filter(pk=instance.request_id).only("status", "policy_rule").first()
    if request is not None:
        slots_sync(request)


def connect() -> None:
    post_save.connect(_request_saved, sender=PromotionRequest, dispatch_uid="governance-slots-request")
    post_save.connect(_approval_changed, sender=Approval, dispatch_uid="governance-slots-approval")
    post_delete.connect(_approval_changed, sender=Approval, dispatch_uid="governance-slots-approval-deleted")
