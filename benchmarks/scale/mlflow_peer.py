"""The peer: MLflow's model registry (`mlflow server`, PostgreSQL backend store) seeded like ours and measured alike.

MLflow is installed into its own virtualenv under var/ (it is not a dependency of modelgov). A few rows are
made through its REST API so the bulk SQL copies exactly the shape MLflow itself writes; then the same
models and versions as ours are inserted with `generate_series`, each column taken from those rows except
names, versions, times and tags.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.common import scratch_database
from benchmarks.scale import load, seed

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "var" / "mlflow-venv"
DATABASE = "h_scale_mlflow"
SHAPE = "shape-model"


def install() -> Path:
    mlflow = VENV / "bin" / "mlflow"
    if not mlflow.exists():
        print("  installing mlflow into var/mlflow-venv", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "mlflow", "psycopg2-binary"], check=True)
    return mlflow


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,  # noqa: S310 - loopback URL we built
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310 - loopback URL we built
        return dict(json.loads(response.read() or b"{}"))


def _shape_rows(base: str) -> None:
    """What MLflow writes for one model with two tags and its versions, made through its own API."""
    _call(base, "POST", "/api/2.0/mlflow/registered-models/create",
          {"name": SHAPE, "description": "Seeded for the scale benchmark",
           "tags": [{"key": "team", "value": "team-0"}, {"key": "unit", "value": "retail"}]})
    for _ in range(2):
        _call(base, "POST", "/api/2.0/mlflow/model-versions/create",
              {"name": SHAPE, "source": "s3://bench/artifacts/model", "description": "seeded",
               "tags": [{"key": "framework", "value": "scikit-learn"}]})


def _copy_shape(conn: Any, table: str, where: str, replace: dict[str, str], series: str) -> None:
    """Insert one row per element of `series`, each a copy of the shape row with some columns replaced."""
    cols = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table]).fetchall()]
    select = ", ".join(replace.get(c, f't."{c}"') for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    conn.execute(f'INSERT INTO {table} ({names}) SELECT {select} FROM {series}, '
                 f'(SELECT * FROM {table} WHERE {where} LIMIT 1) t')


def _seed(database_url: str, sizes: seed.Sizes) -> None:
    import psycopg

    models = sizes.models
    name = "'model-' || lpad(i::text, 5, '0')"
    per = seed.VERSIONS_PER_MODEL
    with psycopg.connect(database_url, autocommit=False) as conn:
        _copy_shape(conn, "registered_models", f"name = '{SHAPE}'",
                    {"name": name, "creation_time": "t.creation_time + i", "last_updated_time": "t.creation_time + i"},
                    f"generate_series(0, {models - 1}) i")
        _copy_shape(conn, "registered_model_tags", f"name = '{SHAPE}' AND key = 'team'",
                    {"name": name, "value": "'team-' || (i % 50)"}, f"generate_series(0, {models - 1}) i")
        _copy_shape(conn, "registered_model_tags", f"name = '{SHAPE}' AND key = 'unit'",
                    {"name": name, "value": f"(ARRAY{list(seed.UNITS)!r})[1 + i % {len(seed.UNITS)}]"},
                    f"generate_series(0, {models - 1}) i")
        series = f"generate_series(0, {models - 1}) i, generate_series(1, {per}) v"
        _copy_shape(conn, "model_versions", f"name = '{SHAPE}' AND version = 1",
                    {"name": name, "version": "v", "creation_time": "t.creation_time + i * 100 + v",
                     "last_updated_time": "t.creation_time + i * 100 + v"}, series)
        _copy_shape(conn, "model_version_tags", f"name = '{SHAPE}' AND version = 1",
                    {"name": name, "version": "v"}, series)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE)")  # measured at rest, as ours is (seed.seed)


def run(sizes: seed.Sizes, seeded: seed.Seeded, *, clients: list[int], seconds: float, workers: int, port: int,
        rng: random.Random) -> dict[str, dict[int, load.Result]]:
    """Serve, seed and measure MLflow; results by endpoint name and client count."""
    mlflow = install()
    url = scratch_database(DATABASE)
    artifacts = ROOT / "var" / "scale" / "mlflow-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    store = url.replace("postgres://", "postgresql+psycopg2://")
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    log = (ROOT / "var" / "scale" / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", store,
         "--default-artifact-root", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        load.wait_until_up(base + "/health", timeout=300, server=server)
        _shape_rows(base)
        _seed(url, sizes)
        names = rng.sample(seeded.model_names, min(50, len(seeded.model_names)))
        api = "/api/2.0/mlflow"
        points = {
            "search models": [f"{api}/registered-models/search?max_results=50"],
            "search models by tag": [f"{api}/registered-models/search?max_results=50&filter="
                                     + quote(f"tags.team = 'team-{i}'") for i in range(50)],
            "get one model": [f"{api}/registered-models/get?name={n}" for n in names],
            "versions of one model": [f"{api}/model-versions/search?max_results=50&filter=" + quote(f"name = '{n}'")
                                      for n in names],
        }
        results: dict[str, dict[int, load.Result]] = {}
        for point, paths in points.items():
            for path in paths[:3]:
                urllib.request.urlopen(base + path, timeout=60).read()  # noqa: S310 - loopback
            results[point] = {}
            for c in clients:
                r = load.run(base, point, paths, {}, c, seconds)
                results[point][c] = r
                print(f"  MLflow {point:25} c={c}: {r.rps:8.1f} req/s  p95 {r.p95_ms:7.1f} ms"
                      f"  non-2xx {r.non_2xx}", file=sys.stderr, flush=True)
        return results
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

