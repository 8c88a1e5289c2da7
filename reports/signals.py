"""Signals the reports app sends inside its transactions, for governance to react in the same one."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by reports.services when a report succeeds, inside that transaction (report=Report): the version's evidence
# changed. Governance lapses the approvals the change invalidates and completes what it completes, in the same
# transaction, so no page ever shows the new evidence beside approvals given on the old.
report_succeeded = Signal()
