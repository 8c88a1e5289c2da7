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


def test_a_worker_measures_a_drifted_batch_and_opens_the_revalidation(real_broker: None, start_worker: Any,
                                                                      make_user: Any, api: Any) -> None:
    from governance.models import PromotionRequest
    from monitoring.models import Evaluation

    people, version = monitored(make_user)
    worker = start_worker()
    api.force_authenticate(people.dev)
    resp = api.post(f"/api/v1/versions/{version.pk}/batches/",
                    {"file": io.BytesIO(batch_csv(1500, seed=31, shift=1.5))}, format="multipart")
    assert resp.status_code == 201, resp.content
    evaluation = Evaluation.objects.get(batch_id=resp.json()["id"])
    deadline = time.monotonic() + 120
    while evaluation.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
        evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.colour == "red" and worker.poll() is None
    assert PromotionRequest.objects.filter(version=version, is_revalidation=True, status="pending").exists()
