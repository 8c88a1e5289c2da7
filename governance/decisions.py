"""Decisions on promotion requests, each judged at its moment: approve and reject, lapses, completion, expiry.

Every change that can move a pending request — a decision, evidence succeeding, a person joining a model, a
scheduled tidy-up — locks it (after its model's row: one order for all of them) and settles it: expired if past its
time to live, each counted approval checked against the rule at that instant and lapsed with its entry if it no
longer holds, and approved and applied if its gates pass and its slots are filled. Nothing waits for the next
action, and nothing shown as pending is anything else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import recorded, writer
from audit.models import AuditEntry
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.json_input import check_json_value
from governance import gates, policies, rules
from governance.models import Approval, PromotionHold, PromotionRequest, RequestStatus
from registry.models import ModelPersonnel, ModelVersion, RegisteredModel, Stage
from registry.services.personnel import lock_model
from registry.services.version import model_version_set_stage
from reports.models import Report

log = logging.getLogger(__name__)

TEXT_MAX = 10_000  # a justification's or comment's length, in every channel (the API's serializers say the same)


def clean_text(value: Any, name: str) -> str:
    """A justification or comment as stored: text without NUL (PostgreSQL cannot hold it; SQLite would), at most
    TEXT_MAX characters, stripped. Checked here so the admin, the API, bulk actions and the shell all agree."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    check_json_value(value, name=name)  # the one check of NUL and lone surrogates
    if len(value) > TEXT_MAX:
        raise InvalidInput(f"{name} is longer than {TEXT_MAX} characters")
    return value.strip()


def lock_request(pk: int) -> PromotionRequest:
    """The request, locked, after its model's row: the registry takes the model's row before it changes the model's
    people, so a decision and a change of people are never each judged on the other's old state."""
    model_id = PromotionRequest.objects.filter(pk=pk).values_list("version__model_id", flat=True).first()
    if model_id is None:
        raise NotFound("no such promotion request")
    lock_model(model_id)
    request = (PromotionRequest.objects.select_for_update(of=("self",))
               .select_related("version", "version__model").get(pk=pk))
    # What it asks for and is judged by, the version it would promote and the record of the model's people that
    # separation of duties reads, as they were made (audit.recorded).
    recorded.require_as_made([request])
    if request.status == RequestStatus.PENDING and request.decided_at is not None:
        raise recorded.NotAsRecorded(f"request #{request.pk} reads as pending but was decided at {request.decided_at}"
                                     ": its status was changed outside the product; nothing is decided on it",
                                     rule="record.not_as_made")
    recorded.require_as_made([request.version])
    # Spells made by the migration that began the record (registry 0006) have no entry of their own.
    recorded.require_as_made(ModelPersonnel.objects.filter(model_id=model_id), unrecorded_ok=True)
    return request


def _settled(pk: int, now: dt.datetime) -> PromotionRequest | None:
    """Lock and settle one request in the caller's transaction; None if it was found changed outside the product
    (NotAsRecorded, raised before anything is written). That one is left as it is, for `audit verify` to name: every
    decision on it is refused, so nothing moves on it, and the change or job that brought us here goes ahead."""
    try:
        request = lock_request(pk)
        settle(request, now)
    except recorded.NotAsRecorded as exc:
        log.error("promotion request %s not settled: %s", pk, exc.message)
        return None
    return request


def _settle_each(pks: Iterable[int]) -> None:
    """Settle each of these requests now, in the caller's transaction (see _settled)."""
    for pk in sorted(pks):
        _settled(pk, timezone.now())


def end_request(request: PromotionRequest, status: str, now: dt.datetime, action: str,
         results: list[gates.GateResult] | None = None, digests: dict[str, Any] | None = None) -> None:
    """End a request, freezing what it was decided on: each gate's result and the latest evidence of each kind."""
    request.status, request.decided_at = status, now
    request.decision_gates = [g.as_dict() for g in (results if results is not None
                                                    else gates.evaluate(request.version, request.policy_rule))]
    request.decision_evidence = digests if digests is not None else gates.evidence_digests(request.version)
    writer.save(request, action=action)


def _lapse_reason(approval: Approval, request: PromotionRequest, digests: dict[str, Any], now: dt.datetime) -> str:
    if approval.artifact_sha256 != request.version.artifact_sha256:
        return "the artifact changed since this approval"
    changed = gates.superseded(approval.evidence_digests or {}, digests, request.policy_rule)
    if changed:
        return f"the evidence changed since this approval: {', '.join(changed)}"
    return rules.counted_approval_refusal(approval, request, now)


