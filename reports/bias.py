"""Bias and fairness metrics: groups, per-group rates with bootstrap CIs, disparities against thresholds, verdict."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from reports.errors import ReportInputError
from reports.evidence import json_ready, num

UNKNOWN = "unknown"
# Spellings of "not recorded" seen in HR and credit data; all are counted as one unknown group, never dropped.
UNKNOWN_SPELLINGS = frozenset({"", "unknown", "not_known", "not known", "na", "n/a", "nan", "none", "null", "?",
                               "missing", "unspecified", "undisclosed", "prefer not to say", "prefer_not_to_say"})
CI_QUANTILES = (0.025, 0.975)
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy")
DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
               "equalized_odds_ratio", "equal_opportunity_difference")
# A numeric attribute with more levels than this is a measurement (age, income), not a set of groups.
MAX_NUMERIC_LEVELS = 20


@dataclass(frozen=True)
class BiasThresholds:
    """The policy's limits: every *_difference at most its value, every *_ratio at least its value."""

    demographic_parity_difference: float = 0.1
    demographic_parity_ratio: float = 0.8
    equalized_odds_difference: float = 0.1
    equalized_odds_ratio: float = 0.8
    equal_opportunity_difference: float = 0.1
    impact_ratio: float = 0.8  # the four-fifths rule

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BiasThresholds:
        """Defaults for keys not given; an unknown key or a value out of range is refused, never ignored."""
        data = dict(data or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ReportInputError(f"unknown bias threshold(s) {', '.join(unknown)}; known: {', '.join(known)}")
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ReportInputError(f"bias threshold {key} must be a number, got {value!r}")
            if not 0 <= value <= 1:
                raise ReportInputError(f"bias threshold {key} must lie between 0 and 1, got {value}")
        return cls(**{k: float(v) for k, v in data.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @staticmethod
    def op(metric: str) -> str:
        return "<=" if metric.endswith("difference") else ">="


def age_group(series: pd.Series) -> pd.Series:
    """The usual buckets for German Credit: 'under 25' and '25 and over'; a missing or unreadable age is unknown."""
    ages = pd.to_numeric(series, errors="coerce")
    return pd.Series(np.where(ages.isna(), UNKNOWN, np.where(ages < 25, "under 25", "25 and over")),
                     index=series.index, name=series.name, dtype=object)


def normalise_groups(column: pd.Series) -> pd.Series:
    """Group labels as stripped strings, every spelling of 'not recorded' made the one group 'unknown'."""
    return column.astype(object).map(lambda v: UNKNOWN if _is_unknown(v) else str(v).strip())


def _is_unknown(value: Any) -> bool:
    return bool(pd.isna(value)) or str(value).strip().lower() in UNKNOWN_SPELLINGS


def _labels(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ReportInputError(f"{name} must be a non-empty one-dimensional array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ReportInputError(f"{name} must hold numeric 0/1 labels; its dtype is {arr.dtype}, "
                               f"with values like {arr[:3].tolist()}")
    found = set(np.unique(arr).tolist())
    if not found <= {0, 1}:
        raise ReportInputError(f"{name} must hold only 0 and 1, found {sorted(found, key=str)[:6]}")
    return arr.astype(np.int64)


def _scores(values: Any, n: int) -> np.ndarray | None:
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReportInputError("y_score must hold numbers (a score or probability per row)") from exc
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise ReportInputError(f"y_score must hold {n} finite numbers, got shape {arr.shape}")
    return arr


def _attribute(name: str, column: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """Labels for one attribute and how many rows each spelling of 'unknown' had."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.dropna().unique())
        empty = [str(c) for c in column.cat.categories if c not in present and not _is_unknown(c)]
        if empty:
            raise ReportInputError(f"attribute {name!r} declares group(s) with no rows: {', '.join(empty)}; remove "
                                   "the unused categories or supply rows for them")
    elif column.dtype.kind in "mMcV":
        raise ReportInputError(f"attribute {name!r} has dtype {column.dtype}; it must hold group labels")
    elif column.dtype.kind in "iuf" and column.nunique() > MAX_NUMERIC_LEVELS:
        raise ReportInputError(f"attribute {name!r} is numeric with {column.nunique()} distinct values; bucket it "
                               "into groups first (e.g. reports.bias.age_group for age)")
    raw = column.astype(object)
    unknown = raw[raw.map(_is_unknown)]
    spellings = unknown.map(lambda v: "<missing>" if pd.isna(v) else str(v)).value_counts()
    return normalise_groups(column).reset_index(drop=True), {str(k): int(v) for k, v in sorted(spellings.items())}


def _precision(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=0))


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each bootstrap resample, drawn exactly as fairlearn's MetricFrame(n_boot=..., random_state=seed)
    draws them (one seed per resample from default_rng(seed), then pandas' sample(frac=1, replace=True)), so the
    intervals equal fairlearn's. Counting confusion cells per resample instead of re-running fairlearn's metric
    functions is what makes 50,000 rows affordable: fairlearn re-stacks every column element by element."""
    seeds = np.random.default_rng(seed).integers(0, np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)
    for s in seeds:
        yield np.random.RandomState(s).choice(n, size=n, replace=True)


def _rates(cells: np.ndarray) -> np.ndarray:
    """GROUP_METRICS from confusion counts [..., (tn, fp, fn, tp)], with fairlearn's and sklearn's conventions
    (a rate with an empty denominator is 0); NaN where a group has no rows at all."""
    tn, fp, fn, tp = (cells[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(b > 0, a / np.maximum(b, 1), 0.0)

    out = np.stack([ratio(fp + tp, n), ratio(tp, tp + fn), ratio(fp, fp + tn), ratio(tp, tp + fp),
                    ratio(tp + tn, n)], axis=-1)
    out[n == 0] = np.nan
    return out


def _spread(rates: np.ndarray) -> dict[str, np.ndarray]:
    """Disparities over the group axis (-2) of rates [..., groups, GROUP_METRICS]; a ratio of two zero rates is 1
    (the groups are equal), so a ratio is always defined."""
    hi, lo = np.nanmax(rates, axis=-2), np.nanmin(rates, axis=-2)
    diff = hi - lo
    ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1), 1.0)
    return {"demographic_parity_difference": diff[..., 0], "demographic_parity_ratio": ratio[..., 0],
            "equalized_odds_difference": np.maximum(diff[..., 1], diff[..., 2]),
            "equalized_odds_ratio": np.minimum(ratio[..., 1], ratio[..., 2]),
            "equal_opportunity_difference": diff[..., 1]}


def _interval(samples: list[Any]) -> Any:
    if not samples:
        return None
    with warnings.catch_warnings():  # a group absent from every resample has no interval: None, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(np.asarray(samples, dtype=np.float64), CI_QUANTILES, axis=0)


def _stat(value: Any, ci: Any) -> dict[str, Any]:
    return {"value": num(value), "ci": [None, None] if ci is None else [num(ci[0]), num(ci[1])]}


def _check(metric: str, attribute: str, value: float | None, limit: float, group: str | None = None,
           ci: list[float | None] | None = None) -> dict[str, Any]:
    op = BiasThresholds.op(metric)
    passed = value is not None and (value <= limit if op == "<=" else value >= limit)
    # How far beyond the limit (positive) or inside it (negative): the sort key, worst first.
    margin = None if value is None else (value - limit if op == "<=" else limit - value)
    return {"attribute": attribute, "metric": metric, "group": group, "value": num(value), "ci": ci,
            "threshold": limit, "op": op, "status": "PASS" if passed else "FAIL", "margin": num(margin)}


class _Section:
    """One attribute (or the intersection): its groups, fairlearn's per-group numbers, and its resample counts."""

    def __init__(self, name: str, kind: str, labels: pd.Series, unknown_values: dict[str, int], min_rows: int,
                 yt: np.ndarray, yp: np.ndarray) -> None:
        self.name, self.kind, self.labels, self.unknown_values = name, kind, labels, unknown_values
        counts = labels.value_counts()
        known = sorted(g for g in counts.index if g != UNKNOWN)
        self.groups = known + ([UNKNOWN] if UNKNOWN in counts.index else [])
        self.counts = {g: int(counts[g]) for g in self.groups}
        self.small = [g for g in known if self.counts[g] < min_rows]
        self.eligible = [g for g in known if g not in self.small]
        self.codes = pd.Categorical(labels, categories=self.groups).codes.astype(np.int64)
        self.frame = MetricFrame(
            metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                     "precision": _precision, "accuracy": accuracy_score},
            y_true=yt, y_pred=yp, sensitive_features=pd.Series(labels.to_numpy(), name=name))
        self.boot: list[np.ndarray] = []

    def add_resample(self, idx: np.ndarray, cell: np.ndarray) -> None:
        counts = np.bincount(self.codes[idx] * 4 + cell[idx], minlength=4 * len(self.groups))
        self.boot.append(_rates(counts.reshape(len(self.groups), 4)))

    def report(self, thresholds: BiasThresholds, n: int) -> dict[str, Any]:
        by_group = self.frame.by_group
        ci = _interval(self.boot)
        rows = []
        for i, g in enumerate(self.groups):
            row: dict[str, Any] = {"group": g, "n": self.counts[g], "share": num(self.counts[g] / n),
                                   "unknown": g == UNKNOWN, "too_small": g in self.small,
                                   "eligible": g in self.eligible}
            for j, metric in enumerate(GROUP_METRICS):
                row[metric] = _stat(by_group.loc[g, metric], None if ci is None else ci[:, i, j])
            rows.append(row)
        out: dict[str, Any] = {
            "attribute": self.name, "kind": self.kind, "groups": rows, "unknown": self.counts.get(UNKNOWN, 0),
            "unknown_values": self.unknown_values, "small_groups": self.small, "eligible_groups": self.eligible,
            "conclusive": len(self.eligible) >= 2, "most_selected_group": None, "disparities": {},
            "impact_ratios": [], "checks": [],
        }
        if not out["conclusive"]:
            if self.kind == "attribute":  # a named attribute that cannot be tested must not let the gate pass
                out["checks"].append({"attribute": self.name, "metric": "minimum_groups", "group": None,
                                      "value": len(self.eligible), "ci": None, "threshold": 2, "op": ">=",
                                      "status": "FAIL", "margin": 2 - len(self.eligible)})
            return out
        keep = [self.groups.index(g) for g in self.eligible]
        point = by_group.loc[self.eligible, list(GROUP_METRICS)].to_numpy(dtype=np.float64)
        boot = np.asarray(self.boot)[:, keep, :] if self.boot else None
        spread, spread_boot = _spread(point), (_spread(boot) if boot is not None else None)
        for metric in DISPARITIES:
            stat = _stat(spread[metric], None if spread_boot is None else _interval(list(spread_boot[metric])))
            out["disparities"][metric] = stat
            out["checks"].append(_check(metric, self.name, stat["value"], getattr(thresholds, metric), ci=stat["ci"]))
        top = int(np.argmax(point[:, 0]))
        out["most_selected_group"] = self.eligible[top]
        for k, g in enumerate(self.eligible):
            ratios = None if boot is None else _interval(list(_safe_ratio(boot[:, k, 0], np.nanmax(boot[:, :, 0], 1))))
            stat = _stat(_safe_ratio(point[k, 0], point[top, 0]), ratios)
            out["impact_ratios"].append({"group": g, "selection_rate": num(point[k, 0]), "impact_ratio": stat})
            if k != top:
                out["checks"].append(_check("impact_ratio", self.name, stat["value"], thresholds.impact_ratio, g,
                                            stat["ci"]))
        return out


def _safe_ratio(a: Any, b: Any) -> Any:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where(b > 0, a / np.where(b > 0, b, 1), 1.0)


def _overall(yt: np.ndarray, yp: np.ndarray, score: np.ndarray | None, resamples: list[np.ndarray]) -> dict[str, Any]:
    def metrics(idx: Any) -> list[float]:
        t, p = yt[idx], yp[idx]
        auc = float(roc_auc_score(t, score[idx])) if score is not None and 0 < t.sum() < len(t) else math.nan
        return [accuracy_score(t, p), _precision(t, p), float(recall_score(t, p, zero_division=0)),
                float(p.mean()), auc]

    ci = _interval([metrics(idx) for idx in resamples])
    point = metrics(slice(None))
    names = ("accuracy", "precision", "recall", "selection_rate", "roc_auc")
    out = {m: _stat(point[i], None if ci is None else ci[:, i]) for i, m in enumerate(names)}
    out["positive_rate"] = {"value": num(yt.mean()), "ci": [None, None]}
    return out


def _triggers(checks: list[dict[str, Any]], sections: list[dict[str, Any]], min_rows: int) -> list[dict[str, Any]]:
    """When to look again: a metric past its limit or within a quarter of it, or the population changing."""
    out = []
    for c in checks:
        if c["metric"] == "minimum_groups":
            continue
        limit, value, worse = c["threshold"], c["value"], c["op"] == "<="
        alert = num(limit * 0.75 if worse else limit + (1 - limit) * 0.25)
        where = c["attribute"] + (f" / {c['group']}" if c["group"] else "")
        name = c["metric"].replace("_", " ")
        near = value is not None and (value > alert if worse else value < alert)
        status = "breached" if c["status"] == "FAIL" else "near" if near else "ok"
        text = {"breached": f"breached now: {name} for {where} is {value}, past the limit {limit}; mitigate and "
                            "re-run before promotion",
                "near": f"close to the limit: {name} for {where} is {value} (limit {limit}); re-run monthly",
                "ok": f"alert when {name} for {where} goes {'above' if worse else 'below'} {alert} "
                      f"(limit {limit}, now {value})"}[status]
        out.append({"kind": "metric", "status": status, "attribute": c["attribute"], "group": c["group"],
                    "metric": c["metric"], "current": value, "alert_at": alert, "limit": limit, "text": text})
    for s in sections:
        if s["kind"] != "attribute":
            continue
        unknown_share = num(s["unknown"] / max(1, sum(g["n"] for g in s["groups"])) + 0.02)
        out.append({"kind": "population", "status": "ok", "attribute": s["attribute"],
                    "text": f"re-run when any {s['attribute']} group's share moves by more than 5 points, or the "
                            f"unknown share exceeds {unknown_share}"})
        if s["small_groups"]:
            out.append({"kind": "small_groups", "status": "near", "attribute": s["attribute"],
                        "text": f"re-run when {', '.join(s['small_groups'])} reach {min_rows} rows: too small now"})
    out.append({"kind": "schedule", "status": "ok", "text": "re-run on every new evaluation dataset version and "
                                                            "model version, and at least every 90 days in production"})
    return out


def compute_bias(*, y_true: Any, y_pred: Any, sensitive: pd.DataFrame, thresholds: BiasThresholds, seed: int,
                 n_boot: int, y_score: Any = None, min_group_size: int = 30, min_group_share: float = 0.02,
                 attributes: Sequence[str] | None = None) -> dict[str, Any]:
    """The bias report's numbers (JSON-ready, deterministic for a seed): per attribute and for the intersection of
    all of them, groups with counts, unknowns and small-group flags; per-group rates and overall performance with
    bootstrap CIs; disparities and impact ratios against `thresholds`, worst first; the verdict; monitoring
    triggers. `attributes` names the columns of `sensitive` to examine (all of them by default). Groups smaller
    than min_group_size rows or min_group_share of the rows, and unknowns, are shown but kept out of the checks."""
    yt, yp = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if len(yp) != len(yt):
        raise ReportInputError(f"y_true has {len(yt)} rows but y_pred has {len(yp)}: they must have the same number")
    score = _scores(y_score, len(yt))
    if not isinstance(sensitive, pd.DataFrame):
        raise ReportInputError("sensitive must be a pandas DataFrame with one column per sensitive attribute")
    names = [str(c) for c in sensitive.columns] if attributes is None else [str(a) for a in attributes]
    if not names:
        raise ReportInputError("at least one sensitive attribute is needed; the sensitive frame has no columns")
    missing = [a for a in names if a not in sensitive.columns]
    if missing:
        raise ReportInputError(f"sensitive attribute column(s) missing: {', '.join(missing)}; "
                               f"present: {', '.join(map(str, sensitive.columns)) or 'none'}")
    if len(sensitive) != len(yt):
        raise ReportInputError(f"the sensitive frame has {len(sensitive)} rows and the labels {len(yt)}: "
                               "labels, predictions and sensitive attributes must have the same number of rows")
    if n_boot < 0 or min_group_size < 1 or not 0 <= min_group_share < 1:
        raise ReportInputError("n_boot must be >= 0, min_group_size >= 1 and min_group_share in [0, 1)")
    n = len(yt)
    min_rows = max(min_group_size, math.ceil(min_group_share * n))
    columns = {a: _attribute(a, sensitive[a]) for a in names}
    sections = [_Section(a, "attribute", labels, unknown, min_rows, yt, yp) for a, (labels, unknown) in columns.items()]
    if len(names) >= 2:
        parts = [columns[a][0] for a in names]
        joint = pd.Series([UNKNOWN if UNKNOWN in row else " & ".join(row) for row in zip(*parts, strict=True)])
        sections.append(_Section(" \u00d7 ".join(names), "intersection", joint, {}, min_rows, yt, yp))
    cell = yt * 2 + yp
    resamples = list(_resamples(n, n_boot, seed))
    for idx in resamples:
        for section in sections:
            section.add_resample(idx, cell)
    reports = [s.report(thresholds, n) for s in sections]
    checks = sorted((c for r in reports for c in r["checks"]),
                    key=lambda c: (c["margin"] is not None, -(c["margin"] or 0.0), c["attribute"], c["metric"],
                                   c["group"] or ""))
    failed = sum(c["status"] == "FAIL" for c in checks)
    result = {
        "kind": "bias", "verdict": "fail" if failed else "pass", "rows": n, "seed": seed, "n_boot": n_boot,
        "ci_quantiles": list(CI_QUANTILES), "thresholds": thresholds.as_dict(),
        "directions": {k: BiasThresholds.op(k) for k in thresholds.as_dict()},
        "min_group_size": min_group_size, "min_group_share": min_group_share, "min_group_rows": min_rows,
        "overall": _overall(yt, yp, score, resamples),
        "attributes": [r for r in reports if r["kind"] == "attribute"],
        "intersections": [r for r in reports if r["kind"] == "intersection"],
        "checks": checks, "failed_checks": failed,
        "monitoring_triggers": _triggers(checks, reports, min_rows),
    }
    return dict(json_ready(result))
