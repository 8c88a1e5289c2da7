"""The full evidence pack (bias + SHAP + performance + lineage PDFs) for a HistGradientBoosting model on
50,000 x 20 rows, against the bare fairlearn, shap and scikit-learn calls doing the same computation, in one run.

Ours makes the charts and PDFs reports/builders.py makes. The lineage report's facts come from the
database and the audit chain's verification (measured by bench_verifier.py); here its PDF is rendered
from a lineage of the usual shape, so its drawing and layout are counted.

    .venv/bin/python benchmarks/bench_reports.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import shap
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
PERFORMANCE_SECONDS: list[float] = []  # the performance report's share of the pack, printed on its own


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


def full(model: HistGradientBoostingClassifier, X: pd.DataFrame, y: np.ndarray, sens: pd.DataFrame) -> None:
    pred = model.predict(X)
    bias = compute_bias(y_true=y, y_pred=pred, y_score=model.predict_proba(X)[:, 1], sensitive=sens,
                        thresholds=BiasThresholds(), seed=SEED, n_boot=N_BOOT)
    cover = CoverInfo(model_name="bench", model_title="Benchmark", version=1, stage="none", risk_tier="high",
                      eu_ai_act_category="high", owner="bench", intended_use="benchmark", report_kind="bias",
                      report_id=1, generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), input_digests={},
                      metrics_sha256="0" * 64, software={}, audit_head={"seq": 0, "hash": "0" * 64})
    rate_charts = {f"rates:{a['attribute']}": charts.group_rates(a, bias["thresholds"])
                   for a in bias["attributes"] + bias["intersections"]}
    render_bias(cover, bias, rate_charts, [])
    metrics, arrays = compute_explanation(model=model, X=X, seed=SEED, background_size=BACKGROUND,
                                          n_explain=N_EXPLAIN, n_local=4, n_stability=20)
    order = [arrays.features.index(g["feature"]) for g in metrics["global_importance"]]
    figs = {"importance": charts.importance_bar([arrays.features[i] for i in order],
                                                [float(np.abs(arrays.shap_values[:, i]).mean()) for i in order]),
            "beeswarm": charts.beeswarm(arrays.features, arrays.shap_values, arrays.values, order, SEED)}
    for i in order[:3]:
        figs[f"dependence:{arrays.features[i]}"] = charts.dependence(arrays.features[i], arrays.shap_values[:, i],
                                                                     arrays.values.iloc[:, i].tolist())
    for case in metrics["local"]:
        figs[f"waterfall:{case['row']}"] = charts.waterfall(case, arrays.base_value)
    render_explain(replace(cover, report_kind="explainability"), metrics, figs, [])
    started = time.perf_counter()
    score = model.predict_proba(X)[:, 1]
    performance = judge(compute_performance(y_true=y, y_pred=pred, y_score=score, seed=SEED, n_boot=N_BOOT),
                        {"roc_auc": {">=": 0.7}})
    performance["tolerance"] = 0.02
    performance["declared"] = claims.compare({"roc_auc": 0.9}, performance["metrics"], 0.02)
    render_performance(replace(cover, report_kind="performance"), performance,
                       {"curves": charts.performance_curves(y, score, performance)}, [])
    PERFORMANCE_SECONDS.append(time.perf_counter() - started)
    render_lineage(replace(cover, report_kind="lineage"), _lineage(), {}, [])


def _lineage() -> dict:
    """A lineage of the shape reports.lineage.build_lineage returns: two datasets, a parent, three reports,
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
        "metric_claims": {"performance_report": 3, "tolerance": 0.02, "metrics": [
            {"metric": "roc_auc", "declared": 0.9, "measured": 0.81, "difference": 0.09, "flagged": True}]},
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--n-boot", type=int, default=N_BOOT)
    args = parser.parse_args()
    globals()["N_BOOT"] = args.n_boot
    X, y, sens = data(args.rows)
    model = HistGradientBoostingClassifier(random_state=SEED).fit(X, y)
    t = time.perf_counter()
    bare(model, X, y, sens)
    bare_s = time.perf_counter() - t
    t = time.perf_counter()
    full(model, X, y, sens)
    full_s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows {args.rows:,} x 20, n_boot {N_BOOT}, SHAP rows {N_EXPLAIN}")
    print(f"evidence pack (bias + SHAP + performance + lineage PDFs): {full_s:.1f} s, of which performance "
          f"{PERFORMANCE_SECONDS[-1]:.1f} s; bare fairlearn + shap + scikit-learn: {bare_s:.1f} s; "
          f"ratio {full_s / bare_s:.2f}; peak RSS {rss:.0f} MB")
    print("targets: <= 20 s, <= 1.5 GB, ratio <= 1.3")


if __name__ == "__main__":
    main()
