"""What the row guards (audit.row_guards) add to bench_audit_write.py's transaction, measured on the server.

On a busy machine the whole benchmark's ratio moves by more than the guard costs. This runs the same transaction
inside PostgreSQL instead — create a governed row, update it, append its two entries by the append function, COMMIT
(not waiting for the disk) — N times in one procedure call, with the guards enabled and disabled in turn, and prints
the median of the paired differences per transaction.

    .venv/bin/python benchmarks/bench_row_guard.py [--tx 2000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import drop_database, migrate, scratch_database, setup_django

DATABASE = "modelgov_bench_row_guard"

_ENTRY = ("json_build_object('prefix', '{{\"action\":\"benchapp.governedthing.{verb}\",', 'actor_kind', 'system', "
          "'actor_id', null, 'actor_name', 'benchmark', 'action', 'benchapp.governedthing.{verb}', "
          "'object_type', 'benchapp.governedthing', 'object_id', v_id::text, 'object_repr', 'thing', "
          "'channel', 'system', 'request_id', '')")

PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE bench_row_guard(n int) AS $$
DECLARE v_id bigint;
BEGIN
    FOR i IN 1..n LOOP
        INSERT INTO benchapp_governedthing (name, status, amount) VALUES ('t' || i, 'draft', 0) RETURNING id INTO v_id;
        UPDATE benchapp_governedthing SET status = 'active', amount = i WHERE id = v_id;
        PERFORM * FROM audit_append(now(), json_build_array({_ENTRY.format(verb="create")},
                                                            {_ENTRY.format(verb="update")}));
        COMMIT;
    END LOOP;
END;
$$ LANGUAGE plpgsql
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tx", type=int, default=2000, help="transactions per call")
    parser.add_argument("--rounds", type=int, default=30, help="pairs of calls, guards on and off in turn")
    args = parser.parse_args()
    setup_django(scratch_database(DATABASE))
    migrate()
    from django.db import connection

    def per_tx(guards: str) -> float:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE benchapp_governedthing {guards} TRIGGER USER")
            start = time.perf_counter()
            cursor.execute("CALL bench_row_guard(%s)", [args.tx])
            return (time.perf_counter() - start) / args.tx * 1e6

    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(PROCEDURE)
    per_tx("ENABLE")  # warm-up
    on, off = [], []
    for r in range(args.rounds):
        order = ("ENABLE", "DISABLE") if r % 2 == 0 else ("DISABLE", "ENABLE")
        times = {guards: per_tx(guards) for guards in order}
        on.append(times["ENABLE"])
        off.append(times["DISABLE"])
    diffs = [a - b for a, b in zip(on, off, strict=True)]
    low, _, high = statistics.quantiles(diffs, n=4)
    print(f"{args.rounds} pairs of {args.tx} transactions (create, update, two entries, COMMIT), on the server:")
    print(f"guards off {statistics.median(off):.0f} µs, on {statistics.median(on):.0f} µs per transaction; "
          f"the guards add {statistics.median(diffs):+.1f} µs (median of the pairs; "
          f"quartiles {low:+.1f} to {high:+.1f})")
    connection.close()
    drop_database(DATABASE)


if __name__ == "__main__":
    main()
