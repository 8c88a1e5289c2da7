"""Replaying the log: folding N stored entries into the state they say (audit.replay), entries per second and memory.

The entries are the writer's own shapes (user, model and version creations, stage changes, description edits,
developers set, users given roles, requests and approvals) over 10,000 models and 100,000 versions, written as
canonical JSON into a table of an SQLite file and read back in seq order by one cursor, as the fold reads the
stored log: the figure includes reading the rows and parsing each entry. The schema is the installation's own
(audit.reconcile.schema, from the models). Memory is measured before the fold, after half the entries (the
inventory is made by then) and after all of them: the state grows with the inventory, never with the log.

    .venv/bin/python benchmarks/bench_replay.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import peak_rss_mb

MODELS = 10_000
VERSIONS = 100_000
USERS = 200
REQUESTS = 20_000
APPROVALS = 60_000
TS = "2026-01-01T00:00:00.000000Z"


def _entry(seq: int, action: str, type_: str, id_: Any, changes: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "actor": {"id": "7", "kind": "user", "name": "ana"}, "changes": changes,
            "context": {"channel": "api", "request_id": "0f" * 16}, "object": {"id": str(id_), "repr": f"o{id_}",
                                                                               "type": type_},
            "prev": "ab" * 32, "seq": seq, "ts": "2026-01-01T00:00:00.000000Z", "v": 1}


def _new(**fields: Any) -> dict[str, Any]:
    return {k: {"old": None, "new": v} for k, v in fields.items()}


def synthetic(n: int) -> Iterator[dict[str, Any]]:
    """N entries of a plausible history at the issue's scale: 200 users given roles, 10,000 models with their
    developers, 100,000 versions naming their datasets, then the activity on them: stage changes, requests and
    their approvals (20,000 and 60,000 at most, as at scale), edits, logins."""
    seq = 0

    def nxt() -> int:
        nonlocal seq
        seq += 1
        return seq

    inventory: list[dict[str, Any]] = []
    for u in range(1, USERS + 1):
        inventory.append(_entry(0, "auth.user.create", "auth.user", u, _new(
            id=u, username=f"user{u}", email=f"user{u}@example.com", password="<redacted>", is_active=True,
            is_staff=False, is_superuser=False, first_name="", last_name="", date_joined=TS)))
        inventory.append(_entry(0, "auth.user.groups_add", "auth.user", u,
                                {"groups": {"old": None, "new": {"add": ["model developer"]}}}))
    for entry in inventory:
        if seq >= n:
            return
        entry["seq"] = nxt()
        yield entry
    for model in range(1, MODELS + 1):
        if seq >= n:
            return
        yield _entry(nxt(), "registry.registeredmodel.create", "registry.registeredmodel", model, _new(
            id=model, name=f"model-{model}", title=f"Model {model}", owner=(model % USERS) + 1, risk_tier="high",
            eu_ai_act_category="minimal", tags=["credit", "retail"], created_at=TS, description="",
            business_unit="retail", intended_use="scoring", out_of_scope_uses=""))
        yield _entry(nxt(), "registry.registeredmodel.developers_set", "registry.registeredmodel", model,
                     {"developers": {"old": [], "new": [(model % USERS) + 1, ((model + 1) % USERS) + 1]}})
    for version in range(1, VERSIONS + 1):
        if seq >= n:
            return
        model = (version % MODELS) + 1
        yield _entry(nxt(), "registry.modelversion.create", "registry.modelversion", version, {
            **_new(id=version, model=model, version=version // MODELS + 1, stage="none", description="",
                   artifact=f"artifacts/{version:064x}.skops", artifact_sha256=f"{version:064x}",
                   metrics={"roc_auc": 0.8, "accuracy": 0.75}, created_by=(model % USERS) + 1, created_at=TS),
            "training_datasets": {"old": None, "new": [1]}, "evaluation_datasets": {"old": None, "new": [2]}})
    i = requests = approvals = 0
    while seq < n:
        i += 1
        kind = i % 10
        version = (i * 7919) % VERSIONS + 1
        user = (i % USERS) + 1
        if kind < 2:
            yield _entry(nxt(), "registry.modelversion.stage_change", "registry.modelversion", version, {
                "stage": {"old": "none", "new": "production" if i % 3 else "archived"},
                "stage_changed_at": {"old": None, "new": TS}, "promotion_request": {"old": None, "new": i}})
        elif kind < 3 and requests < REQUESTS:
            requests += 1
            yield _entry(nxt(), "governance.promotionrequest.create", "governance.promotionrequest", requests, _new(
                id=requests, version=version, target_stage="production", status="pending", justification="ready",
                requested_by=user, created_at=TS, policy_version=1, policy_sha256="ab" * 32))
        elif kind < 5 and requests and approvals < APPROVALS:
            approvals += 1
            yield _entry(nxt(), "governance.approval.create", "governance.approval", approvals, _new(
                id=approvals, request=(approvals % requests) + 1, approver=user, role="validator",
                decision="approve", comment="ok", created_at=TS))
        elif kind < 6 and requests:
            yield _entry(nxt(), "governance.promotionrequest.update", "governance.promotionrequest",
                         (i % requests) + 1, {"status": {"old": "pending", "new": "approved"}})
        elif kind < 8:
            yield _entry(nxt(), "auth.user.login", "auth.user", user, {})
        else:
            yield _entry(nxt(), "registry.modelversion.update", "registry.modelversion", version,
                         {"description": {"old": "", "new": f"edit {i}"}})


def write_log(path: Path, n: int) -> None:
    from audit.format.jcs import canonical

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE entry (seq INTEGER PRIMARY KEY, object_type TEXT NOT NULL, canonical BLOB NOT NULL)")
    batch: list[tuple[int, str, bytes]] = []
    for entry in synthetic(n):
        batch.append((entry["seq"], entry["object"]["type"], canonical(entry)))
        if len(batch) == 10_000:
            db.executemany("INSERT INTO entry VALUES (?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO entry VALUES (?, ?, ?)", batch)
    db.commit()
    db.close()


def stored(path: Path, limit: int) -> Iterator[tuple[str, bytes]]:
    """(object type, canonical bytes) in seq order, as audit.replay.iter_stored reads the log."""
    db = sqlite3.connect(path)
    try:
        cursor = db.execute("SELECT object_type, canonical FROM entry WHERE seq <= ? ORDER BY seq", (limit,))
        while rows := cursor.fetchmany(5000):
            yield from rows
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from audit.reconcile import schema
    from audit.replay import fold_stored

    plan = schema()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.sqlite3"
        write_log(path, args.entries)
        rss: dict[int, float] = {}

        def sampled() -> Iterator[tuple[str, bytes]]:
            for i, row in enumerate(stored(path, args.entries), 1):
                yield row
                if i in (args.entries // 2, args.entries):
                    rss[i] = current_rss_mb()

        before = current_rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        state = fold_stored(sampled(), plan)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert state.entries == args.entries
        n = args.entries
        objects = sum(len(o) for o in state.objects.values())
        print(f"{n:,} entries folded: {n / elapsed:,.0f} entries/s ({elapsed:.2f} s; {n / cpu:,.0f}/s of CPU "
              f"time), {objects:,} objects")
        print("RSS: " + ", ".join([f"{before:.0f} MB before"] + [f"{mb:.0f} MB after {i:,} entries"
                                                                  for i, mb in sorted(rss.items())])
              + f"; peak {peak_rss_mb():.0f} MB")


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
