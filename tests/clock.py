"""Time moved forward for a test, as the product reads it (`django.utils.timezone.now`).

A request past its time to live, an approval past its validity: the rows are made as they are in use, then the clock
moves on. Rows cannot be backdated instead: what a request or an approval was made with is fixed, and a decision reads
it only once it is found equal to what the log recorded when it was made (audit.recorded)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

_real_now = timezone.now


class Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta(0)
        self.frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.frozen if self.frozen is not None else _real_now() + self.offset

    def freeze(self, at: dt.datetime) -> None:
        """Stop the clock at `at` (later than now): every reading gives it until `thaw`."""
        assert at >= self.now(), "the clock only moves forward"
        self.frozen = at

    def thaw(self) -> None:
        """Run again from where it stopped."""
        if self.frozen is not None:
            self.offset = self.frozen - _real_now()
            self.frozen = None

    def advance(self, **delta: Any) -> dt.datetime:
        """Move on by `delta` (forward only: the log's timestamps never go back); returns the new now."""
        step = dt.timedelta(**delta)
        assert step >= dt.timedelta(0), "the clock only moves forward"
        self.offset += step
        return self.now()

    def reset(self) -> None:
        self.offset, self.frozen = dt.timedelta(0), None
