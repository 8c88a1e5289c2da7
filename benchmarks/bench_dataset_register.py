"""Registering a large CSV through the service: wall time and this process's peak memory.

A CSV of about --gigabytes GB (21 columns: numbers, integers, categories, a yes/no label) is written
in a temporary directory by a child process (so its making is not counted), then registered with
`dataset_version_create` on a scratch SQLite database whose media live in the same directory: the
file is spooled and hashed, its header checked, its rows streamed for the schema and labels, and
it is stored by digest. Target: peak RSS under 300 MB for 1 GB.

    .venv/bin/python benchmarks/bench_dataset_register.py [--gigabytes 1.0]
    /usr/bin/time -v .venv/bin/python benchmarks/bench_dataset_register.py   # the kernel's figure too
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import peak_rss_mb

ROWS_PER_BLOCK = 100_000


def _write_csv(path: str, target_bytes: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    header = True
    with open(path, "w", encoding="utf-8", newline="") as out:
        while out.tell() < target_bytes:
            n = ROWS_PER_BLOCK
            frame = pd.DataFrame({f"x{i}": np.round(rng.normal(size=n), 4) for i in range(12)})
            for i in range(5):
                frame[f"n{i}"] = rng.integers(0, 10_000, n)
            frame["sex"] = rng.choice(["female", "male"], n)
            frame["region"] = rng.choice(["north", "south", "east", "west", "not known"], n)
            frame["age"] = rng.integers(18, 90, n)
            frame["default"] = np.where(frame["x0"] + rng.normal(size=n) > 0, "yes", "no")
            frame.to_csv(out, index=False, header=header)
            header = False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        csv_path = os.path.join(tmp, "large.csv")
        started = time.perf_counter()
        maker = multiprocessing.get_context("spawn").Process(
            target=_write_csv, args=(csv_path, int(args.gigabytes * 1024**3)))
        maker.start()
        maker.join()
        size = os.path.getsize(csv_path)
        print(f"wrote {size / 1024**3:.2f} GiB in {time.perf_counter() - started:.0f} s")

        os.environ.update({"DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3", "MODELGOV_TEST_MEDIA": f"{tmp}/media",
                           "DJANGO_SETTINGS_MODULE": "config.settings.test",
                           "REGISTRY_MAX_DATASET_BYTES": str(size + 1)})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from django.contrib.auth import get_user_model

        from audit.context import audit_context, system_actor, user_actor
        from registry.services.dataset import dataset_create, dataset_version_create

        with audit_context(actor=system_actor("benchmark"), channel="system"):
            user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
        before = peak_rss_mb()
        with audit_context(actor=user_actor(user), channel="system"):
            dataset = dataset_create(by=user, name="large")
            started = time.perf_counter()
            with open(csv_path, "rb") as fh:
                version = dataset_version_create(dataset=dataset, by=user, file=fh, target_column="default",
                                                 positive_label="yes", sensitive_columns=["sex", "age"])
            wall = time.perf_counter() - started
        peak = peak_rss_mb()
        print(f"registered {version}: {version.row_count:,} rows x {len(version.schema)} columns, "
              f"{size / 1024**2:,.0f} MiB")
        print(f"wall time {wall:.1f} s ({size / 1024**2 / wall:.0f} MiB/s)")
        print(f"peak RSS {peak:.0f} MB (before registering: {before:.0f} MB)  target: < 300 MB — "
              f"{'met' if peak < 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
