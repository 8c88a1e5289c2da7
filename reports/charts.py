"""Report charts as PNG bytes, identical for identical inputs: fixed size and dpi, shipped font, no timestamps.

Keys of the chart dicts the PDF renderers read: bias "rates:<attribute>" (one per attribute and intersection);
explainability "importance", "beeswarm", "dependence:<feature>", "waterfall:<row>".
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.explain import ExplanationArrays

FONTS = Path(__file__).resolve().parent / "fonts"
for _name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
    font_manager.fontManager.addfont(str(FONTS / _name))
# Applied per chart through rc_context, so a worker's other matplotlib users keep their own settings.
STYLE = {"font.family": "DejaVu Sans", "font.size": 7.5, "axes.titlesize": 8.5, "axes.spines.top": False,
         "axes.spines.right": False, "path.simplify": False}
DPI = 150
BLUE, RED, GREY, LINE = "#3b6ea8", "#c0392b", "#b8b8b8", "#7f7f7f"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def group_rates(section: dict[str, Any], thresholds: dict[str, float]) -> bytes:
    """Selection rate, TPR and FPR per group with their 95% bootstrap intervals, and where each check's limit
    falls: groups past the dashed line fail it. Grey bars are unknown or too small to conclude."""
    groups = section["groups"]
    eligible = [g for g in groups if g["eligible"]]
    labels = [g["group"] + (" (unknown)" if g["unknown"] else " (too small)" if g["too_small"] else "")
              for g in groups]
    limits: dict[str, float | None] = {"selection_rate": None, "tpr": None, "fpr": None}
    if len(eligible) >= 2:
        limits["selection_rate"] = thresholds["impact_ratio"] * max(g["selection_rate"]["value"] for g in eligible)
        limits["tpr"] = max(g["tpr"]["value"] for g in eligible) - thresholds["equal_opportunity_difference"]
        limits["fpr"] = min(g["fpr"]["value"] for g in eligible) + thresholds["equalized_odds_difference"]
    with mpl.rc_context(STYLE):
        fig = _figure(7.2, 1.0 + 0.28 * len(groups))
        axes = fig.subplots(1, 3, sharey=True)
        y = np.arange(len(groups))[::-1]
        for ax, metric, title in zip(axes, limits, ("Selection rate", "True positive rate", "False positive rate"),
                                     strict=True):
            values = np.array([np.nan if g[metric]["value"] is None else g[metric]["value"] for g in groups])
            lo = np.array([v if g[metric]["ci"][0] is None else g[metric]["ci"][0]
                           for g, v in zip(groups, values, strict=True)])
            hi = np.array([v if g[metric]["ci"][1] is None else g[metric]["ci"][1]
                           for g, v in zip(groups, values, strict=True)])
            ax.barh(y, np.nan_to_num(values), color=[BLUE if g["eligible"] else GREY for g in groups], height=0.6,
                    xerr=np.nan_to_num([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)]), capsize=2,
                    error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
            limit = limits[metric]
            if limit is not None:
                ax.axvline(limit, color=RED, ls="--", lw=1)
            ax.set_xlim(0, 1.05)
            ax.set_title(title)
        axes[0].set_yticks(y, labels)
        fig.suptitle(f"{section['attribute']}: rates per group, 95% bootstrap intervals", fontsize=8.5)
        if len(eligible) >= 2:
            fig.supxlabel("Dashed lines (groups beyond them fail): selection rate at four-fifths of the most "
                          "selected group;\nTPR at the highest TPR minus the equal-opportunity limit; FPR at the "
                          "lowest FPR plus the equalized-odds limit.", fontsize=6)
        return _png(fig)


def importance_bar(features: Sequence[str], importance: Sequence[float], top: int = 15) -> bytes:
    shown = min(top, len(features))
    with mpl.rc_context(STYLE):
        fig = _figure(6.0, 0.7 + 0.22 * shown)
        ax = fig.subplots()
        ax.barh(np.arange(shown)[::-1], list(importance[:shown]), color=BLUE, height=0.65)
        ax.set_yticks(np.arange(shown)[::-1], list(features[:shown]))
        ax.set_xlabel("mean |SHAP value| (average impact on the model output)")
        ax.set_title("Global importance")
        return _png(fig)


def _colour_scale(column: pd.Series) -> np.ndarray:
    """Feature values mapped to [0, 1] for colour: numbers by their 5th-95th percentile range, categories by
    their sorted order."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        x = column.to_numpy(dtype=np.float64)
        lo, hi = np.nanpercentile(x, [5, 95]) if np.isfinite(x).any() else (0.0, 1.0)
        return np.clip((x - lo) / ((hi - lo) or 1.0), 0, 1)
    cats = sorted(map(str, column.unique()))
    codes = {c: i for i, c in enumerate(cats)}
    return np.array([codes[str(v)] for v in column], dtype=np.float64) / max(1, len(cats) - 1)


