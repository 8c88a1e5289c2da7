"""The audit log in the admin: read-only for everyone, with filters and search."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest
from django.utils.html import format_html

from audit.context import CHANNELS
from audit.models import AuditEntry, Checkpoint, VerificationRun
from config.admin_base import ModelAdmin
from config.admin_lists import FixedValuesFilter, IndexedValuesFilter, QuickActionCheckbox
from config.admin_readonly import ReadOnlyAdmin
from config.admin_rows import FastChangeListAdmin
from config.ids import ascii_digits
from config.paging import EstimatedCountPaginator


class RecordAdmin(ReadOnlyAdmin, FastChangeListAdmin, QuickActionCheckbox, ModelAdmin):
    actions = None


class CarriedValueFilter(admin.SimpleListFilter):
    """A filter on a column with too many values to list (object ids, actors): the value comes in the
    query string (from an object's "Audit history" link, or a name in the list) and is shown as chosen."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = request.GET.get(str(self.parameter_name))
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(**{str(self.parameter_name): self.value()}) if self.value() else queryset


class ObjectFilter(CarriedValueFilter):
    """Carries ?object_type=&object_id= from an object's "Audit history" link."""

    title = "object"
    parameter_name = "object_id"


class ActorFilter(CarriedValueFilter):
    """?actor_name=: each actor's name in the list links here."""

    title = "actor"
    parameter_name = "actor_name"


class DateRangeFilter(admin.SimpleListFilter):
    """Entries from ?since= to ?until= (dates, both included, UTC), either one alone."""

    title = "date range"
    parameter_name = "since"
    template = "admin/audit/date_range_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)  # takes `since`, the parameter_name
        if "until" in params:
            value = params.pop("until")
            self.used_parameters["until"] = value[-1] if isinstance(value, list) else value

    def expected_parameters(self) -> list[str | None]:
        return ["since", "until"]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("range", "range")]  # never listed: the template shows a small form instead

    def _date(self, name: str) -> dt.date | None:
        raw = self.used_parameters.get(name)
        raw = raw[-1] if isinstance(raw, list) else raw
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(str(raw))
        except ValueError as exc:
            raise IncorrectLookupParameters(f"{name} must be a date, YYYY-MM-DD") from exc

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: Any) -> Any:
        others = changelist.get_query_string(remove=["since", "until"])
        yield {"since": self._date("since") or "", "until": self._date("until") or "", "clear": others,
               "keep": parse_qsl(others.lstrip("?"))}  # the other filters, kept when the form is sent

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        since, until = self._date("since"), self._date("until")
        if since:
            queryset = queryset.filter(ts__gte=dt.datetime.combine(since, dt.time(), dt.UTC))
        if until and until < dt.date.max:  # up to 9999-12-31 is every entry: no day after it to stop before
            queryset = queryset.filter(ts__lt=dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC))
        return queryset


class ObjectTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = [
            "registry.registeredmodel", "registry.modelversion", "registry.dataset", "registry.datasetversion",
            "governance.policy", "governance.promotionrequest", "governance.approval", "reports.report",
            "auth.user", "auth.group", "governance.apitoken", "audit.log",
        ]
        return [(t, t) for t in types]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(object_type=self.value()) if self.value() else queryset


class ChannelFilter(FixedValuesFilter):
    title = "channel"
    parameter_name = "channel"
    values = CHANNELS


class ActorKindFilter(FixedValuesFilter):
    title = "actor kind"
    parameter_name = "actor_kind"
    values = ("user", "system")


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    list_display = ("seq", "ts", "actor", "action", "object_type", "object_repr", "channel", "short_hash")
    list_filter = (ObjectTypeFilter, ObjectFilter, ("action", IndexedValuesFilter), ActorFilter, ActorKindFilter,
                   ChannelFilter, DateRangeFilter)
    search_fields = ("=seq", "action", "actor_name", "object_repr", "=hash", "=request_id")
    date_hierarchy = None
    # Not the canonical bytes (the entry page shows them)
    list_only = ("ts", "actor_name", "action", "object_type", "object_repr", "channel", "hash")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    fields = ("seq", "ts", "actor_name", "action", "object_type", "object_id", "object_repr", "prev", "hash",
              "entry_json")
    readonly_fields = fields

    class Media:
        css = {"all": ("audit/admin.css",)}

    @admin.display(description="actor", ordering="actor_name")
    def actor(self, obj: AuditEntry) -> str:
        return format_html('<a href="?{}">{}</a>', urlencode({"actor_name": obj.actor_name}), obj.actor_name)

    @admin.display(description="hash")
    def short_hash(self, obj: AuditEntry) -> str:
        return obj.hash[:12] + "…"

    @admin.display(description="entry (canonical JSON)")
    def entry_json(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.as_json(), indent=2, ensure_ascii=False))

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        if search_term.startswith("=") or not ascii_digits(search_term):
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(seq=int(search_term)), False


@admin.register(Checkpoint)
class CheckpointAdmin(RecordAdmin):
    list_display = ("size", "ts", "root", "head", "key_id", "log_id")


@admin.register(VerificationRun)
class VerificationRunAdmin(RecordAdmin):
    list_display = ("id", "finished_at", "ok", "entries_checked", "last_seq", "failed_seq", "rule")
