"""Who holds which role, and the service accounts CI pipelines act as: the services that change them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit import writer
from audit.context import audit_context, user_actor
from config.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from config.json_input import check_json_value
from governance import rules
from governance.models import ApiToken, Role, ServiceAccount
from governance.roles import SERVICE_ACCOUNT_ROLES


@contextmanager
def _as(by: Any | None) -> Iterator[None]:
    """Attribute the change to `by`: the entries of a grant say who granted (governance.memberships records
    them, and checks that person, whichever path added the member)."""
    if by is None:
        yield
        return
    with audit_context(actor=user_actor(by)):
        yield


def _role(code: str) -> Role:
    rules.require_role_code(code)
    role = Role.objects.select_related("group").filter(code=code).first()
    if role is None:
        raise NotFound(f"role {code} is not set up: run manage.py migrate")
    return role


def role_grant(*, role: str, user: Any, by: Any | None) -> bool:
    """Give `user` the role with code `role`; False if they held it already. Its entry,
    `governance.role.grant`, is written in this transaction by governance.memberships."""
    rules.require_may_grant(by=by, user=user, code=role)
    rules.require_may_hold(user, role)
    found = _role(role)
    with _as(by), writer.atomic():
        if user.groups.filter(pk=found.group_id).exists():
            return False
        user.groups.add(found.group)
    return True


def role_revoke(*, role: str, user: Any, by: Any | None) -> bool:
    """Take the role `role` from `user`; False if they did not hold it. Entry: `governance.role.revoke`."""
    rules.require_may_grant(by=by, user=user, code=role)
    found = _role(role)
    with _as(by), writer.atomic():
        if not user.groups.filter(pk=found.group_id).exists():
            return False
        user.groups.remove(found.group)
    return True


def _purpose(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("purpose must be text")
    check_json_value(value, name="purpose")
    value = value.strip()
    if not value or len(value) > 300:
        raise InvalidInput("a service account needs a purpose of 1 to 300 characters (which pipeline, why)")
    return value


def _username(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 150:
        raise InvalidInput("username must be text of 1 to 150 characters")
    try:
        UnicodeUsernameValidator()(value)
    except ValidationError as exc:
        raise InvalidInput(f"username {value!r}: {' '.join(exc.messages)}") from exc
    return value


def service_account_create(*, by: Any | None, owner: Any, username: str, purpose: str,
                           roles: Sequence[str] = ()) -> ServiceAccount:
    """An account for a CI pipeline: no usable password (it signs in with the tokens its owner makes), not
    staff, holding only the roles open to service accounts; `owner` answers for it."""
    rules.require_may_create_service_account(by=by, owner=owner)
    username, purpose = _username(username), _purpose(purpose)
    for code in roles:
        rules.require_role_code(code)
        if code not in SERVICE_ACCOUNT_ROLES:
            raise PermissionDenied(f"a service account never holds the role {code}", rule="role.service_account")
    user_model = get_user_model()
    with _as(by), writer.atomic():
        if user_model._default_manager.filter(username=username).exists():
            raise Conflict(f"an account named {username!r} already exists")
        user = user_model(username=username, is_staff=False, is_active=True)
        user.set_unusable_password()
        user.save()
        account = ServiceAccount(user=user, owner=owner, purpose=purpose, created_by=by)
        writer.save(account, action="governance.service_account.create")
        for code in sorted(set(roles)):
            role_grant(role=code, user=user, by=by)
    return account


def service_account_disable(*, account: ServiceAccount, by: Any | None) -> ServiceAccount:
    """Disable the account for good: it signs in no more and every token it has is revoked, with entries."""
    rules.require_may_disable_service_account(by=by, account=account)
    now = timezone.now()
    with _as(by), writer.atomic():
        account = ServiceAccount.objects.select_for_update().select_related("user").get(pk=account.pk)
        if account.disabled_at is not None:
            raise Conflict(f"{account} is already disabled")
        account.disabled_at = now
        writer.save(account, action="governance.service_account.disable")
        account.user.is_active = False
        account.user.save()
        for token in ApiToken.objects.select_for_update().filter(user=account.user, revoked_at__isnull=True):
            token.revoked_at = now
            writer.save(token, action="auth.token.revoke")
    return account


def account_groups_set(*, user: Any, groups: Sequence[Any], by: Any | None) -> None:
    """Make `user`'s groups `groups` (the admin's user form): roles through role_grant and role_revoke, each
    with its entry; other groups by the related manager, recorded as memberships. All or nothing."""
    roles = {role.group_id: role.code for role in Role.objects.all()}
    wanted = {group.pk: group for group in groups}
    have = set(user.groups.values_list("pk", flat=True))
    with _as(by), writer.atomic():
        for group_id in sorted(have - set(wanted)):
            if group_id in roles:
                role_revoke(role=roles[group_id], user=user, by=by)
            else:
                rules.require_may_change_membership(by, user)
                user.groups.remove(group_id)
        for group_id in sorted(set(wanted) - have):
            if group_id in roles:
                role_grant(role=roles[group_id], user=user, by=by)
            else:
                rules.require_may_change_membership(by, user)
                user.groups.add(wanted[group_id])
