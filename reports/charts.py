"""Charts for the reports as PNG bytes, identical for identical inputs (no timestamps, fixed fonts and sizes)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from sklearn.metrics import roc_curve

FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
font_manager.fontManager.addfont(str(FONT))
plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 8, "svg.hashsalt": "modelgov",
                     "axes.spines.top": False, "axes.spines.right": False})


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _threshold_lines(groups: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, tuple[float, str]]:
    """Where each panel's threshold lies, from the groups the checks count: large enough, rate defined.

    Selection rate: the impact ratio times the highest rate (a group left of it fails the four-fifths
    rule). TPR: the highest less the allowed difference; FPR: the lowest plus it (a group beyond the
    line is further from another than the equal opportunity / equalized odds thresholds allow)."""
    counted = [g for g in groups if not g["too_small"]]
    lines: dict[str, tuple[float, str]] = {}
    rates = {m: [g[m]["value"] for g in counted if g[m]["value"] is not None] for m in ("selection_rate", "tpr", "fpr")}
    if len(rates["selection_rate"]) >= 2 and max(rates["selection_rate"]) > 0:
        ratio = thresholds.get("impact_ratio", 0.8)
        lines["selection_rate"] = (ratio * max(rates["selection_rate"]), f"{ratio:g} x highest counted")
    if len(rates["tpr"]) >= 2:
        allowed = min(thresholds.get("equal_opportunity_difference", 0.1),
                      thresholds.get("equalized_odds_difference", 0.1))
        lines["tpr"] = (max(rates["tpr"]) - allowed, f"highest counted - {allowed:g}")
    if len(rates["fpr"]) >= 2:
        allowed = thresholds.get("equalized_odds_difference", 0.1)
        lines["fpr"] = (min(rates["fpr"]) + allowed, f"lowest counted + {allowed:g}")
    return lines


def group_rates(attribute: dict[str, Any], thresholds: dict[str, float]) -> bytes:
    """Selection rate, TPR and FPR per group with 95% bootstrap intervals and each panel's threshold line.

    The lines are drawn from the groups large enough to count, as the checks are; an undefined rate
    has no bar and is marked n/a."""
    groups = attribute["groups"]
    labels = [g["group"] + (" *" if g["too_small"] else "") for g in groups]
    lines = _threshold_lines(groups, thresholds)
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.4), sharey=True)
    for ax, metric, title in zip(axes, ("selection_rate", "tpr", "fpr"),
                                 ("Selection rate", "True positive rate", "False positive rate"), strict=True):
        y = np.arange(len(groups))
        shown = [i for i, g in enumerate(groups) if g[metric]["value"] is not None]
        values = np.array([groups[i][metric]["value"] for i in shown], dtype=float)
        lo = np.array([groups[i][metric]["ci"][0] for i in shown], dtype=float)
        hi = np.array([groups[i][metric]["ci"][1] for i in shown], dtype=float)
        lo, hi = np.where(np.isnan(lo), values, lo), np.where(np.isnan(hi), values, hi)
        ax.barh(y[shown], values, color="#4a7ab5",
                xerr=[np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)], capsize=2)
        for i in sorted(set(range(len(groups))) - set(shown)):
            ax.text(0.02, i, "n/a (undefined)", va="center", fontsize=6, color="#555")
        if metric in lines:
            x, label = lines[metric]
            ax.axvline(x, color="#c0392b", ls="--", lw=1, label=label)
            ax.legend(loc="lower right", fontsize=6, frameon=False)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 1)
        ax.set_title(title)
    fig.suptitle(f"{attribute['attribute']} (* too small to conclude; lines from the groups that count)", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def importance_bar(features: list[str], importance: list[float], top: int = 12) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 0.28 * min(top, len(features)) + 0.8))
    y = np.arange(min(top, len(features)))[::-1]
    ax.barh(y, importance[:top], color="#4a7ab5")
    ax.set_yticks(y, features[:top])
    ax.set_xlabel("mean |SHAP value|")
    ax.set_title("Global importance")
    fig.tight_layout()
    return _png(fig)


def beeswarm(features: list[str], shap_values: np.ndarray, values: Any, order: list[int], seed: int,
             top: int = 10) -> bytes:
    rng = np.random.default_rng(seed)
    shown = order[:top]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(shown) + 0.9))
    for row, j in enumerate(shown):
        x = shap_values[:, j]
        col = values.iloc[:, j] if hasattr(values, "iloc") else values[:, j]
        try:
            colour = np.asarray(col, dtype=float)
            colour = (colour - np.nanmin(colour)) / (np.nanmax(colour) - np.nanmin(colour) or 1)
        except (TypeError, ValueError):
            codes = {v: i for i, v in enumerate(sorted(set(map(str, col))))}
            colour = np.array([codes[str(v)] for v in col], dtype=float) / max(1, len(codes) - 1)
        yy = len(shown) - 1 - row + rng.uniform(-0.3, 0.3, len(x))
        ax.scatter(x, yy, c=colour, cmap="coolwarm", s=5, linewidths=0)
    ax.set_yticks(range(len(shown))[::-1], [features[j] for j in shown])
    ax.axvline(0, color="#888", lw=0.6)
    ax.set_xlabel("SHAP value (colour: feature value, low blue to high red)")
    ax.set_title("Beeswarm")
    fig.tight_layout()
    return _png(fig)


def dependence(feature: str, shap_column: np.ndarray, values: Any) -> bytes:
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    try:
        xs = np.asarray(values, dtype=float)
        ax.scatter(xs, shap_column, s=6, color="#4a7ab5", linewidths=0)
    except (TypeError, ValueError):
        cats = sorted(set(map(str, values)))
        xs = np.array([cats.index(str(v)) for v in values], dtype=float)
        ax.scatter(xs, shap_column, s=6, color="#4a7ab5", linewidths=0)
        ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=6)
    ax.axhline(0, color="#888", lw=0.6)
    ax.set_title(f"Dependence: {feature}")
    ax.set_ylabel("SHAP value")
    fig.tight_layout()
    return _png(fig)


def waterfall(case: dict[str, Any], base: float, top: int = 8) -> bytes:
    items = sorted(case["contributions"].items(), key=lambda kv: -abs(kv[1] or 0.0))
    shown, rest = items[:top], sum((v or 0.0) for _, v in items[top:])
    labels = [k for k, _ in shown] + ([f"{len(items) - top} others"] if len(items) > top else [])
    deltas = [v or 0.0 for _, v in shown] + ([rest] if len(items) > top else [])
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(labels) + 1.0))
    start = base
    for i, d in enumerate(deltas):
        y = len(deltas) - 1 - i
        ax.barh(y, d, left=start, color="#2e86c1" if d >= 0 else "#c0392b")
        start += d
    ax.set_yticks(range(len(deltas))[::-1], labels)
    ax.axvline(base, color="#888", lw=0.6)
    ax.set_title(f"Case {case['row']}: prediction {case['prediction']} (base {base:.3f}, output {start:.3f})")
    fig.tight_layout()
    return _png(fig)


def performance_curves(y_true: np.ndarray, y_score: np.ndarray, metrics: dict[str, Any]) -> bytes:
    """The ROC curve with the KS gap marked, and the calibration table drawn against the diagonal."""
    fig, (roc, cal) = plt.subplots(1, 2, figsize=(7.2, 3.2))
    fpr, tpr, _ = roc_curve(y_true, y_score)
    auc, ks = metrics["metrics"]["roc_auc"]["value"], metrics["metrics"]["ks"]["value"]
    roc.plot(fpr, tpr, color="#4a7ab5", lw=1.2, label=f"model (ROC AUC {auc:.3f})")
    roc.plot([0, 1], [0, 1], color="#888", lw=0.6, ls=":", label="chance")
    at = int(np.argmax(np.abs(tpr - fpr)))
    roc.plot([fpr[at], fpr[at]], [fpr[at], tpr[at]], color="#c0392b", lw=1.2, label=f"KS {ks:.3f}")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title("ROC curve")
    roc.legend(loc="lower right", fontsize=6, frameon=False)
    bins = metrics["calibration"]["bins"]
    x = np.array([b["mean_score"] for b in bins], dtype=float)
    y = np.array([b["observed_rate"]["value"] for b in bins], dtype=float)
    lo = np.array([b["observed_rate"]["ci"][0] for b in bins], dtype=float)
    hi = np.array([b["observed_rate"]["ci"][1] for b in bins], dtype=float)
    lo, hi = np.where(np.isnan(lo), y, lo), np.where(np.isnan(hi), y, hi)
    cal.plot([0, 1], [0, 1], color="#888", lw=0.6, ls=":", label="perfect calibration")
    cal.errorbar(x, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt="o-", ms=3, lw=1,
                 capsize=2, color="#4a7ab5", label="observed rate per decile (95% CI)")
    cal.set_xlim(0, 1)
    cal.set_ylim(0, 1)
    cal.set_xlabel("mean score in the decile")
    cal.set_ylabel("observed rate of class 1")
    cal.set_title("Calibration")
    cal.legend(loc="lower right", fontsize=6, frameon=False)
    for ax in (roc, cal):
        ax.set_aspect("equal")
    fig.tight_layout()
    return _png(fig)
