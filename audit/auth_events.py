"""Audit entries for Django's own auth objects: users, roles (groups), membership, logins."""

from __future__ import annotations

import functools
from typing import Any

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, update_last_login
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.http import HttpRequest
from django.utils import timezone

from audit import bootstrap, chain, permits, writer
from audit.context import audit_context, system_actor, user_actor
from audit.governed import GovernedModel, NoBulkWritesQuerySet, guard_link_table, guard_managers, refuse_raw_save

_SECRET_FIELDS = {"password"}
# The actions recorded here that change nothing of the user: the replay applies no change an entry of one carries
# (audit.replay.Schema.inert), so a field's change cannot pass under a login.
INERT_ACTIONS = frozenset({"auth.user.login", "auth.user.logout", "auth.user.login_failed", "auth.user.locked_out",
                           "auth.user.lockout_lifted"})
_SKIP_FIELDS = {"last_login"}


class PermissionQuerySet(NoBulkWritesQuerySet):
    """Permissions are created in bulk by migrate, before anyone holds them; updated in bulk they would
    change what roles may do with no entry."""

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """Each permission made is recorded, in the same transaction: the guards of the permission table
        (audit.row_guards) refuse a row without its entry. Permissions are made after each migrate, and after
        a flush before the log's own post-migrate step has put back the chain's head: made here if missing."""
        bootstrap.ensure_chain_head(self.db)
        with writer.atomic():
            permits.note("auth.permission", None)
            made = models.QuerySet.bulk_create(self, objs, *args, **kwargs)
            for perm in made:
                if perm.pk is not None:  # None: an existing one skipped (ignore_conflicts)
                    _record_saved(Permission, perm, {}, _values(perm), created=True)
        return made


def _values(instance: Any) -> dict[str, Any]:
    return {
        f.name: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.name not in _SKIP_FIELDS
    }


def _object_type(model: Any) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _snapshot(sender: Any, instance: Any, **kwargs: Any) -> None:
    permits.note(_object_type(sender), instance.pk)
    if instance.pk is None or kwargs.get("raw"):
        instance._audit_before = {}
        return
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _values(old) if old is not None else {}


def _saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    before = {} if created else getattr(instance, "_audit_before", {})
    after = _values(instance)
    saved = kwargs.get("update_fields")
    if saved is not None and not created:
        # save(update_fields=...) writes those fields only; a change to any other stays in memory.
        names = {f.name for f in instance._meta.concrete_fields if f.name in saved or f.attname in saved}
        before = {k: v for k, v in before.items() if k in names}
        after = {k: v for k, v in after.items() if k in names}
    _record_saved(sender, instance, before, after, created)


