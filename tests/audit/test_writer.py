"""The writer: one entry per change in the same transaction, chained, attributed, secrets redacted."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError

from audit import writer
from audit.context import audit_context, system_actor
from audit.models import AuditEntry, ChainHead
from registry.models import RegisteredModel
from registry.services.model import registered_model_set_developers
from tests.factories import make_model

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


@pytest.fixture
def dev(make_user):
    return make_user("dev", "model developer")


def _chain_ok() -> None:
    prev = "0" * 64
    for i, entry in enumerate(AuditEntry.objects.order_by("seq"), start=1):
        body = entry.as_json()
        assert body["seq"] == i
        assert body["prev"] == prev
        digest = body.pop("hash")
        assert hashlib.sha256(rfc8785.dumps(body)).hexdigest() == digest
        assert bytes(entry.canonical) == rfc8785.dumps(body)
        prev = digest
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (AuditEntry.objects.count(), prev)


def test_entries_form_a_valid_chain(dev):
    for i in range(5):
        make_model(dev, f"m{i}")
    _chain_ok()


def test_failure_after_the_entry_is_written_rolls_back_both(dev):
    model = make_model(dev, "pd")
    before = AuditEntry.objects.count()
    with pytest.raises(Boom), transaction.atomic():
        model.title = "changed"
        writer.save(model)
        assert AuditEntry.objects.count() == before + 1  # the entry was written...
        raise Boom
    assert AuditEntry.objects.count() == before  # ...and went with the change
    assert RegisteredModel.objects.get(pk=model.pk).title == "Pd"
    _chain_ok()


def test_failing_append_rolls_back_the_change(dev, monkeypatch):
    model = make_model(dev, "pd")
    before = AuditEntry.objects.count()

    def broken(*args, **kwargs):
        raise Boom("append failed")

    monkeypatch.setattr(writer, "_flush", broken)
    with pytest.raises(Boom):
        model.title = "changed"
        writer.save(model)
    monkeypatch.undo()
    assert RegisteredModel.objects.get(pk=model.pk).title == "Pd"
    assert AuditEntry.objects.count() == before


def test_savepoint_rollback_inside_a_service_keeps_entries_and_changes_together(dev):
    with writer.atomic():
        kept = RegisteredModel(name="kept", title="k", owner=dev)
        writer.save(kept)
        try:
            with transaction.atomic():
                writer.save(RegisteredModel(name="dropped", title="d", owner=dev))
                raise Boom
        except Boom:
            pass
    names = set(RegisteredModel.objects.values_list("name", flat=True))
    logged = {e.object_repr for e in AuditEntry.objects.filter(action="registry.registeredmodel.create")}
    assert names == logged == {"kept"}
    _chain_ok()


def test_unchanged_save_records_nothing(dev):
    model = make_model(dev, "pd")
    before = AuditEntry.objects.count()
    assert writer.save(model) is None
    assert AuditEntry.objects.count() == before


def test_actor_and_channel_outside_a_request(dev):
    with audit_context(actor=system_actor("nightly job"), channel="task"):
        writer.record(action="registry.registeredmodel.review", obj=make_model(dev, "pd"), changes={})
    body = AuditEntry.objects.order_by("-seq")[0].as_json()
    assert body["actor"] == {"kind": "system", "id": None, "name": "nightly job"}
    assert body["context"] == {"channel": "task"}


def test_values_json_cannot_hold_become_strings(dev):
    import datetime as dt
    import decimal

    model = make_model(dev, "pd")
    writer.record(
        action="registry.registeredmodel.note",
        obj=model,
        changes={"x": {"old": decimal.Decimal("1.10"), "new": float("nan")},
                 "when": {"old": None, "new": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)},
                 "big": {"old": None, "new": 2**60}},
    )
    changes = AuditEntry.objects.order_by("-seq")[0].as_json()["changes"]
    assert changes["x"] == {"old": "1.10", "new": "nan"}
    assert changes["when"]["new"] == "2026-01-02T00:00:00.000000Z"
    assert changes["big"]["new"] == str(2**60)
    _chain_ok()


def test_user_password_change_is_redacted_and_role_membership_logged(make_user):
    user = make_user("alice")
    user.set_password("s3cret-value")
    user.save()
    entry = AuditEntry.objects.filter(action="auth.user.update").order_by("-seq")[0]
    assert entry.as_json()["changes"]["password"] == {"old": "<redacted>", "new": "<redacted>"}
    assert "s3cret" not in bytes(entry.canonical).decode()
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="auditor"))
    added = AuditEntry.objects.filter(action="auth.user.groups_add").order_by("-seq")[0].as_json()
    assert added["changes"]["groups"]["new"] == {"add": ["auditor"]}
    created = AuditEntry.objects.filter(action="auth.user.create", object_repr="alice").get().as_json()
    assert created["changes"]["password"]["new"] == "<redacted>"


def test_logins_logouts_and_failed_logins_are_logged(client, make_user):
    make_user("bob")
    assert not client.login(username="bob", password="wrong")
    failed = AuditEntry.objects.filter(action="auth.user.login_failed").get().as_json()
    assert failed["object"]["id"] == "bob"
    assert client.login(username="bob", password="pw-bob")
    client.logout()
    actions = list(AuditEntry.objects.filter(object_repr="bob").order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["auth.user.login", "auth.user.logout"]


def test_admin_request_context_has_request_id_ip_and_agent(client, make_user):
    make_user("root", superuser=True)
    resp = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "pw-root"},
        HTTP_USER_AGENT="pytest-agent", HTTP_X_REQUEST_ID="req-123",
    )
    assert resp.status_code == 302
    assert resp["X-Request-ID"] == "req-123"
    login = AuditEntry.objects.filter(action="auth.user.login").order_by("-seq")[0].as_json()
    assert login["actor"]["name"] == "root"
    assert login["context"] == {
        "channel": "admin", "request_id": "req-123", "ip": "127.0.0.1", "user_agent": "pytest-agent"
    }
    assert client.get("/admin/", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"] != "bad id with spaces"


def test_entry_line_is_canonical_json_with_hash(dev):
    make_model(dev, "pd")
    entry = AuditEntry.objects.order_by("-seq")[0]
    parsed = json.loads(entry.line())
    assert parsed == entry.as_json()
    assert get_user_model().objects.count() >= 1


@pytest.mark.django_db(transaction=True)
def test_user_and_group_saves_outside_any_transaction_commit_only_with_their_entry(make_user, monkeypatch):
    """As in a shell or createsuperuser: no transaction is open around the save."""
    from django.contrib.auth.models import Group, User

    user = make_user("shell-user", "model developer")
    group = Group.objects.create(name="reviewers")  # a group with no role: a role's group keeps its name
    before = AuditEntry.objects.count()

    def broken(*args, **kwargs):
        raise Boom("append failed")

    monkeypatch.setattr(writer, "_flush", broken)
    with pytest.raises(Boom):
        user.is_superuser = True
        user.save()
    with pytest.raises(Boom):
        group.name = "renamed"
        group.save()
    with pytest.raises(Boom):
        User.objects.create_user("never-made", password="x" * 12)
    monkeypatch.undo()
    assert not User.objects.get(pk=user.pk).is_superuser
    assert Group.objects.filter(name="reviewers").exists()
    assert not User.objects.filter(username="never-made").exists()
    assert AuditEntry.objects.count() == before
    user.is_superuser = True
    user.save()
    assert AuditEntry.objects.filter(action="auth.user.update").latest("seq").as_json()["changes"]["is_superuser"] == {
        "old": False, "new": True}


def test_bulk_writes_on_users_and_roles_are_refused_and_deletes_recorded(make_user):
    from django.contrib.auth.models import Group, User

    from audit.models import UnauditedWriteError

    user = make_user("bulk-target", "model developer")
    with pytest.raises(UnauditedWriteError, match="bulk update on User is refused"):
        User.objects.filter(pk=user.pk).update(is_superuser=True)
    with pytest.raises(UnauditedWriteError, match="bulk create on User is refused"):
        User.objects.bulk_create([User(username="sneaky")])
    with pytest.raises(UnauditedWriteError, match="bulk update on Group is refused"):
        Group.objects.bulk_update(list(Group.objects.all()), ["name"])
    assert not User.objects.get(pk=user.pk).is_superuser and not User.objects.filter(username="sneaky").exists()
    User.objects.filter(pk=user.pk).delete()  # deleted one by one, each with its entry
    assert AuditEntry.objects.get(action="auth.user.delete").object_id == str(user.pk)


def test_link_rows_saved_on_their_own_are_refused(make_user, dev):
    from django.contrib.auth.models import Group, User

    from audit.models import UnauditedWriteError

    user = make_user("link-target")
    admins = Group.objects.get(name="governance admin")
    with pytest.raises(UnauditedWriteError, match="written through the related manager"):
        User.groups.through.objects.create(user=user, group=admins)
    model = make_model(dev, "linked")
    with pytest.raises(UnauditedWriteError, match="written through the related manager"):
        RegisteredModel.developers.through.objects.create(registeredmodel=model, user=user)
    assert not user.groups.filter(pk=admins.pk).exists() and not model.developers.filter(pk=user.pk).exists()
    user.groups.add(admins)  # the related manager still works, and records it
    assert AuditEntry.objects.filter(action="auth.user.groups_add").exists()


def test_link_tables_written_directly_are_refused(make_user, dev):
    """bulk_create, update and delete on a link table's queryset send no m2m signal: a role granted or
    a developer removed that way would have no entry."""
    from django.contrib.auth.models import Group, Permission, User

    from audit.models import UnauditedWriteError

    user = make_user("direct-links", "model developer")
    admins = Group.objects.get(name="governance admin")
    model = make_model(dev, "direct-links")
    registered_model_set_developers(model=model, developers=[dev], by=dev)
    perm = Permission.objects.exclude(group=admins).order_by("pk")[0]
    before = AuditEntry.objects.count()
    memberships = User.groups.through
    attempts = [
        ("create", lambda: memberships.objects.bulk_create([memberships(user=user, group=admins)])),
        ("create", lambda: User.user_permissions.through.objects.bulk_create(
            [User.user_permissions.through(user=user, permission=perm)])),
        ("create", lambda: Group.permissions.through.objects.bulk_create(
            [Group.permissions.through(group=admins, permission=perm)])),
        ("delete", lambda: memberships.objects.filter(user=user).delete()),
        ("update", lambda: memberships.objects.filter(user=user).update(group=admins)),
        ("update", lambda: memberships.objects.bulk_update(list(memberships.objects.filter(user=user)), ["group"])),
        ("delete", lambda: memberships._base_manager.filter(user=user).delete()),
        ("create", lambda: RegisteredModel.developers.through.objects.bulk_create(
            [RegisteredModel.developers.through(registeredmodel=model, user=user)])),
        ("delete", lambda: RegisteredModel.developers.through.objects.filter(registeredmodel=model).delete()),
    ]
    for op, attempt in attempts:
        with pytest.raises(UnauditedWriteError, match=f"bulk {op} on .* is refused"):
            attempt()
    # Refused even inside a service's permit: the permit is for the related managers, which record.
    with writer.atomic(), writer.permit_governed_writes(), pytest.raises(UnauditedWriteError):
        RegisteredModel.developers.through.objects.filter(registeredmodel=model).delete()
    assert sorted(user.groups.values_list("name", flat=True)) == ["model developer"]
    assert not user.user_permissions.exists() and not admins.permissions.filter(pk=perm.pk).exists()
    assert list(model.developers.all()) == [dev]
    assert AuditEntry.objects.count() == before


def test_related_managers_still_write_links_and_record_each_change(make_user):
    from django.contrib.auth.models import Group, Permission

    user = make_user("managed-links")
    admins = Group.objects.get(name="governance admin")
    validators = Group.objects.get(name="model validator")
    perm = Permission.objects.exclude(group=admins).order_by("pk")[0]
    start = AuditEntry.objects.latest("seq").seq
    user.groups.add(admins)
    user.groups.set([validators])  # a remove and an add
    validators.user_set.remove(user)  # from the role's side
    user.user_permissions.add(perm)
    user.user_permissions.clear()
    admins.permissions.add(perm)
    actions = list(AuditEntry.objects.filter(seq__gt=start).order_by("seq").values_list("action", flat=True))
    # Each membership of a role's group is also recorded as the grant or removal of the role.
    assert actions == ["auth.user.groups_add", "governance.role.grant", "auth.user.groups_remove",
                       "governance.role.revoke", "auth.user.groups_add", "governance.role.grant",
                       "auth.group.members_remove", "governance.role.revoke", "auth.user.permissions_add",
                       "auth.user.permissions_clear", "auth.group.permissions_add"]
    assert not user.groups.exists() and not user.user_permissions.exists()
    assert admins.permissions.filter(pk=perm.pk).exists()


def test_an_announced_link_write_that_failed_permits_nothing_after_it(make_user):
    """A related manager's write is permitted only inside its own atomic block: when a check after the
    announcement fails, the block is left and a direct write later in the same thread is still refused."""
    from django.contrib.auth.models import Group, User
    from django.db.models.signals import m2m_changed

    from audit.models import UnauditedWriteError

    user = make_user("failed-announce")
    admins = Group.objects.get(name="governance admin")

    def veto(sender, action, **kwargs):
        if action == "pre_add":
            raise Boom()

    m2m_changed.connect(veto, sender=User.groups.through)
    try:
        with pytest.raises(Boom), transaction.atomic():
            user.groups.add(admins)
    finally:
        m2m_changed.disconnect(veto, sender=User.groups.through)
    with pytest.raises(UnauditedWriteError):
        User.groups.through.objects.bulk_create([User.groups.through(user=user, group=admins)])
    assert not user.groups.exists()


def test_deleting_a_user_a_role_a_permission_or_a_model_records_the_links_that_go_with_it(make_user, dev):
    from django.contrib.auth.models import Group, Permission

    from registry.services.model import registered_model_delete

    user = make_user("leaving", "model validator")
    perm = Permission.objects.get(codename="delete_registeredmodel")
    user.user_permissions.add(perm)
    model = make_model(dev, "leaving-model")
    once_on_model = make_user("once-developer")
    registered_model_set_developers(model=model, developers=[dev, once_on_model], by=dev)
    registered_model_set_developers(model=model, developers=[dev], by=dev)
    # Who answered for a model is kept for good (separation of duties reads it): such a person is deactivated,
    # never deleted, and nothing is written when the delete is refused.
    entries = AuditEntry.objects.count()
    with pytest.raises(ProtectedError):
        once_on_model.delete()
    assert AuditEntry.objects.count() == entries
    user.delete()  # Django deletes the link rows with it (the role, the permission)
    changes = AuditEntry.objects.get(action="auth.user.delete").as_json()["changes"]
    assert changes["groups"] == {"old": ["model validator"], "new": None}
    assert changes["permissions"] == {"old": [str(perm)], "new": None}
    role = Group.objects.create(name="temporary role")
    role.permissions.add(perm)
    dev.groups.add(role)
    role.delete()
    changes = AuditEntry.objects.get(action="auth.group.delete").as_json()["changes"]
    assert changes["members"] == {"old": [str(dev)], "new": None}
    assert changes["permissions"] == {"old": [str(perm)], "new": None}
    admins = Group.objects.get(name="governance admin")
    held = admins.permissions.order_by("pk")[0]
    held.delete()  # e.g. by remove_stale_contenttypes: taken from every role holding it
    changes = AuditEntry.objects.get(action="auth.permission.delete").as_json()["changes"]
    assert changes["codename"] == {"old": held.codename, "new": None}
    assert "governance admin" in changes["groups"]["old"]
    registered_model_delete(model=model, by=make_user("admin", superuser=True))
    changes = AuditEntry.objects.get(action="registry.registeredmodel.delete").as_json()["changes"]
    assert changes["developers"] == {"old": [dev.pk], "new": None}
    _chain_ok()


def test_every_manager_refuses_bulk_writes_not_only_objects(make_user, dev):
    """Related managers are made from the manager's class and the base manager is a plain Manager of its
    own: both wrote with no entry (a role's members made superusers, a revoked token revived)."""
    from django.contrib.auth.models import Group, User

    from audit.models import UnauditedWriteError
    from governance.models import ApiToken
    from registry.models import ModelVersion

    user = make_user("managers", "auditor")
    auditors = Group.objects.get(name="auditor")
    model = make_model(dev, "managers")
    before = AuditEntry.objects.count()
    attempts = [
        lambda: auditors.user_set.update(is_superuser=True),
        lambda: user.groups.filter(name="auditor").update(name="renamed"),
        lambda: User._base_manager.filter(pk=user.pk).update(is_staff=True),
        lambda: Group._base_manager.filter(pk=auditors.pk).update(name="renamed"),
        lambda: RegisteredModel._base_manager.filter(pk=model.pk).update(title="sneaky"),
        lambda: RegisteredModel._base_manager.filter(pk=model.pk).delete(),
        lambda: ModelVersion._base_manager.update(stage="production"),
        lambda: ApiToken._base_manager.update(revoked_at=None),
        lambda: User.groups.through._base_manager.filter(user=user).delete(),
    ]
    for attempt in attempts:
        with pytest.raises(UnauditedWriteError):
            attempt()
    user.refresh_from_db()
    assert not user.is_superuser and not user.is_staff
    assert Group.objects.filter(name="auditor").exists() and user.groups.filter(name="auditor").exists()
    assert RegisteredModel.objects.get(pk=model.pk).title == model.title
    assert AuditEntry.objects.count() == before
    # Django's own use of the base manager (loading related rows, saving through the writer) still works.
    assert model.owner == dev and RegisteredModel._base_manager.get(pk=model.pk) == model


def test_fixtures_cannot_load_governed_rows_users_or_roles(tmp_path, dev):
    """loaddata saves raw (Model.save_base), past save() and with no entry."""
    from django.core.management import call_command

    from audit.models import UnauditedWriteError

    fixtures = {
        "model": {"model": "registry.registeredmodel", "pk": 999, "fields": {
            "name": "smuggled", "title": "Smuggled", "owner": dev.pk, "risk_tier": "low"}},
        "group": {"model": "auth.group", "pk": 999, "fields": {"name": "smuggled role"}},
        "user": {"model": "auth.user", "pk": 999, "fields": {"username": "smuggled", "password": "!",
                                                             "is_superuser": True}},
    }
    before = AuditEntry.objects.count()
    for name, row in fixtures.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps([row]))
        with pytest.raises(UnauditedWriteError, match="not loaded from fixtures"):
            call_command("loaddata", str(path), verbosity=0)
    assert not RegisteredModel.objects.filter(pk=999).exists()
    assert AuditEntry.objects.count() == before


