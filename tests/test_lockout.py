"""Failed password logins lock a username for one client address only, and every lock and unlock is audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.test import Client, RequestFactory

from audit.models import AuditEntry
from config.client_ip import client_ip
from config.lockout import lockout_response

pytestmark = pytest.mark.django_db

A, B = "203.0.113.7", "198.51.100.20"


def _login(username: str, password: str, ip: str, **extra: Any) -> tuple[int, Client]:
    client = Client(REMOTE_ADDR=ip, **extra)
    resp = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return resp.status_code, client


def _fail(username: str, ip: str, times: int = 5, **extra: Any) -> list[int]:
    return [_login(username, "wrong", ip, **extra)[0] for _ in range(times)]


def _lock_entries(username: str) -> list[dict[str, Any]]:
    return [e.as_json() for e in AuditEntry.objects.filter(
        action__in=["auth.user.locked_out", "auth.user.lockout_lifted"], object_id=username).order_by("seq")]


@pytest.fixture
def staff(make_user: Any) -> None:
    make_user("val", "model validator", is_staff=True)
    make_user("dev", "model developer", is_staff=True)


def test_failures_from_one_address_lock_that_user_from_that_address_only(staff: None) -> None:
    assert _fail("val", A) == [200, 200, 200, 200, 429]  # the fifth failure locks
    status, client = _login("val", "pw-val", A)
    assert status == 429  # the right password no longer opens the door from A
    assert "_auth_user_id" not in client.session
    assert _login("val", "pw-val", B)[0] == 302  # the user still signs in from their own address
    assert _login("dev", "pw-dev", A)[0] == 302  # another user from the stranger's address is not affected
    assert AuditEntry.objects.filter(action="auth.user.login_failed", object_id="val").count() == 6
    [locked] = _lock_entries("val")
    assert locked["actor"] == {"kind": "system", "id": None, "name": "authentication"}
    assert locked["changes"]["locked_out"]["new"] == {"ip_address": A, "failures": 5}
    assert locked["context"]["ip"] == A


def test_the_lockout_page_says_when_to_try_again(staff: None) -> None:
    _fail("val", A, times=4)
    client = Client(REMOTE_ADDR=A)
    resp = client.post("/admin/login/", {"username": "val", "password": "wrong"})
    assert resp.status_code == 429
    assert int(resp["Retry-After"]) == 900
    assert "try again in 15 minutes" in resp.content.decode()
    assert resp["Content-Type"].startswith("text/html")


def test_a_lock_lifted_in_the_admin_is_audited_as_that_administrator_and_opens_the_door(
        staff: None, make_user: Any) -> None:
    _fail("val", A)
    admin = Client()
    admin.force_login(make_user("root", superuser=True))
    attempt = AccessAttempt.objects.get()
    resp = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    assert _login("val", "pw-val", A)[0] == 302
    _, lifted = _lock_entries("val")
    assert lifted["changes"]["locked_out"] == {"old": {"ip_address": A, "failures": 5}, "new": None}
    assert lifted["changes"]["reason"]["new"] == "reset"
    assert lifted["actor"]["name"] == "root"


def test_a_lock_lifted_from_the_shell_is_audited(staff: None) -> None:
    _fail("val", A)
    assert reset(username="val", ip=A) == 1  # what `manage.py axes_reset_username val` does
    assert _login("val", "pw-val", A)[0] == 302
    assert [e["action"] for e in _lock_entries("val")] == ["auth.user.locked_out", "auth.user.lockout_lifted"]


def test_a_lock_expires_after_its_time_and_the_expiry_is_audited(staff: None) -> None:
    _fail("val", A)
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=901))
    assert _login("val", "pw-val", A)[0] == 302
    assert not AccessAttempt.objects.exists()
    _, lifted = _lock_entries("val")
    assert lifted["changes"]["reason"]["new"] == "expired"
    assert lifted["actor"]["name"] == "authentication"


def test_failures_below_the_limit_leave_no_lock_entry_and_a_success_clears_them(staff: None) -> None:
    _fail("val", A, times=4)
    assert _login("val", "pw-val", A)[0] == 302
    assert not AccessAttempt.objects.exists()
    assert _fail("val", A, times=4) == [200] * 4  # counting starts again
    assert _lock_entries("val") == []


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw(staff: None, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    # A stranger behind the proxy, claiming to be the victim's address on the left of X-Forwarded-For.
    assert _fail("val", proxy, HTTP_X_FORWARDED_FOR=f"{B}, {A}")[-1] == 429
    assert _login("val", "pw-val", proxy, HTTP_X_FORWARDED_FOR=B)[0] == 302  # the victim, through the proxy
    assert _login("val", "pw-val", proxy, HTTP_X_FORWARDED_FOR=A)[0] == 429
    assert AccessAttempt.objects.get().ip_address == A


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR=B)
    assert client_ip(request) == A


@pytest.mark.parametrize(("forwarded", "expected"), [
    (f"{B}", B), (f"1.1.1.1, {B}", B), ("", A), ("not-an-address", A), (f"{B}, not-an-address", A),
])
def test_the_address_the_outermost_trusted_proxy_saw(settings: Any, forwarded: str, expected: str) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR=forwarded)) == expected


def test_a_lockout_under_the_api_is_a_json_429() -> None:
    """No API endpoint takes a password today (tokens; sessions come from the admin's login page), but a lockout
    met under /api/ answers as the API does."""
    resp = lockout_response(RequestFactory().post("/api/v1/session/"))
    assert resp.status_code == 429 and resp["Content-Type"] == "application/json"
    assert int(resp["Retry-After"]) == 900
    assert "try again in 15 minutes" in json.loads(resp.content)["detail"]


def test_a_login_without_a_request_is_not_counted_against_anyone(make_user: Any) -> None:
    make_user("bob")
    client = Client()
    for _ in range(6):
        assert not client.login(username="bob", password="wrong")
    assert client.login(username="bob", password="pw-bob")
