"""Performance numbers equal independent computations (scikit-learn, scipy); intervals, rounding, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from reports.bootstrap import overall_bootstrap
from reports.errors import ReportInputError
from reports.performance import METRICS, compute_performance, judge


def _data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.18, n), 0, 1)
    score[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # the clipped ends, where log loss is clipped too
    return y, (score >= 0.4).astype(int), score


def test_each_metric_equals_an_independent_computation() -> None:
    y, pred, score = _data()
    report = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=50)
    m = {k: v["value"] for k, v in report["metrics"].items()}
    auc = roc_auc_score(y, score)
    expected = {
        "roc_auc": auc, "gini": 2 * auc - 1, "ks": ks_2samp(score[y == 1], score[y == 0]).statistic,
        "accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred), "recall": recall_score(y, pred),
        "log_loss": log_loss(y, score), "brier_score": brier_score_loss(y, score),
    }
    assert list(m) == list(METRICS)
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1.5e-6), name
    tn, fp, fn, tp = np.bincount(y * 2 + pred, minlength=4)
    assert report["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert (report["rows"], report["positives"]) == (len(y), int(y.sum()))
    for name, entry in report["metrics"].items():
        lo, hi = entry["ci"]
        assert lo <= entry["value"] + 1e-6 and entry["value"] - 1e-6 <= hi, name


def test_values_are_rounded_toward_the_worse_side() -> None:
    y, pred, score = _data()
    m = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=0)["metrics"]
    auc = roc_auc_score(y, score)
    assert m["roc_auc"]["value"] <= auc and auc - m["roc_auc"]["value"] < 1e-6
    loss = log_loss(y, score)
    assert m["log_loss"]["value"] >= loss and m["log_loss"]["value"] - loss < 1e-6
    assert m["roc_auc"]["ci"] == [None, None]  # no resamples, no interval


def test_calibration_table_equals_calibration_curve() -> None:
    y, pred, score = _data()
    cal = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=30)["calibration"]
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy="quantile")
    assert [b["observed_rate"]["value"] for b in cal["bins"]] == pytest.approx(prob_true, abs=1e-6)
    assert [b["mean_score"] for b in cal["bins"]] == pytest.approx(prob_pred, abs=1e-6)
    assert sum(b["n"] for b in cal["bins"]) == len(y)
    counts = np.array([b["n"] for b in cal["bins"]])
    ece = float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))
    assert cal["expected_calibration_error"]["value"] == pytest.approx(ece, abs=1.5e-6)
    for b in cal["bins"]:
        lo, hi = b["observed_rate"]["ci"]
        assert lo <= b["observed_rate"]["value"] <= hi


def test_intervals_are_the_bias_reports_for_the_metrics_both_give() -> None:
    """Same seed, same resamples: the overall intervals of the bias report and these agree exactly."""
    y, pred, score = _data(800, seed=3)
    report = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=11, n_boot=40)
    bias, _ = overall_bootstrap(y_true=y, y_pred=pred, y_score=score, n_boot=40, seed=11, quantiles=[0.025, 0.975])
    for name in ("accuracy", "precision", "recall", "roc_auc"):
        assert report["metrics"][name]["ci"] == [round(b, 6) for b in bias[name]], name


def test_same_inputs_same_numbers_other_seed_other_intervals() -> None:
    y, pred, score = _data()
    first = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=30)
    assert compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=30) == first
    other = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=8, n_boot=30)
    assert other["metrics"]["roc_auc"]["value"] == first["metrics"]["roc_auc"]["value"]
    assert other["metrics"]["roc_auc"]["ci"] != first["metrics"]["roc_auc"]["ci"]


def test_a_model_without_scores_measures_decisions_only_and_fails_a_score_threshold() -> None:
    y, pred, _ = _data()
    report = compute_performance(y_true=y, y_pred=pred, y_score=None, seed=1, n_boot=10)
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)
    for name in ("roc_auc", "gini", "ks", "log_loss", "brier_score"):
        assert report["metrics"][name]["value"] is None and "no predict_proba" in report["metrics"][name]["note"]
    assert report["calibration"]["bins"] == [] and report["scores"] is False
    judged = judge(report, {"roc_auc": {">=": 0.7}, "accuracy": {">=": 0.5}})
    assert judged["verdict"] == "fail"
    assert [c["status"] for c in judged["checks"]] == ["PASS", "NOT MEASURED"]


def test_one_class_leaves_discrimination_undefined() -> None:
    y = np.ones(50, dtype=int)
    report = compute_performance(y_true=y, y_pred=y, y_score=np.full(50, 0.8), seed=1, n_boot=5)
    assert report["metrics"]["roc_auc"] == {"value": None, "ci": [None, None],
                                            "note": "undefined: the labels hold one class only"}
    assert report["metrics"]["brier_score"]["value"] == pytest.approx(0.04)
    assert report["metrics"]["precision"]["value"] == 1.0


def test_judge_verdicts() -> None:
    y, pred, score = _data()
    report = compute_performance(y_true=y, y_pred=pred, y_score=score, seed=7, n_boot=0)
    assert report["verdict"] == "info" and judge(report, {})["verdict"] == "info"
    auc = report["metrics"]["roc_auc"]["value"]
    assert judge(report, {"roc_auc": {">=": auc}, "log_loss": {"<": 5}})["verdict"] == "pass"
    failed = judge(report, {"roc_auc": {">=": auc + 1e-6}})
    assert failed["verdict"] == "fail" and failed["checks"][0]["status"] == "FAIL"
    assert "roc_auc fail" in failed["verdict_reasons"][0]


@pytest.mark.parametrize(("y", "pred", "score", "message"), [
    ([0, 1, 2], [0, 1, 1], None, "y_true must hold only 0 and 1"),
    ([0, 1, 1], [0, 1], None, "same number of rows"),
    ([0, 1, 1], [0, 1, 1], [0.1, 0.5, 1.2], "probabilities from 0 to 1"),
    ([0, 1, 1], [0, 1, 1], [0.1, float("nan"), 0.3], "probabilities from 0 to 1"),
    ([], [], None, "non-empty"),
])
def test_bad_input_is_named(y, pred, score, message) -> None:
    with pytest.raises(ReportInputError, match=message):
        compute_performance(y_true=y, y_pred=pred, y_score=score, seed=1, n_boot=0)
