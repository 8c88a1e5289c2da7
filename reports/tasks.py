"""The report task: takes an id, calls the service; retried with backoff, failed with a reason when it gives up."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from audit.context import Actor, audit_context, system_actor


def _actor(report_id: int) -> Actor:
    from audit.context import user_actor
    from reports.models import Report

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
    from reports.services import report_compute, report_mark_failed

    with audit_context(actor=_actor(report_id), channel="task"):
        try:
            return report_compute(report_id=report_id).status
        except SoftTimeLimitExceeded:
            return report_mark_failed(report_id=report_id, message="the report took longer than 15 minutes").status
