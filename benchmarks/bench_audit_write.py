"""Cost of the audit entry: a business change with our chained entry, without, and with django-auditlog.

Each transaction creates an object and updates it (two changes). Plain Django, our writer (hash chain,
Merkle nodes, one locked head) and django-auditlog (the peer, no integrity) run on PostgreSQL with 1 and
4 writer processes in one run; figures are transactions per second and the ratio to plain.

The same run also measures a floor: the plain change plus two fixed rows written into a table with no
index other than its key, by one INSERT sent in the same message as the COMMIT. No log that records
each change in the change's own transaction can write less than that (no diff, no JSON, no chain, no
lock), so its ratio is the least any such design pays on this machine. Between the two, "chain" is
the plain change plus our append (head lock, hashes, Merkle nodes, two entry rows) of two fixed
entries, sent with the COMMIT as ours is: what the chain costs without diffing or canonical JSON.

    .venv/bin/python benchmarks/bench_audit_write.py [--tx 1000] [--rounds 2]
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

MODES = ("plain", "ours", "auditlog", "floor", "chain")

FLOOR_TABLE = "bench_floor_row"
# About the size of one of our entries for this change.
FLOOR_BODY = '{"action":"benchapp.thing.update","actor":{"id":null,"kind":"system","name":"benchmark"},' \
    '"changes":{"amount":{"new":1,"old":0},"status":{"new":"active","old":"draft"}},"context":{"channel":"system"},' \
    '"object":{"id":"1","repr":"w0-1","type":"benchapp.thing"},"prev":"' + "0" * 64 + '","seq":1,' \
    '"ts":"2026-01-01T00:00:00.000000Z","v":1}'
FLOOR_SQL = f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s), (%s); COMMIT"
# The same entry for the chain mode, as the writer hands it to the append: canonical JSON up to "object".
CHAIN_ROW = {"prefix": FLOOR_BODY[: FLOOR_BODY.index('"prev"')], "actor_kind": "system", "actor_id": None,
             "actor_name": "benchmark", "action": "benchapp.thing.update", "object_type": "benchapp.thing",
             "object_id": "1", "object_repr": "w0-1", "channel": "system", "request_id": ""}


def _worker(url: str, mode: str, index: int, count: int, barrier: object, out: object) -> None:
    setup_django(url)
    from django.db import connection, transaction
    from django.utils import timezone

    from audit import pg_append, writer
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
                model: type[PlainThing | AuditlogThing] = AuditlogThing if mode == "auditlog" else PlainThing
                with transaction.atomic():
                    obj = model._default_manager.create(name=name)
                    obj.status, obj.amount = "active", i
                    obj.save()
                    # Floor and chain end the transaction here: Django's commit then finds nothing to commit.
                    if mode == "floor":
                        with connection.cursor() as cursor:
                            cursor.execute(FLOOR_SQL, [FLOOR_BODY, FLOOR_BODY])
                    elif mode == "chain":
                        with connection.cursor() as cursor:
                            pg_append.append(cursor, timezone.now(), [CHAIN_ROW, CHAIN_ROW], commit=True)
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
    parser.add_argument("--tx", type=int, default=1000, help="transactions per writer")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    args = parser.parse_args()
    url = scratch_database("modelgov_bench_write")
    setup_django(url)
    migrate()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")
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
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {FLOOR_TABLE}")
        floor_rows = cursor.fetchone()[0]
    chain_entries = AuditEntry.objects.filter(object_type="benchapp.thing").count()
    rows = []
    for writers in (1, 4):
        plain = results[("plain", writers)]
        rows.append([writers, f"{plain:.0f}", f"{results[('ours', writers)]:.0f}",
                     f"{results[('auditlog', writers)]:.0f}", f"{results[('floor', writers)]:.0f}",
                     f"{results[('chain', writers)]:.0f}",
                     f"{plain / results[('ours', writers)]:.2f}", f"{plain / results[('auditlog', writers)]:.2f}",
                     f"{plain / results[('floor', writers)]:.2f}", f"{plain / results[('chain', writers)]:.2f}"])
    print(table(rows, ["writers", "plain tx/s", "ours tx/s", "auditlog tx/s", "floor tx/s", "chain tx/s",
                       "ours cost x", "auditlog cost x", "floor cost x", "chain cost x"]))
    print(f"chain verification after the run: {'OK' if run_.ok else 'FAILED'} ({run_.entries_checked} entries); "
          f"entries for governed changes {ours_entries} (expected {expected}); "
          f"floor rows {floor_rows} and chain-only entries {chain_entries} (expected {expected} each)")
    print("target: ours cost <= 1.25x, and clearly less than django-auditlog's; "
          "floor: two bare rows in the same commit, the least any in-transaction log pays; "
          "chain: our append of two fixed entries, no diff and no canonical JSON")
    os.environ.pop("DATABASE_URL", None)


if __name__ == "__main__":
    main()
