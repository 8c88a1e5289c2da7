"""Domain errors a user can cause; every channel turns them into a clear message, never a 500."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors caused by what a user asked for."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "unavailable"
