"""Reads of evidence: the latest report of each kind for a version, as governance gates see it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from audit.format.jcs import digest_of
from audit.reconcile import logged_value
from reports.models import Report, ReportStatus


@dataclass(frozen=True)
class EvidenceSummary:
    """What a gate needs to know about one report."""

    report_id: int
    kind: str
    status: str
    verdict: str
    pdf_sha256: str
    json_sha256: str
    finished_at: dt.datetime | None
    metrics: dict[str, Any]
    inputs: dict[str, Any]

    def metrics_intact(self) -> bool:
        """Whether the stored metrics are still those the report's recorded json_sha256 names (Report.AUDIT_DIGESTED):
        a gate reads no number changed behind the log's back."""
        digest = digest_of(self.metrics)
        if not digest or digest != self.json_sha256:  # "": metrics no digest binds
            return False
        # The digest as the log recorded it, not the row's: the two changed together under an unrelated entry would
        # otherwise agree until `audit verify` ran.
        return bool(logged_value("reports.report", self.report_id, "json_sha256") == digest)


def _summary(report: Report) -> EvidenceSummary:
    return EvidenceSummary(report_id=report.pk, kind=report.kind, status=report.status, verdict=report.verdict,
                           pdf_sha256=report.pdf_sha256, json_sha256=report.json_sha256,
                           finished_at=report.finished_at, metrics=report.metrics, inputs=report.inputs)


def evidence_after(version_id: int, moment: dt.datetime) -> list[EvidenceSummary]:
    """The version's reports that succeeded after `moment` (a decision), oldest first."""
    return [_summary(r) for r in Report.objects.filter(version_id=version_id, status=ReportStatus.SUCCEEDED,
                                                       finished_at__gt=moment).order_by("finished_at", "id")]


def latest_evidence(version_id: int) -> dict[str, EvidenceSummary]:
    """The newest succeeded report of each kind for a version (failed runs are not evidence)."""
    summaries: dict[str, EvidenceSummary] = {}
    reports = Report.objects.filter(version_id=version_id, status=ReportStatus.SUCCEEDED).order_by(
        "kind", "-finished_at", "-id"
    )
    for report in reports:
        if report.kind in summaries:
            continue
        summaries[report.kind] = _summary(report)
    return summaries
