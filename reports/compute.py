"""Computing a report, as a worker does (reports.tasks): build its metrics and PDF, store the files, serve it.

Apart from reports.services so that the request side never imports the builders (and the ML and PDF libraries
they load): the services queue a report, this module computes it, and neither imports the other's caller."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from audit import writer
from reports import builders
from reports.errors import ReportInputError
from reports.models import Report, ReportStatus
from reports.services import canonical_json, report_fail, report_succeed, software_versions

logger = logging.getLogger(__name__)


def _software_differs(recorded: Any) -> str:
    """What differs between the versions recorded with a report request and this process's (empty: nothing)."""
    if not isinstance(recorded, dict):
        return ""  # a request from before versions were recorded
    here = software_versions()
    return ", ".join(f"{name} {recorded.get(name)} recorded, {here.get(name)} here"
                     for name in sorted(set(recorded) | set(here)) if recorded.get(name) != here.get(name))


def _progress(report: Report, value: int) -> None:
    report.progress = value
    writer.save(report)


def report_compute(*, report_id: int) -> Report:
    """Compute and store a report; safe to run again (same inputs, same bytes), never half-served."""
    with writer.atomic():
        report = Report.objects.select_for_update().select_related("version", "version__model").get(pk=report_id)
        if report.status == ReportStatus.SUCCEEDED:
            return report
        report.status, report.started_at, report.attempts = ReportStatus.RUNNING, timezone.now(), report.attempts + 1
        report.error = ""
        writer.save(report, action="reports.report.start")
    differs = _software_differs(report.config.get("software"))
    if differs:
        # The cover states the versions recorded at the request; a worker running others would make a report
        # whose cover names software it was not made with.
        return report_fail(report_id=report.pk,
                           message="this worker's software differs from the versions recorded when the report was "
                                   f"requested ({differs}): run workers with the same packages as the web processes, "
                                   "then request the report again")
    try:
        metrics, pdf = _compute(report)
    except ReportInputError as exc:
        return report_fail(report_id=report.pk, message=str(exc))
    except Exception as exc:  # a report must end failed with a reason, never leave a worker crashed
        logger.exception("report %s failed", report.pk)
        return report_fail(report_id=report.pk,
                           message=f"the report could not be computed: {type(exc).__name__}: {exc}")
    json_bytes = canonical_json(metrics)
    json_sha, pdf_sha = hashlib.sha256(json_bytes).hexdigest(), hashlib.sha256(pdf).hexdigest()
    # Files first, row last: until the row says succeeded nothing is served, whatever is on disk.
    try:
        json_name = default_storage.save(f"reports/{report.pk}-{json_sha}.json", ContentFile(json_bytes))
        pdf_name = default_storage.save(f"reports/{report.pk}-{pdf_sha}.pdf", ContentFile(pdf))
    except OSError as exc:  # a full disk or a refused bucket: fail clearly, keep nothing half-stored
        return report_fail(report_id=report.pk, message=f"the report could not be stored: {exc.strerror or exc}")
    return report_succeed(report_id=report.pk, metrics=metrics, json_name=json_name, json_sha256=json_sha,
                          pdf_name=pdf_name, pdf_sha256=pdf_sha)


def _compute(report: Report) -> tuple[dict[str, Any], bytes]:
    return builders.build(report, progress=lambda v: _progress(report, v))
