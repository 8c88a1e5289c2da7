"""Real Celery workers on Redis: a report requested through the API is computed; a worker killed
mid-report leaves nothing half-written served, and the report is delivered again and completed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.multiproc import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test",
               "MODELGOV_TEST_MEDIA": str(settings.MEDIA_ROOT), "CELERY_VISIBILITY_TIMEOUT": "3"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "warning"],
            env=env, stdout=(tmp_path / f"worker{len(procs)}.log").open("w"), stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _wait(report: Any, states: tuple[str, ...], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    report.refresh_from_db()
    while report.status not in states and time.monotonic() < deadline:
        time.sleep(0.2)
        report.refresh_from_db()


def _request(api: Any, registered: dict[str, Any], kind: str) -> Any:
    from reports.models import Report

    api.force_authenticate(registered["val"])
    resp = api.post("/api/v1/reports/", {"version": registered["v2"].pk, "kind": kind}, format="json")
    assert resp.status_code == 202
    assert resp.json()["status"] == "queued" and resp.json()["dispatch"] == "sent"
    return Report.objects.get(pk=resp.json()["id"])


@pytest.fixture
def real_broker() -> Iterator[None]:
    from config.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def test_worker_computes_requested_report(real_broker: None, start_worker: Any, registered: dict[str, Any],
                                          api: Any) -> None:
    worker = start_worker()
    report = _request(api, registered, "lineage")
    _wait(report, ("succeeded", "failed"), 120)
    assert report.status == "succeeded", report.error
    assert worker.poll() is None
    with report.pdf.open("rb") as fh:
        assert fh.read(5) == b"%PDF-"


def test_killed_worker_never_serves_half_a_report(real_broker: None, start_worker: Any, registered: dict[str, Any],
                                                  api: Any) -> None:
    first = start_worker()
    report = _request(api, registered, "explainability")
    _wait(report, ("running", "succeeded", "failed"), 120)
    assert report.status == "running"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    report.refresh_from_db()
    assert report.status == "running" and not report.pdf
    assert api.get(f"/api/v1/reports/{report.pk}/pdf/").status_code == 409  # nothing half-done is served
    start_worker()  # the unacknowledged task is delivered again after the visibility timeout
    _wait(report, ("succeeded", "failed"), 180)
    assert report.status == "succeeded", report.error
    assert report.attempts >= 2
