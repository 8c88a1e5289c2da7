"""Drift and decay measurements (monitoring.drift), each against an independent computation on data made here."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare, ks_2samp
from sklearn.metrics import accuracy_score, roc_auc_score

from monitoring.drift import (
    FLOOR,
    FairnessAccumulator,
    categorical_profile,
    fairness,
    numeric_profile,
    performance,
    score_profile,
)
from reports.performance import compute_performance


def _chunks(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(values, sorted({c % (len(values) + 1) for c in cuts}))


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    total = 0.0
    for e, a in zip(expected / expected.sum(), actual / actual.sum(), strict=True):
        e, a = max(e, 1e-4), max(a, 1e-4)
        total += (a - e) * math.log(a / e)
    return total


def _decile_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows per bin (-inf, e1), [e1, e2), ..., [em, inf), counted one value at a time."""
    counts = np.zeros(len(edges) + 1)
    for v in values:
        counts[sum(1 for e in edges if e <= v)] += 1
    return counts


def _measure(profile: Any, chunks: list[np.ndarray]) -> Any:
    acc = profile.accumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc


# Values with many ties (a small integer range) or none (floats), on either side.
samples = st.one_of(
    st.lists(st.integers(-5, 5), min_size=1, max_size=80).map(lambda v: np.array(v, dtype=float)),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=80).map(np.array),
)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # scipy's own, for one value on each side
@settings(max_examples=300, deadline=None)
@given(base=samples, batch=samples, cuts=st.lists(st.integers(0, 100), max_size=6))
def test_ks_is_ks_2samp_for_any_chunking(base: np.ndarray, batch: np.ndarray, cuts: list[int]) -> None:
    result = _measure(numeric_profile(base), _chunks(batch, cuts)).result()
    expected = ks_2samp(batch, base, method="asymp")
    assert result["ks"] == float(expected.statistic)
    if math.isnan(expected.pvalue):  # one value on each side
        assert result["ks_pvalue"] is None
    else:
        assert result["ks_pvalue"] == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300)


def test_ks_on_large_samples_with_ties_and_missing_values() -> None:
    rng = np.random.default_rng(3)
    base = np.round(rng.normal(size=20_000), 2)
    batch = np.round(rng.normal(0.05, 1.1, size=50_000), 1)
    with_missing = batch.copy()
    with_missing[::10] = np.nan
    result = _measure(numeric_profile(base), np.array_split(with_missing, 7)).result()
    expected = ks_2samp(batch[~np.isnan(with_missing)], base, method="asymp")
    assert result["ks"] == float(expected.statistic)
    assert result["ks_pvalue"] == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300)
    assert result["missing"] == 5_000 and result["n"] == 45_000


