"""API plumbing shared by every app: the exception handler that maps domain errors to responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from config.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        if exc.rule:
            body["rule"] = exc.rule
        return Response(body, status=exc.status_code)
    if isinstance(exc, DataError):
        # A value the database cannot hold (out of range): the caller's input, not our fault.
        set_rollback()
        return Response({"detail": "a value is out of the range the database can store", "code": "invalid"},
                        status=400)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=400)
    return drf_exception_handler(exc, context)


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
