"""Report services: request a report (returns at once), serve or fail it, all audited. Computing it is
reports.compute, which a worker runs (reports.tasks)."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import writer
from audit.format import jcs
from audit.format.jcs import digest_of
from audit.models import Checkpoint
from config.errors import Conflict, InvalidInput, PermissionDenied
from registry.models import DatasetVersion, ModelVersion
from registry.sandbox import skops_types
from registry.sandbox.runner import trusted_types
from reports import claims
from reports.models import Report, ReportKind, ReportStatus
from reports.signals import report_queued, report_succeeded

DEFAULT_CONFIG = {"seed": 20240601, "n_boot": 200, "background_size": 100, "n_explain": 300, "n_local": 4,
                  "n_stability": 20, "min_group_size": 30, "min_group_share": 0.02}


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("scikit-learn", "shap", "fairlearn", "reportlab", "numpy", "pandas", "modelgov"):
        try:
            out[name] = pkg_version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def canonical_json(data: dict[str, Any]) -> bytes:
    return jcs.canonical(data)


def report_subject(version: ModelVersion) -> dict[str, Any]:
    """What a report's cover says about the model and the version. Frozen with the request: the stage, title
    or owner may change before a retry or a deferred dispatch computes the report, and the bytes must not."""
    v = ModelVersion.objects.select_related("model__owner").get(pk=version.pk)
    m = v.model
    return {"model_name": m.name, "model_title": m.title, "version": v.version, "stage": v.stage,
            "risk_tier": m.risk_tier, "eu_ai_act_category": m.eu_ai_act_category, "owner": m.owner.get_username(),
            "intended_use": m.intended_use}


def _check_held_out(version: ModelVersion, dataset: DatasetVersion) -> None:
    """A performance report measures the model on data named for evaluation when the version was registered, and
    never on data it was trained on (the same version, or the same bytes registered again): a developer could
    otherwise pick the rows that flatter the model."""
    if not version.evaluation_datasets.filter(pk=dataset.pk).exists():
        named = ", ".join(f"#{d.pk}" for d in version.evaluation_datasets.order_by("id")) or "none"
        raise InvalidInput(f"dataset version #{dataset.pk} was not named as an evaluation dataset when the version "
                           f"was registered (named: {named}); a performance report measures on one of those")
    if version.training_datasets.filter(Q(pk=dataset.pk) | Q(sha256=dataset.sha256)).exists():
        raise InvalidInput(f"dataset version #{dataset.pk} holds the data the version was trained on; a performance "
                           "report measures on held-out data")


def report_request(
    *, version: ModelVersion, kind: str, by: Any | None, evaluation_dataset: DatasetVersion | None = None,
    config: dict[str, Any] | None = None,
) -> Report:
    """Queue a report; its task starts after commit. The inputs are frozen now, so a re-run is identical."""
    if by is not None and not by.has_perm("reports.add_report"):
        raise PermissionDenied("you may not request reports", rule="reports.add_report")
    if kind not in ReportKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(ReportKind.values)}")
    if kind != ReportKind.LINEAGE:
        evaluation_dataset = evaluation_dataset or version.evaluation_datasets.order_by("-id").first()
        if evaluation_dataset is None:
            raise InvalidInput("the version has no evaluation dataset; name one")
    if kind == ReportKind.PERFORMANCE:
        assert evaluation_dataset is not None
        _check_held_out(version, evaluation_dataset)
    merged = {**DEFAULT_CONFIG, **(config or {})}
    if kind in (ReportKind.PERFORMANCE, ReportKind.LINEAGE):
        # Frozen now, as the thresholds are: the report states and applies the tolerance in force when requested.
        merged.setdefault("metric_tolerance", claims.tolerance())
    head = writer.head()
    cp = Checkpoint.objects.order_by("-size").first()
    merged["audit_head"] = {"seq": head[0], "hash": head[1]}
    merged["checkpoint"] = cp.as_json() if cp else None
    merged["software"] = software_versions()
    merged["subject"] = report_subject(version)
    # The skops allowlist this request is made under: its digest is on the cover, and a worker trusting
    # another list refuses the report (reports/builders.py).
    merged["skops_trusted_types_sha256"] = skops_types.digest(trusted_types())
    if evaluation_dataset is not None:
        # Which value counts as 1, frozen with the request like the rest: the bias report maps labels through it.
        merged["labels"] = {"target_column": evaluation_dataset.target_column,
                            "positive_label": evaluation_dataset.positive_label}
    inputs = {"artifact_sha256": version.artifact_sha256}
    if evaluation_dataset is not None:
        inputs["evaluation_dataset_sha256"] = evaluation_dataset.sha256
    for d in version.training_datasets.all():
        inputs[f"training_dataset_{d.pk}_sha256"] = d.sha256
    config_sha = hashlib.sha256(canonical_json(merged)).hexdigest()
    inputs["configuration_sha256"] = config_sha
    report = Report(version=version, kind=kind, evaluation_dataset=evaluation_dataset, config=merged,
                    config_sha256=config_sha, inputs=inputs, requested_by=by)
    with writer.atomic():
        writer.save(report, action="reports.report.request")
        transaction.on_commit(lambda: setattr(report, "dispatch", _enqueue(report.pk)))
    return report


def _enqueue(report_id: int) -> str:
    """Hand the report to a worker (reports.tasks answers report_queued); what became of it, for the caller. If the
    broker is down the report stays queued in the database, and `manage.py reports dispatch` (also a beat job)
    sends it once the broker is back."""
    answers = [str(answer) for _, answer in report_queued.send(sender=Report, report_id=report_id)]
    return answers[0] if answers else "deferred: no task queue is connected; the report stays queued"


def reports_dispatch_queued() -> int:
    """Send every report still queued (after a broker outage) to the workers again; idempotent."""
    return sum(_enqueue(pk) == "sent" for pk in Report.objects.filter(status=ReportStatus.QUEUED)
               .values_list("pk", flat=True))


def report_succeed(*, report_id: int, metrics: dict[str, Any], json_name: str, json_sha256: str, pdf_name: str,
                   pdf_sha256: str) -> Report:
    """Serve a computed report (its files already stored under these names): from here it is evidence. Governance
    reacts in this transaction (signals.report_succeeded): approvals given on other evidence lapse, and a request
    this evidence completes is approved."""
    with writer.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.status == ReportStatus.SUCCEEDED:
            return report
        digest = digest_of(metrics)
        if not digest or json_sha256 != digest:
            # The entries record the digest, not the metrics (Report.AUDIT_DIGESTED): they must be one, and metrics
            # with no digest ("": NaN, an integer no double holds) would pass as their own under json_sha256 "".
            raise InvalidInput(f"report #{report_id}: json_sha256 {json_sha256} is not the digest of the metrics "
                               f"({digest or 'not canonical JSON'})")
        report.metrics = metrics
        report.verdict = metrics.get("verdict", "info") if report.kind != ReportKind.LINEAGE else "info"
        report.json, report.json_sha256 = json_name, json_sha256
        report.pdf, report.pdf_sha256 = pdf_name, pdf_sha256
        report.status, report.progress, report.finished_at = ReportStatus.SUCCEEDED, 100, timezone.now()
        writer.save(report, action="reports.report.succeed")
        report_succeeded.send(sender=Report, report=report)
    return report


def report_fail(*, report_id: int, message: str) -> Report:
    """A report that could not be computed ends failed, with the reason."""
    with writer.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.status == ReportStatus.SUCCEEDED:
            return report  # served meanwhile (another worker): evidence stays as it succeeded
        report.status, report.error, report.finished_at = ReportStatus.FAILED, message[:2000], timezone.now()
        writer.save(report, action="reports.report.fail")
    return report


def report_mark_failed(*, report_id: int, message: str) -> Report:
    """For a task that gave up (time limit, retries spent): the report fails with the reason."""
    report = Report.objects.get(pk=report_id)
    if report.status == ReportStatus.SUCCEEDED:
        raise Conflict("the report already succeeded")
    return report_fail(report_id=report.pk, message=message)