def settle(request: PromotionRequest, now: dt.datetime) -> list[Approval]:
    """Bring a locked request up to `now`: expire it, lapse the approvals that no longer count, complete it. Returns
    the approvals lapsed (their approvers are told after commit)."""
    if request.status != RequestStatus.PENDING:
        return []
    if rules.is_expired(request, now):
        end_request(request, RequestStatus.EXPIRED, now, "governance.promotionrequest.expire")
        return []
    counted = list(request.approvals.select_related("approver").filter(decision="approve", lapsed_at__isnull=True))
    recorded.require_as_made(counted)  # each as it was given, before any of them is judged
    digests = gates.evidence_digests(request.version)
    # The evidence the gates choose from, as its reports recorded it (a verdict flipped, a report that succeeded made
    # to read as failed or older, by SQL, decides nothing), and the model's holds as the log opened them (a hold
    # moved to another model by SQL still holds this one). The metrics are left unread: the entries bind them
    # through json_sha256, which is read.
    recorded.require_as_made(Report.objects.filter(version_id=request.version_id).defer("metrics"))
    _require_holds_as_recorded(request.version.model_id)
    lapsed = []
    for approval in counted:
        reason = _lapse_reason(approval, request, digests, now)
        if reason:
            approval.lapsed_at, approval.lapse_reason = now, reason[:200]
            writer.save(approval, action="governance.approval.lapse")
            lapsed.append(approval)
    if lapsed:
        ids = [a.pk for a in lapsed]
        transaction.on_commit(lambda: notify_lapsed(ids))
    _complete_if_ready(request, now, digests)
    return lapsed


def _require_holds_as_recorded(model_id: int) -> None:
    """Every hold the log opened on the model is a row of this model, as made (a hold is never deleted); the
    gates then read the rows. Found by the holds' entries (`str(hold)` names the model), read in full."""
    opened = AuditEntry.objects.filter(object_type="governance.promotionhold", action="governance.hold.open",
                                       object_repr__contains=f" on model {model_id} (")
    logged = {int(object_id) for object_id, canonical in opened.values_list("object_id", "canonical")
              if json.loads(bytes(canonical))["changes"].get("model", {}).get("new") == model_id}
    rows = list(PromotionHold.objects.filter(Q(model_id=model_id) | Q(pk__in=logged)))
    missing = logged - {h.pk for h in rows}
    if missing:
        raise recorded.NotAsRecorded(f"hold {', '.join(f'#{pk}' for pk in sorted(missing))} on model {model_id} is in "
                                     "the log but not in the database: nothing is decided on the model's requests",
                                     rule="record.not_as_made")
    recorded.require_as_made(rows)


def _complete_if_ready(request: PromotionRequest, now: dt.datetime, digests: dict[str, Any]) -> bool:
    if rules.open_slots(request, now):
        return False
    results = gates.evaluate(request.version, request.policy_rule)
    if not gates.all_pass(results):
        return False
    version = request.version
    with writer.deciding():  # the one place a version's stage moves (ModelVersion.DECIDED_FIELDS)
        if version.stage != request.target_stage:
            for previous in ModelVersion.objects.select_for_update().filter(
                model_id=version.model_id, stage=request.target_stage
            ).exclude(pk=version.pk):
                model_version_set_stage(version=previous, stage=Stage.ARCHIVED, promotion_request_id=request.pk)
        model_version_set_stage(version=version, stage=request.target_stage, promotion_request_id=request.pk)
    end_request(request, RequestStatus.APPROVED, now, "governance.promotionrequest.approve", results, digests)
    return True


def _refusal_for_ended(request: PromotionRequest) -> Conflict:
    if request.status == RequestStatus.EXPIRED:
        return Conflict(f"the request expired on {request.expires_at:%Y-%m-%d %H:%M} UTC (its time to live); it can "
                        "no longer be decided: ask for a new one", rule="request.expired")
    return Conflict(f"the request is {request.status}; it can no longer be decided", rule="request.decided")


