"""Benchmarks report their own peak memory, not the peak of the process that started them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM is Linux's; elsewhere ru_maxrss is used")
def test_a_child_of_a_large_process_reports_its_own_peak() -> None:
    ballast = bytearray(200 * 1024 * 1024)  # the parent's peak is now above 200 MB
    ballast[::4096] = b"x" * len(ballast[::4096])
    child = subprocess.run(
        [sys.executable, "-c", "from benchmarks.common import peak_rss_mb; print(peak_rss_mb())"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(child.stdout) < 100, child.stdout
