"""Bias numbers equal fairlearn's own, computed independently here; injected disparities fail; bad input is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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

from demo import credit
from reports.bias import BiasThresholds, age_group, compute_bias
from reports.errors import ReportInputError


def _by(report, attribute):
    return next(a for a in report["attributes"] + report["intersections"] if a["attribute"] == attribute)


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_numbers_equal_fairlearn_on_german_credit(german, which):
    model, test = german[which], german["test"]
    X = test[credit.features_of(model)]
    y, pred = test["risk"].to_numpy(), model.predict(X)
    sens = pd.DataFrame({"sex": test["sex"], "age group": age_group(test["age"])})
    report = compute_bias(y_true=y, y_pred=pred, sensitive=sens, thresholds=BiasThresholds(), seed=3, n_boot=20)
    for attr in ("sex", "age group"):
        mf = MetricFrame(metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                         y_true=y, y_pred=pred, sensitive_features=sens[attr])
        section = _by(report, attr)
        for row in section["groups"]:
            assert row["selection_rate"]["value"] == pytest.approx(mf.by_group.loc[row["group"], "sr"], abs=1e-6)
            assert row["tpr"]["value"] == pytest.approx(mf.by_group.loc[row["group"], "tpr"], abs=1e-6)
            assert row["fpr"]["value"] == pytest.approx(mf.by_group.loc[row["group"], "fpr"], abs=1e-6)
            lo, hi = row["selection_rate"]["ci"]
            assert lo <= row["selection_rate"]["value"] <= hi
        d = section["disparities"]
        kw = {"sensitive_features": sens[attr]}
        dpd = demographic_parity_difference(y, pred, **kw)
        assert d["demographic_parity_difference"] == pytest.approx(dpd, abs=1e-6)
        assert d["demographic_parity_ratio"] == pytest.approx(demographic_parity_ratio(y, pred, **kw), abs=1e-6)
        assert d["equalized_odds_difference"] == pytest.approx(equalized_odds_difference(y, pred, **kw), abs=1e-6)
        assert d["equalized_odds_ratio"] == pytest.approx(equalized_odds_ratio(y, pred, **kw), abs=1e-6)
        rates = mf.by_group["sr"]
        for group, ratio in d["impact_ratio"].items():
            assert ratio == pytest.approx(rates[group] / rates.max(), abs=1e-6)
    assert report["verdict"] == ("fail" if which == "v1" else "pass")


def _synthetic(rate_a: float, rate_b: float, n: int = 4000):
    rng = np.random.default_rng(0)
    group = np.where(rng.random(n) < 0.5, "A", "B")
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < np.where(group == "A", rate_a, rate_b)).astype(int)
    return y, pred, pd.DataFrame({"group": group})


def test_injected_disparity_fails_and_balanced_passes():
    y, pred, sens = _synthetic(0.7, 0.3)
    bad = compute_bias(y_true=y, y_pred=pred, sensitive=sens, thresholds=BiasThresholds(), seed=1, n_boot=10)
    assert bad["verdict"] == "fail"
    ir = next(c for c in bad["checks"] if c["metric"] == "impact_ratio" and c.get("group") == "B")
    assert ir["status"] == "FAIL" and ir["value"] == pytest.approx(0.3 / 0.7, abs=0.05)
    assert bad["checks"][0]["margin"] >= bad["checks"][-1]["margin"]  # worst first
    y, pred, sens = _synthetic(0.5, 0.5)
    assert compute_bias(y_true=y, y_pred=pred, sensitive=sens, thresholds=BiasThresholds(), seed=1,
                        n_boot=10)["verdict"] == "pass"


def test_unknowns_counted_and_small_groups_flagged():
    y, pred, sens = _synthetic(0.5, 0.5, n=1000)
    sens.loc[:9, "group"] = None
    sens.loc[10:14, "group"] = "not_known"
    sens.loc[15:34, "group"] = "C"
    report = compute_bias(y_true=y, y_pred=pred, sensitive=sens, thresholds=BiasThresholds(), seed=1, n_boot=0)
    section = report["attributes"][0]
    assert section["unknown"] == 15
    assert section["small_groups"] == ["C"]
    assert sum(g["n"] for g in section["groups"]) == 1000
    assert all(c.get("group") != "C" for c in section["checks"])


@pytest.mark.parametrize("kwargs, message", [
    ({"y_pred": np.array([0, 1, 2])}, "only 0 and 1"),
    ({"y_pred": np.array(["a", "b", "c"])}, "0/1 labels"),
    ({"sensitive": pd.DataFrame({"g": ["a", "b"]})}, "same number of rows"),
    ({"sensitive": pd.DataFrame(index=range(3))}, "at least one sensitive"),
])
def test_bad_input_is_named(kwargs, message):
    args = {"y_true": np.array([0, 1, 1]), "y_pred": np.array([0, 1, 0]),
            "sensitive": pd.DataFrame({"g": ["a", "b", "a"]}), "thresholds": BiasThresholds(), "seed": 1, "n_boot": 0}
    args.update(kwargs)
    with pytest.raises(ReportInputError, match=message):
        compute_bias(**args)