def test_a_change_from_a_stale_instance_writes_only_its_own_fields(dev):
    """Two edits of one row from instances loaded before either committed (two API requests, say):
    each writes what it changed, so neither undoes the other while the log says both happened."""
    from registry.services.model import registered_model_update

    model = make_model(dev, "stale", description="first")
    first, second = RegisteredModel.objects.get(pk=model.pk), RegisteredModel.objects.get(pk=model.pk)
    registered_model_update(model=first, by=dev, title="Retitled")
    registered_model_update(model=second, by=dev, description="second")
    stored = RegisteredModel.objects.get(pk=model.pk)
    assert (stored.title, stored.description) == ("Retitled", "second")
    entries = AuditEntry.objects.filter(action="registry.registeredmodel.update").order_by("seq")
    assert [sorted(e.as_json()["changes"]) for e in entries] == [["title"], ["description"]]


def test_a_change_to_a_row_deleted_meanwhile_is_a_conflict_not_a_resurrection(dev, make_user):
    from config.errors import Conflict
    from registry.services.model import registered_model_delete, registered_model_update

    model = make_model(dev, "deleted-meanwhile")
    stale = RegisteredModel.objects.get(pk=model.pk)
    registered_model_delete(model=model, by=make_user("admin", superuser=True))
    before = AuditEntry.objects.count()
    with pytest.raises(Conflict, match="changed or deleted meanwhile"):
        registered_model_update(model=stale, by=dev, title="Back from the dead")
    assert not RegisteredModel.objects.filter(pk=model.pk).exists()
    assert AuditEntry.objects.count() == before


