"""A production batch of 1,000,000 rows x 20 features (15 numeric, 5 categorical, plus the model's score and a row
id) ingested, hashed and measured against a 50,000-row baseline, with a drift in two features (x0 shifted,
c0 reweighted); and, in the same run, Evidently's data drift preset on the same files as the peer.

Ours, timed as one piece: the baseline CSV read and profiled (monitoring.drift), the batch CSV read in chunks of
100,000 rows with pandas, each chunk's rows rendered and hashed into RFC 6962 leaves and folded into the batch's
root (monitoring.rows), and every column measured (PSI and KS per numeric feature, PSI, chi-square and
Jensen-Shannon per categorical one, PSI and mean shift of the score against a calibration table). The files are
written first, a chunk at a time, and not timed. Peak memory is this process's (VmHWM).

The peer runs in its own interpreter, never in the project's venv: Evidently 0.7.23 fails to import under
pandas 3 (it imports a pandas internal that 3 removed) though its requirements allow it, so its venv is told
pandas<3: `python3 -m venv /work/evidently-venv && /work/evidently-venv/bin/pip install evidently==0.7.23 "pandas<3"`.
It runs benchmarks/peer_evidently.py, reading the same two CSV files whole; its wall time and peak RSS are measured
from here (RUSAGE_CHILDREN).

    .venv/bin/python benchmarks/bench_monitoring.py [--rows 1000000] [--baseline-rows 50000]
        [--chunk-rows 100000] [--peer-python /work/evidently-venv/bin/python | --no-peer]
"""

from __future__ import annotations

import argparse
import json
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

from audit.format.rfc6962 import CompactRange
from benchmarks.common import peak_rss_mb
from monitoring import drift, rows
from reports.performance import compute_performance

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


def baseline_profiles(path: Path) -> dict[str, Any]:
    """Each feature's profile from the baseline, and the score's from a calibration table made on it (with labels
    drawn to match the score: the validated report's table)."""
    base = pd.read_csv(path, dtype=DTYPES)
    profiles: dict[str, Any] = {c: drift.numeric_profile(base[c]) for c in NUMERIC}
    profiles |= {c: drift.categorical_profile(base[c]) for c in CATEGORICAL}
    score = base["score"].to_numpy()
    labels = (np.random.default_rng(SEED).random(len(score)) < score).astype(int)
    table = compute_performance(y_true=labels, y_pred=(score > 0.5).astype(int), y_score=score, seed=0,
                                n_boot=0)["calibration"]["bins"]
    profiles["score"] = drift.score_profile(table)
    return profiles


def ours(baseline: Path, batch: Path, chunk_rows: int) -> dict[str, Any]:
    """Read, hash and measure; seconds per phase."""
    seconds = dict.fromkeys(("baseline", "read", "hash", "drift"), 0.0)
    started = time.perf_counter()
    profiles = baseline_profiles(baseline)
    accumulators = {c: p.accumulator() for c, p in profiles.items()}
    seconds["baseline"] = time.perf_counter() - started
    tree = CompactRange()
    mark = time.perf_counter()
    for chunk in read_chunks(batch, chunk_rows):
        now = time.perf_counter()
        seconds["read"] += now - mark
        rows.extend(tree, rows.leaf_hashes(rows.render_lines(chunk)))
        mark, now = now, time.perf_counter()
        seconds["hash"] += now - mark
        for column, accumulator in accumulators.items():
            accumulator.add(chunk[column])
        mark = time.perf_counter()
        seconds["drift"] += mark - now
    results = {c: a.result() for c, a in accumulators.items()}
    seconds["total"] = time.perf_counter() - started
    return {"seconds": seconds, "rows": tree.size, "root": tree.root().hex(), "results": results}


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
    print(f"ours (CSV, pandas chunks): {s['total']:.2f} s = baseline read + profiled {s['baseline']:.2f} s, batch "
          f"read {s['read']:.2f} s, rows rendered + hashed + root {s['hash']:.2f} s, drift {s['drift']:.2f} s; "
          f"peak RSS {peak:.0f} MB")
    print(f"root of {run['rows']:,} leaves: {run['root']}")
    for c in NUMERIC + ["score"]:
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
        run = ours(baseline, batch, args.chunk_rows)
        peak = peak_rss_mb()
        report_ours(run, peak)
        print("Parquet: not measured (pyarrow is not installed in the project's environment)")
        print(f"targets: ours <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB: "
              f"{'met' if run['seconds']['total'] <= TARGET_SECONDS and peak <= TARGET_MB else 'NOT met'}")
        run["peak_mb"] = peak
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
