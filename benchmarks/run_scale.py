"""Every performance figure in one table: the API and admin at scale against MLflow, and the other benchmarks.

Seeds PostgreSQL (10,000 models, 100,000 versions, 20,000 requests, 1,000,000 audit entries at --scale 1),
serves the app with gunicorn on loopback, drives each endpoint with wrk at 1 and 8 clients, does the same
for `mlflow server` seeded with the same models and versions, runs the other benchmarks as subprocesses
and prints one table.

    .venv/bin/python benchmarks/run_scale.py [--scale 1.0] [--duration 10] [--no-peer] [--skip-other-benchmarks]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import PG_SERVER, migrate, scratch_database, setup_django  # noqa: E402
from benchmarks.scale import load, seed  # noqa: E402

DATABASE = os.environ.get("SCALE_DATABASE", "h_scale")
SETTINGS = "benchmarks.scale.settings"
PORTS = range(8100, 8200)
API_TARGET_MS = 50.0
ADMIN_TARGET_MS = 150.0
INVENTORY_TARGET_MS = 200.0
OTHER_BENCHMARKS = ["bench_audit_write.py", "bench_verifier.py", "bench_audit_scale.py", "bench_reports.py"]


@dataclass
class Endpoint:
    section: str  # "api" or "admin"
    name: str
    paths: list[str]
    headers: dict[str, str]
    peer: str | None = None  # the MLflow endpoint it is compared with
    target_ms: float | None = None  # its own p95 target at the most clients, where it has one
    results: dict[int, load.Result] = field(default_factory=dict)


def _after_registration(name: str, seeded: seed.Seeded, rng: random.Random) -> Any:
    """A random instant between the model's registration entry and the end of the seeded history: a model is asked
    for as of a time it was registered at (before it, the answer is a 404, not the page measured)."""
    from audit.models import AuditEntry
    from registry.models import RegisteredModel

    pk = RegisteredModel.objects.values_list("pk", flat=True).get(name=name)
    born = (AuditEntry.objects.filter(object_type="registry.registeredmodel", object_id=str(pk))
            .order_by("seq").values_list("ts", flat=True).first())
    assert born is not None, f"model {name} has no registration entry"
    return born + (seeded.last_ts - born) * rng.random()


def endpoints(seeded: seed.Seeded, auth: dict[str, str], rng: random.Random) -> list[Endpoint]:
    """The pages measured, each with a rotation of URLs so that caches see realistic variety."""
    names = rng.sample(seeded.model_names, min(50, len(seeded.model_names)))
    versions = rng.sample(seeded.version_ids, min(50, len(seeded.version_ids)))
    requests = rng.sample(seeded.request_ids, min(50, len(seeded.request_ids)))
    days = max(1, (seeded.last_ts - seeded.first_ts).days)
    windows = [seeded.first_ts + (seeded.last_ts - seeded.first_ts) * rng.random() for _ in range(50)]
    span = (seeded.last_ts - seeded.first_ts) / days
    api = {"Authorization": f"Token {auth['admin']}"}
    validator = {"Authorization": f"Token {auth['validator']}"}
    admin = {"Cookie": f"sessionid={auth['session']}"}

    def q(base: str, **params: Any) -> str:
        return f"{base}?{urlencode(params)}"

    return [
        Endpoint("api", "models: list", ["/api/v1/models/", "/api/v1/models/?risk_tier=high",
                                         "/api/v1/models/?business_unit=credit", "/api/v1/models/?offset=500"],
                 api, peer="search models"),
        Endpoint("api", "models: by tag", [q("/api/v1/models/", tag=f"team-{i}") for i in range(50)], api,
                 peer="search models by tag"),
        Endpoint("api", "models: one", [f"/api/v1/models/{n}/" for n in names], api, peer="get one model"),
        Endpoint("api", "versions of one model", [f"/api/v1/models/{n}/versions/" for n in names], api,
                 peer="versions of one model"),
        Endpoint("api", "versions: filtered",
                 ["/api/v1/versions/", "/api/v1/versions/?stage=production", "/api/v1/versions/?framework=xgboost",
                  "/api/v1/versions/?risk_tier=high&stage=none"] + [q("/api/v1/versions/", model=n) for n in names[:8]],
                 api),
        Endpoint("api", "versions: one", [f"/api/v1/versions/{v}/" for v in versions], api),
        Endpoint("api", "requests: pending", ["/api/v1/promotion-requests/?status=pending",
                                              "/api/v1/promotion-requests/?target_stage=production"], api),
        Endpoint("api", "requests: awaiting validator", ["/api/v1/promotion-requests/awaiting-me/"], validator),
        Endpoint("api", "requests: one", [f"/api/v1/promotion-requests/{r}/" for r in requests], api),
        Endpoint("api", "audit: latest", ["/api/v1/audit/entries/"], api),
        Endpoint("api", "audit: by object",
                 [q("/api/v1/audit/entries/", object_type="registry.modelversion", object_id=v) for v in versions],
                 api),
        Endpoint("api", "audit: by date",
                 [q("/api/v1/audit/entries/", since=w.isoformat(), until=(w + span).isoformat()) for w in windows],
                 api),
        Endpoint("api", "audit: one object's history",
                 [f"/api/v1/audit/entries/history/registry.modelversion/{v}/" for v in versions], api),
        # Issue 22: the inventory as of random instants of the seeded history, a page of models and one model.
        Endpoint("api", "inventory: as of", [q("/api/v1/inventory/", as_of=w.isoformat()) for w in windows[:25]]
                 + [q("/api/v1/inventory/", as_of=w.isoformat(), after=rng.randrange(len(seeded.model_names)))
                    for w in windows[25:]], api, target_ms=INVENTORY_TARGET_MS),
        Endpoint("api", "inventory: one model as of",
                 [q(f"/api/v1/inventory/{n}/", as_of=_after_registration(n, seeded, rng).isoformat()) for n in names],
                 api, target_ms=INVENTORY_TARGET_MS),
        Endpoint("admin", "admin: models", ["/admin/registry/registeredmodel/",
                                            "/admin/registry/registeredmodel/?risk_tier__exact=high"], admin),
        Endpoint("admin", "admin: versions", ["/admin/registry/modelversion/",
                                              "/admin/registry/modelversion/?stage__exact=production"], admin),
        Endpoint("admin", "admin: requests", ["/admin/governance/promotionrequest/?queue=all",
                                              "/admin/governance/promotionrequest/"], admin),
        Endpoint("admin", "admin: audit log",
                 ["/admin/audit/auditentry/", "/admin/audit/auditentry/?object_type=registry.modelversion"]
                 + [q("/admin/audit/auditentry/", object_type="registry.modelversion", object_id=v)
                    for v in versions[:8]], admin),
    ]


def make_auth() -> dict[str, str]:
    """An API token for the superuser and one for a validator; a logged-in admin session."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.test import Client

    from audit.context import audit_context, system_actor
    from governance.tokens import token_create

    users = get_user_model().objects
    with audit_context(actor=system_actor("scale benchmark"), channel="system"):
        _, admin_key = token_create(user=users.get(username="admin"), name="bench", lifetime=dt.timedelta(days=1))
        _, val_key = token_create(user=users.get(username="val0"), name="bench", lifetime=dt.timedelta(days=1))
        client = Client()
        client.force_login(users.get(username="admin"))
    return {"admin": admin_key, "validator": val_key, "session": client.cookies["sessionid"].value}


