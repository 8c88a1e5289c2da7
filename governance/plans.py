"""The monitoring plan of a policy rule: which measurements of production batches count, their amber and red
thresholds, how often windows are measured, how large a batch must be, and what a red breach does.

A plan lives in each stage and tier's rule under "monitoring", beside the approvals and evidence it asks for.
A rule with no plan (every rule stored before plans existed) reads as the default plan, whose bias thresholds
are the ones the bias report prints as its "monitoring triggers": what a report promises is what monitoring
does (docs/monitoring.md).
"""

from __future__ import annotations

import math
from typing import Any

from config.errors import InvalidInput

# Each measurement a plan may threshold, and whether a higher value is worse ("above") or a lower one ("below").
# feature_* are the largest over the batch's features; *_shift and impact_ratio the worst over groups; *_drop
# the validated value less the value measured on the batch's labelled rows.
DIRECTIONS: dict[str, str] = {
    "feature_psi": "above",
    "feature_ks": "above",
    "feature_js": "above",
    # The share of a feature's cells left empty, against the baseline's: blanking drifted values hides no drift.
    "feature_missing_shift": "above",
    "score_psi": "above",
    "roc_auc_drop": "above",
    "ks_drop": "above",
    "gini_drop": "above",
    "accuracy_drop": "above",
    "expected_calibration_error": "above",
    "selection_rate_shift": "above",
    "tpr_shift": "above",
    "impact_ratio": "below",
}
# Where each measurement can lie: a threshold outside it is never reached (a red PSI of 1e9) or always is (an
# amber selection-rate shift of -1), and either silences or fakes what the plan promises.
RANGES: dict[str, tuple[float, float]] = {
    "feature_psi": (0.0, 10.0), "score_psi": (0.0, 10.0), "feature_ks": (0.0, 1.0), "feature_js": (0.0, 1.0),
    "feature_missing_shift": (0.0, 1.0),
    "roc_auc_drop": (0.0, 1.0), "ks_drop": (0.0, 1.0), "gini_drop": (0.0, 2.0), "accuracy_drop": (0.0, 1.0),
    "expected_calibration_error": (0.0, 1.0), "selection_rate_shift": (0.0, 1.0), "tpr_shift": (0.0, 1.0),
    "impact_ratio": (0.0, 1.0),
}
ON_RED = ("revalidate", "hold")
COLOURS = ("green", "amber", "red")
_LIMITS = {"min_batch_rows": (1, 10_000_000), "min_group_rows": (1, 10_000_000), "window_days": (1, 3650),
           "cadence_days": (1, 3650), "max_silence_days": (1, 3650)}


