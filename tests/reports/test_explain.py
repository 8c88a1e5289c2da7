"""SHAP numbers equal shap's own; the explainer follows the model type; additivity and reasons hold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from demo import credit
from reports.explain import compute_explanation


def test_tree_model_matches_shap_directly(german):
    model, test = german["v2"], german["test"]
    X = test[credit.features_of(model)]
    metrics, _ = compute_explanation(model=model, X=X, seed=5, n_explain=120)
    assert metrics["method"]["explainer"] == "TreeExplainer"
    assert metrics["additivity"]["passed"]
    scorer = model.estimator.estimator
    pre, est = scorer[:-1], scorer[-1]
    rng = np.random.default_rng(5)
    idx = np.sort(rng.choice(len(X), size=120, replace=False))
    background = np.sort(rng.choice(len(X), size=min(100, len(X)), replace=False))
    # Against the background sample the report names: interventional, the sample is what absence means.
    direct = shap.TreeExplainer(est, data=pre.transform(X.iloc[background]),
                                feature_perturbation="interventional").shap_values(pre.transform(X.iloc[idx]))
    names = list(pre.get_feature_names_out())
    for item in metrics["global_importance"]:
        cols = [i for i, n in enumerate(names) if n.split("__", 1)[1] == item["feature"]
                or n.split("__", 1)[1].startswith(item["feature"] + "_")]
        expected = np.abs(direct[:, cols].sum(axis=1)).mean()
        assert item["mean_abs_shap"] == pytest.approx(expected, abs=1e-5), item
    assert metrics["stability"]["mean_spearman"] > 0.8
    adverse = [c for c in metrics["local"] if c["adverse"]]
    assert adverse and all(1 <= len(c["reasons"]) <= 3 for c in metrics["local"])
    assert "lowered the score for a favourable outcome" in adverse[0]["reasons"][0]["text"]
    # An outcome's reasons are what pushed toward it, strongest first, and each case names its data row.
    for case in metrics["local"]:
        toward = [-r["shap"] if case["adverse"] else r["shap"] for r in case["reasons"]]
        assert all(t > 0 for t in toward) and toward == sorted(toward, reverse=True), case
        contributions = case["contributions"]
        assert case["row"] in idx
        assert {r["feature"]: r["shap"] for r in case["reasons"]} == {
            f: v for f, v in sorted(contributions.items(), key=lambda kv: -(-kv[1] if case["adverse"] else kv[1]))[
                :len(case["reasons"])]}


def test_linear_and_permutation_fallback():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200), "c": rng.normal(size=200)})
    y = (X["a"] + 0.5 * X["b"] > 0).astype(int)
    linear, _ = compute_explanation(model=LogisticRegression().fit(X, y), X=X, seed=1, n_explain=50)
    assert linear["method"]["explainer"] == "LinearExplainer" and linear["additivity"]["passed"]
    assert linear["global_importance"][0]["feature"] == "a"
    knn, _ = compute_explanation(model=KNeighborsClassifier().fit(X, y), X=X, seed=1, n_explain=30,
                                 background_size=30)
    assert knn["method"]["explainer"] == "PermutationExplainer" and knn["additivity"]["passed"]
    again, _ = compute_explanation(model=KNeighborsClassifier().fit(X, y), X=X, seed=1, n_explain=30,
                                   background_size=30)
    assert again == knn  # seeded: identical


def test_chart_values_follow_the_feature_order(german):
    # The transformer puts the categorical columns first: feature i's dependence plot and beeswarm colours
    # were drawn from column i of the data, another feature (checking_account showed saving_accounts).
    model, test = german["v2"], german["test"]
    X = test[credit.features_of(model)]
    _, arrays = compute_explanation(model=model, X=X, seed=5, n_explain=60)
    assert arrays.features != list(X.columns)  # the case this guards
    assert list(arrays.values.columns) == arrays.features
    idx = np.sort(np.random.default_rng(5).choice(len(X), size=60, replace=False))
    for i, name in enumerate(arrays.features):
        pd.testing.assert_series_equal(arrays.values.iloc[:, i], X.iloc[idx][name].reset_index(drop=True),
                                       check_names=False)


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(),  # LinearExplainer: one set of values, for the log-odds of classes_[1]
    lambda: KNeighborsClassifier(),  # PermutationExplainer on predict_proba
    lambda: __import__("sklearn.ensemble", fromlist=["x"]).GradientBoostingClassifier(n_estimators=20),  # tree
])
def test_the_favourable_outcome_is_the_declared_positive_label_whichever_class_it_is(make):
    """Labels "good"/"bad" with "bad" declared positive (sorted first by sklearn, class index 0): the explanation
    is of "bad", and a prediction of "good" is the adverse case; explaining "good" gives the opposite values."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = np.where(X["a"] + 0.5 * X["b"] > 0, "good", "bad")
    model = make().fit(X, y)
    assert list(model.classes_) == ["bad", "good"]
    opts: dict[str, Any] = {"seed": 1, "n_explain": 40, "background_size": 30, "n_local": 4}
    bad, bad_arrays = compute_explanation(model=model, X=X, positive="bad", **opts)
    good, good_arrays = compute_explanation(model=model, X=X, positive="good", **opts)
    assert "'bad' (the favourable outcome" in bad["method"]["output_explained"]
    assert bad["additivity"]["passed"] and good["additivity"]["passed"]
    np.testing.assert_allclose(bad_arrays.shap_values, -good_arrays.shap_values, atol=1e-6)
    said = model.predict(X)
    for case in bad["local"]:
        assert case["label"] == said[case["row"]]
        assert case["adverse"] == (case["label"] == "good")
        assert case["prediction"] == (0 if case["adverse"] else 1)
    # "a" raises the chance of "good": for the favourable "bad", a high "a" lowers the score.
    assert bad["local"]
    assert np.corrcoef(bad_arrays.values["a"], bad_arrays.shap_values[:, 0])[0, 1] < 0


def test_a_model_whose_classes_lack_the_positive_label_is_refused():
    from reports.errors import ReportInputError

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60)})
    model = LogisticRegression().fit(X, np.where(X["a"] > 0, "yes", "no"))
    with pytest.raises(ReportInputError, match="do not include the data's positive label 'approved'"):
        compute_explanation(model=model, X=X, seed=1, n_explain=10, positive="approved")
    # Without a declared label (data with no labels) the model's second class is taken, and said to be.
    metrics, _ = compute_explanation(model=model, X=X, seed=1, n_explain=10)
    assert "'yes' (taken as favourable" in metrics["method"]["output_explained"]