def test_a_json_field_edited_in_place_is_recorded(dev):
    """The snapshot must not share the instance's lists and dicts, or an edit in place is never seen."""
    from registry.services.model import registered_model_update

    model = make_model(dev, "in-place", tags=["a"])
    loaded = RegisteredModel.objects.get(pk=model.pk)
    loaded.tags.append("b")
    registered_model_update(model=loaded, by=dev)
    assert RegisteredModel.objects.get(pk=model.pk).tags == ["a", "b"]
    entry = AuditEntry.objects.filter(action="registry.registeredmodel.update").latest("seq")
    assert entry.as_json()["changes"]["tags"] == {"old": ["a"], "new": ["a", "b"]}


def test_a_save_of_some_fields_records_only_those(make_user):
    from django.contrib.auth.models import User

    user = make_user("partial-save")
    user.email, user.first_name = "not-saved@example.com", "Saved"
    user.save(update_fields=["first_name"])
    entry = AuditEntry.objects.filter(action="auth.user.update").latest("seq")
    assert entry.as_json()["changes"] == {"first_name": {"old": "", "new": "Saved"}}
    assert User.objects.get(pk=user.pk).email == "partial-save@example.com"


def test_clearing_links_records_what_was_removed(make_user):
    from django.contrib.auth.models import Group

    user = make_user("cleared", "model developer", "auditor")
    user.groups.clear()
    entry = AuditEntry.objects.filter(action="auth.user.groups_clear").latest("seq")
    assert entry.as_json()["changes"] == {"groups": {"old": None, "new": {"clear": ["auditor", "model developer"]}}}
    role = Group.objects.get(name="auditor")
    held = sorted(str(p) for p in role.permissions.all())
    role.permissions.clear()
    entry = AuditEntry.objects.filter(action="auth.group.permissions_clear").latest("seq")
    assert held and entry.as_json()["changes"]["permissions"]["new"] == {"clear": held}


