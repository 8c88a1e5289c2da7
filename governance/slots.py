"""The open approval slots of pending requests (governance.OpenSlot), the table the queue reads instead of each rule.

A derived table, not a governed one: every row follows from a request (its status, frozen rule, expiry, requester),
its version (model, registration) and its approvals (role, decision, lapse, validity), which change only by `save`
(bulk writes of governed rows are refused; a version's model and registration never change). So it is kept by their
own saves: `connect` makes every save of a request and every save or deletion of an approval derive that request's
rows again in the same transaction, whichever service, admin action or test clock made it, and `slots_rebuild`
derives the whole table again from the rows (migration 0008, `manage.py governance rebuild-slots`), saying how many
requests it found different. Time is not in the table: it says until when a role's slots are all filled, and the
queue compares that with the moment it is read (rules.awaiting_where).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from governance.models import Approval, Decision, OpenSlot, PromotionRequest, RequestStatus
from registry.models import ModelVersion


class Facts(NamedTuple):
    """What "may decide" reads of a request and its version, copied on each of its rows."""

    expires_at: dt.datetime
    requested_by_id: int | None
    model_id: int
    registered_at: dt.datetime
    registered_by_id: int


class Slot(NamedTuple):
    needed: int
    full_until: dt.datetime | None  # None while fewer approvals count than are needed
    facts: Facts


Slots = dict[str, Slot]  # by role

_FACTS = ("expires_at", "requested_by_id", "version__model_id", "version__created_at", "version__created_by_id")


def derive(status: str, rule: Mapping[str, Any], counted: Iterable[tuple[str, dt.datetime]], facts: Facts) -> Slots:
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
            out[role] = Slot(needed, latest[needed - 1] if len(latest) >= needed else None, facts)
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
    for request_id, role, needed, full_until, *facts in rows.values_list(
            "request_id", "role", "needed", "full_until", "expires_at", "requested_by_id", "model_id", "registered_at",
            "registered_by_id"):
        out[request_id][role] = Slot(needed, full_until, Facts._make(facts))
    return dict(out)


def _replace(wanted: dict[int, Slots]) -> None:
    """Replace the rows of each request in `wanted` with its slots."""
    if wanted:
        OpenSlot.objects.filter(request_id__in=list(wanted)).delete()
        OpenSlot.objects.bulk_create([
            OpenSlot(request_id=pk, role=role, needed=slot.needed, full_until=slot.full_until, **slot.facts._asdict())
            for pk, slots in wanted.items() for role, slot in sorted(slots.items())])


def slots_sync(request: PromotionRequest) -> bool:
    """Derive one request's rows again from it (as just saved), its version and its approvals; True if they
    changed."""
    wanted: Slots = {}
    if request.status == RequestStatus.PENDING:
        version = ModelVersion.objects.values_list("model_id", "created_at", "created_by_id").get(pk=request.version_id)
        facts = Facts(request.expires_at, request.requested_by_id, *version)
        wanted = derive(request.status, request.policy_rule, _counted([request.pk])[request.pk], facts)
    if wanted == stored([request.pk]).get(request.pk, {}):
        return False
    _replace({request.pk: wanted})
    return True


def slots_rebuild() -> int:
    """Derive the whole table again from the requests, versions and approvals; returns how many requests' rows it
    found different (0 when every save kept it, as it should)."""
    with transaction.atomic():
        # The requests first, locked: a decision saving one meanwhile waits, and is derived again after.
        pending = {pk: (rule, Facts._make(facts)) for pk, rule, *facts in
                   PromotionRequest.objects.select_for_update(of=("self",)).filter(status=RequestStatus.PENDING)
                   .values_list("pk", "policy_rule", *_FACTS)}
        counted = _counted(pending)
        have = stored()
        wanted = {pk: derive(RequestStatus.PENDING, rule, counted[pk], facts) for pk, (rule, facts) in pending.items()}
        changed = {pk: wanted.get(pk, {}) for pk in set(wanted) | set(have) if wanted.get(pk, {}) != have.get(pk, {})}
        _replace(changed)
    return len(changed)


def _request_saved(sender: Any, instance: PromotionRequest, **kwargs: Any) -> None:
    slots_sync(instance)


def _approval_changed(sender: Any, instance: Approval, **kwargs: Any) -> None:
    request = (PromotionRequest.objects.filter(pk=instance.request_id)
               .only("status", "policy_rule", "expires_at", "requested_by_id", "version_id").first())
    if request is not None:
        slots_sync(request)


def connect() -> None:
    post_save.connect(_request_saved, sender=PromotionRequest, dispatch_uid="governance-slots-request")
    post_save.connect(_approval_changed, sender=Approval, dispatch_uid="governance-slots-approval")
    post_delete.connect(_approval_changed, sender=Approval, dispatch_uid="governance-slots-approval-deleted")
