"""The default policy set and the validation every policy's rules must pass."""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

from config.errors import InvalidInput
from config.json_input import check_json_value
from governance.plans import default_plan, validate_plan
from reports.performance import METRICS

STAGES = ("staging", "production")
TIERS = ("low", "medium", "high", "critical")
ROLES = ("validator", "risk_officer", "compliance_officer")
EVIDENCE_KINDS = ("bias", "explainability", "performance", "lineage")
EVIDENCE_REQUIREMENTS = ("present", "pass")
OPERATORS = (">=", ">", "<=", "<")
# Upper bounds of the durations (docs/policies.md): ten years either way. They keep every date computed
# from a rule (approval expiry, request TTL, evidence age, re-validation) inside what timedelta and
# datetime can represent; without them one policy edit makes approve, request and expire fail for good.
MAX_DAYS = 3650
MAX_HOURS = 24 * MAX_DAYS
DURATIONS = {
    "evidence_max_age_days": ("days", MAX_DAYS),
    "approval_valid_hours": ("hours", MAX_HOURS),
    "request_ttl_days": ("days", MAX_DAYS),
    "revalidate_after_days": ("days", MAX_DAYS),
}

# The durations of the default rules, and of a rule that names none (re-validation varies by tier there).
_DEFAULT_DURATIONS = {"evidence_max_age_days": 90, "approval_valid_hours": 168, "request_ttl_days": 30,
                      "revalidate_after_days": 365}


def duration(rule: dict[str, Any], key: str) -> dt.timedelta:
    """A duration of a frozen rule, the one reading every date computed from a rule goes through.

    Rules stored before the bounds existed, or frozen onto requests then, may hold any number: one
    beyond the bound is read as the bound (ten years means "for good" here), one below 1 as 1, so that
    no stored rule can make approve, request, expire or re-validation fail.
    """
    unit, most = DURATIONS[key]
    try:
        amount = int(rule.get(key, _DEFAULT_DURATIONS[key]))
    except (TypeError, ValueError, OverflowError):
        amount = _DEFAULT_DURATIONS[key]
    return dt.timedelta(**{unit: min(max(amount, 1), most)})


_BIAS_THRESHOLDS = {
    "demographic_parity_difference": 0.1, "demographic_parity_ratio": 0.8, "equalized_odds_difference": 0.1,
    "equalized_odds_ratio": 0.8, "equal_opportunity_difference": 0.1, "impact_ratio": 0.8,
}


# What the bias report (reports/bias.py) compares each threshold with lies between 0 and 1: a difference
# between groups' rates must not exceed its threshold, the lowest group's rate over the highest must reach
# its ratio. A ratio of 0 would pass a model that never selects some group, the very case it is there for.
def _threshold_refusal(key: str, value: Any) -> str | None:
    """What bias threshold `key` must be, if `value` is not that; None if it is."""
    ratio = key.endswith("_ratio")
    # type(), not isinstance(): true and false are ints to Python, and no threshold.
    if type(value) in (int, float) and math.isfinite(value) and (0 < value <= 1 if ratio else 0 <= value <= 1):
        return None
    return f"must be a number {'greater than 0 and at most 1' if ratio else 'from 0 to 1'}"


def bias_thresholds(rule: dict[str, Any]) -> dict[str, float]:
    """The bias thresholds of a rule, the one reading every bias report's thresholds should go through.

    Rules stored before thresholds were checked may hold anything; none may make a report fail. A name
    that is no threshold is left out; a value that is not a number (text, true, null, a list) is read as
    that threshold's default; a number outside 0 to 1 as the nearer of 0 and 1. No ratio or difference
    lies outside 0 to 1, so that gives every model the verdict the stored number gave it, except that a
    threshold no model could meet becomes one that only perfect parity meets.
    """
    stored = rule.get("bias_thresholds")
    if not isinstance(stored, dict):
        return {}
    read: dict[str, float] = {}
    for key, value in stored.items():
        if key not in _BIAS_THRESHOLDS:
            continue
        if type(value) in (int, float) and not math.isnan(value):
            read[key] = min(max(float(value), 0.0), 1.0)
        else:
            read[key] = _BIAS_THRESHOLDS[key]
    return read


