"""The one error of the format: a rule broken, named as docs/audit-log.md names it."""

from __future__ import annotations


class VerificationError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
