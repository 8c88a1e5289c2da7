"""Cost of the audit entry: a business change with our chained entry, without, and with django-auditlog.

Each transaction creates an object and updates it (two changes). Plain Django, our writer (hash chain,
Merkle nodes, one locked head) and django-auditlog (the peer, no integrity) run on PostgreSQL with 1 and
4 writer processes in one run; figures are transactions per second and the ratio to plain.

    .venv/bin/python benchmarks/bench_audit_write.py [--tx 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import migrate, scratch_database, setup_django, table

MODES = ("plain", "ours", "auditlog")


def _worker(url: str, mode: str, index: int, count: int, barrier: object, out: object) -> None:
    setup_django(url)
    from django.db import connection, transaction

    from audit import writer
    from audit.context import audit_context, system_actor
    from benchmarks.benchapp.models import AuditlogThing, GovernedThing, PlainThing

    connection.ensure_connection()
    barrier.wait()  # type: ignore[attr-defined]
    start = time.perf_counter()
    with audit_context(actor=system_actor("benchmark"), channel="system"):
        for i in range(count):
            name = f"w{index}-{i}"
            if mode == "ours":
                with writer.atomic():
                    thing = GovernedThing(name=name)
                    writer.save(thing)
                    thing.status, thing.amount = "active", i
                    writer.save(thing)
            else:
                model: type[PlainThing | AuditlogThing] = PlainThing if mode == "plain" else AuditlogThing
                with transaction.atomic():
                    obj = model._default_manager.create(name=name)
                    obj.status, obj.amount = "active", i
                    obj.save()
    out.put(time.perf_counter() - start)  # type: ignore[attr-defined]


def run(url: str, mode: str, writers: int, count: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, mode, i, count, barrier, out)) for i in range(writers)]
    for p in procs:
        p.start()
    elapsed = max(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
    return writers * count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tx", type=int, default=400, help="transactions per writer")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    args = parser.parse_args()
    url = scratch_database("modelgov_bench_write")
    setup_django(url)
    migrate()
    from django.db import connection

    connection.close()
    results: dict[tuple[str, int], float] = {}
    for _ in range(args.rounds):
        for writers in (1, 4):
            for mode in MODES:
                rate = run(url, mode, writers, args.tx)
                results[(mode, writers)] = max(results.get((mode, writers), 0.0), rate)
    from audit.models import AuditEntry
    from audit.verification import verify_log

    run_ = verify_log()
    expected = 2 * args.tx * 5 * args.rounds
    ours_entries = AuditEntry.objects.filter(object_type="benchapp.governedthing").count()
    rows = []
    for writers in (1, 4):
        plain = results[("plain", writers)]
        rows.append([writers, f"{plain:.0f}", f"{results[('ours', writers)]:.0f}",
                     f"{results[('auditlog', writers)]:.0f}",
                     f"{plain / results[('ours', writers)]:.2f}", f"{plain / results[('auditlog', writers)]:.2f}"])
    print(table(rows, ["writers", "plain tx/s", "ours tx/s", "auditlog tx/s", "ours cost x", "auditlog cost x"]))
    print(f"chain verification after the run: {'OK' if run_.ok else 'FAILED'} ({run_.entries_checked} entries); "
          f"entries for governed changes {ours_entries} (expected {expected})")
    print("target: ours cost <= 1.25x, and clearly less than django-auditlog's")
    os.environ.pop("DATABASE_URL", None)


if __name__ == "__main__":
    main()
