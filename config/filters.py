"""Filter fields shared by every API: date-times the database can hold, or a clear 400."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms

MAX_OFFSET = dt.timedelta(hours=14)
YEARS = (1, 9999)


class SafeIsoDateTimeField(forms.DateTimeField):
    def to_python(self, value: Any) -> dt.datetime | None:
        result = django_filters.fields.IsoDateTimeField().to_python(value)
        if result is None:
            return None
        offset = result.utcoffset()
        if offset is not None and abs(offset) > MAX_OFFSET:
            raise forms.ValidationError("the UTC offset must be within ±14:00")
        try:
            # 0001-01-01T00:00+01:00 is a valid date whose UTC instant is before year 1: the query could not
            # hold it.
            result.astimezone(dt.UTC) if offset is not None else result
        except OverflowError as exc:
            raise forms.ValidationError(
                f"the time is out of range: it must fall within the years {YEARS[0]} to {YEARS[1]} in UTC") from exc
        return result


class SafeIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = SafeIsoDateTimeField
