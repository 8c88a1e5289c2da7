"""Adversarial review of issue 22 §3: making the inventory lie, or fall over, through every channel. Each test is a
way tried; it passes when the way is shut."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit import history
from audit.models import StateSpan
from governance import inventory
from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)

pytestmark = pytest.mark.django_db


def _verify_fails(match: str = "difference") -> None:
    with pytest.raises(CommandError, match=match):
        call_command("audit", "verify", "--quiet", stdout=StringIO(), stderr=StringIO())


def test_a_spans_number_changed_behind_the_logs_back_is_named(flow: dict[str, Any]) -> None:  # noqa: F811
    """The inventory lists models, pages them and groups versions, requests and approvals under them by the spans'
    `number` column; a span's fingerprint left it out, so nulling it hid a model from the inventory while
    `audit verify` and `audit spans --check` passed."""
    history.catch_up()
    assert [m["name"] for m in inventory.inventory()["models"]] == ["pd"]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_statespan SET number = NULL WHERE object_type = %s AND until IS NULL",
                    [inventory.MODEL])
    assert inventory.inventory()["models"] == []  # the inventory now lies...
    assert list(history.check()), "...and the check must say so"
    _verify_fails()
    with pytest.raises(CommandError, match="span"):
        call_command("audit", "spans", "--check", stdout=StringIO())
    history.rebuild()
    assert [m["name"] for m in inventory.inventory()["models"]] == ["pd"]


def test_a_version_spans_number_moved_is_named(flow: dict[str, Any]) -> None:  # noqa: F811
    """A version shown under another id: `id` in the inventory is the span's `number`."""
    history.catch_up()
    v2 = flow["v2"]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_statespan SET number = number + 1000 WHERE object_type = %s AND object_id = %s",
                    [inventory.VERSION, str(v2.pk)])
    assert StateSpan.objects.filter(object_type=inventory.VERSION, number=v2.pk + 1000).exists()
    assert list(history.check())


@pytest.mark.parametrize("path", ["/api/v1/inventory/", "/api/v1/inventory/pd/", "/api/v1/inventory.pdf",
                                  "/api/v1/audit/checkpoints/inclusion/"])
def test_a_parameter_given_twice_is_refused_not_read_for_its_last_value(make_user: Any, api: Any,
                                                                        path: str) -> None:
    """`?as_of=garbage&as_of=<valid>` was answered 200 for the last value: a client that put the instant it meant
    first got the state at another without a word."""
    api.force_authenticate(make_user("aud", "auditor"))
    name = "seq" if "inclusion" in path else "as_of"
    value = "1" if name == "seq" else "2026-01-01T00:00:00Z"
    resp = api.get(f"{path}?{name}={value}&{name}={value}")
    assert resp.status_code == 400, resp.content
    assert f"'{name}'" in resp.json()["detail"] and "more than once" in resp.json()["detail"]


def test_an_instant_before_the_year_1000_is_given_back_in_iso_8601(make_user: Any, api: Any, client: Any) -> None:
    """The year 1 was echoed as "1-01-01T00:00:00.000000Z", which parse_as_of (and any ISO 8601 reader) refuses: the
    admin page's links to the same instant (API, PDF, next page) then failed."""
    aud = make_user("aud", "auditor", is_staff=True)
    api.force_authenticate(aud)
    body = api.get("/api/v1/inventory/", {"as_of": "0001-01-01T00:00:00Z"}).json()
    assert body["as_of"] == "0001-01-01T00:00:00.000000Z"
    assert api.get("/api/v1/inventory/", {"as_of": body["as_of"]}).status_code == 200
    assert inventory.parse_as_of(body["as_of"]).year == 1
