"""The baseline a version's production rows are measured against: what its approval was bound to — the validated
performance and bias reports (by id and digest) and the evaluation dataset they were measured on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.format.jcs import digest_of
from audit.reconcile import logged_value
from config.errors import InvalidInput
from governance import gates
from governance.models import PromotionRequest, RequestStatus
from registry.models import DatasetVersion, ModelVersion
from reports.models import Report, ReportStatus

KINDS = ("performance", "bias")


def baseline_of(version: ModelVersion) -> dict[str, Any]:
    """The baseline to freeze on an evaluation: the evidence the approval that put the version in its stage was
    bound to, or, for a version no request promoted (staged before requests existed), its latest evidence."""
    request = (PromotionRequest.objects.filter(version=version, status=RequestStatus.APPROVED,
                                               target_stage=version.stage)
               .order_by("-decided_at", "-id").first())
    evidence = request.decision_evidence if request is not None and request.decision_evidence else \
        gates.evidence_digests(version)
    reports = {kind: {"id": evidence[kind]["report_id"], "json_sha256": evidence[kind]["json_sha256"]}
               for kind in KINDS if isinstance(evidence.get(kind), dict)}
    dataset_id = None
    for kind in KINDS:
        if kind in reports:
            dataset_id = Report.objects.filter(pk=reports[kind]["id"]).values_list(
                "evaluation_dataset_id", flat=True).first()
            if dataset_id:
                break
    dataset = DatasetVersion.objects.filter(pk=dataset_id).first() if dataset_id else None
    return {
        "request_id": request.pk if request is not None else None,
        "reports": reports,
        "evaluation_dataset": {"id": dataset.pk, "sha256": dataset.sha256, "name": str(dataset)} if dataset else None,
    }


@dataclass(frozen=True)
class Baseline:
    dataset: DatasetVersion
    performance: dict[str, Any] | None
    bias: dict[str, Any] | None


def load(frozen: dict[str, Any]) -> Baseline:
    """The frozen baseline's data and report numbers, each checked against the digest it was frozen with (and the
    log's): a baseline changed behind the log's back is refused, not measured against."""
    ds = frozen.get("evaluation_dataset")
    if not ds:
        raise InvalidInput("no baseline: the version's approval was bound to no performance or bias report measured "
                           "on an evaluation dataset")
    dataset = DatasetVersion.objects.filter(pk=ds["id"], sha256=ds["sha256"]).first()
    if dataset is None:
        raise InvalidInput(f"the baseline's evaluation dataset #{ds['id']} is not the one frozen (SHA-256 "
                           f"{ds['sha256']})")
    found: dict[str, dict[str, Any] | None] = {}
    for kind in KINDS:
        bound = frozen.get("reports", {}).get(kind)
        if not bound:
            found[kind] = None
            continue
        report = Report.objects.filter(pk=bound["id"], status=ReportStatus.SUCCEEDED).first()
        if report is None or digest_of(report.metrics) != bound["json_sha256"] or \
                logged_value("reports.report", report.pk, "json_sha256") != bound["json_sha256"]:
            raise InvalidInput(f"the baseline's {kind} report #{bound['id']} no longer holds the numbers its digest "
                               f"{bound['json_sha256']} names (`manage.py audit verify` names the change)")
        found[kind] = report.metrics
    return Baseline(dataset=dataset, performance=found["performance"], bias=found["bias"])