def metric_thresholds(rule: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The metric thresholds of a rule that a performance report can check ({name: {operator: number}}); an
    entry stored before rules were checked that is not of that shape is left out (its gate still fails)."""
    stored = rule.get("metrics")
    if not isinstance(stored, dict):
        return {}
    return {str(name): {op: float(value)} for name, cond in stored.items() if isinstance(cond, dict) and len(cond) == 1
            for op, value in cond.items() if op in OPERATORS and type(value) in (int, float) and math.isfinite(value)}


def _rule(approvals: dict[str, int], evidence: dict[str, str], auc: float, revalidate_days: int) -> dict[str, Any]:
    return {
        "approvals": approvals,
        # A metric gate reads only what a performance report measured: every rule with one asks for the report.
        "evidence": {**evidence, "performance": "present"},
        "metrics": {"roc_auc": {">=": auc}},
        "bias_thresholds": dict(_BIAS_THRESHOLDS),
        **_DEFAULT_DURATIONS,
        "revalidate_after_days": revalidate_days,
        # What ongoing monitoring measures in production and what a breach does (governance/plans.py).
        "monitoring": default_plan(_BIAS_THRESHOLDS),
    }


ALL_EVIDENCE = {"bias": "pass", "explainability": "present", "lineage": "present"}
DEFAULT_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "staging": {
        "low": _rule({"validator": 1}, {}, 0.6, 730),
        "medium": _rule({"validator": 1}, {"bias": "pass"}, 0.65, 365),
        "high": _rule({"validator": 1, "risk_officer": 1}, {"bias": "pass", "explainability": "present"}, 0.7, 365),
        "critical": _rule({"validator": 1, "risk_officer": 1}, dict(ALL_EVIDENCE), 0.7, 180),
    },
    "production": {
        "low": _rule({"validator": 1, "risk_officer": 1}, dict(ALL_EVIDENCE), 0.7, 730),
        "medium": _rule({"validator": 1, "risk_officer": 1, "compliance_officer": 1}, dict(ALL_EVIDENCE), 0.7, 365),
        "high": _rule({"validator": 1, "risk_officer": 1, "compliance_officer": 1}, dict(ALL_EVIDENCE), 0.7, 365),
        "critical": _rule({"validator": 2, "risk_officer": 1, "compliance_officer": 1}, dict(ALL_EVIDENCE), 0.75,
                          180),
    },
}


def default_rules() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_RULES)


def validate_rules(rules: Any) -> dict[str, Any]:
    """Refuse a rule set that is incomplete or malformed, naming what is wrong."""
    # First: the checks below, and the audit entry, walk the value and must not meet one too deep to walk.
    check_json_value(rules, name="rules")
    if not isinstance(rules, dict) or set(rules) != set(STAGES):
        raise InvalidInput(f"rules must have exactly the stages {', '.join(STAGES)}")
    for stage in STAGES:
        if not isinstance(rules[stage], dict) or set(rules[stage]) != set(TIERS):
            raise InvalidInput(f"rules.{stage} must have exactly the tiers {', '.join(TIERS)}")
        for tier in TIERS:
            _validate_rule(rules[stage][tier], f"rules.{stage}.{tier}")
    return rules


def _validate_rule(rule: Any, where: str) -> None:
    if not isinstance(rule, dict):
        raise InvalidInput(f"{where} must be an object")
    approvals = rule.get("approvals")
    if not isinstance(approvals, dict) or not approvals or any(
        r not in ROLES or type(n) is not int or not 1 <= n <= 5 for r, n in approvals.items()
    ):
        raise InvalidInput(f"{where}.approvals must map roles ({', '.join(ROLES)}) to 1..5 approvers")
    evidence = rule.get("evidence", {})
    if not isinstance(evidence, dict) or any(
        k not in EVIDENCE_KINDS or v not in EVIDENCE_REQUIREMENTS for k, v in evidence.items()
    ):
        raise InvalidInput(f"{where}.evidence must map report kinds to 'present' or 'pass'")
    metrics = rule.get("metrics", {})
    if not isinstance(metrics, dict) or any(
        not isinstance(cond, dict) or len(cond) != 1 or next(iter(cond)) not in OPERATORS
        or type(next(iter(cond.values()))) not in (int, float) or not math.isfinite(next(iter(cond.values())))
        for cond in metrics.values()
    ):
        raise InvalidInput(f"{where}.metrics must map names to {{operator: number}} with operator in {OPERATORS}")
    unmeasured = sorted(str(name)[:40] for name in metrics if name not in METRICS)
    if unmeasured:
        # A gate on a metric no report measures could never pass: refused when written, not found at promotion.
        raise InvalidInput(f"{where}.metrics names {', '.join(unmeasured)}, which the performance report does not "
                           f"measure; it measures {', '.join(METRICS)}")
    for key, (unit, most) in DURATIONS.items():
        if type(rule.get(key)) is not int or not 1 <= rule[key] <= most:
            raise InvalidInput(f"{where}.{key} must be a whole number of {unit} from 1 to {most}")
    if "monitoring" in rule:
        validate_plan(rule["monitoring"], f"{where}.monitoring")
    thresholds = rule.get("bias_thresholds", {})
    if not isinstance(thresholds, dict):
        raise InvalidInput(f"{where}.bias_thresholds must be an object")
    for key, value in thresholds.items():
        if key not in _BIAS_THRESHOLDS:
            name = str(key) if len(str(key)) <= 40 else str(key)[:40] + "..."
            raise InvalidInput(f"{where}.bias_thresholds.{name} is not a bias threshold; the thresholds are "
                               f"{', '.join(_BIAS_THRESHOLDS)}")
        refusal = _threshold_refusal(key, value)
        if refusal:
            raise InvalidInput(f"{where}.bias_thresholds.{key} {refusal}")
