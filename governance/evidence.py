"""What an evidence report records from the policy in force when it is requested: the thresholds its gates apply.

The rule lives here, beside the gates that read the reports, and every channel (API, admin, CLI, demo) asks it;
reports never import governance, so each channel hands the result to reports.services.report_request.
"""

from __future__ import annotations

from typing import Any

from governance.policies import bias_thresholds, metric_thresholds
from governance.services import active_policy_or_none
from registry.models import ModelVersion

PERFORMANCE = "performance"


def production_rule(version: ModelVersion) -> dict[str, Any]:
    """The production rule of the policy in force for the version's risk tier ({} without a policy)."""
    policy = active_policy_or_none()
    return policy.rules["production"][version.model.risk_tier] if policy is not None else {}


def report_config(version: ModelVersion, kind: str) -> dict[str, Any]:
    """The configuration a report of `kind` is requested with: the production rule's bias thresholds for a bias
    report (and, as always, the others), its metric thresholds for a performance report (which then has a verdict).
    Stored thresholds are read through the one reader of each, so a rule saved before they were checked cannot
    fail a report."""
    rule = production_rule(version)
    if kind == PERFORMANCE:
        return {"metric_thresholds": metric_thresholds(rule)}
    return {"bias_thresholds": dict(bias_thresholds(rule))}