def free_port(avoid: set[int]) -> int:
    import socket

    for port in PORTS:
        if port in avoid:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SystemExit("no free port in 8100-8199")


def serve_ours(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """gunicorn as production runs it (config/gunicorn.conf.py: threaded workers with keep-alive like the
    peer's uvicorn, TCP_NODELAY on, which gunicorn sets), with the same worker count as the peer."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": SETTINGS, "DB_CONN_MAX_AGE": "600",
           "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": str(workers)}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "config" / "gunicorn.conf.py"),
         "config.wsgi:application"], cwd=ROOT, env=env)


def warm_up(base: str, endpoint: Endpoint) -> None:
    import urllib.request

    for path in endpoint.paths[:3]:
        req = urllib.request.Request(base + path, headers=endpoint.headers)  # noqa: S310 - loopback URL we built
        with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310
            response.read()


def measure(base: str, points: list[Endpoint], clients: list[int], seconds: float) -> None:
    for point in points:
        warm_up(base, point)
        for c in clients:
            point.results[c] = load.run(base, point.name, point.paths, point.headers, c, seconds)
            r = point.results[c]
            print(f"  {point.name:32} c={c}: {r.rps:8.1f} req/s  p95 {r.p95_ms:7.1f} ms"
                  f"  non-2xx {r.non_2xx}", file=sys.stderr, flush=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def other_benchmarks(scale: float) -> list[list[str]]:
    """Run the other benchmarks; each printed line with a figure becomes a row."""
    rows: list[list[str]] = []
    scaled = {"bench_verifier.py": ["--entries", str(max(1000, round(1_000_000 * scale)))],
              "bench_audit_scale.py": ["--entries", str(max(1000, round(1_000_000 * scale)))],
              "bench_reports.py": ["--rows", str(max(2000, round(50_000 * scale)))]}
    for script in OTHER_BENCHMARKS:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *scaled.get(script, [])],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        print(f"  {script}: exit {proc.returncode} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        name = script.removesuffix(".py")
        if proc.returncode != 0:
            rows.append([name, "FAILED: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:100]])
            continue
        rows.extend([name, line] for line in _figures(proc.stdout))
    return rows


def _figures(stdout: str) -> list[str]:
    """Lines of a benchmark's output as `measure: figures`; aligned tables (benchmarks.common.table: cells padded
    to the column's width, columns two spaces apart, a header line then a line of dashes) become
    `first cell: header value, ...`. A column is exactly the span of its run of dashes; a table ends at the first
    line that is not padded to the rule's full width with blanks between the columns."""
    lines = [x for x in stdout.splitlines() if x.strip()]
    out: list[str] = []
    i = 0
    while i < len(lines):
        rule = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        spans = [m.span() for m in re.finditer(r"-+", rule)]
        if len(spans) > 1 and set(rule) <= {"-", " "} and len(lines[i]) == len(rule) and _fits(lines[i], spans):
            header = _cells(lines[i], spans)
            i += 2
            while i < len(lines) and len(lines[i].rstrip()) <= len(rule) and _fits(lines[i], spans, row=True):
                values = _cells(lines[i], spans)
                name = values[0] if header[0] == "measure" else f"{header[0]} {values[0]}"
                out.append(f"{name}: " + ", ".join(f"{h} {v}" for h, v in zip(header[1:], values[1:], strict=True)
                                                   if v))
                i += 1
            continue
        out.append(lines[i].rstrip())
        i += 1
    return out


def _fits(line: str, spans: list[tuple[int, int]], row: bool = False) -> bool:
    """The line's characters between the columns are blank; a table row also reaches into its last column (the
    table pads every cell, so even a row whose last cells are empty is as long as the rule)."""
    gaps = [line[b:a] for (_, b), (a, _) in itertools.pairwise(spans)]
    first = line[:spans[0][1]].strip()
    return all(not g.strip() for g in gaps) and (not row or len(line) >= spans[-1][0]) and bool(first)


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    return [line[a:b].strip() for a, b in spans]


def machine() -> str:
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), platform.processor())
    mem = next((int(x.split()[1]) // 1024 for x in Path("/proc/meminfo").read_text().splitlines()
                if x.startswith("MemTotal")), 0)
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres") as conn:
        pg = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    wrk = subprocess.run([load.wrk_path(), "-v"], capture_output=True, text=True, check=False).stdout.split()[:2]
    return (f"{cpu}, {os.cpu_count()} cores, {mem:,} MB RAM; Linux {platform.release()}; Python "
            f"{platform.python_version()}; PostgreSQL {pg}; {' '.join(wrk)}")


