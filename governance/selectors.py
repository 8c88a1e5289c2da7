"""Reads of the workflow: request lists shaped for their pages, the queue awaiting a user, one request."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from governance import gates, rules
from governance.models import Approval, PromotionRequest, RequestStatus
from governance.roles import APPROVER_ROLES
from registry.models import ModelVersion


def request_list() -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related("version", "version__model", "requested_by").prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
    )


def awaiting(user: Any) -> QuerySet[PromotionRequest]:
    """Pending requests with an open slot for a role the user holds, that the user may decide, oldest first.

    Filtered in SQL by role, requester and creator; the finer checks (one slot per person, slots
    still open) are applied per row by `rules.may_decide` where the page shows them.
    """
    return awaiting_filter(request_list(), user).order_by("created_at")


def awaiting_filter(queryset: QuerySet[PromotionRequest], user: Any) -> QuerySet[PromotionRequest]:
    """`awaiting`'s conditions on any request queryset (the admin's and the API's lists filter with it directly
    rather than through a `pk IN (subquery)`)."""
    roles = rules.user_roles(user)
    if not roles:
        return queryset.none()
    # The user and the service accounts they own: what their CI pipeline requested is theirs.
    accounts = rules.answers_for(user)
    # "The rule names this role", as `approvals -> role IS NOT NULL` (the same as has_key: approvals is always
    # an object) rather than `approvals ? role`: PostgreSQL guesses 0.1% of rows match `?`, so it joined and
    # sorted every pending request instead of walking the newest until the page was full (26 ms -> 1 ms).
    role_filter = Q()
    for role in roles:
        role_filter |= Q(**{f"policy_rule__approvals__{role}__isnull": False})
    return (
        queryset
        .filter(status=RequestStatus.PENDING)
        .exclude(requested_by__in=accounts)
        # As NOT IN over the user's own versions (a short hashed list) rather than a join to every version:
        # counting the queue joined all 100,000 versions to drop the few the user created (49 -> 5 ms).
        .exclude(version__in=ModelVersion.objects.filter(created_by__in=accounts).values("pk"))
        # One anti-join: the two-condition exclude across the relation planned as two correlated
        # subplans per pending request, costly enough to trigger PostgreSQL's JIT on every page.
        .exclude(Exists(Approval.objects.filter(request=OuterRef("pk"), approver=user, lapsed_at__isnull=True)))
        .filter(role_filter)
    )


def request_detail(request: PromotionRequest, user: Any) -> dict[str, Any]:
    results = gates.evaluate(request.version, request.policy_rule) if request.status == RequestStatus.PENDING else []
    return {
        "gates": [g.as_dict() for g in results],
        "open_slots": rules.open_slots(request) if request.status == RequestStatus.PENDING else {},
        "evidence": gates.evidence_digests(request.version),
        "you_may_act_as": rules.may_decide(user, request),
        "role_groups": APPROVER_ROLES,
    }
