"""Edits that name a field they cannot change are refused, not silently ignored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from config.ids import ascii_digits

_NAMED = 20  # the unknown fields a refusal names one by one


class RefuseUnknownFields(serializers.Serializer):
    """DRF drops the fields a serializer does not declare: a PATCH of {"stage": "production"} answered 200
    and changed nothing, which a client could take for a promotion. Each such field is named in a 400."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = sorted(str(name) for name in data if name not in writable)
            if unknown:
                allowed = ", ".join(sorted(writable))
                errors: dict[str, Any] = {name: [f"{name} cannot be changed here; the fields that can are: {allowed}"]
                                          for name in unknown[:_NAMED]}
                if len(unknown) > _NAMED:  # a body of many thousand names would otherwise be answered in kind
                    errors["non_field_errors"] = [f"and {len(unknown) - _NAMED} more fields that cannot be changed"]
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)



class IdField(serializers.PrimaryKeyRelatedField):
    """A reference by id, given as an integer (or its ASCII digits, from a form). DRF hands anything else to
    the database, which reads 1.5 as 1: a request naming version 1.5 would act on version 1."""

    def to_internal_value(self, data: Any) -> Any:
        if type(data) is not int and not (isinstance(data, str) and ascii_digits(data)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)
