"""Roles by code (issue 20 §2): the rename attack through every channel, grants recorded, no self-grant by any
path, another person's password a superuser's to set."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.utils import timezone

from audit import db_guards
from audit.context import audit_context, user_actor
from audit.models import AuditEntry, UnauditedWriteError
from config.errors import PermissionDenied
from governance import accounts, rules, services
from governance.models import Role
from governance.roles import GOVERNANCE_ADMIN, MODEL_VALIDATOR
from tests.governance.helpers import People, full_evidence, version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return People(make_user)


@pytest.fixture
def req(people):
    version = version_for(people)
    full_evidence(version)
    return services.promotion_request_create(version=version, target_stage="production", justification="go",
                                             by=people.dev)


def _group(code):
    return Role.objects.select_related("group").get(code=code).group


def _rename_in_sql(group, name):
    # As a database superuser past the row guards could: the application's role is refused it
    # (tests/audit/test_db_refuses_unrecorded.py), and `audit verify` would name it.
    with db_guards.suspended(connection), connection.cursor() as cursor:
        cursor.execute("UPDATE auth_group SET name = %s WHERE id = %s", [name, group.pk])


def _grants(action="governance.role.grant"):
    return [e.as_json() for e in AuditEntry.objects.filter(action=action).order_by("seq")]


# The rename attack: a governance admin renames "governance admin" to "model validator" (and the real one away),
# approves as a validator, renames both back.

def test_rename_attack_in_the_shell_is_refused_and_grants_nothing(people, req):
    admins, validators = _group(GOVERNANCE_ADMIN), _group(MODEL_VALIDATOR)
    validators.name = "model validator (old)"
    with pytest.raises(PermissionDenied) as refused:
        validators.save()
    assert refused.value.rule == "role.rename"
    with pytest.raises(UnauditedWriteError):  # nor round save()
        Group.objects.filter(pk=validators.pk).update(name="spare")
    # Even renamed behind Django's back, in SQL, no role changes hands: roles are read by code.
    _rename_in_sql(validators, "spare")
    _rename_in_sql(admins, "model validator")
    assert not rules.holds_role(people.gov, MODEL_VALIDATOR)
    assert rules.holds_role(people.gov, GOVERNANCE_ADMIN)
    assert rules.user_roles(people.gov) == set()
    with audit_context(actor=user_actor(people.gov)), pytest.raises(PermissionDenied) as refused:
        services.approval_record(request=req, by=people.gov, role="validator", decision="approve")
    assert refused.value.rule == "role.required"


def test_rename_attack_over_the_api(api, people, req):
    _rename_in_sql(_group(MODEL_VALIDATOR), "spare")
    _rename_in_sql(_group(GOVERNANCE_ADMIN), "model validator")
    api.force_authenticate(people.gov)
    assert api.get("/api/v1/promotion-requests/awaiting-me/").json()["results"] == []
    resp = api.post(f"/api/v1/promotion-requests/{req.pk}/approve/", {"role": "validator"}, format="json")
    assert resp.status_code == 403 and resp.json()["rule"] == "role.required"
    # The real validator still approves, whatever their group is called now.
    api.force_authenticate(people.val)
    resp = api.post(f"/api/v1/promotion-requests/{req.pk}/approve/", {"role": "validator"}, format="json")
    assert resp.status_code == 200, resp.content


def test_rename_attack_in_the_admin_is_refused(client, people):
    admins = _group(GOVERNANCE_ADMIN)
    for user in (people.gov, people.root):
        client.force_login(user)
        page = client.get(f"/admin/auth/group/{admins.pk}/change/").content.decode()
        assert 'name="name"' not in page  # shown, not editable
        client.post(f"/admin/auth/group/{admins.pk}/change/", {"name": "model validator", "permissions": []})
        admins.refresh_from_db()
        assert admins.name == "governance admin"
    assert rules.holds_role(people.gov, GOVERNANCE_ADMIN) and not rules.holds_role(people.gov, MODEL_VALIDATOR)


def test_a_group_named_like_a_role_grants_nothing(people, req):
    lookalike = Group.objects.create(name="Model Validator")
    with audit_context(actor=user_actor(people.gov)):
        people.aud.groups.add(lookalike)
    assert not rules.holds_role(people.aud, MODEL_VALIDATOR)
    assert rules.may_decide(people.aud, req, timezone.now()) == []


def test_a_role_is_bound_to_its_group_for_good(people):
    role = Role.objects.get(code=MODEL_VALIDATOR)
    role.group = Group.objects.create(name="mine")
    with pytest.raises(PermissionDenied):
        role.save()
    with pytest.raises(PermissionDenied):
        role.delete()
    assert Role.objects.get(code=MODEL_VALIDATOR).group.name == "model validator"


# Grants and revocations are recorded as such: who, to whom, which role.

def test_a_grant_through_the_service_is_recorded(people):
    assert accounts.role_grant(role=MODEL_VALIDATOR, user=people.aud, by=people.gov) is True
    assert accounts.role_grant(role=MODEL_VALIDATOR, user=people.aud, by=people.gov) is False
    [entry] = _grants()[-1:]
    assert entry["actor"]["name"] == "gov"
    assert entry["object"]["id"] == str(people.aud.pk)
    assert entry["changes"]["role"] == {"old": None, "new": MODEL_VALIDATOR}
    assert rules.holds_role(people.aud, MODEL_VALIDATOR)
    assert accounts.role_revoke(role=MODEL_VALIDATOR, user=people.aud, by=people.gov) is True
    [entry] = _grants("governance.role.revoke")
    assert entry["actor"]["name"] == "gov" and entry["changes"]["role"] == {"old": MODEL_VALIDATOR, "new": None}
    assert not rules.holds_role(people.aud, MODEL_VALIDATOR)


def test_a_grant_through_the_related_managers_is_recorded(people):
    validators = _group(MODEL_VALIDATOR)
    before = len(_grants())
    with audit_context(actor=user_actor(people.gov)):
        people.aud.groups.add(validators)
        validators.user_set.add(people.risk)
    entries = _grants()[before:]
    assert [(e["object"]["id"], e["changes"]["role"]["new"], e["actor"]["name"]) for e in entries] == [
        (str(people.aud.pk), MODEL_VALIDATOR, "gov"), (str(people.risk.pk), MODEL_VALIDATOR, "gov")]
    with audit_context(actor=user_actor(people.gov)):
        validators.user_set.remove(people.risk)
        people.aud.groups.clear()
    revoked = {(e["object"]["id"], e["changes"]["role"]["old"]) for e in _grants("governance.role.revoke")}
    assert {(str(people.risk.pk), MODEL_VALIDATOR), (str(people.aud.pk), MODEL_VALIDATOR),
            (str(people.aud.pk), "auditor")} <= revoked


def test_a_grant_in_the_admin_is_recorded(client, people):
    client.force_login(people.gov)
    page = client.get(f"/admin/auth/user/{people.aud.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password", "user_permissions")}
    data.update(groups=[_group(MODEL_VALIDATOR).pk, _group("auditor").pk], date_joined_0="2026-01-01",
                date_joined_1="00:00:00", last_login_0="", last_login_1="")
    data.pop("date_joined", None)
    data.pop("last_login", None)
    resp = client.post(f"/admin/auth/user/{people.aud.pk}/change/", data)
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert rules.holds_role(people.aud, MODEL_VALIDATOR)
    [entry] = _grants()[-1:]
    assert entry["actor"]["name"] == "gov" and entry["context"]["channel"] == "admin"
    assert entry["changes"]["role"]["new"] == MODEL_VALIDATOR


# Nobody gives themselves a role, by any path.

def test_no_self_grant_through_the_services(people):
    for user in (people.gov, people.root):
        with pytest.raises(PermissionDenied) as refused:
            accounts.role_grant(role=MODEL_VALIDATOR, user=user, by=user)
        assert refused.value.rule == "role.self"
    with pytest.raises(PermissionDenied) as refused:
        accounts.role_grant(role=MODEL_VALIDATOR, user=people.aud, by=people.val)
    assert refused.value.rule == "role.admin"
    assert not rules.holds_role(people.gov, MODEL_VALIDATOR)


def test_no_self_grant_through_the_related_managers(people):
    validators = _group(MODEL_VALIDATOR)
    attempts = [lambda: people.gov.groups.add(validators), lambda: validators.user_set.add(people.gov),
                lambda: people.gov.groups.set([validators]),
                lambda: people.gov.groups.clear()]  # nor leave a role, or any group, of their own accord
    for attempt in attempts:
        # Each in a savepoint: the related manager's own atomic block shares the test's transaction.
        with audit_context(actor=user_actor(people.gov)), pytest.raises(PermissionDenied), transaction.atomic():
            attempt()
    assert not rules.holds_role(people.gov, MODEL_VALIDATOR) and rules.holds_role(people.gov, GOVERNANCE_ADMIN)


@pytest.mark.parametrize("who", ["gov", "root"])
def test_no_self_grant_in_the_admin(client, people, who):
    user = getattr(people, who)
    user.is_staff = True
    user.save()
    client.force_login(user)
    page = client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert 'name="groups"' not in page
    client.post(f"/admin/auth/user/{user.pk}/change/",
                {"username": user.username, "groups": [_group(MODEL_VALIDATOR).pk], "is_active": "on",
                 "is_staff": "on"})
    assert not rules.holds_role(user, MODEL_VALIDATOR)
    assert not AuditEntry.objects.filter(action="governance.role.grant", object_id=str(user.pk),
                                         actor_name=who).exists()


def test_no_self_grant_through_a_role_permissions(client, people):
    """A governance admin cannot give their own role an approver's permissions, nor themselves permissions."""
    admins = _group(GOVERNANCE_ADMIN)
    client.force_login(people.gov)
    page = client.get(f"/admin/auth/group/{admins.pk}/change/").content.decode()
    assert 'name="permissions"' not in page
    page = client.get(f"/admin/auth/user/{people.aud.pk}/change/").content.decode()
    assert 'name="user_permissions"' not in page and 'name="is_superuser"' not in page


