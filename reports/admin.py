"""Reports in the admin: list, generate for a version, download with digests."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from config.admin_base import ModelAdmin
from config.admin_readonly import ReadOnlyAdmin
from config.errors import DomainError
from governance.evidence import report_config
from registry.admin import ModelVersionAdmin
from registry.models import ModelVersion
from reports import services
from reports.models import ALL_KINDS, Report


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin, ModelAdmin):
    list_display = ("id", "version", "kind", "status", "progress", "verdict", "created_at", "download")
    list_filter = ("kind", "status", "verdict")
    list_select_related = ("version", "version__model")
    readonly_fields = ("version", "kind", "status", "progress", "error", "verdict", "pdf_sha256", "json_sha256",
                       "inputs", "config", "download")
    fields = readonly_fields
    actions = None
    show_full_result_count = False

    @admin.display(description="download")
    def download(self, obj: Report) -> str:
        if obj.status != "succeeded":
            return obj.error[:80] if obj.error else "-"
        return format_html('<a href="{}">PDF</a> · <a href="{}">JSON</a>',
                           reverse("report-pdf", args=[obj.pk]), reverse("report-json-twin", args=[obj.pk]))


@admin.action(description="Generate bias, explainability, performance and lineage reports")
def generate_reports(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
    for version in queryset:
        for kind in ALL_KINDS:
            try:
                services.report_request(version=version, kind=kind, by=request.user,
                                        config=report_config(version, kind))
            except DomainError as exc:
                modeladmin.message_user(request, f"{version} {kind}: {exc.message}", level=messages.ERROR)
    modeladmin.message_user(request, "Reports requested; they appear under Reports when done.")


# The version list is the registry's page; generating evidence from it is this app's action, added by a subclass
# registered in the registry's place (the registry's admin cannot import this app: it is below it).
admin.site.unregister(ModelVersion)


@admin.register(ModelVersion)
class ModelVersionWithReportsAdmin(ModelVersionAdmin):
    actions = [generate_reports]  # type: ignore[assignment]  # ServiceAdmin has None: no bulk delete
