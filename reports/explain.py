"""Explanations with SHAP: the explainer chosen by model type, global and local importance, reason codes, stability."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shap
from scipy.stats import spearmanr
from sklearn.pipeline import Pipeline

from reports.errors import ReportInputError
from reports.evidence import json_ready, num

# Classes shap's TreeExplainer reads exactly; matched on the class and its bases so subclasses count too.
TREE_CLASSES = frozenset({"DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier",
                          "ExtraTreesClassifier", "GradientBoostingClassifier", "HistGradientBoostingClassifier",
                          "XGBClassifier", "LGBMClassifier", "CatBoostClassifier"})
LINEAR_CLASSES = frozenset({"LinearClassifierMixin"})  # LogisticRegression, SGDClassifier, RidgeClassifier, LinearSVC
# Wrappers that move the decision threshold but leave the score alone: the score model inside is explained.
SCORE_WRAPPERS = frozenset({"FixedThresholdClassifier", "TunedThresholdClassifierCV", "FrozenEstimator"})
ADDITIVITY_TOLERANCE = 1e-6
PERMUTATIONS = 3  # forward and backward passes each: exact additivity, and feature order effects averaged
ADVERSE_CLASS = 0  # the model predicts 1 for good credit: 0 is the adverse outcome (credit denied)
N_REASONS = 4  # adverse-action notices customarily give up to four principal reasons
RISK = "the risk of default"


@dataclass(frozen=True)
class ExplanationArrays:
    """The numbers the charts need, in the explained features (original columns where they can be mapped back)."""

    features: list[str]
    shap_values: np.ndarray  # [rows explained, features]
    values: pd.DataFrame  # the explained rows' feature values, columns = features
    base_value: float
    output: np.ndarray  # the model output explained, per explained row
    order: list[int]  # feature indices, most important first
    rows: np.ndarray  # positions in X of the explained rows


def _mro(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def _score_model(model: Any) -> Any:
    while type(model).__name__ in SCORE_WRAPPERS:
        inner = getattr(model, "estimator_", None) or getattr(model, "estimator", None)
        if inner is None:
            break
        model = inner
    return model


def _kind(estimator: Any) -> str:
    names = _mro(estimator)
    return "tree" if names & TREE_CLASSES else "linear" if names & LINEAR_CLASSES else "permutation"


def _source_columns(names: list[str], columns: list[str]) -> list[str] | None:
    """The original column of each transformed feature ('cat__sex_male' -> 'sex'), or None if one cannot be told."""
    out = []
    for name in names:
        bare = name.split("__", 1)[-1]
        match = [c for c in columns if bare == c or bare.startswith(c + "_")]
        if not match:
            return None
        out.append(max(match, key=len))
    return out


class _Codes:
    """Categorical columns as numeric codes and back, so shap's maskers can mix rows of a DataFrame."""

    def __init__(self, X: pd.DataFrame) -> None:
        self.X = X
        self.categories = {c: sorted(X[c].dropna().unique().tolist(), key=str) for c in X.columns
                           if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])}

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in X.columns:
            if c in self.categories:
                lookup = {v: i for i, v in enumerate(self.categories[c])}
                cols.append(X[c].map(lambda v, lk=lookup: lk.get(v, -1)).to_numpy(dtype=np.float64))
            else:
                cols.append(X[c].to_numpy(dtype=np.float64))
        return np.column_stack(cols)

    def decode(self, A: np.ndarray) -> pd.DataFrame:
        out = {}
        for j, c in enumerate(self.X.columns):
            if c in self.categories:
                cats = np.asarray([*self.categories[c], None], dtype=object)
                out[c] = pd.Series(cats[A[:, j].astype(int)]).astype(self.X[c].dtype)
            else:
                out[c] = pd.Series(A[:, j]).astype(self.X[c].dtype)
        return pd.DataFrame(out)


def _binary_proba(model: Any, X: Any) -> np.ndarray:
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != 2:
        raise ReportInputError(f"only binary classifiers are explained; predict_proba gave shape {proba.shape}")
    return proba[:, 1]


