"""The bootstrap intervals counted in numpy are exactly fairlearn MetricFrame's own, resample for resample.

The reference metrics give NaN where a rate is undefined (its denominator is zero), as the report
does: an undefined rate is left out of the quantiles, never counted as 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from reports import bootstrap
from reports.bias import CI, BiasThresholds, compute_bias, normalise_groups
from reports.bootstrap import group_intervals, overall_intervals


def _precision(t, p):
    return float(precision_score(t, p, zero_division=np.nan))


def _recall(t, p):
    return float(recall_score(t, p, zero_division=np.nan))


def _tpr(t, p):
    return float(true_positive_rate(t, p)) if (np.asarray(t) == 1).any() else np.nan


def _fpr(t, p):
    return float(false_positive_rate(t, p)) if (np.asarray(t) == 0).any() else np.nan


def _num(value):
    return None if np.isnan(value) else round(float(value), 6) + 0.0


def _data(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    # A rare group (missing from some resamples), one with no positive labels (TPR's zero division),
    # one that is never selected (precision's), and unknown spellings normalised into one group.
    labels = np.array(["a", "b", "rare", "no positives", "never selected", None, "?"], dtype=object)
    race = pd.Series(rng.choice(labels, n, p=[0.4, 0.3, 0.005, 0.1, 0.1, 0.05, 0.045]))
    groups = normalise_groups(race)
    y_true = rng.integers(0, 2, n)
    y_true[(groups == "no positives").to_numpy()] = 0
    y_pred = (rng.random(n) < np.where(groups == "a", 0.6, 0.3)).astype(int)
    y_pred[(groups == "never selected").to_numpy()] = 0
    score = np.clip(0.5 * y_true + rng.random(n), 0, 1.4)
    return y_true, y_pred, score, groups


def _same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    # Exact: the same resamples and the same divisions must give the same floats, not nearly the same.
    theirs = theirs.reindex(ours.index)
    for metric in ours.columns:
        a, b = ours[metric].to_numpy(dtype=float), theirs[metric].to_numpy(dtype=float)
        assert np.array_equal(a, b, equal_nan=True), (metric, a, b)


@pytest.mark.parametrize("seed", [0, 1, 7, 2026])
def test_group_intervals_equal_metricframe(seed):
    y_true, y_pred, _, groups = _data(seed)
    assert groups.value_counts()["unknown"] > 0
    n_boot = 25
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": _tpr, "fpr": _fpr,
                 "precision": _precision, "accuracy": accuracy_score},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups, n_boot=n_boot, ci_quantiles=CI, random_state=seed)
    ours = group_intervals(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=n_boot, seed=seed, quantiles=CI)
    assert len(ours) == len(frame.by_group_ci) == 2
    for mine, theirs in zip(ours, frame.by_group_ci, strict=True):
        assert set(theirs.index) <= set(mine.index)
        _same(mine, theirs)


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_overall_intervals_equal_metricframe(seed):
    y_true, y_pred, score, _ = _data(seed)
    const = np.zeros(len(y_true), dtype=int)
    ci = {"n_boot": 30, "ci_quantiles": [0.05, 0.5, 0.95], "random_state": seed}
    frame = MetricFrame(metrics={"accuracy": accuracy_score, "precision": _precision, "recall": _recall},
                        y_true=y_true, y_pred=y_pred, sensitive_features=const, **ci)
    auc = MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=y_true, y_pred=score, sensitive_features=const,
                      **ci)
    ours = overall_intervals(y_true=y_true, y_pred=y_pred, y_score=score, n_boot=30, seed=seed,
                             quantiles=ci["ci_quantiles"])
    for metric in ("accuracy", "precision", "recall"):
        assert ours[metric] == [float(q[metric]) for q in frame.overall_ci]
    assert ours["roc_auc"] == [float(q["roc_auc"]) for q in auc.overall_ci]


def test_a_different_seed_gives_different_intervals():
    # Guards the comparison above against passing trivially (e.g. intervals that ignore the resamples).
    y_true, y_pred, _, groups = _data(0)
    a = group_intervals(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=25, seed=0, quantiles=CI)
    b = group_intervals(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=25, seed=1, quantiles=CI)
    assert not a[0].equals(b[0])


def test_report_intervals_are_metricframes():
    y_true, y_pred, score, groups = _data(5, n=600)
    sens = pd.DataFrame({"race": groups.replace("unknown", None)})
    report = compute_bias(y_true=y_true, y_pred=y_pred, y_score=score, sensitive=sens, thresholds=BiasThresholds(),
                          seed=5, n_boot=20, min_group_size=5)
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": _tpr, "fpr": _fpr,
                 "precision": _precision, "accuracy": accuracy_score},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups, n_boot=20, ci_quantiles=CI, random_state=5)
    lo, hi = frame.by_group_ci
    for row in report["attributes"][0]["groups"]:
        for metric in lo.columns:
            assert row[metric]["ci"] == [_num(lo.loc[row["group"], metric]), _num(hi.loc[row["group"], metric])]
    const = np.zeros(len(y_true), dtype=int)
    auc = MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=y_true, y_pred=score, sensitive_features=const,
                      n_boot=20, ci_quantiles=CI, random_state=5)
    assert report["overall"]["roc_auc"]["ci"] == [round(float(q["roc_auc"]), 6) for q in auc.overall_ci]


def test_bootstrap_leaves_undefined_rates_out_and_counts_them() -> None:
    y = np.array([0] * 10 + [1, 0] * 5)
    pred = np.array([1, 0] * 10)
    groups = pd.Series(["B"] * 10 + ["A"] * 10)
    (lo, hi), defined = bootstrap.group_bootstrap(y_true=y, y_pred=pred, groups=groups, n_boot=30, seed=0,
                                                  quantiles=[0.025, 0.975])
    assert np.isnan(lo.loc["B", "tpr"]) and np.isnan(hi.loc["B", "tpr"]) and defined.loc["B", "tpr"] == 0
    assert defined.loc["A", "tpr"] <= 30 and defined.loc["B", "fpr"] == 30
