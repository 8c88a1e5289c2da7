"""Signals the reports app sends inside its transactions, for governance to react in the same one."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by reports.services when a report succeeds, inside that transaction (report=Report): the version's evidence
# changed. Governance lapses the approvals the change invalidates and completes what it completes, in the same
# transaction, so no page ever shows the new evidence beside approvals given on the old.
report_succeeded = Signal()

# Sent by reports.services after the commit that queued a report (report_id=int), and again by each re-dispatch of
# a report left queued. reports.tasks answers it by sending the report to a worker and returns what became of it
# ("sent", or "deferred: ..." with the broker down); the services thus queue work without importing the task.
report_queued = Signal()