def test_a_change_rolled_back_to_a_savepoint_made_by_hand_leaves_no_entry(dev):
    """transaction.savepoint() opens no atomic block, so an entry buffered for the end of the transaction
    would outlive the change rolled back under it."""
    from registry.services.model import registered_model_update

    model = make_model(dev, "hand-savepoint")
    before = AuditEntry.objects.count()
    with writer.atomic():
        sid = transaction.savepoint()
        registered_model_update(model=RegisteredModel.objects.get(pk=model.pk), by=dev, title="PHANTOM")
        transaction.savepoint_rollback(sid)
        registered_model_update(model=RegisteredModel.objects.get(pk=model.pk), by=dev, description="kept")
    stored = RegisteredModel.objects.get(pk=model.pk)
    assert (stored.title, stored.description) == (model.title, "kept")
    actions = [e.as_json()["changes"] for e in AuditEntry.objects.filter(seq__gt=before).order_by("seq")]
    assert actions == [{"description": {"old": "", "new": "kept"}}]
    _chain_ok()


def test_the_link_permit_saves_and_deletes_nothing(dev):
    """Services hold permit_governed_writes for many-to-many links, which they record; it must not let a
    governed object be saved or deleted past the writer."""
    from audit.models import UnauditedWriteError

    model = make_model(dev, "permit-scope")
    with writer.permit_governed_writes():
        model.title = "sneaky"
        with pytest.raises(UnauditedWriteError):
            model.save()
        with pytest.raises(UnauditedWriteError):
            model.delete()
    assert RegisteredModel.objects.get(pk=model.pk).title != "sneaky"