def test_numeric_psi_is_the_formula_over_baseline_deciles() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=3_000)
    batch = np.concatenate([rng.normal(0.4, 1.3, size=2_000), [np.nan] * 7])
    edges = np.quantile(base, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    expected = _psi(_decile_counts(edges, base), _decile_counts(edges, batch[~np.isnan(batch)]))
    result = _measure(numeric_profile(base), np.array_split(batch, 3)).result()
    assert result["psi"] == pytest.approx(expected, rel=1e-12)
    assert result["missing"] == 7
    assert result["mean"] == pytest.approx(float(np.nanmean(batch)), rel=1e-12)
    assert result["baseline_mean"] == pytest.approx(float(base.mean()), rel=1e-12)


def test_psi_floors_empty_bins_on_both_sides() -> None:
    base = np.arange(100, dtype=float)  # ten bins of ten
    batch = np.full(50, 5.0)  # all in the first bin
    result = _measure(numeric_profile(base), [batch]).result()
    first = (1 - 0.1) * math.log(1 / 0.1)
    rest = 9 * (FLOOR - 0.1) * math.log(FLOOR / 0.1)
    assert result["psi"] == pytest.approx(first + rest, rel=1e-12)


def test_tied_baseline_has_fewer_bins_and_an_all_missing_batch_measures_nothing() -> None:
    profile = numeric_profile(np.array([1.0] * 50 + [2.0] * 50))
    assert profile.edges.tolist() == [1.0, 1.5, 2.0]
    result = _measure(profile, [np.array([np.nan, np.nan])]).result()
    assert result == {"n": 0, "missing": 2, "psi": None, "ks": None, "ks_pvalue": None, "mean": None,
                      "baseline_mean": 1.5, "mean_shift": None}


def test_categorical_against_scipy_chisquare_and_jensenshannon() -> None:
    rng = np.random.default_rng(2)
    base = rng.choice(["a", "b", "c", "d"], size=5_000, p=[0.4, 0.3, 0.2, 0.1])
    batch = pd.Series(rng.choice(["a", "b", "c", "d", "new"], size=4_000, p=[0.3, 0.3, 0.2, 0.15, 0.05]))
    batch[batch.index % 13 == 0] = None
    acc = categorical_profile(base).accumulator()
    for part in np.array_split(batch.to_numpy(dtype=object), 5):
        acc.add(part)
    result = acc.result()

    present = batch.dropna()
    seen = ["a", "b", "c", "d"]
    observed = np.array([(present == c).sum() for c in seen] + [(~present.isin(seen)).sum()], dtype=float)
    baseline = np.array([(base == c).sum() for c in seen] + [0], dtype=float)
    share = np.maximum(baseline / baseline.sum(), 1e-4)
    stat, pvalue = chisquare(observed, share / share.sum() * observed.sum())
    assert result["chi2"] == pytest.approx(float(stat), rel=1e-10)
    assert result["chi2_pvalue"] == pytest.approx(float(pvalue), rel=1e-8, abs=1e-300)
    assert result["js"] == pytest.approx(float(jensenshannon(observed, baseline, base=2)), rel=1e-10)
    assert result["psi"] == pytest.approx(_psi(baseline, observed), rel=1e-12)
    two = chi2_contingency(np.stack([observed, baseline]), correction=False)
    assert result["chi2_two_samples"] == pytest.approx(float(two.statistic), rel=1e-10)
    assert result["chi2_two_samples_pvalue"] == pytest.approx(float(two.pvalue), rel=1e-8, abs=1e-300)
    assert result["unseen"] == int(observed[-1])
    assert result["missing"] == int(batch.isna().sum())
    assert result["n"] == len(present)


def test_categorical_without_unseen_values_tests_the_baseline_categories_only() -> None:
    base = np.array(["x"] * 60 + ["y"] * 40)
    batch = np.array(["x"] * 30 + ["y"] * 70)
    acc = categorical_profile(base).accumulator()
    acc.add(batch)
    result = acc.result()
    stat, pvalue = chisquare([30, 70], [60, 40])
    assert result["chi2"] == pytest.approx(float(stat)) and result["chi2_pvalue"] == pytest.approx(float(pvalue))
    assert result["js"] == pytest.approx(float(jensenshannon([30, 70], [60, 40], base=2)))
    two = chi2_contingency([[30, 70], [60, 40]], correction=False)
    assert result["chi2_two_samples"] == pytest.approx(float(two.statistic))
    assert result["chi2_two_samples_pvalue"] == pytest.approx(float(two.pvalue))


def test_chi2_against_a_small_baseline_counts_its_noise_only_in_the_two_sample_test() -> None:
    rng = np.random.default_rng(8)
    levels = list("abcdef")
    profile = categorical_profile(rng.choice(levels, 2_000))
    acc = profile.accumulator()
    acc.add(rng.choice(levels, 200_000))  # the same distribution, a hundred times the rows
    result = acc.result()
    assert result["chi2"] > 20 * 5  # about n_batch / n_baseline times its 5 degrees of freedom
    assert result["chi2_two_samples_pvalue"] > 0.001


def test_categories_are_text_as_a_row_renders_them() -> None:
    profile = categorical_profile(pd.Series([1, 2, 2, None], dtype="Int64"))
    assert profile.categories == ("1", "2") and profile.missing == 1
    acc = profile.accumulator()
    acc.add(np.array(["1", 2, True, 2.5], dtype=object))
    assert acc.counts.tolist() == [1, 1] and acc.unseen == 2


def test_merge_equals_one_accumulator_over_both() -> None:
    rng = np.random.default_rng(4)
    base, a, b = rng.normal(size=1_000), rng.normal(size=700), rng.normal(0.3, size=900)
    profile = numeric_profile(base)
    merged = _measure(profile, [a]).merge(_measure(profile, [b])).result()
    whole = _measure(profile, [np.concatenate([a, b])]).result()
    assert {k: v for k, v in merged.items() if "mean" not in k} == {k: v for k, v in whole.items() if "mean" not in k}
    assert merged["mean"] == pytest.approx(whole["mean"], rel=1e-12)

    cats = categorical_profile(rng.choice(list("abc"), 500))
    x, y = rng.choice(list("abcd"), 300), rng.choice(list("abce"), 400)
    one, two, both = cats.accumulator(), cats.accumulator(), cats.accumulator()
    one.add(x)
    two.add(y)
    both.add(np.concatenate([x, y]))
    assert one.merge(two).result() == both.result()

    groups = {"sex": rng.choice(["f", "m"], 1_000)}
    pred, true = rng.integers(0, 2, 1_000), rng.integers(0, 2, 1_000)
    left, right = FairnessAccumulator(), FairnessAccumulator()
    left.add(groups={"sex": groups["sex"][:400]}, y_pred=pred[:400], y_true=true[:400])
    right.add(groups={"sex": groups["sex"][400:]}, y_pred=pred[400:], y_true=true[400:])
    assert left.merge(right).result() == fairness(groups=groups, y_pred=pred, y_true=true)


def test_score_drift_against_the_calibration_table() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4_000)
    score = np.clip(rng.beta(2, 5, 4_000) + 0.2 * y, 0, 1)
    table = compute_performance(y_true=y, y_pred=(score > 0.5).astype(int), y_score=score, seed=0,
                                n_boot=0)["calibration"]["bins"]
    profile = score_profile(table)
    batch = np.clip(rng.beta(2, 4, 3_000), 0, 1)
    result = _measure(profile, np.array_split(batch, 4)).result()
    edges = [(lo["score_max"] + hi["score_min"]) / 2 for lo, hi in itertools.pairwise(table)]
    assert result["psi"] == pytest.approx(_psi(np.array([b["n"] for b in table], dtype=float),
                                               _decile_counts(np.array(edges), batch)), rel=1e-12)
    assert result["ks"] is None and result["ks_pvalue"] is None
    assert result["baseline_mean"] == pytest.approx(float(score.mean()), abs=1e-6)
    assert result["mean_shift"] == pytest.approx(float(batch.mean() - score.mean()), abs=1e-6)


