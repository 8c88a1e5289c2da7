"""Reads of the workflow: request lists shaped for their pages, the queue awaiting a user, one request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from governance import gates, policies, rules
from governance.models import Approval, PromotionRequest, RequestStatus
from governance.roles import APPROVER_ROLES
from registry.models import ModelVersion
from reports import claims
from reports.selectors import evidence_after


def request_list() -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related("version", "version__model", "requested_by").prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
    )


def awaiting(user: Any, now: dt.datetime | None = None) -> QuerySet[PromotionRequest]:
    """Pending requests the user may approve now (rules.may_decide, in its SQL form), oldest first."""
    return rules.awaiting_filter(request_list(), user, now or timezone.now()).order_by("created_at")


def awaiting_counted(user: Any) -> tuple[QuerySet[PromotionRequest], Callable[[int], int]]:
    """`awaiting(user)`, and its count up to a cap read from the table of open slots alone (what counting the queue
    reads), from one reading of the user's roles at one moment."""
    queue, count = awaiting_filter_counted(request_list(), user)
    return queue.order_by("created_at"), count


def awaiting_filter_counted(queryset: QuerySet[PromotionRequest],
                            user: Any) -> tuple[QuerySet[PromotionRequest], Callable[[int], int]]:
    """`awaiting_filter(queryset, user)`, and the count of every request awaiting the user up to a cap, from the
    table of open slots alone, at the same moment: the count of the filtered rows when `queryset` holds every
    request (the admin's queue with no other filter or search)."""
    now = timezone.now()
    where = rules.awaiting_where(user, now)
    return rules.awaiting_filter(queryset, user, now, where), lambda cap: rules.awaiting_count(user, now, cap, where)


def awaiting_filter(queryset: QuerySet[PromotionRequest], user: Any) -> QuerySet[PromotionRequest]:
    """`awaiting`'s conditions on any request queryset (the admin's and the API's lists filter with it directly
    rather than through a `pk IN (subquery)`): the rule's own SQL form, at this moment."""
    return rules.awaiting_filter(queryset, user, timezone.now())


def _bound_report_ids(request: PromotionRequest) -> set[int]:
    """The reports a decision on the request was bound to: by approvals that count, or by the rejection."""
    return {int(d["report_id"]) for a in request.approvals.all() if a.lapsed_at is None
            for d in (a.evidence_digests or {}).values() if isinstance(d, dict) and "report_id" in d}


def metric_claims(version: ModelVersion, rule: dict[str, Any]) -> dict[str, Any]:
    """The version's declared metrics beside the ones the product measured, as the metric gates of `rule` read
    them (the same report, judged fresh by the same tests), with each difference beyond the tolerance flagged."""
    found = gates.measured(version, policies.duration(rule, "evidence_max_age_days"))
    tolerance = claims.tolerance()
    rows = claims.compare(version.metrics, found.metrics, tolerance)
    return {"measured_by_report": found.report_id, "not_measured_reason": found.why_none or None,
            "tolerance": tolerance, "flagged": claims.flagged(rows), "metrics": rows}


def request_detail(request: PromotionRequest, user: Any) -> dict[str, Any]:
    """What one request's page shows. Pending: the gates and evidence as they stand now. Decided: the gates and
    evidence frozen at the decision, and apart from them the evidence no decision was bound to (that arrived later,
    or that no approval counted on) as not reviewed. Pending past its time to live: shown as expired."""
    now = timezone.now()
    if request.status == RequestStatus.PENDING and not rules.is_expired(request, now):
        evidence = gates.evidence_digests(request.version)
        results = [g.as_dict() for g in gates.evaluate(request.version, request.policy_rule)]
        not_reviewed: list[dict[str, Any]] = []
        shown = {}
    else:
        evidence = request.decision_evidence or {}
        results = request.decision_gates or []
        later = [{"report_id": e.report_id, "kind": e.kind, "verdict": e.verdict, "pdf_sha256": e.pdf_sha256,
                  "json_sha256": e.json_sha256, "finished_at": e.finished_at}
                 for e in evidence_after(request.version_id, request.decided_at or now)]
        # Pending only in the row: past its time to live, it is expired whatever the row says until recorded.
        shown = {} if request.status != RequestStatus.PENDING else {"status": RequestStatus.EXPIRED}
        bound = _bound_report_ids(request)
        not_reviewed = [{"kind": kind, **ev} for kind, ev in sorted(evidence.items())
                        if isinstance(ev, dict) and ev.get("report_id") not in bound] + later
    return {
        **shown,
        "expires_at": request.expires_at,
        "gates": results,
        "open_slots": rules.open_slots(request, now) if request.status == RequestStatus.PENDING and not shown else {},
        "evidence": evidence,
        "evidence_not_reviewed": not_reviewed,
        "metric_claims": metric_claims(request.version, request.policy_rule),
        "you_may_act_as": rules.may_decide(user, request, now),
        "role_groups": APPROVER_ROLES,
    }
