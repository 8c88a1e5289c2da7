"""Bias and fairness metrics with fairlearn: per group, disparities against thresholds, and a verdict."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from reports.bootstrap import group_bootstrap, overall_bootstrap
from reports.errors import ReportInputError
from reports.numbers import clean, num, num_toward

UNKNOWN = "unknown"
# Only genuinely missing values are unknown: NaN/None, an empty string, and the markers the report
# documents ("unknown" itself, so normalising twice changes nothing, and "not known"). Spellings
# such as "none", "na" or "?" can be real categories (a religion of "none") and stay groups.
_UNKNOWN_VALUES = {"", UNKNOWN, "not known", "not_known"}
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
DIRECTION = {
    "demographic_parity_difference": "<=", "demographic_parity_ratio": ">=", "equalized_odds_difference": "<=",
    "equalized_odds_ratio": ">=", "equal_opportunity_difference": "<=", "impact_ratio": ">=",
}
# Why a rate has no value: its denominator is zero. Such a rate is undefined, never 0 or 1.
UNDEFINED = {
    "tpr": "no actual positives (TP + FN = 0)",
    "recall": "no actual positives (TP + FN = 0)",
    "fpr": "no actual negatives (FP + TN = 0)",
    "precision": "no positive predictions (TP + FP = 0)",
    "roc_auc": "the labels hold one class only",
}
_LABELS = {"tpr": "TPR", "fpr": "FPR"}


def age_group(series: pd.Series) -> pd.Series:
    """The usual buckets for this data: under 25, 25 and over; missing ages stay unknown."""
    ages = pd.to_numeric(series, errors="coerce")
    return ages.map(lambda a: UNKNOWN if pd.isna(a) else ("under 25" if a < 25 else "25 and over"))


def normalise_groups(column: pd.Series) -> pd.Series:
    """Group labels as strings, with missing values and the documented markers counted as one unknown group."""
    values = column.astype("object")
    return values.map(lambda v: UNKNOWN if pd.isna(v) or str(v).strip().lower() in _UNKNOWN_VALUES else str(v))


# An age column by its name: "age" as a word of it ("age", "Age", "applicant_age", "age_years"), not inside
# another word ("usage", "mileage", "percentage", "stage"), whose numbers bucketed as ages would be nonsense.
_AGE = re.compile(r"(?<![a-z])age(?![a-z])").search


def is_age(name: str, column: pd.Series) -> bool:
    """A numeric column named for age: bucketed by `age_group` into the report's groups."""
    return pd.api.types.is_numeric_dtype(column) and bool(_AGE(name.lower()))


def sensitive_groups(name: str, column: pd.Series) -> tuple[str, pd.Series]:
    """A sensitive column as the bias report groups it: a numeric age column bucketed (named "<name> group"),
    any other column's values normalised. Monitoring groups production rows the same way, so its groups are
    the validated report's."""
    if is_age(name, column):
        return f"{name} group", age_group(column)
    return name, normalise_groups(column)


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


def _tpr(y_true: Any, y_pred: Any) -> float:
    return float(recall_score(y_true, y_pred, zero_division=np.nan))


def _fpr(y_true: Any, y_pred: Any) -> float:
    negatives = np.asarray(y_true) == 0
    return float(np.asarray(y_pred)[negatives].mean()) if negatives.any() else np.nan


def _precision(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=np.nan))


def _per_group(y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series) -> MetricFrame:
    return MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": _tpr, "fpr": _fpr, "precision": _precision,
                 "accuracy": accuracy_score},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups,
    )


def _entry(metric: str, value: Any, ci: tuple[Any, Any] | None, defined: int, n_boot: int) -> dict[str, Any]:
    """A rate with its interval; an undefined rate or interval is null, with a note saying why."""
    if num(value) is None:
        return {"value": None, "ci": [None, None], "note": f"undefined: {UNDEFINED.get(metric, 'no rows')}"}
    out: dict[str, Any] = {"value": num(value), "ci": [None, None]}
    if not n_boot or ci is None:
        return out
    if defined == 0 or num(ci[0]) is None:
        out["note"] = "no interval: undefined in every bootstrap resample"
        return out
    out["ci"] = [num(ci[0]), num(ci[1])]
    if defined < n_boot:
        out["note"] = f"interval from the {defined} of {n_boot} resamples in which it is defined"
    return out