def test_performance_against_scikit_learn() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 2_000)
    score = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    pred = (score > 0.5).astype(int)
    result = performance(y_true=y, y_score=score, y_pred=pred)
    auc = roc_auc_score(y, score)
    assert result["roc_auc"] == pytest.approx(auc, abs=1e-6)
    assert result["gini"] == pytest.approx(2 * auc - 1, abs=2e-6)
    assert result["ks"] == pytest.approx(ks_2samp(score[y == 1], score[y == 0]).statistic, abs=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)
    assert result["n"] == 2_000 and result["positives"] == int(y.sum())
    # Calibration error over deciles of the score: |observed - predicted| per bin, weighted by its rows.
    bins = pd.qcut(score, 10, labels=False)
    ece = sum(abs(y[bins == b].sum() - score[bins == b].sum()) for b in range(10)) / len(y)
    assert result["expected_calibration_error"] == pytest.approx(ece, abs=1e-6)


def test_performance_with_one_class_is_undefined_where_it_must_be() -> None:
    result = performance(y_true=np.ones(50, dtype=int), y_score=np.linspace(0, 1, 50),
                         y_pred=np.ones(50, dtype=int))
    assert result["roc_auc"] is None and result["gini"] is None and result["ks"] is None
    assert result["accuracy"] == 1.0 and result["positives"] == 50


def test_fairness_against_a_direct_count() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    frame = pd.DataFrame({"sex": rng.choice(np.array(["female", "male", None], dtype=object), n, p=[0.45, 0.5, 0.05]),
                          "age": rng.integers(19, 70, n).astype(float),
                          "race": rng.choice(["a", "b", "rare"], n, p=[0.6, 0.395, 0.005])})
    frame.loc[frame.index % 50 == 0, "age"] = np.nan
    pred = rng.integers(0, 2, n)
    true = rng.integers(0, 2, n)
    result = fairness(groups={c: frame[c] for c in frame.columns}, y_pred=pred, y_true=true)
    assert sorted(result) == ["age group", "race", "sex"]
    age = np.where(frame["age"].isna(), "unknown", np.where(frame["age"] < 25, "under 25", "25 and over"))
    for name, labels in (("sex", frame["sex"].fillna("unknown").to_numpy()), ("age group", age),
                         ("race", frame["race"].to_numpy())):
        rates = {}
        for g in sorted(set(labels)):
            rows = labels == g
            got = result[name]["groups"][g]
            assert got["n"] == int(rows.sum())
            assert got["selection_rate"] == pytest.approx(pred[rows].mean(), rel=1e-12)
            assert got["tpr"] == pytest.approx(pred[rows & (true == 1)].mean(), rel=1e-12)
            if g != "unknown" and rows.sum() >= 30:
                rates[g] = pred[rows].mean()
        assert result[name]["impact_ratio"] == pytest.approx(min(rates.values()) / max(rates.values()), rel=1e-12)
    assert result["race"]["small_groups"] == ["rare"]
    assert result["sex"]["unknown"] == int(frame["sex"].isna().sum())


def test_fairness_without_labels_has_no_tpr() -> None:
    result = fairness(groups={"sex": np.array(["f", "m"] * 40)}, y_pred=np.array([1, 0, 0, 0] * 20))
    assert result["sex"]["groups"]["f"] == {"n": 40, "selection_rate": 0.5, "tpr": None}
    assert result["sex"]["impact_ratio"] == 0.0
