"""Who may do what in the workflow: the one place, called by the services whatever the channel."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, Q

from config.errors import Conflict, InvalidInput, PermissionDenied
from governance.models import Approval, ApproverRole, PromotionRequest, Role, ServiceAccount
from governance.roles import ALL_ROLES, APPROVER_ROLES, GOVERNANCE_ADMIN, SERVICE_ACCOUNT_ROLES
from registry.models import ModelVersion
from registry.rules import require_model_developer


def _held(user: Any) -> Any:
    """The roles `user` holds, by code: through their groups' roles, never the groups' names (a group renamed
    "model validator" grants nothing). A service account holds only the roles open to service accounts,
    whatever its groups say."""
    # One query, as before roles had codes: the queue and every decision ask it.
    open_to_it = Q(code__in=SERVICE_ACCOUNT_ROLES) | ~Exists(ServiceAccount.objects.filter(user=user))
    return Role.objects.filter(open_to_it, group__user=user)


def holds_role(user: Any, code: str) -> bool:
    """Whether the user holds the role `code` (governance.roles); a superuser without it holds no role."""
    if not user or not user.is_authenticated:
        return False
    return _held(user).filter(code=code).exists()


def user_roles(user: Any) -> set[str]:
    """The approver roles (policy keys) the user holds."""
    if not user or not user.is_authenticated:
        return set()
    codes = set(_held(user).values_list("code", flat=True))
    return {key for key, code in APPROVER_ROLES.items() if code in codes}


def is_service_account(user: Any) -> bool:
    return bool(user and user.is_authenticated and ServiceAccount.objects.filter(user=user).exists())


def answers_for(user: Any) -> list[int]:
    """The accounts whose acts count as `user`'s for separation of duties: their own and the service accounts
    they own (disabled ones too: what a CI pipeline did stays its owner's). A person cannot approve what their
    pipeline requested or registered, nor a model their pipeline develops."""
    if not user or not user.is_authenticated:
        return []
    return [int(user.pk), *ServiceAccount.objects.filter(owner_id=user.pk).order_by("pk")
            .values_list("user_id", flat=True)]


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
    accounts = answers_for(user)
    if request.requested_by_id in accounts:
        raise PermissionDenied("the requester can never approve or reject their own request (nor the owner of "
                               "the service account that requested it)", rule="sod.requester_cannot_decide")
    if request.version.created_by_id in accounts:
        raise PermissionDenied("the creator of the version can never approve or reject it (nor the owner of the "
                               "service account that registered it)", rule="sod.creator_cannot_decide")
    model = request.version.model
    if model.owner_id in accounts or model.developers.filter(pk__in=accounts).exists():
        # Validation is independent of development (SR 11-7): whoever may change the model, its owner and the
        # developers assigned to it, does not decide on its promotion, whoever registered this version.
        raise PermissionDenied(f"the owner and the developers of model {model.name} (and the owners of service "
                               "accounts among them) can never approve or reject its promotion",
                               rule="sod.developer_cannot_decide")
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


def may_set_password(actor: Any, account: Any) -> bool:
    """Whoever sets a person's password may sign in as them and act in their roles: only a superuser sets
    another's, everyone their own."""
    return bool(actor.is_superuser or actor.pk == account.pk)


def account_fields_closed_to(actor: Any, account: Any) -> tuple[str, ...]:
    """The fields of a user account `actor` may not set. Only a superuser makes superusers or grants permissions
    one by one (beside the roles); nobody, a superuser included, changes their own roles, and nobody but a
    superuser their own account status, so no one grants themselves an approver role to fill a slot."""
    own = account is not None and account.pk == actor.pk
    if actor.is_superuser:
        return ("groups",) if own else ()
    closed: tuple[str, ...] = ("is_superuser", "user_permissions")
    if own:
        closed += ("groups", "is_staff", "is_active")
    return closed


def is_account_admin(user: Any) -> bool:
    """Governance admins and superusers: they grant and remove roles (never their own) and manage service
    accounts."""
    return bool(user and user.is_authenticated and (user.is_superuser or holds_role(user, GOVERNANCE_ADMIN)))


def require_role_code(code: str) -> None:
    if code not in ALL_ROLES:
        raise InvalidInput(f"unknown role {code!r}: one of {', '.join(ALL_ROLES)}", rule="role.unknown")


def require_may_hold(user: Any, code: str) -> None:
    """What holds whoever grants: a service account holds only the roles open to service accounts."""
    if code not in SERVICE_ACCOUNT_ROLES and ServiceAccount.objects.filter(user=user).exists():
        raise PermissionDenied(f"a service account never holds the role {code}: it may hold only "
                               f"{', '.join(sorted(SERVICE_ACCOUNT_ROLES))}", rule="role.service_account")


def require_may_change_membership(by: Any | None, user: Any) -> None:
    """Nobody changes their own memberships (roles or any other group), by any path; `by` None is the system
    or an operator's shell with no user named, which is recorded as such."""
    if by is not None and by.pk == user.pk:
        raise PermissionDenied("nobody grants or removes their own roles, superusers included: another "
                               "governance admin must", rule="role.self")


def require_may_grant(*, by: Any | None, user: Any, code: str) -> None:
    """Who may give `user` the role `code` (or take it away: the same, less require_may_hold)."""
    require_role_code(code)
    require_may_change_membership(by, user)
    if by is not None and not is_account_admin(by):
        raise PermissionDenied("only a governance admin or a superuser grants or removes roles", rule="role.admin")


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


def require_may_create_token(*, by: Any | None, user: Any, by_token: Any | None) -> None:
    """A token is made by someone signed in with a password (a session), never by a token: otherwise a token
    that leaked, or a one-day token, could mint itself a successor that outlives its revocation. A person makes
    their own tokens; a service account's are made by its owner or a governance admin. `by` None is an
    operator's shell."""
    if by_token is not None:
        raise PermissionDenied("a token cannot create tokens: sign in with your password to create one",
                               rule="token.from_token")
    account = ServiceAccount.objects.filter(user=user).first()
    if account is not None and (account.disabled_at is not None or not user.is_active):
        raise Conflict(f"service account {user} is disabled: it gets no new tokens", rule="token.disabled")
    if by is None:
        return
    if account is None:
        if by.pk != user.pk:
            raise PermissionDenied("you create tokens for yourself, or for a service account you own",
                                   rule="token.owner")
        return
    if by.pk != account.owner_id and not is_account_admin(by):
        raise PermissionDenied(f"only the owner of service account {user} or a governance admin creates its "
                               "tokens", rule="token.owner")


def may_revoke_token(by: Any, token: Any) -> bool:
    """The token's user, the owner of the service account it belongs to, or a governance admin."""
    if token.user_id == by.pk or by.has_perm("governance.change_apitoken"):
        return True
    return ServiceAccount.objects.filter(user_id=token.user_id, owner=by).exists()


def require_may_create_service_account(*, by: Any | None, owner: Any) -> None:
    if by is not None and not is_account_admin(by):
        raise PermissionDenied("only a governance admin creates service accounts", rule="service_account.admin")
    if not owner.is_active or ServiceAccount.objects.filter(user=owner).exists():
        raise InvalidInput("a service account's owner is an active person, not another service account",
                           rule="service_account.owner")


def require_may_disable_service_account(*, by: Any | None, account: ServiceAccount) -> None:
    if by is not None and by.pk != account.owner_id and not is_account_admin(by):
        raise PermissionDenied("only its owner or a governance admin disables a service account",
                               rule="service_account.owner")
