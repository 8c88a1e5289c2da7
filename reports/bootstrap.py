"""Bootstrap confidence intervals as fairlearn's MetricFrame draws them, counted in numpy.

MetricFrame(n_boot=..., ci_quantiles=..., random_state=seed) resamples the rows n_boot times and
re-runs every metric on every group of every resample through pandas and scikit-learn: about a
minute for three attributes on 50,000 rows. The rates in the bias report are ratios of confusion
counts, so the same resamples (same seeds, same pandas draw) are counted here with bincount, and
the same numpy quantiles taken. The divisions are of the same integers, so the intervals are the
same floats; tests/reports/test_bootstrap.py compares them with MetricFrame's own.

A rate whose denominator is zero in a resample (TPR of a resample without positives) is undefined
there, not 0: it is left out of that metric's quantiles, and how many resamples defined it is
returned beside the interval so the report can say so. ROC AUC is likewise undefined on a resample
holding one class only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

# The per-group metrics of the bias report, in the order of its MetricFrame.
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy")
OVERALL_METRICS = ("accuracy", "precision", "recall")


def resamples(n_rows: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The row positions of each bootstrap resample, as fairlearn's generate_bootstrap_samples draws them.

    fairlearn seeds one generator with the integer random_state, draws n_boot uint32 seeds from it,
    and samples each resample with DataFrame.sample(frac=1, replace=True, random_state=seed_i); the
    draw depends only on the number of rows and the seed, so sampling a range gives the positions."""
    generator = np.random.default_rng(seed=int(seed))
    seeds = generator.integers(low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)
    positions = pd.Series(np.arange(n_rows))
    for s in seeds:
        yield positions.sample(frac=1, replace=True, random_state=s, ignore_index=True).to_numpy()


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN (undefined) where the denominator is 0."""
    out = np.full(numerator.shape, np.nan, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _rates(counts: np.ndarray) -> np.ndarray:
    """Per row of (tn, fp, fn, tp) counts: selection rate, TPR, FPR, precision, accuracy."""
    tn, fp, fn, tp = (counts[..., i].astype(float) for i in range(4))
    n = tn + fp + fn + tp
    return np.stack([_ratio(fp + tp, n), _ratio(tp, tp + fn), _ratio(fp, fp + tn), _ratio(tp, tp + fp),
                     _ratio(tp + tn, n)], axis=-1)


def defined_quantiles(samples: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Quantiles over the resamples (axis 0) that define each value; NaN where none does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # defined in no resample: no interval
        return np.nanquantile(samples, q=list(quantiles), axis=0)


def group_bootstrap(*, y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series, n_boot: int, seed: int,
                    quantiles: Sequence[float]) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """MetricFrame(...).by_group_ci for GROUP_METRICS, one frame (groups x metrics) per quantile, and
    the number of resamples in which each group's metric was defined.

    A group absent from a resample is missing from that resample's result (NaN after fairlearn
    aligns the resamples) and is left out of its quantiles, as nanquantile does there; so is a
    rate whose denominator is zero in that resample."""
    labels, codes = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
    cells = codes * 4 + np.asarray(y_true, dtype=np.int64) * 2 + np.asarray(y_pred, dtype=np.int64)
    samples = []
    for rows in resamples(len(cells), n_boot, seed):
        counts = np.bincount(cells[rows], minlength=4 * len(labels)).reshape(len(labels), 4)
        samples.append(_rates(counts))
    stacked = np.stack(samples)
    result = defined_quantiles(stacked, quantiles)
    index = pd.Index(labels)
    defined = pd.DataFrame((~np.isnan(stacked)).sum(axis=0), index=index, columns=list(GROUP_METRICS))
    return [pd.DataFrame(result[i], index=index, columns=list(GROUP_METRICS)) for i in range(len(quantiles))], defined


def group_intervals(*, y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series, n_boot: int, seed: int,
                    quantiles: Sequence[float]) -> list[pd.DataFrame]:
    """The quantile frames of group_bootstrap alone."""
    return group_bootstrap(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=n_boot, seed=seed,
                           quantiles=quantiles)[0]


def overall_bootstrap(*, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None, n_boot: int,
                      seed: int, quantiles: Sequence[float]) -> tuple[dict[str, list[float]], dict[str, int]]:
    """MetricFrame(...).overall_ci for accuracy, precision, recall and, given scores, ROC AUC, and the
    number of resamples in which each was defined.

    ROC AUC is not a ratio of counts, so scikit-learn computes it on each resample as fairlearn does;
    a resample holding one class only has no AUC and is left out of its quantiles (fairlearn's
    overall_ci would give NaN for the whole interval)."""
    yt, yp = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    cells = yt * 2 + yp
    samples, auc = [], []
    for rows in resamples(len(cells), n_boot, seed):
        tn, fp, fn, tp = np.bincount(cells[rows], minlength=4).astype(float)
        samples.append([(tp + tn) / (tn + fp + fn + tp), _ratio(np.array(tp), np.array(tp + fp)),
                        _ratio(np.array(tp), np.array(tp + fn))])
        if y_score is not None:
            both = len(np.unique(yt[rows])) == 2
            auc.append(roc_auc_score(yt[rows], np.asarray(y_score)[rows]) if both else np.nan)
    stacked = np.asarray(samples, dtype=float).reshape(-1, len(OVERALL_METRICS))
    bounds = defined_quantiles(stacked, quantiles)
    out = {m: [float(b) for b in bounds[:, i]] for i, m in enumerate(OVERALL_METRICS)}
    defined = {m: int((~np.isnan(stacked[:, i])).sum()) for i, m in enumerate(OVERALL_METRICS)}
    if y_score is not None:
        aucs = np.asarray(auc, dtype=float)
        out["roc_auc"] = [float(b) for b in defined_quantiles(aucs, quantiles)]
        defined["roc_auc"] = int((~np.isnan(aucs)).sum())
    return out, defined


def overall_intervals(*, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None, n_boot: int,
                      seed: int, quantiles: Sequence[float]) -> dict[str, list[float]]:
    """The intervals of overall_bootstrap alone."""
    return overall_bootstrap(y_true=y_true, y_pred=y_pred, y_score=y_score, n_boot=n_boot, seed=seed,
                             quantiles=quantiles)[0]
