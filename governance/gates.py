"""Evidence gates: does the version meet the frozen policy's evidence and metric requirements?"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import asdict, dataclass
from typing import Any

from django.utils import timezone

from governance import policies
from registry.models import ModelVersion
from reports.selectors import EvidenceSummary, latest_evidence

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_digests(version: ModelVersion) -> dict[str, dict[str, Any]]:
    """What an approver sees: each latest report by id and digest (approvals are bound to this)."""
    return {
        kind: {"report_id": ev.report_id, "pdf_sha256": ev.pdf_sha256, "json_sha256": ev.json_sha256,
               "verdict": ev.verdict}
        for kind, ev in sorted(latest_evidence(version.pk).items())
    }


def superseded(bound: dict[str, Any], current: dict[str, Any], rule: dict[str, Any]) -> list[str]:
    """The kinds of evidence that changed under an approval bound to `bound` (as evidence_digests gave them then),
    now that they are `current`: each it saw that is no longer the latest, and each the rule requires that is not
    the one it saw. A kind it never saw arriving changes nothing it was given on."""
    kinds = {k for k, v in bound.items() if v} | set(rule.get("evidence", {}))
    return sorted(k for k in kinds if bound.get(k) != current.get(k))


def evidence_failures(results: list[GateResult]) -> list[GateResult]:
    """The evidence gates that fail: what an approval is refused for while it lasts."""
    return [g for g in results if g.name.startswith("evidence.") and not g.passed]


def _evidence_gate(kind: str, requirement: str, ev: EvidenceSummary | None, version: ModelVersion,
                   max_age: dt.timedelta) -> GateResult:
    name = f"evidence.{kind}"
    if ev is None:
        return GateResult(name, False, f"no succeeded {kind} report for this version")
    artifact = ev.inputs.get("artifact_sha256") if isinstance(ev.inputs, dict) else None
    if artifact and artifact != version.artifact_sha256:
        return GateResult(name, False, f"{kind} report #{ev.report_id} was computed on another artifact")
    if ev.finished_at is None or ev.finished_at < version.created_at:
        return GateResult(name, False, f"{kind} report #{ev.report_id} predates the version: stale")
    if timezone.now() - ev.finished_at > max_age:
        return GateResult(name, False, f"{kind} report #{ev.report_id} is older than {max_age.days} days: stale")
    if requirement == "pass" and ev.verdict != "pass":
        return GateResult(name, False, f"{kind} report #{ev.report_id} verdict is {ev.verdict or 'none'}, not pass")
    return GateResult(name, True, f"{kind} report #{ev.report_id} ({ev.verdict or 'present'})")


def _metric_value(name: str, version: ModelVersion, evidence: dict[str, EvidenceSummary]) -> float | None:
    value = version.metrics.get(name) if isinstance(version.metrics, dict) else None
    if value is None and "bias" in evidence:
        value = (evidence["bias"].metrics.get("overall") or {}).get(name)
        if isinstance(value, dict):
            value = value.get("value")
    return float(value) if isinstance(value, int | float) else None


def evaluate(version: ModelVersion, rule: dict[str, Any]) -> list[GateResult]:
    """Every gate of a frozen policy rule, passed or not, in a stable order."""
    evidence = latest_evidence(version.pk)
    max_age = policies.duration(rule, "evidence_max_age_days")
    results = [
        _evidence_gate(kind, requirement, evidence.get(kind), version, max_age)
        for kind, requirement in sorted(rule.get("evidence", {}).items())
    ]
    for name, condition in sorted(rule.get("metrics", {}).items()):
        (op, threshold), = condition.items()
        value = _metric_value(name, version, evidence)
        if value is None:
            results.append(GateResult(f"metric.{name}", False, f"{name} is not recorded for this version"))
        else:
            ok = _OPS[op](value, threshold)
            results.append(GateResult(f"metric.{name}", ok, f"{name} = {value:.4f} (needs {op} {threshold})"))
    return results


def all_pass(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