def _check(name: str, attribute: str, value: float, threshold: float, group: str | None = None) -> dict:
    op = DIRECTION[name]
    # The status is decided on the value written, rounded toward failing: what the reader sees is what was judged.
    written = num_toward(value, op)
    assert written is not None
    passed = written <= threshold if op == "<=" else written >= threshold
    # How far beyond (or inside) the threshold: used to list the worst first.
    margin = written - threshold if op == "<=" else threshold - written
    out = {"metric": name, "attribute": attribute, "value": written, "threshold": threshold, "op": op,
           "status": "PASS" if passed else "FAIL", "margin": num(margin)}
    if group is not None:
        out["group"] = group
    return out


def _spread(rates: pd.Series) -> tuple[float, float | None]:
    """Largest minus smallest rate, and smallest over largest (undefined when the largest is 0)."""
    top, low = float(rates.max()), float(rates.min())
    return top - low, (low / top if top > 0 else None)


def _disparities(name: str, rates: pd.DataFrame,
                 thresholds: BiasThresholds) -> tuple[dict[str, Any], list[dict], list[dict], list[str]]:
    """Disparities among the groups large enough to count; a group whose rate is undefined is left out
    of the comparisons of that rate (named in a note), and a comparison that cannot be made is listed
    as not checked with the reason: it is neither a pass nor a fail."""
    values: dict[str, float | None] = {}
    why: dict[str, str] = {}
    notes: list[str] = []
    spreads: dict[str, tuple[float, float | None]] = {}
    for metric in ("tpr", "fpr"):
        label = _LABELS[metric]
        for g in rates.index[rates[metric].isna()]:
            uses = "equalized odds and equal opportunity" if metric == "tpr" else "equalized odds"
            notes.append(f"{g}: {label} undefined, {UNDEFINED[metric]}; left out of {uses}")
        defined = rates[metric].dropna()
        if len(defined) >= 2:
            spreads[metric] = _spread(defined)
            if spreads[metric][1] is None:
                notes.append(f"every group's {label} is 0: its ratio is undefined and left out of the equalized "
                             "odds ratio")
        else:
            notes.append(f"fewer than two groups large enough to count have a defined {label}: "
                         f"{label} is left out of equalized odds" + (" and equal opportunity" if metric == "tpr"
                                                                     else ""))
    dp_difference, dp_ratio = _spread(rates["selection_rate"])
    values["demographic_parity_difference"] = dp_difference
    values["demographic_parity_ratio"] = dp_ratio
    why["demographic_parity_ratio"] = "no group large enough to count is selected: the ratio is undefined"
    differences = [s[0] for s in spreads.values()]
    ratios = [s[1] for s in spreads.values() if s[1] is not None]
    values["equalized_odds_difference"] = max(differences) if differences else None
    why["equalized_odds_difference"] = "fewer than two groups large enough to count have a defined TPR or FPR"
    values["equalized_odds_ratio"] = min(ratios) if ratios else None
    why["equalized_odds_ratio"] = "no TPR or FPR ratio is defined among the groups large enough to count"
    values["equal_opportunity_difference"] = spreads["tpr"][0] if "tpr" in spreads else None
    why["equal_opportunity_difference"] = "fewer than two groups large enough to count have a defined TPR"
    checks, not_checked = [], []
    for metric, value in values.items():
        if value is None:
            not_checked.append({"metric": metric, "attribute": name, "reason": why[metric]})
        else:
            checks.append(_check(metric, name, value, getattr(thresholds, metric)))
    disparities: dict[str, Any] = {k: num_toward(v, DIRECTION[k]) for k, v in values.items()}
    top = float(rates["selection_rate"].max())
    if top > 0:
        impact = {str(g): float(r) / top for g, r in rates["selection_rate"].items()}
        for g, v in impact.items():
            checks.append(_check("impact_ratio", name, v, thresholds.impact_ratio, group=g))
        disparities["impact_ratio"] = {g: num_toward(v, ">=") for g, v in impact.items()}
        disparities["most_selected_group"] = str(rates["selection_rate"].idxmax())
    else:
        not_checked.append({"metric": "impact_ratio", "attribute": name,
                            "reason": "no group large enough to count is selected: impact ratios are undefined"})
    return disparities, checks, not_checked, notes


def _why_no_check(counts: pd.Series, min_size: int) -> str:
    known = {str(g): int(c) for g, c in counts.items() if g != UNKNOWN}
    listed = ", ".join(f"{g}: {c} rows" for g, c in known.items()) or "none"
    if len(known) < 2:
        return (f"{len(known)} group{'' if len(known) == 1 else 's'} with a known value ({listed}); a disparity "
                f"needs at least two groups of {min_size} or more rows")
    return f"fewer than two groups have the minimum of {min_size} rows ({listed})"


