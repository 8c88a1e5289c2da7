"""What every page of the admin shares, as classes every admin derives from (Django's own users and roles and
django-axes' login records are registered again as subclasses: governance.accounts_admin).

- A posted id no database integer holds is a form error, not a 500 (config.ids).
- A change-list action on a selection that names no object of the list is a message, not a 500.
- A change list filtered by a number no database integer holds (`?version=2**63`, `?pk__in=...`,
  `?created_at__year__in=...`) is shown without that filter, with a message. Django guards only an integer field's
  own exact and ordering lookups; `__in`, every lookup across a relation and a date's parts hand the number to the
  database, and SQLite fails on it as the page runs (a 500).
- Any other filter of the query string that fails as the page is built or its queries run (a year past 9999, an
  invalid regular expression, `__range` with one bound, a JSON lookup SQLite lacks) shows the list without its
  filters, with a message, instead of a 500. Django's own checks (`?e=1`, a 403) come first.

tests/test_admin_base.py holds that every model the admin shows, and every inline, has these.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DataError, NotSupportedError, OperationalError, connections, models, router, transaction
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse

from config import ids

logger = logging.getLogger(__name__)

# Kept when a change list's filters are dropped: they say how the page is shown, not which rows.
_NOT_FILTERS = frozenset({IS_POPUP_VAR, TO_FIELD_VAR})
# What a filter Django let through can raise while the list is built or its queries run: a date past the calendar
# (OverflowError, ValueError), `__range` with one bound (IndexError), a regular expression PostgreSQL refuses
# (DataError), a JSON lookup SQLite lacks (NotSupportedError).
_FILTER_ERRORS = (ArithmeticError, ValueError, IndexError, DataError, NotSupportedError)


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
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # Django's 403, before anything is said of a filter
        refused = _lookups_beyond_bigint(self.model, request)
        if refused:
            return self._without(request, refused, "no object has a number that large.")
        db = router.db_for_read(self.model)
        try:
            # In a transaction already (a test's, a caller's), a query that fails would abort it for what follows
            # (the message, the session): the page runs in a savepoint there. Outside one, each query is its own.
            with contextlib.nullcontext() if transaction.get_autocommit(using=db) else transaction.atomic(using=db):
                response = super().changelist_view(request, extra_context)
                if isinstance(response, TemplateResponse):
                    response.render()  # the page's queries run here, where a failing filter is caught
            return response
        except (*_FILTER_ERRORS, OperationalError) as exc:
            filters = [name for name in request.GET if name not in _NOT_FILTERS]
            if not filters or not self._failed_on_a_filter(exc):
                raise
            logger.warning("%s change list: filters %s dropped: %r", self.model._meta.label, filters, exc)
            return self._without(request, filters, "the list cannot be filtered that way.")

    def _failed_on_a_filter(self, exc: Exception) -> bool:
        if not isinstance(exc, OperationalError):
            return True
        # SQLite runs a regular expression in Python: one that does not compile fails its query. Any other
        # OperationalError (a lost database) is not the filter's, and stays a 503 (config.error_pages).
        vendor = connections[router.db_for_read(self.model)].vendor  # the vendor: public, if undocumented
        return vendor == "sqlite" and "user-defined function raised exception" in str(exc)

    def _without(self, request: HttpRequest, names: list[str], why: str) -> HttpResponseRedirect:
        kept = request.GET.copy()
        for name in names:
            del kept[name]
        self.message_user(request, f"Not filtered by {', '.join(sorted(set(names)))}: {why}", messages.ERROR)
        return HttpResponseRedirect(f"{request.path}?{kept.urlencode()}" if kept else request.path)

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
    """Whether the query-string lookup `lookup` (`version`, `owner__gt`, `pk__in`, `groups__id__in`,
    `created_at__year__in`) compares integers: the column it ends on is one, or the key a relation it ends on points
    at, or a date's part is taken. Anything else (a text column, `__isnull`, the search box, a parameter a list
    filter of ours reads) is left to Django and the filter."""
    pieces = lookup.split(LOOKUP_SEP)
    opts = model._meta
    field: Any = None
    rest: list[str] = []
    for i, piece in enumerate(pieces):
        if field is not None:
            if not field.is_relation or field.related_model is None:
                rest = pieces[i:]  # lookups and transforms (in, gt, year, ...)
                break
            opts = field.related_model._meta
        try:
            field = opts.pk if piece == "pk" else opts.get_field(piece)
        except FieldDoesNotExist:
            rest = pieces[i:]
            break
    if field is None or "isnull" in rest:
        return False
    if field.is_relation:
        if field.related_model is None:
            return False
        field = getattr(field, "target_field", None) or field.related_model._meta.pk
    if isinstance(field, models.DateField | models.TimeField) and _DATE_PARTS.intersection(rest):
        return True
    return isinstance(field, models.IntegerField)


# The transforms of a date, time or datetime column that give an integer.
_DATE_PARTS = frozenset({"year", "iso_year", "quarter", "month", "week", "week_day", "iso_week_day", "day", "hour",
                         "minute", "second"})


def _lookups_beyond_bigint(model: type[models.Model], request: HttpRequest) -> list[str]:
    """The query string's lookups on an integer column that hold, alone or in a comma-separated list (`__in`), a
    number no database integer holds."""
    return [name for name, values in request.GET.lists() if name != SEARCH_VAR and _compares_integers(model, name)
            and any(ids.beyond_bigint(item) for value in values for item in value.split(","))]


class TabularInline(CheckedIds, admin.TabularInline):
    """The project's tabular inline."""