def default_plan(bias_thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The plan a rule without one reads as. The selection-rate and impact-ratio thresholds come from the rule's
    bias thresholds exactly as reports/bias.py words its monitoring triggers: re-run (amber) when a group's
    selection rate moves by more than half the parity difference allowed, alert (amber) when an impact ratio
    falls below the ratio allowed plus 0.05; red where the bias gate itself would fail."""
    t = bias_thresholds or {}
    dpd = float(t.get("demographic_parity_difference", 0.1))
    ratio = float(t.get("impact_ratio", 0.8))
    return {
        "metrics": {
            # PSI: 0.1 and 0.25, the industry's usual "moderate" and "significant" shifts.
            "feature_psi": {"amber": 0.1, "red": 0.25},
            "feature_missing_shift": {"amber": 0.05, "red": 0.2},
            "score_psi": {"amber": 0.1, "red": 0.25},
            "roc_auc_drop": {"amber": 0.03, "red": 0.05},
            "selection_rate_shift": {"amber": round(dpd / 2, 6), "red": round(dpd, 6)},
            "impact_ratio": {"amber": round(min(0.9, ratio + 0.05), 6), "red": round(ratio, 6)},
        },
        "min_batch_rows": 500,
        # A group's selection rate and TPR, and the impact ratio over groups, are judged on groups of at least this
        # many rows: a rate over fewer swings by more than the thresholds by chance alone.
        "min_group_rows": 200,
        "window_days": 30,
        "cadence_days": 7,
        # "Re-run at least quarterly in production": a monitored version with no batch for this long is amber.
        "max_silence_days": 92,
        "on_red": "revalidate",
    }


def plan_of(rule: dict[str, Any]) -> dict[str, Any]:
    """The plan of a frozen or stored rule: its own if it has one, else the default for its bias thresholds."""
    plan = rule.get("monitoring") if isinstance(rule, dict) else None
    if isinstance(plan, dict):
        try:
            return validate_plan(plan, "plan")
        except InvalidInput:
            pass  # a plan stored before plans were checked: the default, never a failure
    thresholds = rule.get("bias_thresholds") if isinstance(rule, dict) else None
    return default_plan(thresholds if isinstance(thresholds, dict) else None)


def validate_plan(plan: Any, where: str) -> dict[str, Any]:
    """Refuse a malformed plan, naming what is wrong; the plan as given if it is well formed."""
    if not isinstance(plan, dict):
        raise InvalidInput(f"{where} must be an object")
    unknown = sorted(str(k)[:40] for k in plan if k not in {"metrics", "on_red", *_LIMITS})
    if unknown:
        raise InvalidInput(f"{where} has unknown keys {', '.join(unknown)}; a plan has metrics, on_red, "
                           f"{', '.join(_LIMITS)}")
    metrics = plan.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise InvalidInput(f"{where}.metrics must map measurements to {{amber: number, red: number}}")
    for name, bounds in metrics.items():
        if name not in DIRECTIONS:
            raise InvalidInput(f"{where}.metrics names {str(name)[:40]!r}, which monitoring does not measure; it "
                               f"measures {', '.join(DIRECTIONS)}")
        if not isinstance(bounds, dict) or set(bounds) != {"amber", "red"} or any(
            type(v) not in (int, float) or not math.isfinite(v) for v in bounds.values()
        ):
            raise InvalidInput(f"{where}.metrics.{name} must be {{amber: number, red: number}}")
        low, high = RANGES[name]
        if not all(low <= v <= high for v in bounds.values()):
            raise InvalidInput(f"{where}.metrics.{name}: amber and red must be from {low:g} to {high:g}")
        worse = bounds["red"] >= bounds["amber"] if DIRECTIONS[name] == "above" else bounds["red"] <= bounds["amber"]
        if not worse:
            side = "at or above" if DIRECTIONS[name] == "above" else "at or below"
            raise InvalidInput(f"{where}.metrics.{name}: red must be {side} amber (a higher {name} is "
                               f"{'worse' if DIRECTIONS[name] == 'above' else 'better'})")
    if plan.get("on_red", "revalidate") not in ON_RED:
        raise InvalidInput(f"{where}.on_red must be one of {', '.join(ON_RED)}")
    for key, (low, high) in _LIMITS.items():
        if key in plan and (type(plan[key]) is not int or not low <= plan[key] <= high):
            raise InvalidInput(f"{where}.{key} must be a whole number from {low} to {high}")
    return {**{k: v for k, v in default_plan().items() if k != "metrics"}, **plan}


def colour(name: str, value: float | None, bounds: dict[str, float]) -> str | None:
    """The colour of one measurement against its thresholds; None when it was not measured (no labels yet)."""
    if value is None:
        return None
    if DIRECTIONS[name] == "above":
        return "red" if value >= bounds["red"] else "amber" if value >= bounds["amber"] else "green"
    return "red" if value <= bounds["red"] else "amber" if value <= bounds["amber"] else "green"


def worst(colours: list[str | None]) -> str:
    """The colour of several measurements: the worst of them; green when none was measured."""
    seen = [c for c in colours if c]
    return max(seen, key=COLOURS.index) if seen else "green"
