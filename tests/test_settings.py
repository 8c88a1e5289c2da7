"""Production settings: refuse to start without a secret, and pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    drop = ("SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")  # the browser tests set the last
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env}, timeout=120)


def test_production_without_secret_key_fails_clearly() -> None:
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     SECRET_KEY="x" * 60 + "-a-long-random-production-secret", ALLOWED_HOSTS="models.example.com")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_task_left_by_a_dead_worker_is_looked_for_within_the_visibility_timeout() -> None:
    """kombu >= 5.7 scans for unacknowledged tasks only every 10th look unless told otherwise: a worker
    killed mid-report would have its task delivered again up to ~100 s late instead of after the timeout."""
    from django.conf import settings
    from kombu.transport.redis import Channel

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert {"visibility_timeout", "unacked_restore_interval", "unacked_restore_throttle"} <= set(
        Channel.from_transport_options)  # names kombu reads, not silently ignored ones
    assert options["unacked_restore_throttle"] == 1
    assert 1 <= options["unacked_restore_interval"] <= options["visibility_timeout"]
