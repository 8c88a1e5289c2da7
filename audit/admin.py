"""The audit log in the admin: read-only for everyone, with filters and search."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from audit.context import CHANNELS
from audit.models import AuditEntry, Checkpoint, VerificationRun
from config.admin_lists import FixedValuesFilter, QuickActionCheckbox
from config.admin_rows import FastChangeListAdmin
from config.paging import EstimatedCountPaginator


class ReadOnlyAdmin(FastChangeListAdmin, QuickActionCheckbox, admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ObjectFilter(admin.SimpleListFilter):
    """Carries ?object_type=&object_id= from an object's "Audit history" link."""

    title = "object"
    parameter_name = "object_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = request.GET.get(self.parameter_name)
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value():
            return queryset.filter(object_id=self.value())
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
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("seq", "ts", "actor_name", "action", "object_type", "object_repr", "channel", "short_hash")
    list_filter = (ObjectTypeFilter, ObjectFilter, ChannelFilter, ActorKindFilter, ("ts", admin.DateFieldListFilter))
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

    @admin.display(description="hash")
    def short_hash(self, obj: AuditEntry) -> str:
        return obj.hash[:12] + "…"

    @admin.display(description="entry (canonical JSON)")
    def entry_json(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.as_json(), indent=2, ensure_ascii=False))

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        if search_term.startswith("=") or not search_term.isdigit():
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(seq=int(search_term)), False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "ts", "root", "head", "key_id", "log_id")


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "finished_at", "ok", "entries_checked", "last_seq", "failed_seq", "rule")
