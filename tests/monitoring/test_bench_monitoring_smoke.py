"""benchmarks/bench_monitoring.py at 20,000 rows without the peer: it runs, hashes every row and finds the drift, and
measures the batch again in parts shared by two forked workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_monitoring_runs_small() -> None:
    done = subprocess.run([sys.executable, "benchmarks/bench_monitoring.py", "--rows", "20000", "--baseline-rows",
                           "5000", "--no-peer", "--part-rows", "5000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "root of 20,000 leaves: " in out
    assert "targets: ours <= 30 s and <= 1024 MB: met" in out
    assert "peer: skipped (--no-peer)" in out
    assert "the same batch measured again in 4 parts by 2 worker processes" in out and "(red)" in out
    psi = {line.split()[0]: float(line.split()[2]) for line in out.splitlines() if line.startswith("  ")}
    # The two drifted features stand out; the others do not.
    assert psi["x0"] > 0.1 and psi["c0"] > 0.1
    assert max(v for k, v in psi.items() if k not in ("x0", "c0")) < 0.05
