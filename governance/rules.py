"""Who may do what in the workflow: the one place, called by the services whatever the channel.

"May decide" lives here in two forms side by side: the rule applied to one request (`decision_refusal`,
`require_may_decide`, `may_decide`, `counted_approval_refusal`) that approve, reject, completion and every page use,
and its SQL form (`awaiting_where`, on the table of open slots that governance.slots derives from the requests and
approvals), that the queues of the API and the admin filter, page and count with. A property test
(tests/governance/test_queue_property.py) holds the two, and the table, to the same answer over random histories; a
change to one is a change to both.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Literal

from django.db import connection
from django.db.models import BigIntegerField, Exists, F, Func, Q, QuerySet

from config.errors import Conflict, InvalidInput, PermissionDenied
from governance.models import (
    Approval,
    ApproverRole,
    Decision,
    OpenSlot,
    PromotionRequest,
    RequestStatus,
    Role,
    ServiceAccount,
)
from governance.roles import ALL_ROLES, APPROVER_ROLES, GOVERNANCE_ADMIN, MODEL_VALIDATOR, SERVICE_ACCOUNT_ROLES
from registry.models import ModelPersonnel, ModelVersion
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


def is_expired(request: PromotionRequest, now: dt.datetime) -> bool:
    """Pending past its time to live: expired, whether or not a job or a decision has recorded it yet."""
    return request.status == RequestStatus.PENDING and now >= request.expires_at


def counts(approval: Approval, now: dt.datetime) -> bool:
    """Whether an approval fills its slot at `now`: an approval, not lapsed, still within its validity."""
    return approval.decision == Decision.APPROVE and approval.lapsed_at is None and now < approval.valid_until


def active_approvals(request: PromotionRequest, now: dt.datetime) -> list[Approval]:
    return [a for a in request.approvals.all() if counts(a, now)]


def was_on_model(accounts: list[int], request: PromotionRequest, now: dt.datetime) -> bool:
    """One of `accounts` was the model's owner or one of its developers at any moment from the version's
    registration to `now`, as the record of its people says (registry.ModelPersonnel), not as its row says today."""
    version = request.version
    return ModelPersonnel.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gte=version.created_at),
        model_id=version.model_id, user_id__in=accounts, started_at__lte=now,
    ).exists()


def decision_refusal(user: Any, request: PromotionRequest, role: str, now: dt.datetime) -> PermissionDenied | None:
    """Why `user` may not decide `request` in `role` at `now` (None: they may). No bypass for anyone, superusers
    included. The same question is asked of every counted approval when a request completes."""
    if role not in ApproverRole.values:
        return PermissionDenied(f"unknown approver role {role!r}", rule="role.unknown")
    if not holds_role(user, APPROVER_ROLES[role]):
        return PermissionDenied(f"you do not hold the role {APPROVER_ROLES[role]}", rule="role.required")
    # The user and the service accounts they own: what their CI pipeline did is theirs.
    accounts = answers_for(user)
    if request.requested_by_id in accounts:
        return PermissionDenied("the requester can never approve or reject their own request (nor the owner of "
                                "the service account that requested it)", rule="sod.requester_cannot_decide")
    if request.version.created_by_id in accounts:
        return PermissionDenied("the creator of the version can never approve or reject it (nor the owner of the "
                                "service account that registered it)", rule="sod.creator_cannot_decide")
    if was_on_model(accounts, request, now):
        # Validation is independent of development (SR 11-7): whoever could change the model since this version
        # was registered, its owners and developers then or since (or their service accounts), does not decide on
        # its promotion.
        return PermissionDenied(f"an owner or developer of model {request.version.model.name} since this version "
                                "was registered (or the owner of a service account that was) can never approve or "
                                "reject its promotion", rule="sod.developer_cannot_decide")
    return None


def require_may_decide(user: Any, request: PromotionRequest, role: str, *, now: dt.datetime) -> None:
    refusal = decision_refusal(user, request, role, now)
    if refusal is not None:
        raise refusal
    if any(a.approver_id == user.pk for a in active_approvals(request, now)):
        raise PermissionDenied("one person fills at most one approval slot on a request",
                               rule="sod.one_slot_per_person")


def counted_approval_refusal(approval: Approval, request: PromotionRequest, now: dt.datetime) -> str:
    """Why an approval no longer counts at `now` (empty: it does): past its validity, or its approver would now be
    refused (lost the role, or became an owner or developer of the model)."""
    if now >= approval.valid_until:
        return f"no longer valid: approvals count until {approval.valid_until:%Y-%m-%d %H:%M} UTC"
    refusal = decision_refusal(approval.approver, request, approval.role, now)
    return f"its approver may no longer decide: {refusal.message}" if refusal is not None else ""


def require_slot_open(request: PromotionRequest, role: str, *, now: dt.datetime) -> None:
    needed = int(request.policy_rule.get("approvals", {}).get(role, 0))
    if needed == 0:
        raise Conflict(f"the policy asks for no {role} approval on this request", rule="slot.not_required")
    if sum(1 for a in active_approvals(request, now) if a.role == role) >= needed:
        raise Conflict(f"every {role} slot on this request is already filled", rule="slot.filled")


def open_slots(request: PromotionRequest, now: dt.datetime) -> dict[str, int]:
    filled: dict[str, int] = {}
    for a in active_approvals(request, now):
        filled[a.role] = filled.get(a.role, 0) + 1
    return {role: n - filled.get(role, 0) for role, n in request.policy_rule.get("approvals", {}).items()
            if n - filled.get(role, 0) > 0}


def may_decide(user: Any, request: PromotionRequest, now: dt.datetime) -> list[str]:
    """The roles in which the user could approve this request at `now` (for queues and buttons)."""
    if request.status != RequestStatus.PENDING or is_expired(request, now):
        return []
    roles = []
    for role in sorted(user_roles(user) & set(open_slots(request, now))):
        try:
            require_may_decide(user, request, role, now=now)
        except PermissionDenied:
            continue
        roles.append(role)
    return roles


_SLOTS = OpenSlot._meta.db_table
_PERSONNEL = ModelPersonnel._meta.db_table
_APPROVALS = Approval._meta.db_table


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def awaiting_where(user: Any, now: dt.datetime) -> tuple[str, list[Any]] | None:
    """`may_decide(user, request, now)` is not empty, in SQL: the condition on a row `s` of the table of open slots
    (governance.slots: one per role of each pending request, with the request's and version's facts the rule reads)
    that makes it so, condition by condition: a role held with a slot open at `now` (never all filled, or the
    approval filling the last one ran out); not expired; not the requester, not the creator, never on the model
    since the version's registration; no slot of theirs already counted. None: the user holds no approver role.

    The queue's one SQL form of the rule, read two ways: `awaiting_count` and `awaiting_ids` (its count) and
    `awaiting_filter` (its pages). Written as SQL text rather than built with the ORM: building and compiling the
    same conditions as lookups cost 6-7 ms of CPU on every read of the queue, about as much as the rest of its
    page (benchmarks/run_scale.py, README)."""
    roles = sorted(user_roles(user))
    if not roles or not user.pk:
        return None
    accounts = answers_for(user)
    at = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"(s.full_until IS NULL OR s.full_until <= %s) AND s.expires_at > %s AND s.role IN ({_marks(roles)})"
        f" AND (s.requested_by_id IS NULL OR s.requested_by_id NOT IN ({_marks(accounts)}))"
        f" AND s.registered_by_id NOT IN ({_marks(accounts)})"
        f" AND NOT EXISTS (SELECT 1 FROM {_PERSONNEL} p WHERE p.model_id = s.model_id"
        f" AND p.user_id IN ({_marks(accounts)}) AND p.started_at <= %s"
        f" AND (p.ended_at IS NULL OR p.ended_at >= s.registered_at))"
        # Asked as "its first such approval IS NULL", a probe of the index of counted approvals per row, rather than
        # as NOT EXISTS, which PostgreSQL makes a hash of every approval the validator has counted (11,000 in the
        # scale benchmark's queue: 2.2 ms of its count, against 1.2 ms probing).
        f" AND (SELECT 1 FROM {_APPROVALS} a WHERE a.request_id = s.request_id AND a.approver_id = %s"
        f" AND a.decision = %s AND a.lapsed_at IS NULL AND a.valid_until > %s LIMIT 1) IS NULL"
    )
    params = [at, at, *roles, *accounts, *accounts, *accounts, at, int(user.pk), str(Decision.APPROVE), at]
    return sql, params


class _Where(enum.Enum):
    UNREAD = enum.auto()


# `where` not yet made: `awaiting_where` is read then. A `where` of None, read already, means no approver role, and
# stays so (reading the roles again could find one granted since, and count what the filter did not list).
Where = tuple[str, list[Any]] | None | Literal[_Where.UNREAD]
UNREAD = _Where.UNREAD


def awaiting_ids(user: Any, now: dt.datetime, where: Where = UNREAD) -> list[int]:
    """The ids of the requests awaiting `user`'s decision at `now`, from the table of open slots alone, reading no
    request, version or rule (`where`: `awaiting_where(user, now)` if already made)."""
    if where is UNREAD:
        where = awaiting_where(user, now)
    if where is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT s.request_id FROM {_SLOTS} s WHERE {where[0]}", where[1])
        return [int(row[0]) for row in cursor.fetchall()]


def awaiting_count(user: Any, now: dt.datetime, cap: int, where: Where = UNREAD) -> int:
    """How many requests await `user`'s decision at `now`, counting at most `cap`: what the queue's pages count."""
    if where is UNREAD:
        where = awaiting_where(user, now)
    if where is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT s.request_id FROM {_SLOTS} s WHERE {where[0]}"
                       " LIMIT %s) capped", [*where[1], cap])
        return int(cursor.fetchone()[0])


class _FirstAwaitingSlot(Func):
    """`(SELECT the request's first row satisfying awaiting_where ...)`: the text, with the request's own id compiled
    by Django, so that its alias is right wherever the query ends up (in another model's query as a subquery, say)."""

    output_field = BigIntegerField()

    def __init__(self, where: tuple[str, list[Any]]) -> None:
        super().__init__(F("pk"))
        self.where = where

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]
        pk, pk_params = compiler.compile(self.get_source_expressions()[0])
        # The text holds table names and placeholders only; every value is a parameter.
        return (f"(SELECT s.request_id FROM {_SLOTS} s WHERE {self.where[0]} AND s.request_id = {pk} LIMIT 1)",
                (*self.where[1], *pk_params))