def beeswarm(features: Sequence[str], shap_values: np.ndarray, values: pd.DataFrame, order: Sequence[int],
             seed: int, top: int = 12) -> bytes:
    """One row per feature, one dot per explained row at its SHAP value, spread vertically by how crowded its
    neighbourhood is (seeded jitter), coloured by the feature's value."""
    rng = np.random.default_rng(seed)
    shown = list(order[:top])
    with mpl.rc_context(STYLE):
        fig = _figure(6.4, 0.9 + 0.32 * len(shown))
        ax = fig.subplots()
        points = None
        for row, j in enumerate(shown):
            x = shap_values[:, j]
            counts, edges = np.histogram(x, bins=40)
            density = counts[np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(counts) - 1)]
            yy = len(shown) - 1 - row + rng.uniform(-1, 1, len(x)) * 0.38 * density / max(1, counts.max())
            points = ax.scatter(x, yy, c=_colour_scale(values.iloc[:, j]), cmap="coolwarm", vmin=0, vmax=1, s=4,
                                linewidths=0)
        ax.set_yticks(np.arange(len(shown))[::-1], [features[j] for j in shown])
        ax.axvline(0, color=LINE, lw=0.6)
        ax.set_xlabel("SHAP value (impact on the model output; left: towards the adverse outcome)")
        ax.set_title("Beeswarm: every explained row, per feature")
        if points is not None:
            bar = fig.colorbar(points, ax=ax, ticks=[0, 1], aspect=30, pad=0.01)
            bar.ax.set_yticklabels(["low", "high"])
            bar.set_label("feature value")
        return _png(fig)


def dependence(feature: str, shap_column: np.ndarray, values: Sequence[Any] | pd.Series, seed: int = 0) -> bytes:
    """SHAP value against the feature's value for every explained row; categories get seeded horizontal jitter."""
    rng = np.random.default_rng(seed)
    column = values if isinstance(values, pd.Series) else pd.Series(list(values))
    with mpl.rc_context(STYLE):
        fig = _figure(3.4, 2.5)
        ax = fig.subplots()
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            ax.scatter(column.to_numpy(dtype=np.float64), shap_column, s=5, color=BLUE, linewidths=0)
        else:
            cats = sorted(map(str, column.unique()))
            x = np.array([cats.index(str(v)) for v in column], dtype=np.float64)
            ax.scatter(x + rng.uniform(-0.2, 0.2, len(x)), shap_column, s=5, color=BLUE, linewidths=0)
            ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=6)
        ax.axhline(0, color=LINE, lw=0.6)
        ax.set_title(f"Dependence: {feature}")
        ax.set_xlabel(feature)
        ax.set_ylabel("SHAP value")
        return _png(fig)


def waterfall(case: dict[str, Any], base: float | None = None, output_label: str = "model output",
              top: int = 10) -> bytes:
    """From the base value (the case's own unless `base` is given) to this row's output, one bar per feature,
    largest first; red bars push towards the adverse outcome."""
    items = case["contributions"]
    shown, rest = items[:top], items[top:]
    labels = [f"{c['feature']} = {c['value']}" for c in shown] + ([f"{len(rest)} other features"] if rest else [])
    deltas = [c["shap"] or 0.0 for c in shown] + ([sum(c["shap"] or 0.0 for c in rest)] if rest else [])
    start = float(case["base_value"] if base is None else base)
    ends = start + np.cumsum(deltas) if deltas else np.array([start])
    with mpl.rc_context(STYLE):
        fig = _figure(6.4, 0.9 + 0.26 * max(1, len(labels)))
        ax = fig.subplots()
        for i, (left, d) in enumerate(zip(np.concatenate([[start], ends[:-1]]), deltas, strict=False)):
            y = len(deltas) - 1 - i
            ax.barh(y, d, left=left, color=BLUE if d >= 0 else RED, height=0.6)
            ax.text(left + d, y, f" {d:+.3f} ", va="center", ha="left" if d >= 0 else "right", fontsize=6)
        lo, hi = min(start, float(ends.min())), max(start, float(ends.max()))
        pad = 0.18 * ((hi - lo) or 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_yticks(np.arange(len(deltas))[::-1], labels)
        ax.axvline(start, color=LINE, lw=0.6, ls=":")
        ax.axvline(float(ends[-1]), color="#333333", lw=0.6)
        ax.set_xlabel(f"{output_label}; dotted: base value, solid: this row")
        outcome = "adverse outcome (class 0)" if case["adverse"] else f"class {case['prediction']}"
        ax.set_title(f"Row {case['row']}: {outcome}; base {start:.3f} → output {float(ends[-1]):.3f}")
        return _png(fig)


def bias_charts(metrics: dict[str, Any]) -> dict[str, bytes]:
    """Every chart the bias PDF shows, by the key it looks them up under."""
    return {f"rates:{s['attribute']}": group_rates(s, metrics["thresholds"])
            for s in metrics["attributes"] + metrics["intersections"]}


def explanation_charts(metrics: dict[str, Any], arrays: ExplanationArrays, seed: int,
                       n_dependence: int = 4) -> dict[str, bytes]:
    """Every chart the explainability PDF shows, by the key it looks them up under."""
    order = arrays.order
    charts = {
        "importance": importance_bar([arrays.features[j] for j in order],
                                     [float(np.abs(arrays.shap_values[:, j]).mean()) for j in order]),
        "beeswarm": beeswarm(arrays.features, arrays.shap_values, arrays.values, order, seed),
    }
    for j in order[:n_dependence]:
        charts[f"dependence:{arrays.features[j]}"] = dependence(arrays.features[j], arrays.shap_values[:, j],
                                                                arrays.values.iloc[:, j], seed)
    for case in metrics["local"]:
        charts[f"waterfall:{case['row']}"] = waterfall(case, output_label=metrics["method"]["output_explained"])
    return charts
