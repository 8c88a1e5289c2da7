"""Soak on PostgreSQL: N client processes for T seconds mixing registrations, promotion requests,
approvals, rejections and report requests through the HTTP API of a gunicorn server on loopback.

Afterwards: no 5xx, `audit verify` passes, audit entries equal the changes the clients made (as the
server reported them), and no model has two versions in one stage.

    .venv/bin/python benchmarks/soak.py [--clients 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import drop_database, migrate, scratch_database, setup_django

ROOT = Path(__file__).resolve().parents[1]
PORT = 8765
DATABASE = "modelgov_soak"


def _client(index: int, url: str, tokens: dict[str, str], model: str, seconds: float, out: Any) -> None:
    import requests
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(index)
    artifact = sio.dumps(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    http = requests.Session()
    stats: dict[str, Any] = {"requests": 0, "5xx": 0, "by_status": {}, "writes": {}}

    def wrote(kind: str, resp: Any, ok: tuple[int, ...]) -> None:
        if resp.status_code in ok:
            stats["writes"][kind] = stats["writes"].get(kind, 0) + 1

    def call(role: str, method: str, path: str, **kwargs: Any) -> Any:
        resp = http.request(method, f"{url}/api/v1/{path}", headers={"Authorization": f"Token {tokens[role]}"},
                            timeout=60, **kwargs)
        stats["requests"] += 1
        stats["by_status"][resp.status_code] = stats["by_status"].get(resp.status_code, 0) + 1
        if resp.status_code >= 500:
            stats["5xx"] += 1
        return resp

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        action = rng.choice(["register", "register", "request", "approve", "reject", "report", "read"])
        if action == "register":
            wrote("registry.modelversion.create",
                  call("dev", "POST", f"models/{model}/versions/", data={"artifact_format": "skops"},
                       files={"artifact": ("m.skops", io.BytesIO(artifact))}), (201,))
        elif action == "request":
            versions = call("dev", "GET", f"versions/?model={model}&limit=20").json().get("results", [])
            if versions:
                wrote("governance.promotionrequest.create",
                      call("dev", "POST", "promotion-requests/", json={
                          "version": rng.choice(versions)["id"], "target_stage": "staging", "justification": "soak"}),
                      (201,))
        elif action in ("approve", "reject"):
            pending = call("val", "GET", "promotion-requests/?status=pending&limit=20").json().get("results", [])
            if pending:
                body = {"role": "validator", "comment": "soak"}
                wrote(f"governance.approval.{action}",
                      call(rng.choice(["val", "val2"]), "POST",
                           f"promotion-requests/{rng.choice(pending)['id']}/{action}/", json=body), (200,))
        elif action == "report":
            versions = call("dev", "GET", f"versions/?model={model}&limit=5").json().get("results", [])
            if versions:
                wrote("reports.report.request",
                      call("val", "POST", "reports/", json={"version": versions[0]["id"], "kind": "lineage"}), (202,))
        else:
            call("aud", "GET", "audit/entries/?limit=20")
    out.put(stats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DATABASE} database for inspection")
    args = parser.parse_args()
    db_url = scratch_database(DATABASE)
    setup_django(db_url, settings="config.settings.test")
    migrate()
    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry
    from governance.tokens import token_create
    from registry.models import ModelVersion
    from registry.services.model import registered_model_create
    from tests.soak_people import make_people

    with audit_context(actor=system_actor("soak setup"), channel="system"):
        people = make_people()
        registered_model_create(by=people["dev"], name="soak-model", title="Soak", risk_tier="low")
        tokens = {role: token_create(user=user, name="soak")[1] for role, user in people.items()}
    entries_before = AuditEntry.objects.count()
    from django.db import connection

    connection.close()
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "-w", "4", "-b", f"127.0.0.1:{PORT}",
                               "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        import requests

        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{PORT}/api/schema/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_client, args=(i, f"http://127.0.0.1:{PORT}", tokens, "soak-model",
                                                   args.seconds, out)) for i in range(args.clients)]
        for p in procs:
            p.start()
        results = [out.get(timeout=args.seconds + 300) for _ in procs]
        for p in procs:
            p.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    from django.db.models import Count

    from audit.verification import verify_log

    total = sum(r["requests"] for r in results)
    errors = sum(r["5xx"] for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        for code, n in r["by_status"].items():
            statuses[code] = statuses.get(code, 0) + n
    run = verify_log()
    writes: dict[str, int] = {}
    for r in results:
        for kind, n in r["writes"].items():
            writes[kind] = writes.get(kind, 0) + n
    logged = {kind: AuditEntry.objects.filter(seq__gt=entries_before, action=kind).count() for kind in writes}
    mismatched = {k: (writes[k], logged[k]) for k in writes if writes[k] != logged[k]}
    doubled = ModelVersion.objects.exclude(stage="none").values("model", "stage").annotate(n=Count("id")).filter(
        n__gt=1).count()
    print(f"{args.clients} clients x {args.seconds:.0f} s: {total} requests ({total / args.seconds:.0f}/s), "
          f"status counts {dict(sorted(statuses.items()))}")
    print(f"5xx: {errors}; audit verify: {'OK' if run.ok else 'FAILED'} ({run.entries_checked} entries); "
          f"models with two versions in one stage: {doubled}")
    print("changes made by the clients vs their audit entries: "
          + ", ".join(f"{k} {writes[k]}/{logged[k]}" for k in sorted(writes)))
    if not args.keep_db:
        connection.close()
        drop_database(DATABASE)
    if errors or not run.ok or doubled or mismatched or not writes:
        print(f"FAILED: mismatched {mismatched}")
        sys.exit(1)


if __name__ == "__main__":
    main()
