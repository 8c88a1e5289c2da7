"""API plumbing shared by every app: the exception handler that maps domain errors to responses."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import rfc8785
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from config.error_pages import DATABASE_LOST, RETRY_AFTER, UNAVAILABLE
from config.errors import DomainError

log = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        if exc.rule:
            body["rule"] = exc.rule
        return Response(body, status=exc.status_code)
    if isinstance(exc, DATABASE_LOST):
        # The connection was lost (a failover, a restart) or never made: the client may retry.
        log.error("database unavailable: %r", exc)
        set_rollback()
        return Response(UNAVAILABLE, status=503, headers=RETRY_AFTER)
    if isinstance(exc, IntegrityError):
        # A uniqueness the service checked before writing, broken by a request that committed meanwhile (two
        # clients creating the same name at once): a conflict, and the transaction has rolled back.
        log.warning("integrity error answered as a conflict: %r", exc)
        set_rollback()
        return Response({"detail": "this conflicts with a change saved at the same moment (the same name, say); "
                                   "nothing was changed: reload and try again", "code": "conflict"}, status=409)
    if isinstance(exc, DataError):
        # A value the database cannot hold (out of range): the caller's input, not our fault.
        set_rollback()
        return Response({"detail": "a value is out of the range the database can store", "code": "invalid"},
                        status=400)
    unfit = _unfit_input(exc)
    if unfit:
        # A safety net: inputs are checked where they come in (config.json_input, the serializers, the
        # services), so reaching here means a check is missing. Still the caller's input, never a 500.
        log.warning("unchecked input reached %s: %r", type(exc).__name__, exc, exc_info=exc)
        set_rollback()
        return Response({"detail": unfit, "code": "invalid"}, status=400)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=400)
    return drf_exception_handler(exc, context)


def _unfit_input(exc: Exception) -> str | None:
    """What is wrong with the input, for the errors that only input a check let through can cause."""
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to process"
    if isinstance(exc, OverflowError):
        return "a number in the input is too large"
    if isinstance(exc, rfc8785.CanonicalizationError):
        # e.g. a lone surrogate or an integer beyond 2**53 that reached the audit entry
        return f"the input cannot be recorded in the audit log: {exc}"
    return None


ERROR_STATUSES = {
    "400": "invalid input: the message says which field and why",
    "401": "not authenticated",
    "403": "not allowed: the message names the rule",
    "404": "no such object",
    "409": "conflicts with the current state (e.g. the request is already decided)",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: document the domain errors every operation can return."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", {
        "type": "object",
        "properties": {"detail": {}, "code": {"type": "string"}, "rule": {"type": "string"}},
        "additionalProperties": True,
    })
    for item in result.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_STATUSES.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result


def datetime_out() -> Callable[[dt.datetime | None], str | None]:
    """A formatter giving exactly what DRF's DateTimeField writes (ISO 8601 in the current time zone, UTC as "Z",
    null as null), for list pages built from plain rows. Made once per page: the time zone is looked up once."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    fallback = serializers.DateTimeField().to_representation

    def out(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        if zone is None or value.tzinfo is None:
            result: str | None = fallback(value)
            return result
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return out


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 (a body too large, too many fields), raised before any view runs: JSON under /api/, as
    every other API error, instead of an HTML page with no message."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        detail = f"the request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes allowed"
    elif isinstance(exception, TooManyFieldsSent):
        detail = f"the request has more than the {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields allowed"
    elif isinstance(exception, TooManyFilesSent):
        detail = f"the request has more than the {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files allowed"
    else:
        detail = "the request cannot be read"
    return JsonResponse({"detail": detail, "code": "invalid"}, status=400)
