"""Celery tasks of the audit log: scheduled checkpoints (and the spans 'as of' reads, kept near the head)."""

from __future__ import annotations

from celery import shared_task

from audit.context import audit_context, system_actor


@shared_task(name="audit.checkpoint_if_due", acks_late=True)
def checkpoint_if_due() -> int | None:
    """Sign a checkpoint when N entries or T minutes have passed, and copy to the mirrors the latest
    checkpoints they lack (failures are logged, and tried again next run); safe to run any number of times."""
    from audit.checkpoints import checkpoint_create, checkpoint_due
    from audit.mirror import mirror_recent

    with audit_context(actor=system_actor("celery beat: audit checkpoint"), channel="task"):
        size = checkpoint_create().size if checkpoint_due() else None
    mirror_recent()
    # Fold the new entries into the spans "as of" reads, so that a reader rarely has many to fold itself.
    from audit.history import catch_up

    catch_up()
    return size