def _explain(model: Any, X: pd.DataFrame, idx: np.ndarray, bg: np.ndarray, seed: int) -> dict[str, Any]:
    """SHAP values of the explained rows in the space the explainer works in, with what it explained."""
    scorer = _score_model(model)
    pre, est = (scorer[:-1], scorer[-1]) if isinstance(scorer, Pipeline) and len(scorer) > 1 else (None, scorer)
    kind = _kind(est)
    if kind == "permutation":  # model-agnostic: the whole score model, on the original columns
        codes = _Codes(X)
        A = codes.encode(X.iloc[np.concatenate([idx, bg])])
        Ae, Ab = A[: len(idx)], A[len(idx):]

        def f(a: np.ndarray) -> np.ndarray:
            return _binary_proba(scorer, codes.decode(a))

        state = np.random.get_state()  # shap seeds numpy's global generator; the caller's is given back
        try:
            explainer = shap.PermutationExplainer(f, shap.maskers.Independent(Ab, max_samples=len(Ab)), seed=seed)
            exp = explainer(Ae, max_evals=PERMUTATIONS * (2 * A.shape[1] + 1), silent=True)
        finally:
            np.random.set_state(state)
        return {"kind": kind, "estimator": est, "pre": None, "names": list(map(str, X.columns)), "Z": Ae, "exp": exp,
                "output": f(Ae), "background": Ab, "output_explained": "probability of class 1"}
    rows = X.iloc[np.concatenate([idx, bg])]
    Z = rows if pre is None else pre.transform(rows)
    Z = np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=np.float64)
    names = [str(n) for n in (pre.get_feature_names_out() if pre is not None else X.columns)]
    Ze, Zb = Z[: len(idx)], Z[len(idx):]
    if kind == "tree":
        exp = shap.TreeExplainer(est)(Ze, check_additivity=False)
        background = None
    else:
        exp = shap.LinearExplainer(est, Zb)(Ze)
        background = Zb
    if hasattr(est, "decision_function"):
        output, explained = np.asarray(est.decision_function(Ze), dtype=np.float64), "decision function (log-odds)"
    else:
        output, explained = _binary_proba(est, Ze), "probability of class 1"
    return {"kind": kind, "estimator": est, "pre": pre, "names": names, "Z": Ze, "exp": exp, "output": output,
            "background": background, "output_explained": explained}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
    return str(value)


def _case(pos: int, i: int, agg: np.ndarray, features: list[str], values: pd.DataFrame, predictions: np.ndarray,
          actual: np.ndarray | None, base: float, descriptions: dict[str, str]) -> dict[str, Any]:
    """One applicant: every contribution, and the reasons that pushed towards the outcome the model gave."""
    contrib = agg[i]
    adverse = bool(predictions[pos] == ADVERSE_CLASS)
    by_size = np.argsort(-np.abs(contrib), kind="stable")
    # For a denial, the factors that pushed towards it (CFPB: the reasons actually considered); for an approval,
    # those that pushed towards approval.
    toward = [j for j in np.argsort(contrib if adverse else -contrib, kind="stable")
              if (contrib[j] < 0 if adverse else contrib[j] > 0)][:N_REASONS]
    reasons = []
    for rank, j in enumerate(toward, 1):
        name, value = features[j], _fmt(values.iloc[i, j])
        label = f"{descriptions[name]} ({name} = {value})" if name in descriptions else f"{name} = {value}"
        reasons.append({"rank": rank, "feature": name, "value": value, "shap": num(contrib[j]),
                        "text": f"{label} {'raised' if contrib[j] < 0 else 'lowered'} {RISK}"})
    return {"row": pos, "prediction": int(predictions[pos]), "adverse": adverse,
            "actual": None if actual is None else int(actual[pos]), "base_value": num(base),
            "output": num(base + contrib.sum()),
            "contributions": [{"feature": features[j], "value": _fmt(values.iloc[i, j]), "shap": num(contrib[j])}
                              for j in by_size],
            "reasons": reasons}


def _pick_cases(adverse: np.ndarray, n_local: int, rng: np.random.Generator) -> list[int]:
    """Indices into the explained rows: half adverse outcomes (rounded up) where there are any, then the rest."""
    bad, good = np.flatnonzero(adverse), np.flatnonzero(~adverse)
    n_bad = min(len(bad), max(math.ceil(n_local / 2), n_local - len(good)))
    n_good = min(len(good), n_local - n_bad)
    picked = list(rng.choice(bad, n_bad, replace=False)) + list(rng.choice(good, n_good, replace=False))
    return sorted(int(p) for p in picked)


