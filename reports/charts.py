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
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
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
        ax.xaxis.set_major_locator(MaxNLocator(5))  # wide numbers (credit amounts) overlapped at the default
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


# SHAP's own waterfall colours: a feature that raises the output is red, one that lowers it blue.
RAISES, LOWERS = "#ff0051", "#008bfb"


def waterfall_bars(case: dict[str, Any], base: float, top: int = 8) -> list[dict[str, Any]]:
    """The bars of a case's waterfall, top to bottom: the largest contributions, then the rest summed;
    each starts where the previous ended, red if it raises the output and blue if it lowers it."""
    items = sorted(case["contributions"].items(), key=lambda kv: -abs(kv[1] or 0.0))
    shown = [(k, v or 0.0) for k, v in items[:top]]
    if len(items) > top:
        shown.append((f"{len(items) - top} others", sum((v or 0.0) for _, v in items[top:])))
    bars, start = [], base
    for label, delta in shown:
        bars.append({"label": label, "start": start, "delta": delta, "colour": RAISES if delta > 0 else LOWERS})
        start += delta
    return bars


def waterfall(case: dict[str, Any], base: float, top: int = 8) -> bytes:
    bars = waterfall_bars(case, base, top)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(bars) + 1.2))
    for i, bar in enumerate(bars):
        ax.barh(len(bars) - 1 - i, bar["delta"], left=bar["start"], color=bar["colour"])
    end = bars[-1]["start"] + bars[-1]["delta"] if bars else base
    ax.set_yticks(range(len(bars))[::-1], [b["label"] for b in bars])
    # The base and output lines are often at the extremes: keep them off the frame.
    edges = [base, end, *(b["start"] for b in bars)]
    pad = 0.05 * (max(edges) - min(edges)) or 0.1
    ax.set_xlim(min(edges) - pad, max(edges) + pad)
    ax.axvline(base, color="#888", lw=0.6)
    ax.axvline(end, color="#333", lw=0.6, ls="--")
    ax.legend(handles=[Patch(color=RAISES, label="raises the score"), Patch(color=LOWERS, label="lowers the score"),
                       Line2D([], [], color="#888", lw=0.6, label="base value"),
                       Line2D([], [], color="#333", lw=0.6, ls="--", label="this case's output")],
              loc="upper center", bbox_to_anchor=(0.5, -0.12 if bars else -0.2), ncol=4, fontsize=7, frameon=False)
    ax.set_title(f"Case {case['row']}: prediction {case['prediction']} (base {base:.3f}, output {end:.3f})")
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
