"""The scale runner end to end at a tiny scale: every page answers 2xx under load, the seeded chain verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import PG_SERVER, drop_database
from benchmarks.run_scale import DATABASE, SETTINGS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = [
    "models: list", "models: by tag", "models: one", "versions of one model", "versions: filtered", "versions: one",
    "requests: pending", "requests: awaiting validator", "requests: one", "audit: latest", "audit: by object",
    "audit: by date", "audit: one object's history", "admin: models", "admin: versions", "admin: requests",
    "admin: audit log",
]


def test_runner_at_tiny_scale_measures_every_page_and_seeds_a_valid_chain() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    run = subprocess.run(
        [sys.executable, "benchmarks/run_scale.py", "--scale", "0.0005", "--duration", "1", "--no-peer",
         "--skip-other-benchmarks"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in run.stdout.splitlines()
            if line.startswith(("| api ", "| admin "))]
    measured = {(r[1], r[2]): r for r in rows}
    for endpoint in ENDPOINTS:
        for clients in ("1", "8"):
            row = measured.get((endpoint, clients))
            assert row is not None, f"{endpoint} at {clients} clients missing from\n{run.stdout}"
            assert int(row[5]) > 0, row
            assert row[6] == "0", row

    try:
        # The chain only: the seed writes its rows by COPY and gives each object the entries its services would
        # have made, not every field of them, so the tables are not the state its log says.
        verify = subprocess.run(
            [sys.executable, "manage.py", "audit", "verify", "--no-state"], cwd=ROOT, capture_output=True, text=True,
            timeout=120,
            env={**env, "DATABASE_URL": f"{PG_SERVER}/{DATABASE}", "DJANGO_SETTINGS_MODULE": SETTINGS}, check=False)
    finally:
        drop_database(DATABASE)
    assert verify.returncode == 0, verify.stdout + verify.stderr
