"""The audit log at scale on PostgreSQL: seeding, proof latency, checkpoint time, verification speed and memory.

Seeds N entries through the real append path (the PostgreSQL function, 1,000 entries a call, so the
chain and Merkle nodes are exactly what the writer makes), then measures.

    .venv/bin/python benchmarks/bench_audit_scale.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import migrate, peak_rss_mb, scratch_database, setup_django, table

BATCH = 1000


def seed(n: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from audit import pg_append
    from audit.format.jcs import canonical

    template: dict = {"action": "registry.modelversion.update", "actor": {"id": "7", "kind": "user", "name": "seeder"},
                "context": {"channel": "system"}}
    start = time.perf_counter()
    done = 0
    while done < n:
        rows = []
        for i in range(done, min(n, done + BATCH)):
            body = {**template, "changes": {"description": {"old": None, "new": f"edit {i}"}},
                    "object": {"id": str(i % 100_000), "repr": f"model-{i % 10_000} v{i % 10}",
                               "type": "registry.modelversion"}}
            rows.append({"prefix": canonical(body)[:-1].decode() + ",", "actor_kind": "user",
                         "actor_id": "7", "actor_name": "seeder", "action": template["action"],
                         "object_type": "registry.modelversion", "object_id": str(i % 100_000),
                         "object_repr": body["object"]["repr"], "channel": "system", "request_id": ""})
        with transaction.atomic(), connection.cursor() as cursor:
            pg_append.append(cursor, timezone.now(), rows)
        done += len(rows)
    return time.perf_counter() - start


def timings(fn: Any, samples: int) -> tuple[float, float]:
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    setup_django(scratch_database("modelgov_bench_scale"))
    migrate()
    from audit import proofs
    from audit.checkpoints import checkpoint_create
    from audit.verification import verify_log

    seconds = seed(args.entries)
    rows: list[list[object]] = [["seed entries", f"{args.entries:,}", f"{args.entries / seconds:,.0f} entries/s"]]
    t = time.perf_counter()
    cp = checkpoint_create()
    rows.append(["checkpoint at full size", f"size {cp.size:,}", f"{(time.perf_counter() - t) * 1000:.1f} ms"])
    rng = random.Random(1)
    n = cp.size
    p50, p95 = timings(lambda: proofs.inclusion(seq=rng.randint(1, n), size=n), args.samples)
    rows.append(["inclusion proof", f"p50 {p50:.2f} ms", f"p95 {p95:.2f} ms"])
    p50, p95 = timings(lambda: proofs.consistency(old_size=rng.randint(1, n - 1), size=n), args.samples)
    rows.append(["consistency proof", f"p50 {p50:.2f} ms", f"p95 {p95:.2f} ms"])
    before = peak_rss_mb()
    t = time.perf_counter()
    run = verify_log()
    elapsed = time.perf_counter() - t
    assert run.ok, (run.rule, run.message)
    rows.append(["verify whole log (DB, streaming)", f"{run.entries_checked / elapsed:,.0f} entries/s",
                 f"peak RSS {peak_rss_mb():.0f} MB (before {before:.0f} MB)"])
    print(table(rows, ["measure", "figure", "detail"]))
    print("targets: proofs < 10 ms; verification >= 100,000 entries/s with flat memory")


if __name__ == "__main__":
    main()
