"""The full evidence pack (bias + SHAP + performance + lineage PDFs) for a HistGradientBoosting model on 50,000 x 20
rows: with the artifact loaded and run in the sandbox (registry/sandbox/, as reports do) against the same work with the
artifact loaded in this process (as reports once did, and as only this benchmark still does), in one run; and,
with --against-bare, against the bare fairlearn, shap and scikit-learn calls doing the same computation.

Ours makes the charts and PDFs reports/builders.py makes, each report loading the skops file afresh (the sandbox:
one child per report). The lineage report's facts come from the database and the audit chain's verification
(measured by bench_verifier.py); here its PDF is rendered from a lineage of the usual shape, so its drawing and
layout are counted. Peak memory counts the sandbox's processes: this one, the zygote and the largest child.

    .venv/bin/python benchmarks/bench_reports.py [--rows 50000] [--repeat 2] [--against-bare]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import django
import numpy as np
import pandas as pd
import shap
import skops.io as sio
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score

from benchmarks.common import peak_rss_mb
from registry.sandbox import skops_types
from reports import charts, claims
from reports.bias import BiasThresholds, compute_bias
from reports.explain import compute_explanation
from reports.pdf.bias import render_bias
from reports.pdf.document import CoverInfo
from reports.pdf.explain import render_explain
from reports.pdf.lineage import render_lineage
from reports.pdf.performance import render_performance
from reports.performance import compute_performance, judge

N_EXPLAIN, BACKGROUND, SEED = 2000, 100, 1
N_BOOT = 20
PERFORMANCE_SECONDS: list[float] = []  # the performance report's share of each sandboxed pack, printed on its own


def data(rows: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"x{i}" for i in range(20)])
    sens = pd.DataFrame({"sex": rng.choice(["female", "male"], rows), "age group": rng.choice(
        ["under 25", "25 and over"], rows, p=[0.2, 0.8])})
    y = ((X["x0"] + 0.5 * X["x1"] + 0.3 * (sens["sex"] == "male") + rng.normal(size=rows)) > 0).astype(int)
    return X, y.to_numpy(), sens


def bare(model: HistGradientBoostingClassifier, X: pd.DataFrame, y: np.ndarray, sens: pd.DataFrame) -> None:
    """The same fairlearn and shap computations the report makes, with nothing around them."""
    pred, score = model.predict(X), model.predict_proba(X)[:, 1]
    ci = {"n_boot": N_BOOT, "ci_quantiles": [0.025, 0.975], "random_state": SEED}
    per_group = {"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "precision": lambda t, p: precision_score(t, p, zero_division=0), "accuracy": accuracy_score}
    for col in [sens["sex"], sens["age group"], sens["sex"] + " & " + sens["age group"]]:
        MetricFrame(metrics=per_group, y_true=y, y_pred=pred, sensitive_features=col, **ci)
        MetricFrame(metrics={"sr": selection_rate, "tpr": true_positive_rate}, y_true=y, y_pred=pred,
                    sensitive_features=col)
        for fn in (demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
                   equalized_odds_ratio):
            fn(y, pred, sensitive_features=col)
    const = np.zeros(len(y), dtype=int)
    MetricFrame(metrics={"accuracy": accuracy_score, "precision": lambda t, p: precision_score(t, p, zero_division=0),
                         "recall": lambda t, p: recall_score(t, p, zero_division=0)},
                y_true=y, y_pred=pred, sensitive_features=const, **ci)
    MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=y, y_pred=score, sensitive_features=const, **ci)
    draw = np.random.default_rng(SEED)
    # The performance report's metrics and calibration deciles on the rows and on every resample.
    for rows in [np.arange(len(y))] + [draw.integers(0, len(y), len(y)) for _ in range(N_BOOT)]:
        t, p, s = y[rows], pred[rows], score[rows]
        roc_auc_score(t, s)
        ks_2samp(s[t == 1], s[t == 0])
        log_loss(t, s)
        brier_score_loss(t, s)
        accuracy_score(t, p), precision_score(t, p, zero_division=0), recall_score(t, p, zero_division=0)
        calibration_curve(t, s, n_bins=10, strategy="quantile")
    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(X), N_EXPLAIN, replace=False)
    background = rng.choice(len(X), BACKGROUND, replace=False)
    # As the report explains: against its background sample (interventional).
    shap.TreeExplainer(model, data=X.iloc[background], feature_perturbation="interventional").shap_values(
        X.iloc[idx], check_additivity=False)


COVER = CoverInfo(model_name="bench", model_title="Benchmark", version=1, stage="none", risk_tier="high",
                  eu_ai_act_category="high", owner="bench", intended_use="benchmark", report_kind="bias", report_id=1,
                  generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), input_digests={}, metrics_sha256="0" * 64,
                  software={}, audit_head={"seq": 0, "hash": "0" * 64})
EXPLAIN: dict[str, Any] = {"seed": SEED, "background_size": BACKGROUND, "n_explain": N_EXPLAIN, "n_local": 4,
                           "n_stability": 20}


def _bias_pdf(X: pd.DataFrame, y: np.ndarray, sens: pd.DataFrame, pred: np.ndarray, score: np.ndarray | None) -> None:
    bias = compute_bias(y_true=y, y_pred=pred, y_score=score, sensitive=sens, thresholds=BiasThresholds(),
                        seed=SEED, n_boot=N_BOOT)
    rate_charts = {f"rates:{a['attribute']}": charts.group_rates(a, bias["thresholds"])
                   for a in bias["attributes"] + bias["intersections"]}
    render_bias(COVER, bias, rate_charts, [])


def _explain_pdf(metrics: dict[str, Any], arrays: Any) -> None:
    order = [arrays.features.index(g["feature"]) for g in metrics["global_importance"]]
    figs = {"importance": charts.importance_bar([arrays.features[i] for i in order],
                                                [float(np.abs(arrays.shap_values[:, i]).mean()) for i in order]),
            "beeswarm": charts.beeswarm(arrays.features, arrays.shap_values, arrays.values, order, SEED)}
    for i in order[:3]:
        figs[f"dependence:{arrays.features[i]}"] = charts.dependence(arrays.features[i], arrays.shap_values[:, i],
                                                                     arrays.values.iloc[:, i].tolist())
    for case in metrics["local"]:
        figs[f"waterfall:{case['row']}"] = charts.waterfall(case, arrays.base_value)
    render_explain(replace(COVER, report_kind="explainability"), metrics, figs, [])


def _performance_pdf(y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> None:
    performance = judge(compute_performance(y_true=y, y_pred=pred, y_score=score, seed=SEED, n_boot=N_BOOT),
                        {"roc_auc": {">=": 0.7}})
    performance["tolerance"] = 0.02
    performance["declared"] = claims.compare({"roc_auc": 0.9}, performance["metrics"], 0.02)
    render_performance(replace(COVER, report_kind="performance"), performance,
                       {"curves": charts.performance_curves(y, score, performance)}, [])


def in_process(path: Path, X: pd.DataFrame, y: np.ndarray, sens: pd.DataFrame) -> None:
    """The pack with the artifact deserialised in this process, once per report: what the sandbox replaced."""
    model = sio.load(path, trusted=skops_types.trusted_types())
    _bias_pdf(X, y, sens, model.predict(X), model.predict_proba(X)[:, 1])
    model = sio.load(path, trusted=skops_types.trusted_types())
    _explain_pdf(*compute_explanation(model=model, X=X, **EXPLAIN))
    model = sio.load(path, trusted=skops_types.trusted_types())
    _performance_pdf(y, model.predict(X), model.predict_proba(X)[:, 1])
    render_lineage(replace(COVER, report_kind="lineage"), _lineage(), {}, [])


CHILD_PEAK_KB = [0]


def sandboxed(path: Path, X: pd.DataFrame, y: np.ndarray, sens: pd.DataFrame) -> None:
    """The pack as reports make it: each report loads the artifact in a sandboxed child and runs it there."""
    from reports import loading  # after django.setup(): it reads the sandbox's limits from the settings

    with loading.open_model(path, "skops") as model:
        pred, score = loading.predict(model, X)
    _bias_pdf(X, y, sens, pred, score)
    CHILD_PEAK_KB[0] = max(CHILD_PEAK_KB[0], int(model.session.usage.get("maxrss_kb") or 0))
    with loading.open_model(path, "skops") as model:
        metrics, arrays = loading.explain(model, X, **EXPLAIN)
    CHILD_PEAK_KB[0] = max(CHILD_PEAK_KB[0], int(model.session.usage.get("maxrss_kb") or 0))
    _explain_pdf(metrics, arrays)
    started = time.perf_counter()
    with loading.open_model(path, "skops") as model:
        pred, score = loading.predict(model, X)
    assert score is not None
    _performance_pdf(y, pred, score)
    PERFORMANCE_SECONDS.append(time.perf_counter() - started)
    render_lineage(replace(COVER, report_kind="lineage"), _lineage(), {}, [])


def _lineage() -> dict:
    """A lineage of the shape reports.lineage.build_lineage returns: two datasets, a parent, four reports,
    a promotion with two approvals and its stage change."""
    digest = "ab" * 32
    schema = [{"name": f"x{i}", "type": "float64"} for i in range(20)] + [{"name": "sex", "type": "object"}]
    entry = {"ts": "2026-01-01T00:00:00Z", "hash": digest}
    return {
        "datasets": [{"role": role, "name": "synthetic", "version": 1, "sha256": digest, "rows": 50_000,
                      "schema": schema, "provenance": "generated", "licence": "CC0"}
                     for role in ("training", "evaluation")],
        "model_version": {"id": 2, "version": 2, "artifact_sha256": digest, "artifact_size": 1_000_000,
                          "artifact_format": "skops", "framework": "scikit-learn", "framework_version": "1.9",
                          "code_repository": "git@example:model.git", "code_commit": "0" * 40,
                          "python_version": "3.11", "packages": {"scikit-learn": "1.9", "numpy": "2.4"},
                          "hyperparameters": {"max_iter": 100, "learning_rate": 0.1}},
        "parents": [{"version": 1, "artifact_sha256": digest}],
        "reports": [{"id": i, "kind": k, "verdict": "pass", "pdf_sha256": digest, "json_sha256": digest}
                    for i, k in enumerate(("bias", "explainability", "performance", "lineage"), 1)],
        "metric_claims": {"performance_report": 3, "tolerance": 0.02, "metrics": claims.compare(
            {"roc_auc": 0.9}, {"roc_auc": {"value": 0.87}, "accuracy": {"value": 0.8}}, 0.02)},
        "promotion_requests": [{"id": 1, "target_stage": "production", "status": "approved", "seq": 10,
                                "hash": digest}],
        "approvals": [{"request": 1, "who": who, "role": role, "decision": "approve", "when": entry["ts"],
                       "comment": "", "artifact_sha256": digest, "lapse_reason": "", "seq": 11 + i, "hash": digest,
                       "evidence_digests": {k: {"report_id": n, "pdf_sha256": digest, "json_sha256": digest,
                                                "verdict": "pass"}
                                            for n, k in enumerate(("bias", "explainability"), 1)}}
                      for i, (who, role) in enumerate((("val", "model validator"), ("risk", "risk officer")))],
        "stage_changes": [{"seq": 13, "hash": digest, "ts": entry["ts"], "old": "staging", "new": "production",
                           "request": 1}],
        "audit_entries": [{"seq": s, "action": "registry.modelversion.update", **entry, "inclusion_proof": None,
                           "object": {"type": "registry.modelversion", "id": "2", "repr": "synthetic v2"}}
                          for s in range(1, 14)],
        "chain_verification": {"ok": True, "head_seq": 13, "rule": None, "failed_seq": None},
        "checkpoint": None,
    }


def _timed(fn: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _zygote_peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--n-boot", type=int, default=N_BOOT)
    parser.add_argument("--repeat", type=int, default=2, help="alternate the two variants this many times")
    parser.add_argument("--against-bare", action="store_true", help="also time the bare fairlearn + shap calls")
    args = parser.parse_args()
    globals()["N_BOOT"] = args.n_boot
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from registry.sandbox import runner
    from reports import loading

    X, y, sens = data(args.rows)
    model = HistGradientBoostingClassifier(random_state=SEED).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(sio.dumps(model))
        cold = _timed(runner.zygote)
        # A worker's zygote is started once and imports the report jobs (shap) at its first report.
        warm = _timed(lambda: loading.open_model(path, "skops").close())
        ours, theirs = [], []
        for _ in range(args.repeat):
            theirs.append(_timed(in_process, path, X, y, sens))
            ours.append(_timed(sandboxed, path, X, y, sens))
        isolation = loading.open_model(path, "skops").isolation
    sandbox_s, in_process_s = min(ours), min(theirs)
    parent, zyg, child = peak_rss_mb(), _zygote_peak_mb(runner.zygote().process.pid), CHILD_PEAK_KB[0] / 1024
    print(f"rows {args.rows:,} x 20, n_boot {N_BOOT}, SHAP rows {N_EXPLAIN}, best of {args.repeat}")
    print(f"evidence pack (bias + SHAP + performance + lineage PDFs), artifact in the sandbox: {sandbox_s:.2f} s; "
          f"loaded in this process: {in_process_s:.2f} s; ratio {sandbox_s / in_process_s:.3f} "
          f"(runs: sandbox {', '.join(f'{t:.2f}' for t in ours)}; in-process {', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"of which the performance report (sandboxed load and predict, {N_BOOT} resamples, PDF): "
          f"{min(PERFORMANCE_SECONDS):.2f} s")
    print(f"once per worker process: zygote start {cold:.2f} s, first report's job imports {warm:.2f} s")
    print(f"peak RSS: this process {parent:.0f} MB + zygote {zyg:.0f} MB + largest child {child:.0f} MB "
          f"= {parent + zyg + child:.0f} MB (children share the zygote's pages: an upper bound)")
    print("isolation: " + "; ".join(f"{k}: {v}" for k, v in isolation.items()))
    print("targets: ratio <= 1.10, pack <= 20 s, <= 1.5 GB")
    if args.against_bare:
        bare_s = _timed(bare, model, X, y, sens)
        print(f"bare fairlearn + shap + scikit-learn: {bare_s:.1f} s; the sandboxed pack is "
              f"{sandbox_s / bare_s:.2f}x of it (target <= 1.3)")


if __name__ == "__main__":
    main()
