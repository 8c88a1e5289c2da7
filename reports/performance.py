"""Performance of a binary classifier measured by the product: discrimination, accuracy, calibration, intervals.

The numbers come from the artifact's own predictions on a registered evaluation dataset version, never
from what the developer declared. Every interval is a bootstrap percentile interval over the same
resamples the bias report draws (reports.bootstrap.resamples, same seed and n_boot), so the two
reports' intervals for accuracy, precision, recall and ROC AUC agree.
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from reports.bootstrap import defined_quantiles, resamples
from reports.errors import ReportInputError
from reports.numbers import clean, num, num_toward

CI = [0.025, 0.975]
N_BINS = 10
# The metrics a policy's metric gates may name, in the order the report lists them.
METRICS = ("roc_auc", "gini", "ks", "accuracy", "precision", "recall", "log_loss", "brier_score")
# Which way is better: a value is written rounded toward the worse side, so a written value that meets a
# threshold in the usual direction (>= for the first kind, <= for the second) means the true value does.
LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "expected_calibration_error"})
NEEDS_SCORES = frozenset({"roc_auc", "gini", "ks", "log_loss", "brier_score"})
NAMES = {"roc_auc": "ROC AUC", "gini": "Gini", "ks": "KS", "accuracy": "accuracy", "precision": "precision",
         "recall": "recall", "log_loss": "log loss", "brier_score": "Brier score",
         "expected_calibration_error": "expected calibration error"}
UNDEFINED = {
    "no_scores": "the model gives no scores (it has no predict_proba): only decision metrics are measured",
    "one_class": "the labels hold one class only",
    "precision": "no positive predictions (TP + FP = 0)",
    "recall": "no actual positives (TP + FN = 0)",
}
OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_EPS = float(np.finfo(float).eps)  # scores are clipped to [eps, 1 - eps] for log loss, as scikit-learn does


def written(name: str, value: Any) -> float | None:
    """A metric's value as the JSON twin writes it: 6 decimals, rounded toward the worse side."""
    return num_toward(value, "<=" if name in LOWER_IS_BETTER else ">=")


def _labels(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ReportInputError(f"{name} must be a non-empty one-dimensional array")
    try:
        out = arr.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise ReportInputError(f"{name} must be 0/1 labels, found values like {arr[:3].tolist()}") from exc
    if not set(np.unique(out).tolist()) <= {0, 1} or not np.array_equal(out, arr.astype(float)):
        raise ReportInputError(f"{name} must hold only 0 and 1, found {sorted(set(np.unique(arr).tolist()))[:10]}")
    return out


def _scores(values: Any, n: int) -> np.ndarray | None:
    if values is None:
        return None
    try:
        score = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ReportInputError("the model's scores are not numbers") from exc
    if score.shape != (n,):
        raise ReportInputError("the model gave a score for a different number of rows than the labels")
    if not np.isfinite(score).all() or score.min() < 0 or score.max() > 1:
        raise ReportInputError("the model's scores (predict_proba of class 1) must be probabilities from 0 to 1")
    return score


def _ratio(a: float, b: float) -> float:
    return a / b if b else np.nan


def _one(yt: np.ndarray, yp: np.ndarray, ys: np.ndarray | None, bins: np.ndarray | None,
         n_bins: int) -> np.ndarray:
    """Every number the report gives intervals for, on one set of rows: the METRICS, then each calibration
    bin's observed rate, then the expected calibration error; NaN where undefined."""
    tn, fp, fn, tp = np.bincount(yt * 2 + yp, minlength=4).astype(float)
    out = dict.fromkeys(METRICS, np.nan)
    out.update(accuracy=(tp + tn) / len(yt), precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn))
    observed = np.full(n_bins, np.nan)
    ece = np.nan
    if ys is not None and bins is not None:
        if tp + fn and tn + fp:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fpr, tpr, _ = roc_curve(yt, ys)
            out["roc_auc"] = float(np.trapezoid(tpr, fpr))
            out["gini"] = 2 * out["roc_auc"] - 1
            # The largest gap between the score distributions of the two classes: ks_2samp's statistic.
            out["ks"] = float(np.max(np.abs(tpr - fpr)))
        p = np.clip(ys, _EPS, 1 - _EPS)
        out["log_loss"] = float(-np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)))
        out["brier_score"] = float(np.mean((ys - yt) ** 2))
        count = np.bincount(bins, minlength=n_bins).astype(float)
        hits = np.bincount(bins, weights=yt, minlength=n_bins)
        mass = np.bincount(bins, weights=ys, minlength=n_bins)
        filled = count > 0
        observed[filled] = hits[filled] / count[filled]
        ece = float(np.sum(np.abs(hits[filled] - mass[filled])) / len(yt))
    return np.array([out[m] for m in METRICS] + list(observed) + [ece], dtype=float)


def _entry(name: str, value: float, bounds: np.ndarray | None, defined: int, n_boot: int, why: str) -> dict:
    if np.isnan(value):
        return {"value": None, "ci": [None, None], "note": f"undefined: {why}"}
    out: dict[str, Any] = {"value": written(name, value), "ci": [None, None]}
    if not n_boot or bounds is None:
        return out
    if defined == 0 or np.isnan(bounds[0]):
        out["note"] = "no interval: undefined in every bootstrap resample"
        return out
    out["ci"] = [num(bounds[0]), num(bounds[1])]
    if defined < n_boot:
        out["note"] = f"interval from the {defined} of {n_boot} resamples in which it is defined"
    return out


