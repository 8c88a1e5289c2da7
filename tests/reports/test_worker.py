"""A real Celery worker on Redis computes a report requested through the API, as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.multiproc import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path: Path) -> Any:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "MODELGOV_TEST_MEDIA": str(settings.MEDIA_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-l", "warning"],
        env=env, stdout=(tmp_path / "worker.log").open("w"), stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def test_worker_computes_requested_report(worker: Any, registered: dict[str, Any], api: Any) -> None:
    from config.celery import app
    from reports.models import Report

    app.conf.task_always_eager = False
    try:
        api.force_authenticate(registered["val"])
        resp = api.post("/api/v1/reports/", {"version": registered["v2"].pk, "kind": "lineage"}, format="json")
        assert resp.status_code == 202
        assert resp.json()["status"] == "queued"  # returned at once; the worker does the work
        deadline = time.monotonic() + 120
        report = Report.objects.get(pk=resp.json()["id"])
        while report.status not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            report.refresh_from_db()
    finally:
        app.conf.task_always_eager = True
    assert report.status == "succeeded", report.error
    assert worker.poll() is None
    with report.pdf.open("rb") as fh:
        assert fh.read(5) == b"%PDF-"
