"""What every page of the admin shares, as classes every admin derives from (Django's own users and roles and
django-axes' login records are registered again as subclasses: governance.accounts_admin).

- A posted id no database integer holds is a form error, not a 500 (config.ids).
- A change-list action on a selection that names no object of the list is a message, not a 500.
- A change list filtered by a number no database integer holds (`?version=2**63`, `?pk__in=...`) is shown without
  that filter, with a message. Django guards only an integer field's own exact and ordering lookups; `__in` and
  every lookup across a relation hand the number to the database, and SQLite fails on it as the page runs (a 500).

tests/test_admin_base.py holds that every model the admin shows, and every inline, has these.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponseRedirect

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

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # Also guards the actions, which a change list's POST runs on its filtered query ("select all").
        refused = _lookups_beyond_bigint(self.model, request)
        if refused:
            kept = request.GET.copy()
            for name in refused:
                del kept[name]
            self.message_user(request, f"Not filtered by {', '.join(sorted(refused))}: no object has a number that "
                              "large.", messages.ERROR)
            return HttpResponseRedirect(f"{request.path}?{kept.urlencode()}" if kept else request.path)
        return super().changelist_view(request, extra_context)

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


def _compares_integers(model: type[models.Model], lookup: str) -> bool:
    """Whether the query-string lookup `lookup` (`version`, `owner__gt`, `pk__in`, `groups__id__in`) compares an
    integer column: the field it ends on, or the key a relation it ends on points at. Anything else (a text
    column, the search box, a parameter a list filter of ours reads) is left to Django and the filter."""
    opts = model._meta
    field: Any = None
    for piece in lookup.split(LOOKUP_SEP):
        if field is not None:
            if not field.is_relation or field.related_model is None:
                break  # the rest names a lookup (in, gt, ...)
            opts = field.related_model._meta
        try:
            field = opts.pk if piece == "pk" else opts.get_field(piece)
        except FieldDoesNotExist:
            break
    if field is None:
        return False
    if field.is_relation:
        if field.related_model is None:
            return False
        field = getattr(field, "target_field", None) or field.related_model._meta.pk
    return isinstance(field, models.IntegerField)


def _lookups_beyond_bigint(model: type[models.Model], request: HttpRequest) -> list[str]:
    """The query string's lookups on an integer column that hold, alone or in a comma-separated list (`__in`), a
    number no database integer holds."""
    return [name for name, values in request.GET.lists() if name != SEARCH_VAR and _compares_integers(model, name)
            and any(ids.beyond_bigint(item) for value in values for item in value.split(","))]


class TabularInline(CheckedIds, admin.TabularInline):
    """The project's tabular inline."""
