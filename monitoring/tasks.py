"""Monitoring's tasks: measure an evaluation (sent when one is queued), and the plans' schedule (celery beat). Thin
over the services, safe to run any number of times."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from audit.context import audit_context, system_actor
from config.dispatch import send_or_defer
from monitoring.services import evaluations_due, evaluations_resend


@shared_task(name="monitoring.evaluate", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError,), retry_backoff=2, retry_backoff_max=60, max_retries=3)
def evaluate(evaluation_id: int) -> str:
    # Imported when a task runs: the web processes import this module to send tasks, and the measurements load
    # scipy, scikit-learn and fairlearn that only a worker needs. Not a hidden cycle: nothing below imports tasks.
    from monitoring.evaluate import evaluation_run

    with audit_context(actor=system_actor("celery worker: monitoring"), channel="task"):
        return evaluation_run(evaluation_id=evaluation_id).status


@shared_task(name="monitoring.evaluate_due", acks_late=True)
def evaluate_due() -> int:
    with audit_context(actor=system_actor("celery beat: monitoring windows"), channel="task"):
        return len(evaluations_due()) + len(evaluations_resend())


@shared_task(name="monitoring.compute_report", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError,), retry_backoff=2, retry_backoff_max=60, max_retries=3)
def compute_report(report_id: int) -> str:
    from monitoring.reporting import monitoring_report_compute

    with audit_context(actor=system_actor("celery worker: monitoring reports"), channel="task"):
        return monitoring_report_compute(report_id=report_id).status


@shared_task(name="monitoring.measure_part", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError,), retry_backoff=2, retry_backoff_max=60, max_retries=3)
def measure_part(part_id: int) -> str:
    from monitoring.evaluate import evaluation_part_run

    with audit_context(actor=system_actor("celery worker: monitoring"), channel="task"):
        return evaluation_part_run(part_id=part_id).status


def on_report_queued(*, report_id: int, **_: Any) -> str:
    return send_or_defer(compute_report, report_id, what=f"monitoring report {report_id}")


def on_evaluation_queued(*, evaluation_id: int, **_: Any) -> str:
    return send_or_defer(evaluate, evaluation_id, what=f"evaluation {evaluation_id}")


def on_part_queued(*, part_id: int, **_: Any) -> str:
    return send_or_defer(measure_part, part_id, what=f"evaluation part {part_id}")
