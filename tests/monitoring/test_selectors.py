"""Reading evaluations as the log recorded them: results, their digest and colour changed behind the log's back are
refused by the API and by the monitoring report, not served."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from monitoring.models import Evaluation, MonitoringReport
from tests.monitoring.helpers import batch_csv, committed, monitored, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def red(make_user: Any) -> tuple[Any, Any, Evaluation]:
    people, version = monitored(make_user, rows=1000)
    batch = send(version, people.dev, batch_csv(1500, seed=11, shift=1.5))
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.colour == "red"
    return people, version, evaluation


FORGERIES = [
    ("results", json.dumps({"findings": [], "measurements": []})),
    ("colour", "green"),
    ("results_sha256", "0" * 64),
]


@pytest.mark.parametrize(("column", "value"), FORGERIES)
def test_an_evaluation_changed_behind_the_logs_back_is_not_served(red: Any, api: Any, column: str,
                                                                 value: str) -> None:
    people, _, evaluation = red
    api.force_authenticate(people.aud)
    assert api.get(f"/api/v1/evaluations/{evaluation.pk}/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE monitoring_evaluation SET {column} = %s WHERE id = %s", [value, evaluation.pk])
    answer = api.get(f"/api/v1/evaluations/{evaluation.pk}/")
    assert answer.status_code == 409 and "audit verify" in answer.json()["detail"], answer.content


@pytest.mark.parametrize(("column", "value"), FORGERIES)
def test_the_monitoring_report_refuses_an_evaluation_changed_behind_the_logs_back(red: Any, api: Any, column: str,
                                                                                 value: str) -> None:
    people, version, evaluation = red
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE monitoring_evaluation SET {column} = %s WHERE id = %s", [value, evaluation.pk])
    api.force_authenticate(people.val)
    with committed():
        made = api.post(f"/api/v1/versions/{version.pk}/monitoring-reports/", {}, format="json")
    report = MonitoringReport.objects.get(pk=made.json()["id"])
    assert report.status == "failed" and f"evaluation #{evaluation.pk}" in report.error, report.error
