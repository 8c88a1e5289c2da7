"""The report task: takes an id, calls the service; retried with backoff, failed with a reason when it gives up.

A channel, as the API is: it calls reports.compute and reports.services, and answers reports.signals.report_queued
(connected in ReportsConfig.ready), so the services queue a report without importing the task that computes it."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from audit.context import Actor, audit_context, system_actor, user_actor
from config.dispatch import send_or_defer
from reports.models import Report
from reports.services import report_mark_failed


def _actor(report_id: int) -> Actor:
    report = Report.objects.select_related("requested_by").filter(pk=report_id).first()
    if report is not None and report.requested_by is not None:
        return user_actor(report.requested_by)  # a user's request carried out by a task stays theirs
    return system_actor("celery worker: reports")


@shared_task(
    bind=True, name="reports.compute_report", acks_late=True, reject_on_worker_lost=True,
    autoretry_for=(OperationalError,), retry_backoff=2, retry_backoff_max=60, max_retries=3,
    soft_time_limit=900, time_limit=960,
)
def compute_report(self: Any, report_id: int) -> str:
    # Imported when a task runs, not with this module: the web processes import this module to send tasks, and
    # the builders behind reports.compute load the ML and PDF libraries (about a second and 800 modules) that only
    # a worker needs. Not a hidden cycle: nothing below reports.compute imports this module.
    from reports.compute import report_compute

    with audit_context(actor=_actor(report_id), channel="task"):
        try:
            return report_compute(report_id=report_id).status
        except SoftTimeLimitExceeded:
            return report_mark_failed(report_id=report_id, message="the report took longer than 15 minutes").status


def on_report_queued(*, report_id: int, **_: Any) -> str:
    """Send a queued report to a worker (reports.signals.report_queued, after its commit); what became of it."""
    return send_or_defer(compute_report, report_id, what=f"report {report_id}",
                         deferred="deferred: the task broker is unavailable; the report stays queued and is sent by "
                                  "the next dispatch")