def _stability(agg: np.ndarray, rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Spearman correlation between the importance ranking on bootstrap resamples of the explained rows and on
    all of them: near 1 means the ranking is not an accident of which rows were sampled."""
    full = np.abs(agg).mean(axis=0)
    rhos = []
    for _ in range(n if agg.shape[1] >= 2 and len(agg) >= 2 else 0):
        sample = np.abs(agg[rng.integers(0, len(agg), len(agg))]).mean(axis=0)
        rho = spearmanr(full, sample).statistic
        rhos.append(1.0 if np.isnan(rho) else float(rho))  # constant importances: the ranking cannot differ
    return {"resamples": len(rhos), "method": "Spearman rank correlation of mean |SHAP| on bootstrap resamples "
                                              "of the explained rows against all of them",
            "mean_spearman": num(np.mean(rhos)) if rhos else None, "min_spearman": num(np.min(rhos)) if rhos else None}


def compute_explanation(*, model: Any, X: pd.DataFrame, y: Any = None, seed: int, background_size: int = 100,
                        n_explain: int = 200, n_local: int = 4, n_stability: int = 10,
                        feature_descriptions: dict[str, str] | None = None) -> tuple[dict[str, Any], ExplanationArrays]:
    """The explainability report's numbers (JSON-ready, deterministic for a seed) and the arrays for its charts.

    Tree models (also the last step of a Pipeline, explained after its preprocessing) get TreeExplainer, linear
    models LinearExplainer, anything else PermutationExplainer on predict_proba over a seeded background sample.
    Features the preprocessing splits (one-hot columns) are summed back to their source column."""
    if not isinstance(X, pd.DataFrame) or X.empty:
        raise ReportInputError("X must be a non-empty pandas DataFrame of the model's input columns")
    if min(background_size, n_explain) < 1 or n_local < 0 or n_stability < 0:
        raise ReportInputError("background_size and n_explain must be >= 1, n_local and n_stability >= 0")
    actual = None if y is None else np.asarray(y)
    if actual is not None and actual.shape != (len(X),):
        raise ReportInputError(f"y must have one label per row of X ({len(X)}), got shape {actual.shape}")
    idx, bg = _samples(len(X), n_explain, background_size, seed)
    try:
        predictions = np.asarray(model.predict(X)).astype(int)
        explained = _explain(model, X, idx, bg, seed)
    except ReportInputError:
        raise
    except Exception as exc:  # whatever a foreign model raises, the report fails with its reason
        raise ReportInputError(f"the model cannot be explained on this data: {type(exc).__name__}: "
                               f"{str(exc)[:300]}") from exc
    rng = np.random.default_rng([seed, 1])
    exp, names = explained["exp"], explained["names"]
    values = np.asarray(exp.values, dtype=np.float64)
    base = np.asarray(exp.base_values, dtype=np.float64)
    if values.ndim == 3:  # one set per class: class 1
        values, base = values[..., 1], base[..., 1]
    base = np.broadcast_to(base.reshape(-1) if base.size > 1 else base.reshape(()), (len(values),))
    error = float(np.max(np.abs(values.sum(axis=1) + base - explained["output"])))
    columns = [str(c) for c in X.columns]
    sources = _source_columns(names, columns) if explained["pre"] is not None else names
    if sources is None:  # the preprocessing made features that are no single column (e.g. PCA): keep them
        features, agg = names, values
        shown = pd.DataFrame(explained["Z"], columns=names)
    else:
        features = [c for c in columns if c in sources]
        agg = np.stack([values[:, [k for k, s in enumerate(sources) if s == c]].sum(axis=1) for c in features], 1)
        shown = X.iloc[idx][features].reset_index(drop=True)
    importance = np.abs(agg).mean(axis=0)
    order = [int(i) for i in np.argsort(-importance, kind="stable")]
    total = float(importance.sum()) or 1.0
    descriptions = feature_descriptions or {}
    base_value = float(base.mean())
    cases = [_case(int(idx[i]), i, agg, features, shown, predictions, actual, float(base[i]), descriptions)
             for i in _pick_cases(predictions[idx] == ADVERSE_CLASS, n_local, rng)]
    background = explained["background"]
    est = explained["estimator"]
    metrics = {
        "kind": "explainability", "verdict": "pass" if error <= ADDITIVITY_TOLERANCE else "fail",
        "adverse_class": ADVERSE_CLASS,
        "method": {
            "explainer": {"tree": "TreeExplainer", "linear": "LinearExplainer"}.get(explained["kind"],
                                                                                    "PermutationExplainer"),
            "model": type(model).__name__, "estimator": type(est).__name__,
            "preprocessing": None if explained["pre"] is None else type(explained["pre"]).__name__,
            "feature_space": "original columns" if sources is not None else "transformed features",
            "transformed_features": len(names),
            "output_explained": explained["output_explained"],
            "feature_perturbation": {"tree": "tree_path_dependent (the trees' own training cover; no background)",
                                     "linear": "interventional"}.get(explained["kind"], "interventional"),
            "permutations": PERMUTATIONS if explained["kind"] == "permutation" else None,
            "background_size": 0 if background is None else len(background),
            "background_sha256": None if background is None else hashlib.sha256(
                np.ascontiguousarray(background, dtype="<f8").tobytes()).hexdigest(),
            "seed": seed, "rows_explained": len(idx), "rows_available": len(X),
        },
        "additivity": {"max_abs_error": num(error), "tolerance": ADDITIVITY_TOLERANCE,
                       "passed": error <= ADDITIVITY_TOLERANCE},
        "base_value": num(base_value),
        "global_importance": [{"rank": r + 1, "feature": features[i], "description": descriptions.get(features[i]),
                               "mean_abs_shap": num(importance[i]), "share": num(importance[i] / total)}
                              for r, i in enumerate(order)],
        "stability": _stability(agg, rng, n_stability),
        "local": cases,
    }
    arrays = ExplanationArrays(features=features, shap_values=agg, values=shown, base_value=base_value,
                               output=explained["output"], order=order, rows=idx)
    return dict(json_ready(metrics)), arrays


def _samples(n: int, n_explain: int, background_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the explained rows and of the background rows, both drawn from the seed alone."""
    rng = np.random.default_rng([seed, 0])
    explain = np.sort(rng.choice(n, size=min(n_explain, n), replace=False))
    background = np.sort(rng.choice(n, size=min(background_size, n), replace=False))
    return explain, background