def test_a_permission_changed_is_recorded_and_bulk_changes_refused(make_user):
    from django.contrib.auth.models import Group, Permission

    from audit.models import UnauditedWriteError

    held = Group.objects.get(name="auditor").permissions.order_by("pk")[0]
    with pytest.raises(UnauditedWriteError, match="bulk update on Permission is refused"):
        Permission.objects.filter(pk=held.pk).update(codename="delete_everything")
    with pytest.raises(UnauditedWriteError):
        Permission._base_manager.filter(pk=held.pk).update(codename="delete_everything")
    assert Permission.objects.get(pk=held.pk).codename != "delete_everything"
    old = held.codename
    held.codename = "renamed_codename"
    held.save()
    entry = AuditEntry.objects.filter(action="auth.permission.update").latest("seq")
    assert entry.as_json()["changes"] == {"codename": {"old": old, "new": "renamed_codename"}}


def test_the_same_field_changed_meanwhile_is_a_conflict_not_an_entry_with_a_false_old_value(dev):
    from config.errors import Conflict
    from registry.services.model import registered_model_update

    model = make_model(dev, "same-field")
    first, second = RegisteredModel.objects.get(pk=model.pk), RegisteredModel.objects.get(pk=model.pk)
    registered_model_update(model=first, by=dev, title="First")
    before = AuditEntry.objects.count()
    with pytest.raises(Conflict, match="changed or deleted meanwhile"):
        registered_model_update(model=second, by=dev, title="Second")  # its "old" would be the original title
    assert RegisteredModel.objects.get(pk=model.pk).title == "First"
    assert AuditEntry.objects.count() == before
    fresh = RegisteredModel.objects.get(pk=model.pk)
    registered_model_update(model=fresh, by=dev, title="Second")  # reloaded: the entry's old is "First"
    entry = AuditEntry.objects.filter(action="registry.registeredmodel.update").latest("seq")
    assert entry.as_json()["changes"]["title"] == {"old": "First", "new": "Second"}


def test_a_float_beyond_2_to_the_53_is_logged_and_verifies() -> None:
    # RFC 8785 writes 1.2e18 as 1200000000000000000, which reads back as an integer beyond 2**53.
    from audit.verification import verify_log

    with audit_context(actor=system_actor("test")):
        writer.record(action="registry.modelversion.update", obj=writer.ObjectRef("registry.modelversion", "1", "v1"),
                      changes={"metrics": {"old": None, "new": {"training_flops": 1.2e18, "n": 2.0**53}}})
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None and b"1200000000000000000" in bytes(entry.canonical)
    run = verify_log()
    assert run.ok, run.message


@pytest.mark.parametrize("changes", [{"x": 5}, {"x": {"old": 1}}, {"x": {"old": 1, "new": 2, "why": 3}}])
def test_changes_not_shaped_old_and_new_are_refused_before_anything_is_written(changes: dict[str, object]) -> None:
    before = AuditEntry.objects.count()
    with pytest.raises(ValueError, match="must be"):
        writer.record(action="registry.modelversion.update",
                      obj=writer.ObjectRef("registry.modelversion", "1", "v1"), changes=changes)
    assert AuditEntry.objects.count() == before
