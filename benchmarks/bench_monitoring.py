"""A production batch of 1,000,000 rows x 20 features (15 numeric, 5 categorical, plus the model's score and a row
id) ingested, hashed and measured against a 50,000-row baseline, with a drift in two features (x0 shifted,
c0 reweighted); and, in the same run, Evidently's data drift preset on the same files as the peer.

Ours, the product's own services on a fresh SQLite database and file storage, timed as one piece: the batch sent
to `monitoring.batches.batch_ingest` (streamed to storage, each chunk's types and ids checked, every row rendered
and hashed into its RFC 6962 leaf, the root recorded in the batch's entry), then its evaluation measured by
`monitoring.evaluate.evaluation_run` (the batch read back from storage in chunks; PSI and KS per numeric feature,
PSI, chi-square and Jensen-Shannon per categorical one, the score's PSI against the validated performance report's
calibration table, selection rates by group against the validated bias report; the plan's colours and breaches).
Not timed: writing the files, and the world the batch arrives in (a model version trained on the baseline, the
baseline registered as its evaluation dataset, its performance and bias reports, its promotion). Peak memory is
this process's (VmHWM), reset after that setup.

The peer runs in its own interpreter, never in the project's venv: Evidently 0.7.23 fails to import under
pandas 3 (it imports a pandas internal that 3 removed) though its requirements allow it, so its venv is told
pandas<3: `python3 -m venv /work/evidently-venv && /work/evidently-venv/bin/pip install evidently==0.7.23 "pandas<3"`.
It runs benchmarks/peer_evidently.py, reading the same two CSV files whole; its wall time and peak RSS are measured
from here (RUSAGE_CHILDREN).

    .venv/bin/python benchmarks/bench_monitoring.py [--rows 1000000] [--baseline-rows 50000]
        [--chunk-rows 100000] [--part-rows 250000] [--workers 2]
        [--peer-python /work/evidently-venv/bin/python | --no-peer]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks.common import peak_rss_mb

SEED = 23
NUMERIC = [f"x{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
LEVELS = {c: [f"{c}_level_{j}" for j in range(3 + 3 * i)] for i, c in enumerate(CATEGORICAL)}
DTYPES: dict[str, Any] = {"row_id": "int64", **dict.fromkeys(NUMERIC + ["score"], "float64"),
                          **dict.fromkeys(CATEGORICAL, "str")}
DEFAULT_PEER = Path("/work/evidently-venv/bin/python")
TARGET_SECONDS, TARGET_MB = 30.0, 1024.0


def make_chunk(rng: np.random.Generator, start: int, n: int, drifted: bool) -> pd.DataFrame:
    """Rows [start, start + n): x0-x9 full-precision normals, x10-x14 amounts to the cent, five categories of 3 to
    15 levels, a score in [0, 1]. A drifted batch has x0 shifted by half a standard deviation and c0 reweighted."""
    frame: dict[str, Any] = {"row_id": np.arange(start, start + n)}
    for i, c in enumerate(NUMERIC):
        if i < 10:
            frame[c] = rng.normal(0.5 if (drifted and i == 0) else 0.0, 1 + i / 10, n)
        else:
            frame[c] = np.round(rng.lognormal(6 + i / 10, 1, n), 2)
    frame["x3"][rng.random(n) < 0.01] = np.nan
    for i, c in enumerate(CATEGORICAL):
        levels = LEVELS[c]
        weights = np.linspace(1, 2, len(levels))
        if drifted and i == 0:
            weights = weights[::-1] ** 2
        frame[c] = rng.choice(np.array(levels, dtype=object), n, p=weights / weights.sum())
    frame["c2"][rng.random(n) < 0.01] = None
    frame["score"] = rng.beta(2, 5, n)
    return pd.DataFrame(frame)


def write_csv(path: Path, n: int, drifted: bool, seed: int, chunk_rows: int) -> None:
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk_rows):
        make_chunk(rng, start, min(chunk_rows, n - start), drifted).to_csv(
            path, mode="a" if start else "w", header=not start, index=False)


def read_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # pandas 3 parses each float as Python's float() does (its float_precision option is deprecated), so a
    # row's rendering (repr) is the text the file holds for it when the file was written with repr.
    yield from pd.read_csv(path, dtype=DTYPES, chunksize=chunk_rows)


def _world(baseline: Path, tmp: Path) -> tuple[Any, Any]:
    """A model trained on the baseline, registered with the baseline as its evaluation dataset, its performance and
    bias reports measured there, promoted to production: what a batch arrives in."""
    import skops.io as sio
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from audit import writer
    from audit.context import audit_context, system_actor, user_actor
    from audit.format.jcs import digest_of
    from registry.services.dataset import dataset_create, dataset_version_create
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create, model_version_set_stage
    from reports.bias import BiasThresholds, compute_bias
    from reports.loading import sensitive_frame
    from reports.models import Report
    from reports.performance import compute_performance, judge
    from reports.services import report_succeed

    call_command("migrate", verbosity=0, interactive=False)
    base = pd.read_csv(baseline, dtype=DTYPES)
    labels = (np.random.default_rng(SEED).random(len(base)) < base["score"]).astype(int)
    labelled = base.drop(columns=["row_id"]).assign(label=labels)
    sample = labelled.sample(n=min(5000, len(labelled)), random_state=SEED).fillna({"x3": 0.0, "c2": "none"})
    features = NUMERIC + CATEGORICAL
    model = Pipeline([("pre", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
                                                remainder="passthrough")),
                      ("lr", LogisticRegression(max_iter=200))]).fit(sample[features], sample["label"])
    with audit_context(actor=system_actor("benchmark"), channel="system"):
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    with audit_context(actor=user_actor(user), channel="system"):
        data = dataset_create(by=user, name="baseline")
        path = tmp / "evaluation.csv"
        labelled[["label", *features]].to_csv(path, index=False)
        with path.open("rb") as fh:
            dataset = dataset_version_create(dataset=data, by=user, file=fh, target_column="label",
                                             sensitive_columns=["c1"])
        registered = registered_model_create(by=user, name="bench", title="Benchmark", risk_tier="high")
        version = model_version_create(model=registered, by=user, artifact=io.BytesIO(sio.dumps(model)),
                                       artifact_format="skops", evaluation_datasets=[dataset])
    score = base["score"].to_numpy()
    pred = (score >= 0.5).astype(int)
    performance = judge(compute_performance(y_true=labels, y_pred=pred, y_score=score, seed=0, n_boot=0), {})
    bias = compute_bias(y_true=labels, y_pred=pred, y_score=score, sensitive=sensitive_frame(base, dataset),
                        thresholds=BiasThresholds.from_dict(None), seed=0, n_boot=0)
    with audit_context(actor=system_actor("benchmark"), channel="task"):
        for kind, metrics in (("performance", performance), ("bias", bias)):
            report = Report(version=version, kind=kind, evaluation_dataset=dataset,
                            inputs={"artifact_sha256": version.artifact_sha256,
                                    "evaluation_dataset_sha256": dataset.sha256})
            writer.save(report)
            report_succeed(report_id=report.pk, metrics=metrics, json_name="", json_sha256=digest_of(metrics),
                           pdf_name="", pdf_sha256="0" * 64)
        with writer.atomic(), writer.deciding():  # set-up standing in for an approved request
            model_version_set_stage(version=version, stage="production", promotion_request_id=None)
    version.refresh_from_db()
    return user, version


def ours(batch: Path, user: Any, version: Any) -> dict[str, Any]:
    """Ingest, hash and measure through the services; seconds per phase."""
    from audit.context import audit_context, system_actor, user_actor
    from monitoring.batches import batch_ingest
    from monitoring.evaluate import evaluation_run
    from monitoring.models import Evaluation
    from monitoring.signals import evaluation_queued

    # The evaluation is queued at the ingest's commit; here it is measured next, in this process, as a worker would
    # (the dispatch is held back during the ingest, so that the two phases are timed apart).
    evaluation_queued.disconnect(dispatch_uid="monitoring-dispatch")
    started = time.perf_counter()
    with audit_context(actor=user_actor(user), channel="system"), batch.open("rb") as fh:
        made = batch_ingest(version=version, by=user, file=fh)
    ingested = time.perf_counter()
    evaluation = Evaluation.objects.get(batch=made)
    with audit_context(actor=system_actor("benchmark worker"), channel="task"):
        done = evaluation_run(evaluation_id=evaluation.pk)
    finished = time.perf_counter()
    if done.status != "succeeded":
        raise SystemExit(f"the evaluation failed: {done.error}")
    return {"seconds": {"ingest": ingested - started, "measure": finished - ingested, "total": finished - started},
            "rows": made.row_count, "root": made.merkle_root, "colour": done.colour,
            "results": done.results["features"], "findings": done.results["findings"]}


def in_workers(made: Any, version: Any, workers: int) -> dict[str, Any]:
    """The same batch measured again, its parts shared by `workers` processes forked from this one (each as a
    worker would run its parts: `evaluation_part_run`, the last part merging); wall seconds from the split to the
    finished evaluation, and the workers' peak RSS."""
    from django.db import connections

    from audit.context import audit_context, system_actor
    from monitoring import parts
    from monitoring.evaluate import evaluation_part_run
    from monitoring.models import Evaluation
    from monitoring.services import evaluation_queue

    with audit_context(actor=system_actor("benchmark"), channel="task"):
        evaluation = evaluation_queue(version=version, batch=made)
        started = time.perf_counter()
        made_parts = parts.split(evaluation)
    connections.close_all()
    children = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: its share of the parts, then out without running the parent's exit handlers
            code = 0
            try:
                with audit_context(actor=system_actor(f"benchmark worker {w}"), channel="task"):
                    for part in made_parts[w::workers]:
                        evaluation_part_run(part_id=part.pk)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            os._exit(code)
        children.append(pid)
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    wall = time.perf_counter() - started
    done = Evaluation.objects.get(pk=evaluation.pk)
    if failed or done.status != "succeeded":
        raise SystemExit(f"the evaluation in parts failed: {done.error or failed}")
    return {"seconds": wall, "parts": len(made_parts), "workers": workers, "colour": done.colour,
            "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def peer(python: Path, baseline: Path, batch: Path, tmp: Path) -> dict[str, Any]:
    schema = tmp / "schema.json"
    schema.write_text(json.dumps({"id": "row_id", "numeric": NUMERIC + ["score"], "categorical": CATEGORICAL}))
    script = Path(__file__).with_name("peer_evidently.py")
    started = time.perf_counter()
    done = subprocess.run([str(python), str(script), str(baseline), str(batch), str(schema)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"the peer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_ours(run: dict[str, Any], peak: float) -> None:
    s = run["seconds"]
    print(f"ours (CSV through the services): {s['total']:.2f} s = ingested, checked and hashed {s['ingest']:.2f} s, "
          f"measured and judged {s['measure']:.2f} s; peak RSS {peak:.0f} MB")
    print(f"root of {run['rows']:,} leaves: {run['root']}; the evaluation: {run['colour']}, worst finding "
          + (f"{run['findings'][0]['metric']} of {run['findings'][0]['subject']}" if run["findings"] else "none"))
    for c in NUMERIC:
        r = run["results"][c]
        print(f"  {c:6} psi {_fmt(r['psi'])}  ks {_fmt(r['ks'])}  p {_fmt(r['ks_pvalue'], 3)}  "
              f"mean shift {_fmt(r['mean_shift'])}  missing {r['missing']}")
    for c in CATEGORICAL:
        r = run["results"][c]
        print(f"  {c:6} psi {_fmt(r['psi'])}  chi2 {_fmt(r['chi2'], 1)}  p {_fmt(r['chi2_pvalue'], 3)}  "
              f"two-sample chi2 {_fmt(r['chi2_two_samples'], 1)}  p {_fmt(r['chi2_two_samples_pvalue'], 3)}  "
              f"js {_fmt(r['js'])}  unseen {r['unseen']}  missing {r['missing']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER if DEFAULT_PEER.exists() else None)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--part-rows", type=int, default=250_000, help="MONITORING_PART_ROWS: rows per part")
    parser.add_argument("--workers", type=int, default=2, help="processes sharing the parts in the second run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        baseline, batch = tmp / "baseline.csv", tmp / "batch.csv"
        write_csv(baseline, args.baseline_rows, drifted=False, seed=SEED, chunk_rows=args.chunk_rows)
        write_csv(batch, args.rows, drifted=True, seed=SEED + 1, chunk_rows=args.chunk_rows)
        # The files' writing is not measured: forget its peak (Linux: reset VmHWM), so the figure is the pipeline's.
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            print("note: could not reset the peak RSS; it includes writing the files")
        print(f"batch {args.rows:,} rows x 20 features (+ score, row id), {batch.stat().st_size / 2**20:.0f} MB CSV; "
              f"baseline {args.baseline_rows:,} rows; chunks of {args.chunk_rows:,}")
        os.environ.update({"DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3", "MODELGOV_TEST_MEDIA": f"{tmp}/media",
                           "DJANGO_SETTINGS_MODULE": "config.settings.test",
                           "MONITORING_MAX_BATCH_BYTES": str(batch.stat().st_size + 1),
                           "MONITORING_PART_ROWS": str(args.part_rows),
                           "REGISTRY_MAX_DATASET_BYTES": str(baseline.stat().st_size + 2**20)})
        import django

        django.setup()
        user, version = _world(baseline, tmp)
        with contextlib.suppress(OSError):  # the setup's peak is not the pipeline's (Linux: reset VmHWM)
            Path("/proc/self/clear_refs").write_text("5")
        run = ours(batch, user, version)
        peak = peak_rss_mb()
        report_ours(run, peak)
        print(f"targets: ours <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB: "
              f"{'met' if run['seconds']['total'] <= TARGET_SECONDS and peak <= TARGET_MB else 'NOT met'}")
        run["peak_mb"] = peak
        from monitoring.models import Batch

        shared = in_workers(Batch.objects.get(version=version), version, args.workers)
        print(f"the same batch measured again in {shared['parts']} parts by {shared['workers']} worker processes: "
              f"{shared['seconds']:.2f} s from the split to the finished evaluation ({shared['colour']}), against "
              f"{run['seconds']['measure']:.2f} s in one process: ratio "
              f"{shared['seconds'] / run['seconds']['measure']:.2f}; workers' peak RSS "
              f"{shared['children_peak_mb']:.0f} MB each at most")
        run["in_workers"] = shared
        if args.no_peer or args.peer_python is None:
            print(f"peer: skipped ({'--no-peer' if args.no_peer else f'no {DEFAULT_PEER}; pass --peer-python'})")
            return run
        theirs = peer(args.peer_python, baseline, batch, tmp)
        drifted = sorted(c for c, v in theirs["columns"].items() if v["score"] >= v["threshold"])
        methods = sorted({v["method"] for v in theirs["columns"].values()})
        print(f"peer: Evidently {theirs['version']} DataDriftPreset (pandas {theirs['pandas']}): "
              f"{theirs['wall_s']:.2f} s wall (read {theirs['read_s']:.2f} s, report {theirs['report_s']:.2f} s), "
              f"peak RSS {theirs['children_peak_mb']:.0f} MB; methods: {', '.join(methods)}; "
              f"drifted: {', '.join(drifted)} ({theirs['drifted_count']:.0f} columns)")
        print(f"ratio ours/theirs: time {run['seconds']['total'] / theirs['wall_s']:.2f}, "
              f"memory {peak / theirs['children_peak_mb']:.2f}")
        run["peer"] = theirs
        return run


if __name__ == "__main__":
    main()
