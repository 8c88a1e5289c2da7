"""Ids as clients write them: ASCII digits, within what a database integer holds.

Django's choice fields hand a posted id to the database as it is; on SQLite one beyond 64 bits fails with an
OverflowError while the query runs (a role's permissions, a user's groups, a model's developers posted with
2**63). Every admin form's choice of objects is one of the fields below (config.admin_base gives them to every
page of the admin, Django's own included).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

BIGINT = 2**63 - 1  # counts, sizes and keys are signed 64-bit columns; SQLite's driver overflows past this

_ASCII_DIGITS = re.compile(r"[0-9]+").fullmatch


def ascii_digits(text: str) -> bool:
    """Whether `text` is a number in ASCII digits: str.isdigit() also takes "²", which int() cannot read, and
    int() reads an Arabic-Indic one as 1."""
    return _ASCII_DIGITS(text) is not None


def beyond_bigint(text: str) -> bool:
    """Whether `text` reads as an integer (as Django's integer fields read it: int()) that no database integer
    holds."""
    try:
        number = int(text.strip())
    except ValueError:
        return False
    return not -BIGINT - 1 <= number <= BIGINT


def out_of_range(field: models.Field[Any, Any], value: Any) -> bool:
    """Whether `value`, for an integer key `field`, is a number no database integer holds."""
    # Not a number at all is not out of range: the field's own check names it.
    return isinstance(field, models.IntegerField) and beyond_bigint(str(value))


def _key_field(field: forms.ModelChoiceField) -> Any:
    meta = field.queryset.model._meta  # type: ignore[union-attr]  # a form's choice field always has one
    return meta.get_field(field.to_field_name) if field.to_field_name else meta.pk


class ModelChoiceField(forms.ModelChoiceField):
    """One object chosen by its id: an id no database integer holds is the field's own error."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and out_of_range(_key_field(self), value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                  params={"value": value})
        return super().to_python(value)


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Several objects chosen by their ids: an id no database integer holds is the field's own error."""

    def clean(self, value: Any) -> Any:
        key = _key_field(self)
        for pk in value if isinstance(value, list | tuple) else ():
            if out_of_range(key, pk):
                raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                      params={"pk": pk})
        return super().clean(value)