def _ms(r: load.Result | None) -> str:
    return f"{r.p50_ms:.1f} / {r.p95_ms:.1f} / {r.p99_ms:.1f}" if r else ""


def table(points: list[Endpoint], peer: dict[str, dict[int, load.Result]], others: list[list[str]],
          clients: list[int]) -> str:
    header = ["section", "measure", "clients", "ours req/s", "ours p50 / p95 / p99 ms", "ours requests",
              "ours non-2xx", "MLflow endpoint", "MLflow req/s", "MLflow p50 / p95 / p99 ms", "MLflow non-2xx",
              "req/s ours/MLflow", "p95 MLflow/ours", "target"]
    rows: list[list[str]] = []
    for p in points:
        for c in clients:
            r = p.results[c]
            m = peer.get(p.peer or "", {}).get(c)
            limit = p.target_ms or (API_TARGET_MS if p.section == "api" else ADMIN_TARGET_MS)
            verdict = (f"p95 < {limit:.0f} ms: {'met' if r.p95_ms < limit else 'NOT met'}"
                       if c == max(clients) else "")
            rows.append([p.section, p.name, str(c), f"{r.rps:.1f}", _ms(r), str(r.requests),
                         str(r.non_2xx + r.socket_errors), p.peer or "", f"{m.rps:.1f}" if m else "", _ms(m),
                         str(m.non_2xx + m.socket_errors) if m else "",
                         f"{r.rps / m.rps:.1f}x" if m and m.rps else "",
                         f"{m.p95_ms / r.p95_ms:.1f}x" if m and r.p95_ms else "", verdict])
    for name, line in others:
        rows.append(["benchmark", f"{name}: {line}"] + [""] * (len(header) - 2))
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    fmt.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 models and 1,000,000 entries")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma separated")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (ours and MLflow's)")
    parser.add_argument("--no-peer", action="store_true", help="do not run MLflow")
    parser.add_argument("--skip-other-benchmarks", action="store_true")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--only", metavar="TEXT", help="measure only the endpoints whose name contains TEXT")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]

    print(f"machine: {machine()}", flush=True)
    url = scratch_database(DATABASE)
    setup_django(url, settings=SETTINGS)
    from django.conf import settings

    started = time.perf_counter()
    migrate()
    sizes = seed.Sizes.at(args.scale)
    seeded = seed.seed(sizes, Path(settings.MEDIA_ROOT))
    print(f"seeded in {seeded.seconds:.0f} s (migrations {time.perf_counter() - started - seeded.seconds:.0f} s): "
          f"{sizes.models:,} models, {sizes.versions:,} versions, {sizes.requests:,} requests, "
          f"{seeded.entries:,} audit entries", flush=True)
    from audit import history

    started = time.perf_counter()
    folded = history.catch_up()
    print(f"spans for 'as of' folded from {folded:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
    points = [p for p in endpoints(seeded, make_auth(), random.Random(args.seed))
              if args.only is None or args.only in p.name]
    from django.db import connections

    connections.close_all()

    port = free_port(set())
    server = serve_ours(url, port, args.workers)
    try:
        base = f"http://127.0.0.1:{port}"
        load.wait_until_up(base + "/admin/login/", server=server)
        measure(base, points, clients, args.duration)
    finally:
        stop(server)

    peer: dict[str, dict[int, load.Result]] = {}
    if not args.no_peer:
        from benchmarks.scale import mlflow_peer

        peer = mlflow_peer.run(sizes, seeded, clients=clients, seconds=args.duration, workers=args.workers,
                               port=free_port({port}), rng=random.Random(args.seed))
    others = [] if args.skip_other_benchmarks else other_benchmarks(args.scale)
    print(f"\nservers: {args.workers} workers each on loopback; ours gunicorn gthread (keep-alive, TCP_NODELAY), "
          f"MLflow `mlflow server` (uvicorn, keep-alive, TCP_NODELAY); wrk, {args.duration:.0f} s per measurement")
    print(table(points, peer, others, clients))
    print(f"targets at {max(clients)} clients: p95 < {API_TARGET_MS:.0f} ms for API pages "
          f"(< {INVENTORY_TARGET_MS:.0f} ms for the inventory as of an instant), "
          f"< {ADMIN_TARGET_MS:.0f} ms for admin change lists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
