"""Scheduled governance jobs: thin tasks over the services, safe to run any number of times."""

from __future__ import annotations

from celery import shared_task

from audit.context import audit_context, system_actor


@shared_task(name="governance.expire_requests", acks_late=True)
def expire_requests() -> int:
    from governance.services import promotion_requests_expire

    with audit_context(actor=system_actor("celery beat: expire promotion requests"), channel="task"):
        return promotion_requests_expire()


@shared_task(name="governance.open_revalidations", acks_late=True)
def open_revalidations() -> int:
    from governance.services import revalidation_open_due

    with audit_context(actor=system_actor("celery beat: re-validation due"), channel="task"):
        return len(revalidation_open_due())
