"""The limits every JSON value a user sends must meet, and the parser and fields that apply them.

Python's json module recurses once per nesting level, and so do our audit writer and the RFC 8785
canonicaliser: a value nested a few hundred levels deep raises RecursionError somewhere after it was
accepted. A string holding a lone surrogate ("\\ud800" is valid JSON) cannot be encoded as UTF-8, so
the audit entry (and PostgreSQL) cannot store it. Both are refused here, when the value comes in.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError

from config.errors import InvalidInput

# Hyperparameters, metrics, package lists and policy rules are a few levels deep; 32 leaves room for
# any real configuration and stays far below the interpreter's recursion limit (1000).
MAX_DEPTH = 32
TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep is not accepted"


def check_json_value(value: Any, *, name: str) -> Any:
    """Refuse `value` (parsed JSON) if it is nested more than MAX_DEPTH levels, or holds a string (key or
    value) that is not encodable as UTF-8 or holds a NUL, or a number that is not finite. Iterative, so
    it cannot itself run out of stack."""
    stack: list[tuple[Any, int, str]] = [(value, 1, name)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidInput(f"{name} is nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        _check_text(key, f"a key in {where}")
                    stack.append((child, depth + 1, f"{where}.{_short(key)}"))
            else:
                stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{where} must be a finite number, not {item}")
    return value


def _short(key: Any) -> str:
    # The path names where the fault is; a long key would make the message as long as the body.
    text = str(key)
    return text if len(text) <= 40 else text[:40] + "..."


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{where} is not valid Unicode text (it holds a lone surrogate such as \\ud800)"
        ) from exc
    if "\x00" in text:
        raise InvalidInput(f"{where} holds a NUL character, which cannot be stored")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser turns only ValueError into a 400; a body nested too deep for the decoder raises
    RecursionError instead. Used for every API request body (settings REST_FRAMEWORK)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - {TOO_DEEP}") from exc


class JSONValueField(serializers.JSONField):
    """A JSON field (e.g. a multipart form's `hyperparameters` text) whose parse failures are all a 400,
    including nesting too deep for the decoder. The value's limits are checked by the services."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except RecursionError as exc:
            raise serializers.ValidationError(TOO_DEEP, code="invalid") from exc


class JSONFormField(forms.JSONField):
    """The admin's JSON field: too-deep or unstorable JSON is a form error that keeps what was typed."""

    def to_python(self, value: Any) -> Any:
        try:
            converted = super().to_python(value)
        except RecursionError as exc:
            raise ValidationError(TOO_DEEP, code="invalid") from exc
        try:
            return check_json_value(converted, name="the value")
        except InvalidInput as exc:
            raise ValidationError(exc.message, code="invalid") from exc

    def bound_data(self, data: Any, initial: Any) -> Any:
        # The form is shown again with what was sent: as its own text unless it is JSON the page can show
        # (re-encoding a too-deep value recurses; a lone surrogate cannot be written into a UTF-8 page).
        try:
            value = super().bound_data(data, initial)
            if not isinstance(value, InvalidJSONInput) and not self.disabled:
                check_json_value(value, name="the value")
        except (RecursionError, InvalidInput):
            return InvalidJSONInput(data)
        return value