def awaiting_filter(queryset: QuerySet[PromotionRequest], user: Any, now: dt.datetime,
                    where: Where = UNREAD) -> QuerySet[PromotionRequest]:
    """The requests of `queryset` awaiting `user`'s decision at `now`: each pending one with a row satisfying
    `awaiting_where`. Asked of each request as "its first such row IS NOT NULL", a probe of the unique index, rather
    than as EXISTS or IN, which PostgreSQL makes a join whose size it underestimates tenfold (it cannot know that
    every row is of a pending request), and then sorts every match for one page rather than walk the requests in
    order. `status` is the rows' own condition too; asked of the request it is the index the walk starts from."""
    if where is UNREAD:
        where = awaiting_where(user, now)
    if where is None:
        return queryset.none()
    first = _FirstAwaitingSlot(where)
    return queryset.filter(status=RequestStatus.PENDING).alias(awaiting=first).filter(awaiting__isnull=False)


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


def require_may_set_account_fields(actor: Any | None, account: Any, changed: set[str]) -> None:
    """The account fields `actor` may not set (account_fields_closed_to) refused in every channel: the admin shows
    them read-only, and a shell acting as someone, or any other path, is refused the same. `actor` None is the
    system or a shell that named nobody."""
    if actor is None:
        return
    closed = sorted(changed & set(account_fields_closed_to(actor, account)))
    if not closed:
        return
    superuser_only = {"is_superuser", "user_permissions"} & set(closed)
    raise PermissionDenied(
        f"you may not set {', '.join(closed)} of {account.get_username()}: "
        + ("only a superuser grants superuser status or permissions one by one" if superuser_only
           else "nobody but a superuser changes their own account status"),
        rule="account.superuser_only" if superuser_only else "account.self")


