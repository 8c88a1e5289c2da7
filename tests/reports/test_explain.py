"""SHAP numbers equal shap's own; the explainer follows the model type; additivity and reasons hold."""

from __future__ import annotations

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
    direct = shap.TreeExplainer(est).shap_values(pre.transform(X.iloc[idx]))
    names = list(pre.get_feature_names_out())
    for item in metrics["global_importance"]:
        cols = [i for i, n in enumerate(names) if n.split("__", 1)[1] == item["feature"]
                or n.split("__", 1)[1].startswith(item["feature"] + "_")]
        expected = np.abs(direct[:, cols].sum(axis=1)).mean()
        assert item["mean_abs_shap"] == pytest.approx(expected, abs=1e-5), item
    assert metrics["stability"]["mean_spearman"] > 0.8
    adverse = [c for c in metrics["local"] if c["adverse"]]
    assert adverse and all(len(c["reasons"]) == 3 for c in metrics["local"])
    assert "score for a favourable outcome" in adverse[0]["reasons"][0]["text"]


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
