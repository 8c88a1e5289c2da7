"""Sending queued work to a worker after its commit, or leaving it queued where the broker is down: what the
services' signals are answered with (reports.tasks, monitoring.tasks). What stays queued is sent again by its
sweep (`reports dispatch`, the monitoring schedule), never lost."""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Sendable(Protocol):
    def delay(self, *args: Any) -> Any: ...


def send_or_defer(task: Sendable, *args: Any, what: str, deferred: str = "deferred") -> str:
    """Send `task` with `args`; "sent", or `deferred` (logged with `what`, the queued thing) where the broker
    refused it."""
    try:
        task.delay(*args)
    except Exception:
        # Where tasks run in this process (no broker), this is the task's own failure, not the broker's.
        logger.warning("%s was not sent, or failed where it ran in this process; it stays queued and is sent again "
                       "by its sweep", what, exc_info=True)
        return deferred
    return "sent"
