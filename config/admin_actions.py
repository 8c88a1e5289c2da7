"""The admin's change-list actions refuse a selection that names no object, instead of failing with a 500."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from config.ids import out_of_range

_original = admin.ModelAdmin.response_action


def _response_action(self: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
    # Django filters the change list by the posted ids as they are; one that is not a key of the model
    # (only a forged or corrupted form sends "abc") raised ValueError, a 500, on every change list.
    pk = self.model._meta.pk
    try:
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            pk.to_python(value)
            if out_of_range(pk, value):  # 2**63: SQLite cannot even compare it
                raise ValidationError("out of range")
    except ValidationError:
        self.message_user(request, "The selection names no object of this list; select the items again.",
                          messages.ERROR)
        return None  # the change list is shown again with the message
    return _original(self, request, queryset)


def install() -> None:
    admin.ModelAdmin.response_action = _response_action  # type: ignore[method-assign, assignment]
