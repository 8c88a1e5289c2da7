"""With the broker down the API still answers: the report is queued durably, and the response says so."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from reports.models import Report

# Transactional, so that on-commit dispatch happens inside the request, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_report_request_with_broker_down_is_queued_and_dispatched_later(
    api: Any, registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    from reports.tasks import compute_report

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch:
        patch.setattr(compute_report, "delay", broker_down)
        api.force_authenticate(registered["val"])
        resp = api.post("/api/v1/reports/", {"version": registered["v2"].pk, "kind": "lineage"}, format="json")
        assert resp.status_code == 202
        assert resp.json()["status"] == "queued"
        assert resp.json()["dispatch"].startswith("deferred")
        assert api.get("/api/v1/models/").status_code == 200  # reads keep working
    out = StringIO()
    call_command("reports", "dispatch", stdout=out)  # the broker is back (here: eager)
    assert "dispatched 1" in out.getvalue()
    assert Report.objects.get(pk=resp.json()["id"]).status == "succeeded"