def _why(name: str, has_scores: bool) -> str:
    if name in NEEDS_SCORES | {"expected_calibration_error"} and not has_scores:
        return UNDEFINED["no_scores"]
    return UNDEFINED.get(name, UNDEFINED["one_class"])


def calibration_bins(score: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Each row's bin: deciles of the score, cut as sklearn.calibration.calibration_curve(strategy="quantile")
    cuts them (tied scores can leave a bin empty; an empty bin is not listed)."""
    edges = np.percentile(score, np.linspace(0, 1, n_bins + 1) * 100)
    return np.searchsorted(edges[1:-1], score).astype(np.int64)


def compute_performance(*, y_true: Any, y_pred: Any, y_score: Any, seed: int, n_boot: int,
                        n_bins: int = N_BINS) -> dict[str, Any]:
    """The performance report's numbers: the metrics and a calibration table, each with a bootstrap interval.

    The verdict is "info": whether the numbers meet a policy's thresholds is `judge`'s to say."""
    yt, yp = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if len(yt) != len(yp):
        raise ReportInputError("labels and predictions must have the same number of rows")
    ys = _scores(y_score, len(yt))
    bins = calibration_bins(ys, n_bins) if ys is not None else None
    point = _one(yt, yp, ys, bins, n_bins)
    bounds: np.ndarray | None = None
    defined = np.zeros(len(point), dtype=int)
    if n_boot:
        samples = np.stack([_one(yt[rows], yp[rows], None if ys is None else ys[rows],
                                 None if bins is None else bins[rows], n_bins)
                            for rows in resamples(len(yt), n_boot, seed)])
        bounds = defined_quantiles(samples, CI).T
        defined = (~np.isnan(samples)).sum(axis=0)

    def entry(i: int, name: str, why: str) -> dict[str, Any]:
        return _entry(name, point[i], None if bounds is None else bounds[i], int(defined[i]), n_boot, why)

    metrics = {m: entry(i, m, _why(m, ys is not None)) for i, m in enumerate(METRICS)}
    table: list[dict[str, Any]] = []
    if ys is not None and bins is not None:
        for b in range(n_bins):
            members = bins == b
            if not members.any():
                continue
            rate = entry(len(METRICS) + b, "observed_rate", "no rows in the bin")
            rate["value"] = num(point[len(METRICS) + b])  # a description, not judged: rounded to nearest
            table.append({"bin": len(table) + 1, "n": int(members.sum()), "score_min": num(ys[members].min()),
                          "score_max": num(ys[members].max()), "mean_score": num(ys[members].mean()),
                          "observed_rate": rate})
    tn, fp, fn, tp = (int(c) for c in np.bincount(yt * 2 + yp, minlength=4))
    return clean({
        "kind": "performance",
        "verdict": "info",
        "verdict_reasons": ["no metric thresholds were recorded with the request"],
        "rows": len(yt),
        "positives": int(yt.sum()),
        "negatives": int(len(yt) - yt.sum()),
        "scores": ys is not None,
        "seed": seed,
        "n_boot": n_boot,
        "ci_quantiles": CI,
        "metrics": metrics,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "calibration": {
            "strategy": "deciles of the score (sklearn calibration_curve, strategy 'quantile')",
            "n_bins": n_bins,
            "bins": table,
            "expected_calibration_error": entry(len(point) - 1, "expected_calibration_error",
                                                _why("expected_calibration_error", ys is not None)),
        },
        "thresholds": {},
        "checks": [],
    })


def judge(result: dict[str, Any], thresholds: dict[str, Any] | None) -> dict[str, Any]:
    """The report with each metric threshold recorded with its request checked, and its verdict.

    No thresholds: "info". Otherwise "pass" only if every threshold is met; a metric the report could not
    measure fails its check as not measured, since nothing measured is not a pass."""
    wanted = {str(k): v for k, v in (thresholds or {}).items()
              if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in OPS}
    checks = []
    for name, condition in sorted(wanted.items()):
        (op, threshold), = condition.items()
        value = (result["metrics"].get(name) or {}).get("value")
        if value is None:
            why = (result["metrics"].get(name) or {}).get("note") or "the performance report does not measure it"
            checks.append({"metric": name, "value": None, "op": op, "threshold": threshold,
                           "status": "NOT MEASURED", "reason": why})
        else:
            checks.append({"metric": name, "value": value, "op": op, "threshold": threshold,
                           "status": "PASS" if OPS[op](value, threshold) else "FAIL"})
    failed = [c for c in checks if c["status"] != "PASS"]
    reasons = [f"{c['metric']} {c['status'].lower()}: " + (c.get("reason") or f"{c['value']} (needs {c['op']} "
               f"{c['threshold']})") for c in failed]
    if not checks:
        reasons = ["no metric thresholds were recorded with the request"]
    return clean({**result, "thresholds": wanted, "checks": checks,
                  "verdict": "info" if not checks else ("fail" if failed else "pass"), "verdict_reasons": reasons})
