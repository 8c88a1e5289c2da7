"""Explanations with SHAP: the explainer chosen by model type, global and local importance, reason codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shap
from scipy.stats import spearmanr
from sklearn.pipeline import Pipeline

from registry.sandbox import labels
from reports.errors import ReportInputError
from reports.numbers import clean, num

_TREE = ("HistGradientBoosting", "RandomForest", "GradientBoosting", "DecisionTree", "ExtraTrees", "XGB", "LGBM")
_LINEAR = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "SGDClassifier", "LinearSVC")
ADDITIVITY_TOLERANCE = 1e-3


@dataclass
class ExplanationArrays:
    """What the charts need: SHAP values and feature values in the original columns."""

    features: list[str]
    shap_values: np.ndarray
    values: pd.DataFrame
    base_value: float
    local: list[dict[str, Any]] = field(default_factory=list)


_WRAPPERS = ("FixedThresholdClassifier", "FrozenEstimator", "TunedThresholdClassifierCV", "CalibratedClassifierCV")


def _split(model: Any) -> tuple[Any, Any]:
    """(preprocessing or None, final estimator): SHAP explains the estimator on transformed features.

    A decision-threshold wrapper does not change the score, so the score model inside it is explained."""
    while type(model).__name__ in _WRAPPERS and hasattr(model, "estimator"):
        model = model.estimator
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model[-1]
    return None, model


def _family(estimator: Any) -> str:
    name = type(estimator).__name__
    if name.startswith(_TREE):
        return "tree"
    if name.startswith(_LINEAR):
        return "linear"
    return "permutation"


def _transform(pre: Any, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    if pre is None:
        return np.asarray(X, dtype=float), [str(c) for c in X.columns]
    Z = pre.transform(X)
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    try:
        names = [str(n) for n in pre.get_feature_names_out()]
    except (AttributeError, ValueError):
        names = [f"f{i}" for i in range(Z.shape[1])]
    return np.asarray(Z, dtype=float), names


def _original_column(encoded: str, columns: list[str]) -> str:
    """Map a transformed feature name ('cat__sex_male') back to its source column ('sex')."""
    bare = encoded.split("__", 1)[-1]
    for col in sorted(columns, key=len, reverse=True):
        if bare == col or bare.startswith(col + "_"):
            return col
    return bare


def favourable_class(model: Any, positive: str | None) -> tuple[int, str]:
    """Which of the model's two classes is the favourable outcome (the data's positive label), by index into its
    `classes_`, and its label; read as the performance and bias reports read predictions (reports.loading.predict):
    a model whose classes are 0 and 1 while the data's labels are other texts was fitted on them read as 0/1.
    Without a declared positive label (data with no labels) it is the model's second class, as sklearn orders
    them."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return 1, labels.DEFAULT_POSITIVE
    known = [str(c) for c in list(classes)]
    if len(known) != 2:
        raise ReportInputError(f"the model is not a binary classifier: its classes are {str(known)[:200]}")
    if positive is None:
        return 1, known[1]
    for i, c in enumerate(known):
        if labels.matches(c, positive):
            return i, c
    if {labels.number(c) for c in known} == {0.0, 1.0}:
        i = next(i for i, c in enumerate(known) if labels.number(c) == 1.0)
        return i, known[i]
    raise ReportInputError(f"the model's classes {', '.join(map(repr, known))} do not include the data's positive "
                           f"label {positive!r}")


def _favourable_output(estimator: Any, Z: np.ndarray, family: str, index: int) -> np.ndarray:
    """The model output the explainer explains: log-odds of the favourable class for tree/linear classifiers,
    else its probability."""
    if family in ("tree", "linear") and hasattr(estimator, "decision_function") and not type(
            estimator).__name__.startswith(("RandomForest", "ExtraTrees", "DecisionTree")):
        log_odds = np.asarray(estimator.decision_function(Z), dtype=float)  # of classes_[1]
        return log_odds if index == 1 else -log_odds
    return np.asarray(estimator.predict_proba(Z)[:, index], dtype=float)


