"""Admin change-list pieces that stay cheap on large tables: filters without SELECT DISTINCT over a
whole table, and the per-row selection box without the template engine."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.filters import AllValuesFieldListFilter
from django.db import connections
from django.http import HttpRequest
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _


class FixedValuesFilter(admin.SimpleListFilter):
    """A filter whose values are known in advance: the admin's default lists a column's values with
    SELECT DISTINCT, which reads the whole table on every page."""

    values: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(v, v) for v in self.values]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(**{str(self.parameter_name): self.value()}) if self.value() else queryset


class IndexedValuesFilter(AllValuesFieldListFilter):
    """Django's all-values filter without its SELECT DISTINCT over the whole table: on PostgreSQL the
    distinct values are read by skipping through an index that leads with the column (one probe per value;
    the column must have such an index), elsewhere by the usual DISTINCT."""

    def __init__(self, field: Any, request: Any, params: Any, model: Any, model_admin: Any, field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        qs = self.lookup_choices
        connection = connections[qs.db]
        if connection.vendor != "postgresql" or qs.query.where or field_path != field.name:
            return
        table, column = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(field.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM {table} UNION ALL "
                f"SELECT (SELECT min({column}) FROM {table} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
                f"SELECT x FROM v WHERE x IS NOT NULL")
            values: list[Any] = [row[0] for row in cursor.fetchall()]
            if field.null:
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} IS NULL)")
                row = cursor.fetchone()
                if row and row[0]:
                    values.append(None)
        self.lookup_choices = values  # type: ignore[assignment]


class QuickActionCheckbox:
    """The change list's per-row selection box as one format_html instead of a form widget rendered through
    the template engine (a third of a 100-row page's CPU); the HTML is the same as Django's."""

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: Any) -> SafeString:
        return self.action_checkbox_renderer()(obj)

    def action_checkbox_renderer(self) -> Callable[[Any], SafeString]:
        """The box for a row, with the label's translation looked up once for all of a page's rows."""
        label, name = _("Select this object for an action - {}"), escape(helpers.ACTION_CHECKBOX_NAME)

        def box(obj: Any) -> SafeString:
            # As format_html would: the arguments escaped, the translated label not.
            return mark_safe(  # noqa: S308
                f'<input type="checkbox" name="{name}" value="{html.escape(str(obj.pk))}" class="action-select" '
                f'aria-label="{label.format(html.escape(str(obj)))}">')

        return box