def _attribute_report(name: str, groups: pd.Series, y_true: np.ndarray, y_pred: np.ndarray,
                      thresholds: BiasThresholds, seed: int, n_boot: int, min_size: int) -> dict[str, Any]:
    counts = groups.value_counts().sort_index()
    n = len(groups)
    too_small = {g for g, c in counts.items() if c < min_size or g == UNKNOWN}
    by_group = _per_group(y_true, y_pred, groups).by_group
    # The intervals MetricFrame(n_boot=n_boot, ci_quantiles=CI, random_state=seed) gives, counted in numpy.
    boot = group_bootstrap(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=n_boot, seed=seed,
                           quantiles=CI) if n_boot else None
    rows = []
    for g in counts.index:
        row: dict[str, Any] = {"group": g, "n": int(counts[g]), "share": num(counts[g] / n),
                               "too_small": g in too_small}
        for metric in by_group.columns:
            if boot is None:
                row[metric] = _entry(metric, by_group.loc[g, metric], None, 0, n_boot)
            else:
                (lo, hi), defined = boot
                row[metric] = _entry(metric, by_group.loc[g, metric], (lo.loc[g, metric], hi.loc[g, metric]),
                                     int(defined.loc[g, metric]), n_boot)
        rows.append(row)
    eligible = [g for g in counts.index if g not in too_small]
    checks: list[dict[str, Any]] = []
    not_checked: list[dict[str, Any]] = []
    disparities: dict[str, Any] = {}
    notes: list[str] = []
    if len(eligible) >= 2:
        disparities, checks, not_checked, notes = _disparities(name, by_group.loc[eligible], thresholds)
    out = {
        "attribute": name,
        "groups": rows,
        "unknown": int(counts.get(UNKNOWN, 0)),
        "small_groups": sorted(too_small - {UNKNOWN}),
        "disparities": disparities,
        "conclusive": bool(checks),
        "checks": checks,
        "not_checked": not_checked,
        "notes": notes,
    }
    if not checks:
        out["no_check_reason"] = _why_no_check(counts, min_size)
    return out


def _overall(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None, seed: int,
             n_boot: int) -> dict[str, Any]:
    values: dict[str, float] = {"accuracy": float(accuracy_score(y_true, y_pred)),
                                "precision": _precision(y_true, y_pred), "recall": _tpr(y_true, y_pred)}
    both_classes = len(np.unique(y_true)) == 2
    if y_score is not None:
        values["roc_auc"] = float(roc_auc_score(y_true, y_score)) if both_classes else np.nan
    # The intervals MetricFrame(n_boot=n_boot, ci_quantiles=CI, random_state=seed) gives, counted in numpy.
    cis, defined = overall_bootstrap(y_true=y_true, y_pred=y_pred, y_score=y_score if both_classes else None,
                                     n_boot=n_boot, seed=seed, quantiles=CI) if n_boot else ({}, {})
    return {m: _entry(m, v, (cis[m][0], cis[m][1]) if m in cis else None, defined.get(m, 0), n_boot)
            for m, v in values.items()}


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
    # An attribute with no check made is not evidence of fairness: the gate must not pass on it.
    # The verdict field holds pass / fail / info only, and the gate passes on "pass" alone.
    unchecked = [a for a in attributes if not a["checks"]]
    reasons = [f"{len(failed)} check(s) failed"] if failed else []
    reasons += [f"no check could be made for {a['attribute']}: {a['no_check_reason']}" for a in unchecked]
    return clean({
        "kind": "bias",
        "verdict": "fail" if reasons else "pass",
        "verdict_reasons": reasons,
        "rows": len(yt),
        "thresholds": thresholds.as_dict(),
        "min_group_size": min_size,
        "seed": seed,
        "n_boot": n_boot,
        "overall": _overall(yt, yp, score, seed, n_boot),
        "attributes": attributes,
        "intersections": intersections,
        "checks": checks,
        "not_checked": [n for a in attributes + intersections for n in a["not_checked"]],
        "failed_checks": len(failed),
        "monitoring_triggers": [
            "re-run when any group's selection rate moves by more than "
            f"{thresholds.demographic_parity_difference / 2:.2f}",
            f"alert when an impact ratio falls below {min(0.9, thresholds.impact_ratio + 0.05):.2f}",
            "re-run on every new evaluation dataset version and at least quarterly in production",
        ],
    })
