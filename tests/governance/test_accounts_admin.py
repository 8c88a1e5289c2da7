"""The admin of accounts and roles (governance.accounts_admin): a governance admin manages who holds which role but
cannot raise anyone above it, themselves included, nor touch a superuser's account; a superuser still can."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEntry
from tests.governance.helpers import People, staff_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user: Any) -> People:
    return staff_world(make_user)


def _user_form(user: Any, **change: Any) -> dict[str, Any]:
    data = {"username": user.username, "first_name": "", "last_name": "", "email": "", "is_active": "on",
            "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2024-01-01", "initial-date_joined_1": "00:00:00",
            "groups": [str(g.pk) for g in user.groups.all()]}
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(change)
    return data


def test_a_governance_admin_cannot_raise_themselves_or_touch_a_superuser(client: Any, world: Any) -> None:
    gov, root = world.gov, world.root
    validator = Group.objects.get(name="model validator")
    client.force_login(gov)
    client.post(f"/admin/auth/user/{gov.pk}/change/",
                _user_form(gov, is_superuser="on", groups=[str(validator.pk)]))
    gov.refresh_from_db()
    assert not gov.is_superuser and not gov.groups.filter(pk=validator.pk).exists()
    # Another account's roles are theirs to manage; superuser status and single permissions are not.
    client.post(f"/admin/auth/user/{world.val2.pk}/change/",
                _user_form(world.val2, is_superuser="on", groups=[str(validator.pk)]))
    world.val2.refresh_from_db()
    assert not world.val2.is_superuser and world.val2.groups.filter(pk=validator.pk).exists()
    # A superuser's account, its password included, is closed to them.
    resp = client.post(f"/admin/auth/user/{root.pk}/change/", {**_user_form(root), "is_active": ""})
    assert resp.status_code == 403  # their view permission shows it read-only; no change gets through
    root.refresh_from_db()
    assert root.is_active
    resp = client.post(f"/admin/auth/user/{root.pk}/password/",
                       {"password1": "Another-pass-123", "password2": "Another-pass-123"})
    assert resp.status_code == 403
    root.refresh_from_db()
    assert not root.check_password("Another-pass-123")
    # A role's permissions are shown, not editable.
    auditor = Group.objects.get(name="auditor")
    before = set(auditor.permissions.values_list("pk", flat=True))
    from django.contrib.auth.models import Permission

    everything = [str(p.pk) for p in Permission.objects.all()]
    client.post(f"/admin/auth/group/{auditor.pk}/change/", {"name": "auditor", "permissions": everything})
    assert set(auditor.permissions.values_list("pk", flat=True)) == before


def test_a_superuser_still_administers_every_account(client: Any, world: Any) -> None:
    client.force_login(world.root)
    client.post(f"/admin/auth/user/{world.gov.pk}/change/", _user_form(world.gov, is_superuser="on"))
    world.gov.refresh_from_db()
    assert world.gov.is_superuser
    assert AuditEntry.objects.filter(action="auth.user.update", object_id=str(world.gov.pk)).exists()
