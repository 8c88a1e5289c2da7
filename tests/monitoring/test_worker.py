"""A real Celery worker on Redis measures a production batch sent through the API, and acts on what it finds."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from tests.monitoring.helpers import batch_csv, monitored
from tests.reports.test_worker import real_broker, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["real_broker", "start_worker"]  # the fixtures this module uses


def _sent_and_measured(api: Any, version: Any, content: bytes, *, seconds: float) -> Any:
    """The batch sent through the API, and its evaluation once a worker has measured it."""
    from monitoring.models import Evaluation

    resp = api.post(f"/api/v1/versions/{version.pk}/batches/", {"file": io.BytesIO(content)}, format="multipart")
    assert resp.status_code == 201, resp.content
    evaluation = Evaluation.objects.get(batch_id=resp.json()["id"])
    deadline = time.monotonic() + seconds
    while evaluation.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
        evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    return evaluation


def test_a_worker_measures_a_drifted_batch_and_opens_the_revalidation(real_broker: None, start_worker: Any,
                                                                      make_user: Any, api: Any) -> None:
    from governance.models import PromotionRequest

    people, version = monitored(make_user)
    worker = start_worker()
    api.force_authenticate(people.dev)
    evaluation = _sent_and_measured(api, version, batch_csv(1500, seed=31, shift=1.5), seconds=120)
    assert evaluation.colour == "red" and worker.poll() is None
    assert PromotionRequest.objects.filter(version=version, is_revalidation=True, status="pending").exists()


def test_two_workers_measure_one_batch_in_parts_equal_to_one_pass(real_broker: None, start_worker: Any,
                                                                  make_user: Any, api: Any, monkeypatch: Any) -> None:
    from monitoring import measure

    people, version = monitored(make_user)
    monkeypatch.setenv("MONITORING_PART_ROWS", "400")  # read by the workers' settings: 2,000 rows in 5 parts
    workers = [start_worker(), start_worker()]
    api.force_authenticate(people.dev)
    evaluation = _sent_and_measured(api, version, batch_csv(2000, seed=32, shift=1.5), seconds=180)
    assert all(w.poll() is None for w in workers)
    made = list(evaluation.parts.order_by("index"))
    assert [p.rows for p in made] == [400] * 5 and all(p.status == "succeeded" for p in made)
    results = dict(evaluation.results)
    results.pop("findings")
    alone = measure.measure(evaluation)
    assert results["rows"] == alone["rows"] == 2000
    assert results["features"]["amount"]["psi"] == pytest.approx(alone["features"]["amount"]["psi"], rel=1e-9)
    assert results["score"]["psi"] == pytest.approx(alone["score"]["psi"], rel=1e-9)
    assert evaluation.colour == "red"