def approval_record(
    *, request: PromotionRequest, by: Any, role: str, decision: str, comment: str = ""
) -> PromotionRequest:
    """Approve or reject in a role, judged at this moment; the last approval applies the promotion in the same
    transaction. What settling the request recorded (its expiry, lapses) is kept even when the decision is
    refused: the refusal is raised once that is committed."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")
    comment = clean_text(comment, "comment")
    if decision == "reject" and not comment:
        raise InvalidInput("a rejection needs a comment saying why")
    refusal: DomainError | None = None
    with writer.atomic():
        request = lock_request(request.pk)
        now = timezone.now()
        settle(request, now)
        try:
            if request.status != RequestStatus.PENDING:
                raise _refusal_for_ended(request)
            _decide(request, by, role, decision, comment, now)
        except DomainError as exc:
            refusal = exc
    if refusal is not None:
        raise refusal
    return request


def _decide(request: PromotionRequest, by: Any, role: str, decision: str, comment: str, now: dt.datetime) -> None:
    rules.require_may_decide(by, request, role, now=now)
    digests = gates.evidence_digests(request.version)
    results = gates.evaluate(request.version, request.policy_rule)
    if decision == "approve":
        rules.require_slot_open(request, role, now=now)
        failing = gates.evidence_failures(results)
        if failing:
            raise Conflict("an approval needs the evidence the policy requires, and it is not ready: "
                           + "; ".join(g.detail for g in failing), rule="evidence.not_ready")
    approval = Approval(
        request=request, approver=by, role=role, decision=decision, comment=comment,
        artifact_sha256=request.version.artifact_sha256,
        evidence_digests=digests,
        valid_until=now + policies.duration(request.policy_rule, "approval_valid_hours"),
    )
    writer.save(approval, action=f"governance.approval.{decision}")
    if decision == "reject":
        end_request(request, RequestStatus.REJECTED, now, "governance.promotionrequest.reject", results, digests)
    else:
        _complete_if_ready(request, now, digests)


def promotion_request_settle(*, request: PromotionRequest) -> PromotionRequest:
    """Settle one request now (expire, lapse, complete), e.g. from the shell; every change that concerns a request
    already does this in its own transaction."""
    with writer.atomic():
        request = lock_request(request.pk)
        settle(request, timezone.now())
    return request


def promotion_requests_expire(*, now: dt.datetime | None = None) -> int:
    """The scheduled tidy-up: settle each pending request past its time to live, or holding an approval past its
    validity, each in its own transaction. Decisions do the same on first touch; this only records it sooner.
    Returns how many requests expired."""
    now = now or timezone.now()
    due = set(PromotionRequest.objects.filter(status=RequestStatus.PENDING, expires_at__lte=now)
              .values_list("pk", flat=True))
    due |= set(Approval.objects.filter(request__status=RequestStatus.PENDING, decision="approve",
                                       lapsed_at__isnull=True, valid_until__lte=now)
               .values_list("request_id", flat=True))
    expired = 0
    for pk in sorted(due):
        with writer.atomic():
            request = _settled(pk, now)
            expired += request is not None and request.status == RequestStatus.EXPIRED and request.decided_at == now
    return expired


def on_personnel_joined(sender: Any, model: RegisteredModel, user_ids: list[int], at: dt.datetime,
                        **kwargs: Any) -> None:
    """People became owner or developers of `model` (registry, inside its transaction, the model's row locked):
    the approvals they gave on its open requests lapse now, with their entries."""
    pending = (PromotionRequest.objects.filter(version__model_id=model.pk, status=RequestStatus.PENDING,
                                               approvals__approver_id__in=user_ids, approvals__lapsed_at__isnull=True)
               .values_list("pk", flat=True).distinct())
    _settle_each(pending)


def on_roles_removed(*, user_ids: list[int]) -> None:
    """People lost roles (governance.memberships, inside the transaction of the removal): the approvals they gave
    on open requests are judged again now, and lapse with their entries if their approver no longer holds the
    role, so the queues and the requests' pages never count an approval the rule would not."""
    pending = (PromotionRequest.objects.filter(status=RequestStatus.PENDING, approvals__approver_id__in=user_ids,
                                               approvals__decision="approve", approvals__lapsed_at__isnull=True)
               .values_list("pk", flat=True).distinct())
    with writer.atomic():
        _settle_each(pending)


def on_report_succeeded(sender: Any, report: Report, **kwargs: Any) -> None:
    """A report succeeded (reports, inside its transaction): the version's open requests are settled at once, the
    approvals bound to the evidence it replaces lapse, and a request it completes is approved and applied."""
    _settle_each(PromotionRequest.objects.filter(version_id=report.version_id, status=RequestStatus.PENDING)
                 .values_list("pk", flat=True))


def notify_lapsed(approval_ids: list[int]) -> int:
    """Tell each approver whose approval lapsed why, and that the request needs a decision again (after commit)."""
    sent = 0
    for approval in Approval.objects.filter(pk__in=approval_ids).select_related("approver", "request__version"):
        if not approval.approver.email:
            continue
        request = approval.request
        send_mail(
            subject=f"[modelgov] your approval lapsed: {request.version} to {request.target_stage}",
            message=f"Your {approval.role} approval of request #{request.pk} lapsed: {approval.lapse_reason}.\n\n"
                    "The request needs a decision again; review the evidence as it now stands.\n",
            from_email=None, recipient_list=[approval.approver.email], fail_silently=True,
        )
        sent += 1
    return sent
