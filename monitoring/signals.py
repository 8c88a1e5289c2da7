"""Signals the monitoring services send, so that they queue work without importing the task that does it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the commit that queued an evaluation (evaluation_id=int). monitoring.tasks answers it by sending the
# evaluation to a worker, or measuring it in this process where no broker is configured.
evaluation_queued = Signal()

# Sent for each part of an evaluation still to measure (part_id=int), outside any transaction; monitoring.tasks
# answers it as it answers evaluation_queued.
part_queued = Signal()

# Sent after the commit that queued a monitoring report (report_id=int); monitoring.tasks answers it.
report_queued = Signal()
