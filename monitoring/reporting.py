"""The monitoring report of a version over a window: requested (a row and its entry, the window and the log's head
frozen), then made by a worker from the evaluations and breaches of the window (monitoring/report.py) and stored
under the digests its entry records. Made again from the same rows, it is the same bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audit import writer
from audit.models import Checkpoint
from config.errors import InvalidInput, PermissionDenied
from governance import plans
from monitoring.models import Breach, Evaluation, EvaluationStatus, MonitoringReport
from monitoring.selectors import require_as_logged
from monitoring.signals import report_queued
from registry.models import ModelVersion
from reports.services import canonical_json, report_subject, software_versions

logger = logging.getLogger(__name__)
MAX_WINDOW = dt.timedelta(days=3650)


def monitoring_report_request(*, version: ModelVersion, by: Any | None, start: dt.datetime | None = None,
                              end: dt.datetime | None = None) -> MonitoringReport:
    """Queue the report of `version` over [start, end] (default: the 90 days to now)."""
    if by is not None and not by.has_perm("reports.add_report"):
        raise PermissionDenied("you may not request reports", rule="reports.add_report")
    end = end or timezone.now()
    start = start or end - dt.timedelta(days=90)
    if start >= end or end - start > MAX_WINDOW:
        raise InvalidInput("the window must start before it ends and span at most ten years")
    head = writer.head()
    report = MonitoringReport(version=version, window_start=start, window_end=end, requested_by=by,
                              audit_head={"seq": head[0], "hash": head[1]})
    with writer.atomic():
        writer.save(report, action="monitoring.report.request")
        transaction.on_commit(lambda: report_queued.send(sender=MonitoringReport, report_id=report.pk))
    return report


def _evaluation(e: Evaluation) -> dict[str, Any]:
    results = e.results or {}
    batch = {"id": e.batch.pk, "number": e.batch.number, "sha256": e.batch.sha256,
             "merkle_root": e.batch.merkle_root} if e.batch is not None else None
    return {"id": e.pk, "batch": batch, "window_start": e.window_start.isoformat(),
            "window_end": e.window_end.isoformat(), "created_at": e.created_at.isoformat(), "status": e.status,
            "error": e.error, "colour": e.colour, "rows": e.rows, "labelled_rows": e.labelled_rows,
            "results_sha256": e.results_sha256, "measurements": results.get("measurements", []),
            "findings": results.get("findings", []) + results.get("silence", []),
            "features": results.get("features", {})}


def report_data(report: MonitoringReport) -> dict[str, Any]:
    """What the report states: only rows at or before the frozen window's end, so a retry is the same bytes."""
    version = report.version
    evaluations = list(Evaluation.objects.filter(
        version=version, created_at__gte=report.window_start, created_at__lte=report.window_end,
        status__in=(EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED)).select_related("batch")
        .order_by("created_at", "id"))
    for e in evaluations:
        require_as_logged(e)  # the report states what was measured, or is not made
    latest = next((e for e in reversed(evaluations) if e.status == EvaluationStatus.SUCCEEDED), None)
    frozen = latest or (evaluations[-1] if evaluations else None)
    breaches = Breach.objects.filter(evaluation__in=evaluations).order_by("created_at", "id")
    cp = Checkpoint.objects.filter(size__lte=report.audit_head.get("seq", 0)).order_by("-size").first()
    return {
        "subject": report_subject(version),
        "report_id": report.pk,
        "generated_at": report.created_at.isoformat(),
        "window": {"start": report.window_start.isoformat(), "end": report.window_end.isoformat()},
        "plan": frozen.plan if frozen is not None else plans.plan_of({}),
        "directions": dict(plans.DIRECTIONS),
        "baseline": frozen.baseline if frozen is not None else
        {"request_id": None, "reports": {}, "evaluation_dataset": None},
        "evaluations": [_evaluation(e) for e in evaluations],
        "breaches": [{"id": b.pk, "evaluation": b.evaluation_id, "colour": b.colour, "consequence": b.consequence,
                      "request": b.request_id, "hold": b.hold_id, "notified": b.notified,
                      "created_at": b.created_at.isoformat(), "findings": b.findings} for b in breaches],
        "audit_head": report.audit_head,
        "checkpoint": cp.as_json() if cp is not None else None,
        "software": software_versions(),
    }


def monitoring_report_compute(*, report_id: int) -> MonitoringReport:
    """Make and store a queued report; safe to run again."""
    # Imported when a worker makes a report: reportlab and matplotlib are never loaded by the web processes.
    from monitoring.report import build_monitoring_report

    report = MonitoringReport.objects.select_related("version", "version__model").get(pk=report_id)
    if report.status != EvaluationStatus.QUEUED:
        return report
    try:
        twin, pdf = build_monitoring_report(report_data(report))
        json_bytes = canonical_json(twin)
        json_sha, pdf_sha = hashlib.sha256(json_bytes).hexdigest(), hashlib.sha256(pdf).hexdigest()
        json_name = default_storage.save(f"monitoring/reports/{report.pk}-{json_sha}.json", ContentFile(json_bytes))
        pdf_name = default_storage.save(f"monitoring/reports/{report.pk}-{pdf_sha}.pdf", ContentFile(pdf))
    except Exception as exc:  # a report ends failed with its reason, never a crashed worker
        logger.exception("monitoring report %s failed", report_id)
        return _end(report_id, status=EvaluationStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _end(report_id, status=EvaluationStatus.SUCCEEDED, pdf=pdf_name, pdf_sha256=pdf_sha, json=json_name,
                json_sha256=json_sha)


def _end(report_id: int, **fields: Any) -> MonitoringReport:
    with writer.atomic():
        report = MonitoringReport.objects.select_for_update().get(pk=report_id)
        if report.status != EvaluationStatus.QUEUED:
            return report
        for name, value in fields.items():
            setattr(report, name, value)
        report.finished_at = timezone.now()
        writer.save(report, action=f"monitoring.report.{'succeed' if report.status == 'succeeded' else 'fail'}")
    return report
