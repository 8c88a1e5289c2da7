"""Who may do what in the workflow: the one place, called by the services whatever the channel."""

from __future__ import annotations

from typing import Any

from config.errors import Conflict, PermissionDenied
from governance.models import Approval, ApproverRole, PromotionRequest
from governance.roles import APPROVER_ROLES, GOVERNANCE_ADMIN
from registry.models import ModelVersion
from registry.rules import is_model_developer, require_model_developer


def holds_role(user: Any, group_name: str) -> bool:
    # Role membership is checked by group; a superuser without the group holds no role.
    return bool(user and user.is_authenticated and user.groups.filter(name=group_name).exists())


def user_roles(user: Any) -> set[str]:
    """The approver roles (policy keys) the user holds."""
    if not user or not user.is_authenticated:
        return set()
    names = set(user.groups.values_list("name", flat=True))
    return {key for key, group in APPROVER_ROLES.items() if group in names}


def require_may_request(user: Any, version: ModelVersion) -> None:
    require_model_developer(user, version.model, doing="request promotions of its versions")


def require_may_withdraw(user: Any, request: PromotionRequest) -> None:
    if user.pk != request.requested_by_id and user.pk != request.version.model.owner_id:
        raise PermissionDenied("only the requester or the model's owner may withdraw a request", rule="withdraw.owner")


def active_approvals(request: PromotionRequest) -> list[Approval]:
    return [a for a in request.approvals.all() if a.lapsed_at is None and a.decision == "approve"]


def require_may_decide(user: Any, request: PromotionRequest, role: str) -> None:
    """Separation of duties: no bypass for anyone, superusers included."""
    if role not in ApproverRole.values:
        raise PermissionDenied(f"unknown approver role {role!r}", rule="role.unknown")
    if not holds_role(user, APPROVER_ROLES[role]):
        raise PermissionDenied(f"you do not hold the role {APPROVER_ROLES[role]}", rule="role.required")
    if request.requested_by_id == user.pk:
        raise PermissionDenied("the requester can never approve or reject their own request",
                               rule="sod.requester_cannot_decide")
    if request.version.created_by_id == user.pk:
        raise PermissionDenied("the creator of the version can never approve or reject it",
                               rule="sod.creator_cannot_decide")
    if is_model_developer(user, request.version.model):
        # Validation is independent of development (SR 11-7): whoever may change the model, its owner and the
        # developers assigned to it, does not decide on its promotion, whoever registered this version.
        raise PermissionDenied(f"the owner and the developers of model {request.version.model.name} can never "
                               "approve or reject its promotion", rule="sod.developer_cannot_decide")
    if any(a.approver_id == user.pk for a in active_approvals(request)):
        raise PermissionDenied("one person fills at most one approval slot on a request",
                               rule="sod.one_slot_per_person")


def require_slot_open(request: PromotionRequest, role: str) -> None:
    needed = int(request.policy_rule.get("approvals", {}).get(role, 0))
    if needed == 0:
        raise Conflict(f"the policy asks for no {role} approval on this request", rule="slot.not_required")
    if sum(1 for a in active_approvals(request) if a.role == role) >= needed:
        raise Conflict(f"every {role} slot on this request is already filled", rule="slot.filled")


def may_administer_account(actor: Any, account: Any) -> bool:
    """Whether `actor` may change `account` at all (None: accounts in general): a superuser's account, its
    password included, only a superuser may change."""
    return bool(account is None or actor.is_superuser or not account.is_superuser)


def account_fields_closed_to(actor: Any, account: Any) -> tuple[str, ...]:
    """The fields of a user account `actor` may not set. Only a superuser makes superusers or grants permissions
    one by one (beside the roles); nobody but a superuser changes their own roles or account status, so no one
    grants themselves an approver role to fill a slot."""
    if actor.is_superuser:
        return ()
    closed: tuple[str, ...] = ("is_superuser", "user_permissions")
    if account is not None and account.pk == actor.pk:
        closed += ("groups", "is_staff", "is_active")
    return closed


def require_policy_admin(user: Any) -> None:
    if not holds_role(user, GOVERNANCE_ADMIN):
        raise PermissionDenied("only a governance admin may change policies", rule="policy.admin")


def open_slots(request: PromotionRequest) -> dict[str, int]:
    filled: dict[str, int] = {}
    for a in active_approvals(request):
        filled[a.role] = filled.get(a.role, 0) + 1
    return {role: n - filled.get(role, 0) for role, n in request.policy_rule.get("approvals", {}).items()
            if n - filled.get(role, 0) > 0}


def may_decide(user: Any, request: PromotionRequest) -> list[str]:
    """The roles in which the user could act on this request now (for queues and buttons)."""
    if request.status != "pending":
        return []
    roles = []
    for role in sorted(user_roles(user) & set(open_slots(request))):
        try:
            require_may_decide(user, request, role)
        except PermissionDenied:
            continue
        roles.append(role)
    return roles
