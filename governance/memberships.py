"""Role membership, whatever path changes it: checked and recorded as a grant or a revocation of a role.

The services (governance.accounts) are the way to grant and remove roles, but a member can also be added by
the related managers themselves (`user.groups.add` in a shell, `group.user_set.remove`, the admin's forms):
these receivers of m2m_changed see every such change, refuse anyone changing their own memberships or a service
account taking a role it may not hold, and record `governance.role.grant` / `governance.role.revoke` (who is the
entry's actor, to whom its object, which role its change) in the transaction of the change. A role's group
keeps its name for good: renaming it would make a list of groups say something else than the roles it holds.
What the admin keeps read-only beside the roles (superuser status, one's own status, permissions one by one on a
user or a group) is refused the same way to anyone acting as a user who may not set it, whatever the path.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, pre_save

from audit import writer
from audit.context import current_user_id
from config.errors import PermissionDenied
from governance import decisions, rules
from governance.models import Role

_PENDING = "_governance_role_changes"


def _acting_user() -> Any | None:
    """The user the current change is attributed to (None: the system, or a shell that named nobody)."""
    actor_id = current_user_id()
    return get_user_model()._default_manager.filter(pk=actor_id).first() if actor_id else None


def _pairs(instance: Any, reverse: bool, pk_set: Any, action: str) -> list[tuple[Any, int]]:
    """(member, group id) for each membership the change would add or remove; one that is not there (a remove
    of a group the user is not in) or already there (Django leaves those out of an add) is left out."""
    through = get_user_model().groups.through
    if reverse:  # group.user_set.add(users): instance is the group
        rows = through._base_manager.filter(group_id=instance.pk)
        rows = rows if pk_set is None else rows.filter(user_id__in=pk_set)
        ids = pk_set if action == "pre_add" else rows.values_list("user_id", flat=True)
        users = get_user_model()._default_manager.in_bulk(list(ids or ()))
        return [(user, instance.pk) for user in users.values()]
    rows = through._base_manager.filter(user_id=instance.pk)
    rows = rows if pk_set is None else rows.filter(group_id__in=pk_set)
    ids = pk_set if action == "pre_add" else rows.values_list("group_id", flat=True)
    return [(instance, group_id) for group_id in sorted(ids or ())]


def _check(by: Any | None, adding: bool, member: Any, role: Role | None) -> None:
    rules.require_may_change_membership(by, member)
    if role is None:
        return
    if adding:
        rules.require_may_hold(member, role.code)
    if by is not None:
        rules.require_may_grant(by=by, user=member, code=role.code)


def _membership_changing(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any,
                         **kwargs: Any) -> None:
    if action not in {"pre_add", "pre_remove", "pre_clear"}:
        return
    pairs = _pairs(instance, reverse, pk_set, action)
    roles = Role.objects.in_bulk([group_id for _, group_id in pairs], field_name="group_id")
    by = _acting_user()
    adding = action == "pre_add"
    for member, group_id in pairs:
        _check(by, adding, member, roles.get(group_id))
    instance.__dict__[_PENDING] = [(member, roles[group_id].code) for member, group_id in pairs if group_id in roles]


def _membership_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    granted = action == "post_add"
    changed = instance.__dict__.pop(_PENDING, [])
    for member, code in changed:
        writer.record(
            action="governance.role.grant" if granted else "governance.role.revoke",
            obj=writer.ObjectRef(type="auth.user", id=str(member.pk), repr=member.get_username()),
            changes={"role": {"old": None, "new": code} if granted else {"old": code, "new": None}},
        )
    if not granted and changed:
        # An approval counts only while its approver holds the role: those it no longer does lapse now.
        decisions.on_roles_removed(user_ids=sorted({int(member.pk) for member, _ in changed}))


def _refuse_role_rename(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None or not Role.objects.filter(group_id=instance.pk).exists():
        return
    name = Group._base_manager.filter(pk=instance.pk).values_list("name", flat=True).first()
    if name is not None and name != instance.name:
        raise PermissionDenied(f"the group {name!r} carries a role and keeps its name: roles are known by their "
                               "code, and a renamed group would mislead whoever grants it", rule="role.rename")


_ACCOUNT_STATUS = ("is_superuser", "is_staff", "is_active")


def _account_saving(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    """Superuser status, and one's own staff and active status, set by whoever may (rules.account_fields_closed_to),
    whichever path saves the account: the admin's read-only fields hold in a shell acting as someone too."""
    by = _acting_user()
    if raw or by is None or (update_fields is not None and not set(update_fields) & set(_ACCOUNT_STATUS)):
        return
    row = (type(instance)._base_manager.filter(pk=instance.pk).values(*_ACCOUNT_STATUS).first()
           if instance.pk is not None else None)
    before = row or {"is_superuser": False, "is_staff": False, "is_active": True}
    changed = {field for field in _ACCOUNT_STATUS if bool(getattr(instance, field)) != bool(before[field])}
    rules.require_may_set_account_fields(by, instance, changed)


def _user_permissions_changing(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any,
                               **kwargs: Any) -> None:
    if action not in {"pre_add", "pre_remove", "pre_clear"}:
        return
    by = _acting_user()
    if by is None:
        return
    users = ([instance] if not reverse
             else list(get_user_model()._default_manager.filter(pk__in=pk_set or ()))
             if action != "pre_clear" else list(instance.user_set.all()))
    for user in users:
        rules.require_may_set_account_fields(by, user, {"user_permissions"})


def _group_permissions_changing(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action in {"pre_add", "pre_remove", "pre_clear"}:
        rules.require_may_edit_group_permissions(_acting_user())


def connect() -> None:
    user_model = get_user_model()
    through = user_model.groups.through
    m2m_changed.connect(_membership_changing, sender=through, dispatch_uid="governance-membership-check")
    m2m_changed.connect(_membership_changed, sender=through, dispatch_uid="governance-membership-record")
    pre_save.connect(_refuse_role_rename, sender=Group, dispatch_uid="governance-role-rename")
    pre_save.connect(_account_saving, sender=user_model, dispatch_uid="governance-account-status")
    m2m_changed.connect(_user_permissions_changing, sender=user_model.user_permissions.through,
                        dispatch_uid="governance-user-permissions")
    m2m_changed.connect(_group_permissions_changing, sender=Group.permissions.through,
                        dispatch_uid="governance-group-permissions")