def _record_saved(sender: Any, instance: Any, before: dict[str, Any], after: dict[str, Any], created: bool) -> None:
    changes = {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            if name in _SECRET_FIELDS:
                changes[name] = {"old": chain.REDACTED if before.get(name) else None, "new": chain.REDACTED}
                changes[chain.digest_key(name)] = {"old": chain.secret_digest(before.get(name), name),
                                                   "new": chain.secret_digest(after.get(name), name)}
            else:
                changes[name] = {"old": before.get(name), "new": after.get(name)}
    if not changes and not created:
        return
    verb = "create" if created else "update"
    writer.record(action=f"auth.{sender._meta.model_name}.{verb}", obj=instance, changes=changes)


def _links(instance: Any) -> dict[str, list[str]]:
    """What a user, role or permission is linked to, by name, under the names its m2m entries use (a
    user's groups and permissions, a role's members and permissions, a permission's groups and users, the
    models a user develops): deleting it deletes these rows with it (Django cascades without an m2m
    signal), so its entry keeps them."""
    mine = instance._meta.concrete_model
    links = {}
    for through in _auth_links():
        source, target = (f.related_model for f in through._meta.fields if f.is_relation)
        if mine in (source, target):
            other = target if mine is source else source
            links[_m2m_field(through, reverse=mine is not source)] = _linked_names(through, instance, other)
    for rel in instance._meta.related_objects:
        if rel.many_to_many and issubclass(rel.related_model, GovernedModel):
            links[rel.get_accessor_name()] = _linked_names(rel.through, instance, rel.related_model)
    return links


def _deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    permits.note(_object_type(sender), instance.pk)
    instance._audit_links = _links(instance)


def _deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    changes = {k: {"old": chain.REDACTED if k in _SECRET_FIELDS else v, "new": None}
               for k, v in _values(instance).items()}
    for k in _SECRET_FIELDS & changes.keys():
        changes[chain.digest_key(k)] = {"old": chain.secret_digest(_values(instance)[k], k), "new": None}
    for name, names in getattr(instance, "_audit_links", {}).items():
        if names:
            changes[name] = {"old": names, "new": None}
    writer.record(
        action=f"auth.{sender._meta.model_name}.delete",
        obj=writer.ObjectRef(type=f"auth.{sender._meta.model_name}", id=str(instance.pk), repr=str(instance)),
        changes=changes,
    )


def _auth_links() -> tuple[Any, ...]:
    user_model = get_user_model()
    return user_model.groups.through, user_model.user_permissions.through, Group.permissions.through


def _m2m_field(sender: Any, reverse: bool) -> str:
    """The name of the link in an entry: from the owner's side (user.groups) or the other's (group members)."""
    user_model = get_user_model()
    names = {
        user_model.groups.through: ("groups", "members"),
        user_model.user_permissions.through: ("permissions", "users"),
        Group.permissions.through: ("permissions", "groups"),
    }[sender]
    return names[1] if reverse else names[0]


def _linked_names(through: Any, instance: Any, model: Any) -> list[str]:
    """The names of the objects `instance` is linked to through `through` (what a clear removes)."""
    fks = [f for f in through._meta.fields if f.is_relation]
    source = next(f for f in fks if f.related_model._meta.concrete_model is instance._meta.concrete_model)
    target = next(f for f in fks if f is not source)
    ids = through._base_manager.filter(**{source.attname: instance.pk}).values(target.attname)
    return sorted(str(o) for o in model._default_manager.filter(pk__in=ids))


def _m2m(sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any) -> None:
    if action.startswith("pre_"):
        permits.note(_object_type(type(instance)), instance.pk)
    if action == "pre_clear":
        instance._audit_cleared = _linked_names(sender, instance, model)
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    verb = {"post_add": "add", "post_remove": "remove", "post_clear": "clear"}[action]
    field = _m2m_field(sender, reverse)
    if action == "post_clear":
        names = instance.__dict__.pop("_audit_cleared", [])
    else:
        names = sorted(str(o) for o in model._default_manager.filter(pk__in=pk_set)) if pk_set else []
    writer.record(
        action=f"auth.{instance._meta.model_name}.{field}_{verb}",
        obj=instance,
        changes={field: {"old": None, "new": {verb: names}}},
    )


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """The login's entry, with the user's new last_login in its transaction (Django's own receiver, which
    saved it alone, is replaced by this one: a row written with no entry is refused by the database)."""
    with audit_context(actor=user_actor(user)), writer.atomic():
        if user.pk is not None and hasattr(user, "last_login"):
            update_last_login(sender, user)
        writer.record(action="auth.user.login", obj=user, changes={})


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    with audit_context(actor=user_actor(user)):
        writer.record(action="auth.user.logout", obj=user, changes={})


def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    with audit_context(actor=system_actor("authentication")):
        writer.record(
            action="auth.user.login_failed",
            obj=writer.ObjectRef(type="auth.user", id=username, repr=username),
            changes={},
        )


def _locked_out(sender: Any, request: HttpRequest, username: str | None, ip_address: str | None,
                 **kwargs: Any) -> None:
    """The failure that reached the limit locks `username` for `ip_address` (later tries while locked are
    login_failed entries, not new lockouts)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    name = str(username or "")[:150]
    with audit_context(actor=system_actor("authentication")):
        writer.record(
            action="auth.user.locked_out",
            obj=writer.ObjectRef(type="auth.user", id=name, repr=name),
            changes={"locked_out": {"old": None, "new": {"ip_address": ip_address, "failures": failures}}},
        )


def _lockout_lifted(sender: Any, instance: AccessAttempt, **kwargs: Any) -> None:
    """A lock ends when its failures are deleted: expired (cleared at the next login attempt) or reset by an
    administrator (axes' admin or its axes_reset commands), who is then the entry's actor."""
    if instance.failures_since_start < get_failure_limit(None, {"username": instance.username}):
        return
    name = str(instance.username or "")[:150]
    cool_off = get_cool_off()
    expired = cool_off is not None and instance.attempt_time <= timezone.now() - cool_off
    with audit_context(actor=system_actor("authentication") if expired else None):
        writer.record(
            action="auth.user.lockout_lifted",
            obj=writer.ObjectRef(type="auth.user", id=name, repr=name),
            changes={"locked_out": {"old": {"ip_address": instance.ip_address,
                                            "failures": instance.failures_since_start},
                                    "new": None},
                     "reason": {"old": None, "new": "expired" if expired else "reset"}},
        )


def _save_in_one_transaction(model: Any) -> None:
    """Django sends post_save after a save has committed when no transaction is open (a shell,
    createsuperuser, changepassword): the entry recorded then would come in a second transaction, and a
    failed append would leave the change without its entry. Each save of these models is therefore one
    transaction with its entry, as the governed models' saves are.

    A rebinding of Django's own method, kept because Django has no hook that can wrap a save in a
    transaction (a signal runs inside the save; a login's password rehash saves inside django.contrib.auth).
    The documented way out for users is a custom user model whose save opens the transaction, a migration of
    its own; Group and Permission cannot be swapped. docs/architecture.md lists this with the other two."""
    original = model.save
    if getattr(original, "audit_atomic", False):
        return

    @functools.wraps(original)
    def save(self: Any, *args: Any, **kwargs: Any) -> None:
        with writer.atomic():
            original(self, *args, **kwargs)

    save.audit_atomic = True  # type: ignore[attr-defined]
    model.save = save


def connect() -> None:
    user_model = get_user_model()
    for model in (user_model, Group):
        _save_in_one_transaction(model)
        guard_managers(model, NoBulkWritesQuerySet)
        pre_save.connect(refuse_raw_save, sender=model, dispatch_uid=f"audit-raw-{model.__name__}")
        pre_save.connect(_snapshot, sender=model, dispatch_uid=f"audit-pre-{model.__name__}")
        post_save.connect(_saved, sender=model, dispatch_uid=f"audit-post-{model.__name__}")
        pre_delete.connect(_deleting, sender=model, dispatch_uid=f"audit-predel-{model.__name__}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"audit-del-{model.__name__}")
    # A permission is made by migrate (in bulk) and grants nothing until given. Changed, it changes what
    # every role holding it may do; deleted (a stale content type removed, say), it is taken from every
    # role and user holding it. Both are recorded, and changes in bulk refused.
    _save_in_one_transaction(Permission)
    guard_managers(Permission, PermissionQuerySet)
    pre_save.connect(refuse_raw_save, sender=Permission, dispatch_uid="audit-raw-Permission")
    pre_save.connect(_snapshot, sender=Permission, dispatch_uid="audit-pre-Permission")
    post_save.connect(_saved, sender=Permission, dispatch_uid="audit-post-Permission")
    pre_delete.connect(_deleting, sender=Permission, dispatch_uid="audit-predel-Permission")
    post_delete.connect(_deleted, sender=Permission, dispatch_uid="audit-del-Permission")
    for through in _auth_links():
        guard_link_table(through)
        m2m_changed.connect(_m2m, sender=through, dispatch_uid=f"audit-m2m-{through.__name__}")
    user_logged_in.disconnect(dispatch_uid="update_last_login")
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
    user_locked_out.connect(_locked_out, dispatch_uid="audit-locked-out")
    post_delete.connect(_lockout_lifted, sender=AccessAttempt, dispatch_uid="audit-lockout-lifted")
