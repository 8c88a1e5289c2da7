"""Evidence gates: does the version meet the frozen policy's evidence and metric requirements?"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import asdict, dataclass
from typing import Any

from django.utils import timezone

from audit.format import jcs
from governance import policies
from governance.models import PromotionHold
from registry.models import ModelVersion
from reports.selectors import EvidenceSummary, latest_evidence

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
PERFORMANCE = "performance"


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


def staleness(kind: str, ev: EvidenceSummary, version: ModelVersion, max_age: dt.timedelta) -> str | None:
    """Why a report does not count as evidence about the version now (None: it counts): computed on another
    artifact, before the version was registered, or longer ago than the rule allows."""
    artifact = ev.inputs.get("artifact_sha256") if isinstance(ev.inputs, dict) else None
    if artifact and artifact != version.artifact_sha256:
        return f"{kind} report #{ev.report_id} was computed on another artifact"
    if ev.finished_at is None or ev.finished_at < version.created_at:
        return f"{kind} report #{ev.report_id} predates the version: stale"
    if timezone.now() - ev.finished_at > max_age:
        return f"{kind} report #{ev.report_id} is older than {max_age.days} days: stale"
    return None


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
    stale = staleness(kind, ev, version, max_age)
    if stale:
        return GateResult(name, False, stale)
    if requirement == "pass" and ev.verdict != "pass":
        return GateResult(name, False, f"{kind} report #{ev.report_id} verdict is {ev.verdict or 'none'}, not pass")
    return GateResult(name, True, f"{kind} report #{ev.report_id} ({ev.verdict or 'present'})")


@dataclass(frozen=True)
class Measured:
    """The performance report whose numbers count for a version now, or why none does."""

    report_id: int | None
    metrics: dict[str, Any]
    why_none: str = ""


def _not_held_out(ev: EvidenceSummary, version: ModelVersion) -> str | None:
    """Why a performance report's data does not count (None: it does): not named for evaluation when the version
    was registered, or the data the version was trained on. Requests are refused so (reports.services); this
    also catches a report from before that rule."""
    data = ev.inputs.get("evaluation_dataset_sha256") if isinstance(ev.inputs, dict) else None
    if not version.evaluation_datasets.filter(sha256=data).exists():
        return f"performance report #{ev.report_id} was measured on data not named for evaluation at registration"
    if version.training_datasets.filter(sha256=data).exists():
        return f"performance report #{ev.report_id} was measured on the data the version was trained on"
    return None


def measured(version: ModelVersion, max_age: dt.timedelta,
             evidence: dict[str, EvidenceSummary] | None = None) -> Measured:
    """What the product measured about the version: the latest performance report, if it is fresh by the same
    tests as any evidence. Declared metrics (version.metrics) are never read here."""
    ev = (latest_evidence(version.pk) if evidence is None else evidence).get(PERFORMANCE)
    if ev is None:
        return Measured(None, {}, "no succeeded performance report for this version")
    stale = staleness(PERFORMANCE, ev, version, max_age) or _not_held_out(ev, version)
    if stale:
        return Measured(None, {}, stale)
    if not ev.metrics_intact():
        return Measured(None, {}, f"performance report #{ev.report_id}'s stored metrics are not those its recorded "
                                  f"digest (json_sha256) names: they were changed behind the log's back "
                                  f"(`manage.py audit verify` names the change)")
    values = ev.metrics.get("metrics") if isinstance(ev.metrics, dict) else None
    return Measured(ev.report_id, values if isinstance(values, dict) else {})


def _metric_gate(name: str, op: str, threshold: Any, found: Measured) -> GateResult:
    gate = f"metric.{name}"
    if found.report_id is None:
        return GateResult(gate, False, f"{name} is not measured: {found.why_none}")
    entry = found.metrics.get(name)
    value = entry.get("value") if isinstance(entry, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        why = (entry.get("note") if isinstance(entry, dict) else None) or "the report does not measure it"
        return GateResult(gate, False, f"{name} is not measured by performance report #{found.report_id}: {why}")
    if type(value) is int and abs(value) > jcs.SAFE_INT:
        value = float(value)  # the double its digest binds (audit.format.jcs.digest_of), as RFC 8785 reads it
    ok = _OPS[op](value, threshold)
    return GateResult(gate, ok, f"{name} = {value} measured by performance report #{found.report_id} "
                                f"(needs {op} {threshold})")


def evaluate(version: ModelVersion, rule: dict[str, Any]) -> list[GateResult]:
    """Every gate of a frozen policy rule, passed or not, in a stable order."""
    evidence = latest_evidence(version.pk)
    max_age = policies.duration(rule, "evidence_max_age_days")
    results = [
        _evidence_gate(kind, requirement, evidence.get(kind), version, max_age)
        for kind, requirement in sorted(rule.get("evidence", {}).items())
    ]
    found = measured(version, max_age, evidence)
    for name, condition in sorted(rule.get("metrics", {}).items()):
        (op, threshold), = condition.items()
        results.append(_metric_gate(name, op, threshold, found))
    hold = PromotionHold.objects.filter(model_id=version.model_id, released_at__isnull=True).first()
    if hold is not None:
        # Named only while it lasts: a model never held shows the gates it always showed.
        results.append(GateResult("monitoring.hold", False, f"promotions are on hold (hold #{hold.pk}): {hold.reason}"))
    return results


def all_pass(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