def compute_explanation(
    *, model: Any, X: pd.DataFrame, seed: int, background_size: int = 100, n_explain: int = 200, n_local: int = 4,
    n_stability: int = 20, descriptions: dict[str, str] | None = None, positive: str | None = None,
) -> tuple[dict[str, Any], ExplanationArrays]:
    """`positive` is the data's positive label, the favourable outcome: its class is the one explained, and a
    prediction of the other is adverse, whichever of the model's classes it is (None: no label declared, see
    favourable_class)."""
    if len(X) == 0:
        raise ReportInputError("no rows to explain")
    rng = np.random.default_rng(seed)
    pre, estimator = _split(model)
    index, favourable_label = favourable_class(model, positive)
    try:
        said = np.asarray(model.predict(X))
    except Exception as exc:
        raise ReportInputError(f"the model cannot predict on this data: {str(exc)[:300]}") from exc
    predictions = labels.positive_mask(pd.Series(said), favourable_label)  # 1: favourable, 0: adverse
    explain_idx = np.sort(rng.choice(len(X), size=min(n_explain, len(X)), replace=False))
    background_idx = np.sort(rng.choice(len(X), size=min(background_size, len(X)), replace=False))
    Z, names = _transform(pre, X)
    Ze, Zb = Z[explain_idx], Z[background_idx]
    family = _family(estimator)
    if family == "tree":
        # Interventional: the background sample is what a feature's absence is measured against, as for the
        # other explainers, so the sample and its digest named in the report are the ones used.
        explainer = shap.TreeExplainer(estimator, data=Zb, feature_perturbation="interventional")
        values = explainer.shap_values(Ze, check_additivity=False)  # checked below, and reported
        base = explainer.expected_value
    elif family == "linear":
        explainer = shap.LinearExplainer(estimator, Zb)
        values = explainer.shap_values(Ze)
        base = explainer.expected_value
    else:
        def f(data: np.ndarray) -> np.ndarray:
            return np.asarray(estimator.predict_proba(data)[:, index])

        explainer = shap.PermutationExplainer(f, shap.maskers.Independent(Zb, max_samples=len(Zb)), seed=seed)
        result = explainer(Ze, max_evals=2 * Ze.shape[1] + 1, silent=True)
        values, base = result.values, result.base_values
    # Read from the explainer, so the report names what ran: an Independent masker over the background
    # sample is interventional; a tree explainer without data would walk its training paths instead.
    perturbation = str(getattr(explainer, "feature_perturbation", "interventional")).replace("_", "-")
    values = np.asarray(values, dtype=float)
    base_arr = np.asarray(base, dtype=float).reshape(-1)
    if values.ndim == 3:  # one set per class: explain the favourable one
        values = values[:, :, index]
        base_arr = base_arr[index : index + 1] if base_arr.size == 2 else base_arr
    elif family != "permutation" and index == 0:
        # One set for the log-odds of classes_[1]: those of the favourable classes_[0] are their negatives.
        values, base_arr = -values, -base_arr
    base_value = float(base_arr[-1] if base_arr.size in (1, 2) else base_arr.mean())
    output = _favourable_output(estimator, Ze, family, index)
    reconstructed = values.sum(axis=1) + (base_arr if base_arr.size == len(Ze) else base_value)
    additivity_error = float(np.max(np.abs(reconstructed - output)))

    columns = [str(c) for c in X.columns]
    groups = [_original_column(n, columns) for n in names]
    cols = sorted(set(groups), key=groups.index)
    agg = np.stack([values[:, [i for i, g in enumerate(groups) if g == c]].sum(axis=1) for c in cols], axis=1)
    importance = np.abs(agg).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    stability = _stability(agg, rng, n_stability)
    explained = X.iloc[explain_idx].reset_index(drop=True)
    local = _local_cases(agg, cols, explained, predictions[explain_idx], rng, n_local, descriptions or {},
                         rows=explain_idx, said=said[explain_idx])
    background_bytes = np.ascontiguousarray(Zb).tobytes()
    metrics = clean({
        "kind": "explainability",
        "verdict": "pass" if additivity_error <= ADDITIVITY_TOLERANCE else "fail",
        "method": {
            "explainer": {"tree": "TreeExplainer", "linear": "LinearExplainer"}.get(family, "PermutationExplainer"),
            "estimator": type(estimator).__name__,
            "output_explained": (f"log-odds of class {favourable_label!r}" if family != "permutation"
                                 else f"probability of class {favourable_label!r}")
                                + (" (the favourable outcome: the data's positive label)" if positive is not None
                                   else " (taken as favourable: the data declares no positive label)"),
            "feature_perturbation": perturbation,
            "background_size": len(background_idx),
            "background_sha256": hashlib.sha256(background_bytes).hexdigest(),
            "background_source": "rows of the evaluation data drawn without replacement with the seed; the "
                                 "digest is of their transformed features as float64",
            "seed": seed,
            "rows_explained": len(explain_idx),
            "rows_explained_source": "rows of the evaluation data drawn without replacement with the seed",
            "local_cases": len(local),
            "transformed_features": len(names),
        },
        "additivity": {"max_abs_error": num(additivity_error), "tolerance": ADDITIVITY_TOLERANCE,
                       "passed": additivity_error <= ADDITIVITY_TOLERANCE},
        "base_value": num(base_value),
        "global_importance": [{"feature": cols[i], "mean_abs_shap": num(importance[i]), "rank": r + 1}
                              for r, i in enumerate(order)],
        "stability": stability,
        "local": local,
    })
    # The feature values in the order of `features` (the transformer puts some columns first): a chart of
    # feature i must colour and place its points by that feature's values, not by column i of the data.
    arrays = ExplanationArrays(features=cols, shap_values=agg, values=explained.reindex(columns=cols),
                               base_value=base_value, local=local)
    return metrics, arrays