def test_only_a_superuser_sets_another_persons_password(client, people):
    client.force_login(people.gov)
    assert client.get(f"/admin/auth/user/{people.val.pk}/password/").status_code == 403
    resp = client.post(f"/admin/auth/user/{people.val.pk}/password/",
                       {"password1": "Another-pass-123", "password2": "Another-pass-123"})
    assert resp.status_code == 403
    people.val.refresh_from_db()
    assert people.val.check_password("pw-val")
    assert client.get(f"/admin/auth/user/{people.gov.pk}/password/").status_code == 200
    people.root.is_staff = True
    people.root.save()
    client.force_login(people.root)
    assert client.get(f"/admin/auth/user/{people.val.pk}/password/").status_code == 200


def test_no_self_elevation_in_a_shell_that_names_the_user(people):
    # Was: what the admin keeps read-only was open to the same person in a shell acting as themselves: a
    # governance admin made themselves a superuser (who sets anyone's password, so signs in as a validator), gave
    # themselves or their role's group permissions one by one (auth.add_user: a second person with a password).
    perm = Permission.objects.get(content_type__app_label="auth", codename="add_user")
    admins = _group(GOVERNANCE_ADMIN)
    spare = Group.objects.create(name="helpers")
    with audit_context(actor=user_actor(people.gov)):
        for change in (lambda: admins.permissions.add(perm), lambda: spare.permissions.add(perm),
                       lambda: people.gov.user_permissions.add(perm), lambda: people.aud.user_permissions.add(perm)):
            with pytest.raises(PermissionDenied) as refused, transaction.atomic():  # the manager's block: a savepoint
                change()
            assert refused.value.rule == "account.superuser_only"
        for account, field in ((people.gov, "is_superuser"), (people.aud, "is_superuser")):
            setattr(account, field, True)
            with pytest.raises(PermissionDenied) as refused:
                account.save()
            assert refused.value.rule == "account.superuser_only"
            account.refresh_from_db()
        people.val.is_active = False  # another's status a governance admin may set, as in the admin
        people.val.save()
    assert not people.gov.is_superuser and not people.gov.has_perm("auth.add_user")
    assert not admins.permissions.filter(pk=perm.pk).exists()
    # A superuser may, and the system (role setup, no user named) too.
    with audit_context(actor=user_actor(people.root)):
        spare.permissions.add(perm)
        people.aud.is_superuser = True
        people.aud.save()
