"""Drift of a production batch against its validated baseline, measured in chunks: PSI and Kolmogorov-Smirnov for
numbers, PSI, chi-square and Jensen-Shannon for categories, PSI and mean shift of the model's score.

A baseline profile is made once from the evaluation dataset (held whole: it is small). A batch is measured by
an accumulator made from the profile: `add` each chunk of a column, `merge` accumulators of chunks measured apart
(or of batches, into a window), then `result`. An accumulator holds counts only (per PSI bin, per category, per
distinct baseline value), never the batch's rows, and its counts do not depend on how the rows were chunked, so
every count-based figure is the same for any chunking and merge order. The mean is a float sum: the same for the
same chunks merged in the same order, and equal to within rounding otherwise.

Missing values (NaN, None) are counted apart and enter no bin, category or statistic. Every figure is a plain
float or int, or None where it is undefined (no rows, one category).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import rel_entr
from scipy.stats import chi2 as chi2_distribution
from scipy.stats import kstwo

from monitoring.rows import render_column
from reports.bias import UNKNOWN, sensitive_groups
from reports.performance import compute_performance

# The proportion an empty bin or category is given on either side before PSI (and chi-square) are taken, so
# that ln(p / q) is defined: PSI's usual floor; it bounds one empty bin's term at about (p - 1e-4) * ln(p / 1e-4).
FLOOR = 1e-4
DECILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
UNSEEN = "(unseen)"


def _float(value: Any) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


def _numbers(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64).ravel()


def psi(expected: np.ndarray, actual: np.ndarray) -> float | None:
    """Population stability index of actual counts against expected counts over the same bins:
    sum over bins of (a - e) * ln(a / e), each proportion raised to at least FLOOR. None if either side is empty."""
    e_total, a_total = float(expected.sum()), float(actual.sum())
    if not e_total or not a_total:
        return None
    e = np.maximum(expected / e_total, FLOOR)
    a = np.maximum(actual / a_total, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """A numeric column of the baseline.

    PSI bins: `edges` e_1 < ... < e_m are the deciles of the baseline's non-missing values (numpy's default,
    linear, quantiles at 10%, 20%, ..., 90%), with repeats dropped (a column with many ties has fewer bins).
    Bin 0 is (-inf, e_1), bin i is [e_i, e_{i+1}), the last is [e_m, +inf): closed on the left, the outer bins
    open, so every batch value has a bin. `counts` are the baseline's rows per bin.

    For an exact Kolmogorov-Smirnov statistic, `unique` holds the baseline's sorted distinct values and
    `cumulative` the baseline's count of values <= each. Both are None for a baseline known only by bins
    (the score's, from a calibration table): KS is then not measured.
    """

    edges: np.ndarray
    counts: np.ndarray
    unique: np.ndarray | None
    cumulative: np.ndarray | None
    n: int
    missing: int
    mean: float | None

    def accumulator(self) -> NumericAccumulator:
        return NumericAccumulator(self)


def numeric_profile(values: Any) -> NumericProfile:
    """The baseline profile of a numeric column (array-like, NaN missing)."""
    x = _numbers(values)
    present = x[~np.isnan(x)]
    unique, counts = np.unique(present, return_counts=True)
    edges = np.unique(np.quantile(present, DECILES)) if present.size else np.empty(0)
    edges = edges[np.isfinite(edges)]
    bins = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1)
    return NumericProfile(edges=edges, counts=bins.astype(np.int64), unique=unique,
                          cumulative=np.cumsum(counts).astype(np.int64), n=int(present.size),
                          missing=int(x.size - present.size),
                          mean=_float(present.mean()) if present.size else None)


def score_profile(calibration_bins: Sequence[Mapping[str, Any]]) -> NumericProfile:
    """The baseline of the model's score from the validated performance report's calibration table (deciles of the
    score: each bin's `n`, `score_min`, `score_max`, `mean_score`).

    The PSI edges lie between consecutive bins, at the midpoint of one bin's score_max and the next one's
    score_min; the baseline's counts are the bins' n; its mean is the n-weighted mean of the bins' mean_score.
    Kolmogorov-Smirnov is not measured: it needs the baseline's distribution function at every batch value, and
    a binned baseline gives it only at the bin edges (the statistic would depend on where inside its bin each
    baseline score lay). PSI and the mean shift are the score's drift.
    """
    ordered = sorted(calibration_bins, key=lambda b: int(b["bin"]))
    if not ordered:
        raise ValueError("the calibration table has no bins")
    edges = np.array([(float(a["score_max"]) + float(b["score_min"])) / 2 for a, b in itertools.pairwise(ordered)])
    if np.any(np.diff(edges) < 0):
        raise ValueError("the calibration bins overlap: their scores are not in increasing order")
    counts = np.array([int(b["n"]) for b in ordered], dtype=np.int64)
    n = int(counts.sum())
    mean = math.fsum(int(b["n"]) * float(b["mean_score"]) for b in ordered) / n if n else None
    return NumericProfile(edges=edges, counts=counts, unique=None, cumulative=None, n=n, missing=0, mean=mean)


def ks_pvalue(statistic: float, n1: int, n2: int) -> float | None:
    """The two-sided p-value scipy.stats.ks_2samp(method="asymp") gives: the one-sample Kolmogorov distribution
    at the effective size round(n1 * n2 / (n1 + n2)), computed as scipy does; None where that size rounds to 0
    (one value on each side), where scipy gives NaN."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    size = np.round(m * n / (m + n))
    return _float(np.clip(kstwo.sf(statistic, size), 0, 1)) if size >= 1 else None


# The sum of a column is kept scaled down by 2**-512 (exact: a power of two), so that no sum of finite values
# overflows, however the rows are cut into chunks and parts (values near the float limit summed in one order
# overflowed where another order did not). Only values under about 1e-154 lose precision in the sum.
SUM_SCALE = 2.0 ** -512


class NumericAccumulator:
    """A numeric column of a batch, measured against a profile in chunks."""

    def __init__(self, profile: NumericProfile) -> None:
        self.profile = profile
        self.bins = np.zeros(profile.edges.size + 1, dtype=np.int64)
        k = 0 if profile.unique is None else profile.unique.size
        # by_left[j]: batch values with exactly j baseline values below them; by_right[j]: with j at or below.
        self.by_left = np.zeros(k + 1, dtype=np.int64)
        self.by_right = np.zeros(k + 1, dtype=np.int64)
        self.n = 0
        self.missing = 0
        self.total = 0.0

    def add(self, values: Any) -> None:
        """Count one chunk of the column (array-like or Series, NaN missing)."""
        x = _numbers(values)
        present = x[~np.isnan(x)]
        self.missing += int(x.size - present.size)
        self.n += int(present.size)
        self.total += float((present * SUM_SCALE).sum())
        self.bins += np.bincount(np.searchsorted(self.profile.edges, present, side="right"),
                                 minlength=self.bins.size)
        unique = self.profile.unique
        if unique is not None and unique.size:
            left = np.searchsorted(unique, present, side="left")
            equal = unique[np.minimum(left, unique.size - 1)] == present
            self.by_left += np.bincount(left, minlength=self.by_left.size)
            self.by_right += np.bincount(left + equal, minlength=self.by_right.size)

    def merge(self, other: NumericAccumulator) -> NumericAccumulator:
        """A new accumulator counting both (same profile); neither is changed."""
        if other.profile is not self.profile:
            raise ValueError("accumulators of different profiles cannot be merged")
        out = NumericAccumulator(self.profile)
        out.bins = self.bins + other.bins
        out.by_left = self.by_left + other.by_left
        out.by_right = self.by_right + other.by_right
        out.n, out.missing, out.total = self.n + other.n, self.missing + other.missing, self.total + other.total
        return out

    def to_state(self) -> dict[str, Any]:
        """The counts, for a part of a batch measured by one task and merged by another (monitoring.parts)."""
        return {"bins": self.bins, "by_left": self.by_left, "by_right": self.by_right, "n": self.n,
                "missing": self.missing, "total": self.total}

    @classmethod
    def from_state(cls, profile: NumericProfile, state: Mapping[str, Any]) -> NumericAccumulator:
        """The accumulator `to_state` gave, against the same profile: counts of another shape are refused."""
        out = cls(profile)
        for name in ("bins", "by_left", "by_right"):
            values = np.asarray(state[name])
            if values.shape != getattr(out, name).shape or values.dtype.kind not in "iu":
                raise ValueError(f"{name}: {values.shape} {values.dtype} counts, not those of this profile")
            setattr(out, name, values.astype(np.int64))
        out.n, out.missing, out.total = int(state["n"]), int(state["missing"]), float(state["total"])
        return out

    def ks(self) -> float | None:
        """sup |F_batch - F_base|, exactly. F_base is constant between consecutive baseline values u_j, u_j+1 and
        F_batch is increasing there, so the sup over that interval is reached at u_j (batch values <= u_j) or just
        below u_j+1 (batch values < u_j+1): both are counts kept per chunk. The differences are the same divisions
        of the same integers ks_2samp makes, so the statistic is the same float."""
        p = self.profile
        if p.unique is None or p.cumulative is None or not self.n or not p.n:
            return None
        at_or_below = np.cumsum(self.by_left)[:-1] / self.n
        below = np.cumsum(self.by_right)[:-1] / self.n
        base = p.cumulative / p.n
        base_before = np.concatenate([[0.0], p.cumulative[:-1]]) / p.n
        return float(max(np.max(np.abs(at_or_below - base)), np.max(np.abs(below - base_before))))

    def result(self) -> dict[str, Any]:
        """{"n", "missing", "psi", "ks", "ks_pvalue", "mean", "baseline_mean", "mean_shift"}."""
        p = self.profile
        ks = self.ks()
        mean = self.total / self.n / SUM_SCALE if self.n else None
        mean = None if mean is None else _float(mean)
        return {
            "n": self.n,
            "missing": self.missing,
            "psi": psi(p.counts, self.bins),
            "ks": ks,
            "ks_pvalue": None if ks is None else ks_pvalue(ks, self.n, p.n),
            "mean": mean,
            "baseline_mean": p.mean,
            "mean_shift": None if mean is None or p.mean is None else _float(mean - p.mean),
        }


def _category_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts per category as text (rendered as a row's cell is, monitoring.rows) and the missing count."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object).ravel())
    counted = series.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    for text, count in zip(render_column(pd.Series(counted.index.to_numpy(dtype=object), dtype=object)),
                           counted.to_numpy().tolist(), strict=True):
        out[text] = out.get(text, 0) + int(count)
    return out, int(series.size - counted.sum())


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """A categorical column of the baseline: its categories as text, sorted, and the rows of each."""

    categories: tuple[str, ...]
    counts: np.ndarray
    n: int
    missing: int

    def accumulator(self) -> CategoricalAccumulator:
        return CategoricalAccumulator(self)


def categorical_profile(values: Any) -> CategoricalProfile:
    """The baseline profile of a categorical column (array-like or Series; None / NaN missing)."""
    counts, missing = _category_counts(values)
    categories = tuple(sorted(counts))
    per = np.array([counts[c] for c in categories], dtype=np.int64)
    return CategoricalProfile(categories=categories, counts=per, n=int(per.sum()), missing=missing)


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance in bits between two count vectors (normalised here)."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    divergence = (float(np.sum(rel_entr(p, m))) + float(np.sum(rel_entr(q, m)))) / 2
    return math.sqrt(max(divergence, 0.0) / math.log(2))


class CategoricalAccumulator:
    """A categorical column of a batch, measured against a profile in chunks. Categories the baseline never held
    are counted in one unseen bucket."""

    def __init__(self, profile: CategoricalProfile) -> None:
        self.profile = profile
        self.index = {c: i for i, c in enumerate(profile.categories)}
        self.counts = np.zeros(len(profile.categories), dtype=np.int64)
        self.unseen = 0
        self.missing = 0

    def add(self, values: Any) -> None:
        counts, missing = _category_counts(values)
        self.missing += missing
        for text, count in counts.items():
            i = self.index.get(text)
            if i is None:
                self.unseen += count
            else:
                self.counts[i] += count

    def merge(self, other: CategoricalAccumulator) -> CategoricalAccumulator:
        """A new accumulator counting both (same profile); neither is changed."""
        if other.profile is not self.profile:
            raise ValueError("accumulators of different profiles cannot be merged")
        out = CategoricalAccumulator(self.profile)
        out.counts = self.counts + other.counts
        out.unseen, out.missing = self.unseen + other.unseen, self.missing + other.missing
        return out

    def to_state(self) -> dict[str, Any]:
        return {"counts": self.counts, "unseen": self.unseen, "missing": self.missing}

    @classmethod
    def from_state(cls, profile: CategoricalProfile, state: Mapping[str, Any]) -> CategoricalAccumulator:
        out = cls(profile)
        counts = np.asarray(state["counts"])
        if counts.shape != out.counts.shape or counts.dtype.kind not in "iu":
            raise ValueError(f"counts: {counts.shape} {counts.dtype}, not those of this profile")
        out.counts, out.unseen, out.missing = counts.astype(np.int64), int(state["unseen"]), int(state["missing"])
        return out

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.unseen

    def chi2(self) -> tuple[float, float] | tuple[None, None]:
        """Pearson's chi-square of the batch's counts against the baseline's proportions scaled to the batch's n
        (scipy.stats.chisquare's statistic and p-value). The unseen bucket is a category when the batch has
        unseen values; its baseline proportion, 0, is raised to FLOOR and the proportions renormalised."""
        n, p = self.n, self.profile
        observed = np.append(self.counts, self.unseen) if self.unseen else self.counts
        if not n or not p.n or observed.size < 2:
            return None, None
        share = np.append(p.counts / p.n, 0.0) if self.unseen else p.counts / p.n
        share = np.maximum(share, FLOOR)
        expected = share / share.sum() * n
        statistic = float(np.sum((observed - expected) ** 2 / expected))
        return statistic, float(chi2_distribution.sf(statistic, observed.size - 1))

    def chi2_two_samples(self) -> tuple[float, float] | tuple[None, None]:
        """Pearson's chi-square test that the batch and the baseline come from one distribution: the 2 x k table
        of their counts (scipy.stats.chi2_contingency, no continuity correction), the unseen bucket a column when
        it holds rows. Unlike `chi2`, it counts the baseline's own sampling noise: against a baseline much
        smaller than the batch, `chi2` grows with n_batch / n_baseline even when nothing drifted (a batch of
        1,000,000 rows against 50,000 makes it about 21 times its degrees of freedom), so its p-value is near 0
        for every column; this one's is not."""
        n, p = self.n, self.profile
        if not n or not p.n:
            return None, None
        table = np.stack([np.append(self.counts, self.unseen), np.append(p.counts, 0)]).astype(np.float64)
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            return None, None
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
        statistic = float(np.sum((table - expected) ** 2 / expected))
        return statistic, float(chi2_distribution.sf(statistic, table.shape[1] - 1))

    def result(self) -> dict[str, Any]:
        """{"n", "missing", "unseen", "psi", "chi2", "chi2_pvalue", "chi2_two_samples", "chi2_two_samples_pvalue",
        "js"}: PSI over the categories and the unseen bucket; js is the Jensen-Shannon distance, base 2
        (scipy.spatial.distance.jensenshannon(p, q, base=2))."""
        p = self.profile
        batch = np.append(self.counts, self.unseen)
        base = np.append(p.counts, 0)
        statistic, pvalue = self.chi2()
        two, two_pvalue = self.chi2_two_samples()
        return {
            "n": self.n,
            "missing": self.missing,
            "unseen": self.unseen,
            "psi": psi(base, batch),
            "chi2": None if statistic is None else _float(statistic),
            "chi2_pvalue": None if pvalue is None else _float(pvalue),
            "chi2_two_samples": None if two is None else _float(two),
            "chi2_two_samples_pvalue": None if two_pvalue is None else _float(two_pvalue),
            "js": _js_distance(batch, base) if self.n and p.n else None,
        }


def performance(*, y_true: Any, y_score: Any, y_pred: Any) -> dict[str, Any]:
    """Decay once labels arrive, on the labelled rows (held whole): {"n", "positives", "roc_auc", "ks", "gini",
    "accuracy", "expected_calibration_error"}, each as the performance report defines and writes it
    (reports.performance: KS is max(TPR - FPR), calibration over deciles of the score, values to 6 decimals
    rounded toward the worse side), so they compare with the validated values as they are. None where undefined:
    ROC AUC, KS and Gini with one class only; every score metric without scores (y_score None)."""
    report = compute_performance(y_true=y_true, y_pred=y_pred, y_score=y_score, seed=0, n_boot=0)
    metrics = report["metrics"]
    return {
        "n": int(report["rows"]),
        "positives": int(report["positives"]),
        **{m: metrics[m]["value"] for m in ("roc_auc", "ks", "gini", "accuracy")},
        "expected_calibration_error": report["calibration"]["expected_calibration_error"]["value"],
    }


class FairnessAccumulator:
    """Selection rate and TPR per group of each sensitive attribute, counted in chunks.

    Groups are formed as the bias report forms them (reports.bias.sensitive_groups: a numeric age column bucketed
    and renamed "<name> group", other values normalised, missing values one "unknown" group), so they are the
    validated report's groups. The impact ratio (lowest selection rate over highest) is taken over the groups of
    at least `min_group_size` rows; smaller groups and the unknown group are left out of it and listed."""

    def __init__(self, *, min_group_size: int = 30) -> None:
        self.min_group_size = min_group_size
        # attribute -> group -> [rows, predicted positive, labelled positive, true positive]
        self.counts: dict[str, dict[str, np.ndarray]] = {}

    def add(self, *, groups: Mapping[str, Any], y_pred: Any, y_true: Any = None) -> None:
        """Count one chunk: raw sensitive values per attribute, 0/1 predictions, and 0/1 labels or None."""
        pred = np.asarray(y_pred).astype(np.int64).ravel()
        true = None if y_true is None else np.asarray(y_true).astype(np.int64).ravel()
        if true is not None and true.shape != pred.shape:
            raise ValueError("labels and predictions must have the same number of rows")
        for name, values in groups.items():
            column = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).ravel())
            if len(column) != len(pred):
                raise ValueError(f"{name}: the sensitive values and the predictions differ in rows")
            attribute, labels = sensitive_groups(str(name), column.reset_index(drop=True))
            codes, names = pd.factorize(labels, sort=True)
            k = len(names)
            per = np.stack([
                np.bincount(codes, minlength=k),
                np.bincount(codes, weights=pred, minlength=k),
                np.bincount(codes, weights=true, minlength=k) if true is not None else np.zeros(k),
                np.bincount(codes, weights=true * pred, minlength=k) if true is not None else np.zeros(k),
            ], axis=1).astype(np.int64)
            table = self.counts.setdefault(attribute, {})
            for i, group in enumerate(names.tolist()):
                table[group] = table.get(group, np.zeros(4, dtype=np.int64)) + per[i]

    def merge(self, other: FairnessAccumulator) -> FairnessAccumulator:
        """A new accumulator counting both; neither is changed."""
        out = FairnessAccumulator(min_group_size=self.min_group_size)
        for source in (self, other):
            for attribute, table in source.counts.items():
                into = out.counts.setdefault(attribute, {})
                for group, row in table.items():
                    into[group] = into.get(group, np.zeros(4, dtype=np.int64)) + row
        return out

    def to_state(self) -> dict[str, Any]:
        return {"min_group_size": self.min_group_size,
                "counts": {a: {g: [int(v) for v in row] for g, row in t.items()} for a, t in self.counts.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FairnessAccumulator:
        out = cls(min_group_size=int(state["min_group_size"]))
        for attribute, table in state["counts"].items():
            rows = {str(g): np.asarray(row, dtype=np.int64) for g, row in table.items()}
            if any(row.shape != (4,) for row in rows.values()):
                raise ValueError(f"{attribute}: a group's counts are not four numbers")
            out.counts[str(attribute)] = rows
        return out

    def result(self) -> dict[str, Any]:
        """{attribute: {"groups": {group: {"n", "selection_rate", "tpr"}}, "impact_ratio", "small_groups",
        "unknown"}}. TPR is None for a group without labelled positives (or with no labels at all); the impact
        ratio is None unless two groups are large enough and one is selected."""
        out: dict[str, Any] = {}
        for attribute in sorted(self.counts):
            table = self.counts[attribute]
            groups: dict[str, dict[str, Any]] = {}
            small: list[str] = []
            rates: list[float] = []
            for group in sorted(table):
                rows, selected, positives, hits = (int(v) for v in table[group])
                groups[group] = {"n": rows, "selection_rate": selected / rows,
                                 "tpr": hits / positives if positives else None}
                if group == UNKNOWN:
                    continue
                if rows < self.min_group_size:
                    small.append(group)
                else:
                    rates.append(selected / rows)
            top = max(rates, default=0.0)
            out[attribute] = {
                "groups": groups,
                "impact_ratio": min(rates) / top if len(rates) >= 2 and top > 0 else None,
                "small_groups": small,
                "unknown": groups.get(UNKNOWN, {}).get("n", 0),
            }
        return out


def fairness(*, groups: Mapping[str, Any], y_pred: Any, y_true: Any = None,
             min_group_size: int = 30) -> dict[str, Any]:
    """Fairness of one set of rows held whole: FairnessAccumulator.result() over them."""
    accumulator = FairnessAccumulator(min_group_size=min_group_size)
    accumulator.add(groups=groups, y_pred=y_pred, y_true=y_true)
    return accumulator.result()