def _stability(agg: np.ndarray, rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Spearman correlation of the importance ranking on bootstrap resamples against the full sample."""
    full = np.abs(agg).mean(axis=0)
    if agg.shape[1] < 2 or len(agg) < 2:
        return {"resamples": 0, "mean_spearman": None, "min_spearman": None}
    rhos = []
    for _ in range(n):
        sample = agg[rng.integers(0, len(agg), len(agg))]
        rho = spearmanr(full, np.abs(sample).mean(axis=0)).statistic
        rhos.append(1.0 if np.isnan(rho) else float(rho))
    return {"resamples": n, "mean_spearman": num(np.mean(rhos)), "min_spearman": num(np.min(rhos))}


def _local_cases(agg: np.ndarray, cols: list[str], explained: pd.DataFrame, predictions: np.ndarray,
                 rng: np.random.Generator, n_local: int, descriptions: dict[str, str], *,
                 rows: np.ndarray, said: np.ndarray) -> list[dict[str, Any]]:
    """Sampled cases, adverse ones first (each kind in row order), each with its top reasons.

    The reasons of an adverse outcome are the features that lowered the score most (the reasons for the
    decision, as an adverse action notice gives them); those of a favourable one, the features that raised it
    most. A feature that worked the other way is never given as a reason. `row` is the case's row in the
    evaluation data (0-based, header not counted); `prediction` is 1 for the favourable outcome and 0 for the
    adverse one, `label` what the model said."""
    adverse = np.flatnonzero(predictions == 0)
    favourable = np.flatnonzero(predictions != 0)
    take_adverse = min(len(adverse), max(1, n_local // 2 + n_local % 2))
    picks = list(rng.choice(adverse, take_adverse, replace=False)) if take_adverse else []
    rest = min(len(favourable), n_local - len(picks))
    picks += list(rng.choice(favourable, rest, replace=False)) if rest else []
    cases = []
    for i in sorted((int(p) for p in picks), key=lambda i: (predictions[i] != 0, i)):
        contrib = agg[i]
        adverse_case = bool(predictions[i] == 0)
        toward = -contrib if adverse_case else contrib  # how much each feature pushed toward this outcome
        top = [j for j in np.argsort(-toward, kind="stable")[:3] if toward[j] > 0]
        reasons = []
        for j in top:
            value = explained.iloc[i][cols[j]]
            direction = "raised" if contrib[j] > 0 else "lowered"
            label = descriptions.get(cols[j], cols[j])
            reasons.append({"feature": cols[j], "value": str(value), "shap": num(contrib[j]),
                            "text": f"{label} = {value} {direction} the score for a favourable outcome"})
        cases.append({"row": int(rows[i]), "prediction": int(predictions[i]), "label": str(said[i])[:200],
                      "adverse": adverse_case,
                      "contributions": {cols[j]: num(contrib[j]) for j in range(len(cols))}, "reasons": reasons})
    return cases
