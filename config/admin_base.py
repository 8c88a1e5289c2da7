"""What every page of the admin shares, as classes every admin derives from (Django's own users and roles and
django-axes' login records are registered again as subclasses: governance.accounts_admin).

- A posted id no database integer holds is a form error, not a 500 (config.ids).
- A change-list action on a selection that names no object of the list is a message, not a 500.

tests/test_admin_base.py holds that every model the admin shows, and every inline, has these.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from config import ids


class CheckedIds:
    """ModelAdmin or inline mixin: the form fields that choose objects are config.ids' fields."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("form_class", ids.ModelChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("form_class", ids.ModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


class ModelAdmin(CheckedIds, admin.ModelAdmin):
    """The project's ModelAdmin."""

    # Django 5.2's signature (the stubs already have 6.0's action_location).
    def response_action(self, request: HttpRequest, queryset: Any) -> Any:  # type: ignore[override]
        # Django filters the change list by the posted ids as they are; one that is not a key of the model
        # (only a forged or corrupted form sends "abc") raised ValueError, a 500, on every change list.
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.to_python(value)
                if ids.out_of_range(pk, value):  # 2**63: SQLite cannot even compare it
                    raise ValidationError("out of range")
        except ValidationError:
            self.message_user(request, "The selection names no object of this list; select the items again.",
                              messages.ERROR)
            return None  # the change list is shown again with the message
        return super().response_action(request, queryset)


class TabularInline(CheckedIds, admin.TabularInline):
    """The project's tabular inline."""