def require_may_edit_group_permissions(actor: Any | None) -> None:
    """A group's permissions (a role's, or any group's that could be given to someone) are a superuser's to edit:
    otherwise a governance admin could give their own role, or a group they then grant, rights beyond it."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("only a superuser edits a group's permissions", rule="account.superuser_only")


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


def require_may_create_token(*, by: Any | None, user: Any, by_token: Any | None) -> None:
    """A token is made by someone signed in with a password (a session), never by a token: otherwise a token
    that leaked, or a one-day token, could mint itself a successor that outlives its revocation. A person makes
    their own tokens; a service account's are made by its owner only: whoever holds one acts as the account, and
    the account's acts count as its owner's (answers_for), so anyone else holding one could act through it and
    then decide on what it did. `by` None is an operator's shell."""
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
    if by.pk != account.owner_id:
        raise PermissionDenied(f"only the owner of service account {user} creates its tokens (its acts count as "
                               "theirs); a governance admin may disable it or revoke its tokens", rule="token.owner")


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


def require_may_review_breach(user: Any, model_id: int) -> None:
    """Who records the review that releases a monitoring hold on a model: a validator who has never been the model's
    owner or one of its developers (nor owns a service account that was), as the record of its people says."""
    if not holds_role(user, MODEL_VALIDATOR):
        raise PermissionDenied(f"only a holder of the role {MODEL_VALIDATOR} reviews a monitoring breach",
                               rule="role.required")
    if ModelPersonnel.objects.filter(model_id=model_id, user_id__in=answers_for(user)).exists():
        raise PermissionDenied("an owner or developer of the model (now or ever) cannot review its monitoring breach",
                               rule="sod.developer_cannot_decide")
