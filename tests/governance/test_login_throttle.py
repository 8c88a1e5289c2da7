"""Repeated failed logins lock the username for a while; every failure is in the audit log."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_lockout_after_repeated_failures(client, make_user):
    cache.clear()
    make_user("val", "model validator", is_staff=True)
    for _ in range(5):
        resp = client.post("/admin/login/", {"username": "val", "password": "wrong"})
        assert resp.status_code == 200
    resp = client.post("/admin/login/?next=/admin/", {"username": "val", "password": "pw-val"})
    assert resp.status_code == 200  # the right password no longer opens the door
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.user.login_failed", object_id="val").count() == 6
    cache.clear()
    assert client.post("/admin/login/?next=/admin/", {"username": "val", "password": "pw-val"}).status_code == 302
