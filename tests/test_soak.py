"""The soak script's short variant: a few clients for a few seconds through gunicorn on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.postgres
@pytest.mark.slow
def test_short_soak_passes() -> None:
    result = subprocess.run([sys.executable, "benchmarks/soak.py", "--clients", "3", "--seconds", "8"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "5xx: 0" in result.stdout and "audit verify: OK" in result.stdout
