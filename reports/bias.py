"""Bias and fairness metrics with fairlearn: per group, disparities against thresholds, and a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
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
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from reports.bootstrap import group_intervals, overall_intervals
from reports.errors import ReportInputError
from reports.numbers import clean, num

UNKNOWN = "unknown"
_UNKNOWN_VALUES = {"", "unknown", "not_known", "na", "n/a", "none", "nan", "?"}
CI = [0.025, 0.975]


@dataclass(frozen=True)
class BiasThresholds:
    demographic_parity_difference: float = 0.1
    demographic_parity_ratio: float = 0.8
    equalized_odds_difference: float = 0.1
    equalized_odds_ratio: float = 0.8
    equal_opportunity_difference: float = 0.1
    impact_ratio: float = 0.8

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BiasThresholds:
        known = {k: float(v) for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# Which way each disparity must lie: differences at most the threshold, ratios at least it.
_DIRECTION = {
    "demographic_parity_difference": "<=", "demographic_parity_ratio": ">=", "equalized_odds_difference": "<=",
    "equalized_odds_ratio": ">=", "equal_opportunity_difference": "<=", "impact_ratio": ">=",
}


def age_group(series: pd.Series) -> pd.Series:
    """The usual buckets for this data: under 25, 25 and over; missing ages stay unknown."""
    ages = pd.to_numeric(series, errors="coerce")
    return ages.map(lambda a: UNKNOWN if pd.isna(a) else ("under 25" if a < 25 else "25 and over"))


def normalise_groups(column: pd.Series) -> pd.Series:
    """Group labels as strings, with every spelling of 'missing' counted as one unknown group."""
    values = column.astype("object")
    return values.map(lambda v: UNKNOWN if pd.isna(v) or str(v).strip().lower() in _UNKNOWN_VALUES else str(v))


def _binary(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ReportInputError(f"{name} must be a non-empty one-dimensional array")
    try:
        arr = arr.astype(int)
    except (TypeError, ValueError) as exc:
        raise ReportInputError(f"{name} must be 0/1 labels, found values like {arr[:3].tolist()}") from exc
    if not set(np.unique(arr)) <= {0, 1}:
        raise ReportInputError(f"{name} must hold only 0 and 1, found {sorted(set(np.unique(arr).tolist()))}")
    return arr


def _per_group(y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series) -> MetricFrame:
    return MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "precision": _precision, "accuracy": accuracy_score},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups,
    )


def _precision(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=0))


def _check(name: str, attribute: str, value: float | None, threshold: float, group: str | None = None) -> dict:
    op = _DIRECTION[name]
    passed = value is not None and (value <= threshold if op == "<=" else value >= threshold)
    # How far beyond (or inside) the threshold: used to list the worst first.
    margin = 0.0 if value is None else (value - threshold if op == "<=" else threshold - value)
    out = {"metric": name, "attribute": attribute, "value": num(value), "threshold": threshold, "op": op,
           "status": "PASS" if passed else "FAIL", "margin": num(margin)}
    if group is not None:
        out["group"] = group
    return out


def _attribute_report(name: str, groups: pd.Series, y_true: np.ndarray, y_pred: np.ndarray,
                      thresholds: BiasThresholds, seed: int, n_boot: int, min_size: int) -> dict[str, Any]:
    counts = groups.value_counts().sort_index()
    n = len(groups)
    too_small = {g for g, c in counts.items() if c < min_size or g == UNKNOWN}
    by_group = _per_group(y_true, y_pred, groups).by_group
    # The intervals MetricFrame(n_boot=n_boot, ci_quantiles=CI, random_state=seed) gives, counted in numpy.
    lo, hi = (group_intervals(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=n_boot, seed=seed,
                              quantiles=CI) if n_boot else (by_group, by_group))
    rows = []
    for g in counts.index:
        row: dict[str, Any] = {"group": g, "n": int(counts[g]), "share": num(counts[g] / n),
                               "too_small": g in too_small}
        for metric in by_group.columns:
            row[metric] = {"value": num(by_group.loc[g, metric]),
                           "ci": [num(lo.loc[g, metric]), num(hi.loc[g, metric])]}
        rows.append(row)
    eligible = groups[~groups.isin(too_small)]
    mask = groups.isin(set(eligible.unique())).to_numpy()
    checks: list[dict[str, Any]] = []
    disparities: dict[str, Any] = {}
    if eligible.nunique() >= 2:
        yt, yp, gs = y_true[mask], y_pred[mask], groups[mask]
        sub = MetricFrame(metrics={"sr": selection_rate, "tpr": true_positive_rate}, y_true=yt, y_pred=yp,
                          sensitive_features=gs)
        disparities = {
            "demographic_parity_difference": demographic_parity_difference(yt, yp, sensitive_features=gs),
            "demographic_parity_ratio": demographic_parity_ratio(yt, yp, sensitive_features=gs),
            "equalized_odds_difference": equalized_odds_difference(yt, yp, sensitive_features=gs),
            "equalized_odds_ratio": equalized_odds_ratio(yt, yp, sensitive_features=gs),
            "equal_opportunity_difference": float(sub.difference()["tpr"]),
        }
        for metric, value in disparities.items():
            checks.append(_check(metric, name, value, getattr(thresholds, metric)))
        rates = sub.by_group["sr"]
        top = float(rates.max())
        impact = {str(g): (float(r) / top if top > 0 else None) for g, r in rates.items()}
        disparities["impact_ratio"] = {g: num(v) for g, v in impact.items()}
        disparities["most_selected_group"] = str(rates.idxmax())
        for g, v in impact.items():
            checks.append(_check("impact_ratio", name, v, thresholds.impact_ratio, group=g))
    return {
        "attribute": name,
        "groups": rows,
        "unknown": int(counts.get(UNKNOWN, 0)),
        "small_groups": sorted(too_small - {UNKNOWN}),
        "disparities": {k: (num(v) if not isinstance(v, dict | str) else v) for k, v in disparities.items()},
        "conclusive": eligible.nunique() >= 2,
        "checks": checks,
    }


def _overall(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None, seed: int,
             n_boot: int) -> dict[str, Any]:
    const = np.zeros(len(y_true), dtype=int)
    metrics: dict[str, Any] = {"accuracy": accuracy_score, "precision": _precision,
                               "recall": lambda t, p: float(recall_score(t, p, zero_division=0))}
    frame = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=const)
    with_auc = y_score is not None and len(np.unique(y_true)) == 2
    # The intervals MetricFrame(n_boot=n_boot, ci_quantiles=CI, random_state=seed) gives, counted in numpy.
    cis = overall_intervals(y_true=y_true, y_pred=y_pred, y_score=y_score if with_auc else None, n_boot=n_boot,
                            seed=seed, quantiles=CI) if n_boot else {}
    out: dict[str, Any] = {}
    for m in metrics:
        out[m] = {"value": num(frame.overall[m]), "ci": [num(b) for b in cis.get(m, [None, None])]}
    if with_auc:
        auc = MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=y_true, y_pred=y_score,
                          sensitive_features=const)
        out["roc_auc"] = {"value": num(auc.overall["roc_auc"]),
                          "ci": [num(b) for b in cis.get("roc_auc", [None, None])]}
    return out


def compute_bias(
    *,
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame,
    thresholds: BiasThresholds,
    seed: int,
    n_boot: int,
    y_score: Any = None,
    min_group_size: int = 30,
    min_group_share: float = 0.02,
) -> dict[str, Any]:
    """The bias report's numbers: groups, rates with bootstrap CIs, disparities, checks and the verdict."""
    yt, yp = _binary("y_true", y_true), _binary("y_pred", y_pred)
    if len(yt) != len(yp) or len(sensitive) != len(yt):
        raise ReportInputError("labels, predictions and sensitive attributes must have the same number of rows")
    if sensitive.shape[1] == 0:
        raise ReportInputError("at least one sensitive attribute is needed")
    score = None if y_score is None else np.asarray(y_score, dtype=float)
    min_size = max(min_group_size, int(np.ceil(min_group_share * len(yt))))
    columns = {str(c): normalise_groups(sensitive[c]).reset_index(drop=True) for c in sensitive.columns}
    attributes = [_attribute_report(c, g, yt, yp, thresholds, seed, n_boot, min_size) for c, g in columns.items()]
    intersections = []
    if len(columns) >= 2:
        names = list(columns)
        combined = columns[names[0]]
        for other in names[1:]:
            combined = combined + " & " + columns[other]
        combined = combined.map(lambda v: UNKNOWN if UNKNOWN in v.split(" & ") else v)
        intersections.append(_attribute_report(" x ".join(names), combined, yt, yp, thresholds, seed, n_boot,
                                               min_size))
    checks = sorted((c for a in attributes + intersections for c in a["checks"]),
                    key=lambda c: (-(c["margin"] or 0.0), c["attribute"], c["metric"], c.get("group", "")))
    failed = [c for c in checks if c["status"] == "FAIL"]
    verdict = "fail" if failed else "pass"
    return clean({
        "kind": "bias",
        "verdict": verdict,
        "rows": len(yt),
        "thresholds": thresholds.as_dict(),
        "min_group_size": min_size,
        "seed": seed,
        "n_boot": n_boot,
        "overall": _overall(yt, yp, score, seed, n_boot),
        "attributes": attributes,
        "intersections": intersections,
        "checks": checks,
        "failed_checks": len(failed),
        "monitoring_triggers": [
            "re-run when any group's selection rate moves by more than "
            f"{thresholds.demographic_parity_difference / 2:.2f}",
            f"alert when an impact ratio falls below {min(0.9, thresholds.impact_ratio + 0.05):.2f}",
            "re-run on every new evaluation dataset version and at least quarterly in production",
        ],
    })
