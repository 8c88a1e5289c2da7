"""Admin for the registry: lists with filters and search, digests read-only, lineage on the version page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin_lists import IndexedValuesFilter, QuickActionCheckbox
from config.admin_refusals import ServiceFormAdmin, ServiceRefused
from config.admin_rows import FastChangeListAdmin
from config.errors import DomainError
from config.json_input import JSONFormField
from registry import selectors
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel
from registry.services import dataset as dataset_services
from registry.services import model as model_services
from registry.services import version as version_services


def history_link(obj: Any) -> str:
    url = reverse("admin:audit_auditentry_changelist")
    return format_html(
        '<a href="{}?object_type={}&object_id={}">Audit history</a>',
        url, f"{obj._meta.app_label}.{obj._meta.model_name}", obj.pk,
    )


class ServiceAdmin(FastChangeListAdmin, QuickActionCheckbox, ServiceFormAdmin):
    """Saves and deletes go through the registry services, so the admin obeys the same rules."""

    actions = None
    # JSON typed into the admin (a model's tags) meets the same limits as the API's, as a form error.
    formfield_overrides = {models.JSONField: {"form_class": JSONFormField}}

    def history(self, obj: Any) -> str:
        return history_link(obj) if obj and obj.pk else "-"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            self.save_through_service(request, obj, form, change)
        except DomainError as exc:
            raise ServiceRefused(exc) from exc

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Many-to-many fields are set by the services, never by the form."""

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        raise NotImplementedError


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ServiceAdmin):
    list_display = ("name", "title", "owner", "risk_tier", "eu_ai_act_category", "business_unit", "updated_at")
    list_filter = ("risk_tier", "eu_ai_act_category", ("business_unit", IndexedValuesFilter))
    search_fields = ("name", "title", "description")
    list_select_related = ("owner",)
    list_only = ("name", "title", "owner__username", "risk_tier", "eu_ai_act_category", "business_unit",
                 "updated_at")
    readonly_fields = ("created_at", "updated_at", "history")
    fields = (
        "name", "title", "description", "owner", "developers", "business_unit", "intended_use",
        "out_of_scope_uses", "risk_tier", "eu_ai_act_category", "tags", "created_at", "updated_at", "history",
    )
    autocomplete_fields = ()
    show_full_result_count = False
    list_per_page = 50  # as the audit log: rendering each row is most of the page's CPU

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.readonly_fields, "name") if obj else self.readonly_fields

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        developers = list(data.get("developers") or [])
        if change:
            edits = {k: data[k] for k in form.changed_data if k in model_services.EDITABLE}
            model_services.registered_model_edit(
                model=obj, by=request.user, developers=developers if "developers" in form.changed_data else None,
                **edits)
        else:
            fields = {k: data[k] for k in model_services.EDITABLE if k in data and k not in ("owner",)}
            created = model_services.registered_model_create(
                by=request.user, name=data["name"], title=data["title"], owner=data.get("owner"),
                developers=developers, **{k: v for k, v in fields.items() if k != "title"},
            )
            obj.pk = created.pk
            obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        model_services.registered_model_delete(model=obj, by=request.user)


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceAdmin):
    list_display = ("__str__", "stage", "artifact_format", "framework", "created_by", "created_at")
    list_filter = ("stage", "artifact_format", ("framework", IndexedValuesFilter), "model__risk_tier")
    search_fields = ("model__name", "artifact_sha256", "code_commit")
    list_select_related = ("model", "created_by")
    # __str__ is "<model name> v<version>"
    list_only = ("model__name", "version", "stage", "artifact_format", "framework", "created_by__username",
                 "created_at")
    show_full_result_count = False
    list_per_page = 50  # as the audit log: rendering each row is most of the page's CPU
    fields = ("description", "lineage", "details", "history")
    readonly_fields = ("lineage", "details", "history")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Registering a version needs an artifact upload: the API and CLI do that.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Registered")
    def details(self, obj: ModelVersion) -> str:
        rows = [
            ("Model", obj.model.name), ("Version", obj.version), ("Stage", obj.stage),
            ("Artifact SHA-256", obj.artifact_sha256), ("Size", obj.artifact_size),
            ("Format", obj.artifact_format), ("Framework", f"{obj.framework} {obj.framework_version}"),
            ("Code", f"{obj.code_repository} @ {obj.code_commit}"), ("Python", obj.python_version),
            ("Hyperparameters", obj.hyperparameters), ("Metrics", obj.metrics),
            ("Created by", obj.created_by), ("Created at", obj.created_at),
        ]
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", rows)
        )

    @admin.display(description="Lineage")
    def lineage(self, obj: ModelVersion) -> str:
        data = selectors.version_lineage(obj)

        def items(refs: list[dict[str, Any]], key: str) -> str:
            if not refs:
                return "none"
            return format_html_join(", ", "{}@{} <code>{}</code>", ((r[key], r["version"], r.get("sha256", r.get(
                "artifact_sha256", ""))[:12]) for r in refs))

        return format_html(
            "<div>Training data: {}</div><div>Evaluation data: {}</div><div>Parents: {}</div><div>Children: {}</div>",
            items(data["training_datasets"], "dataset"), items(data["evaluation_datasets"], "dataset"),
            items(data["parents"], "model"), items(data["children"], "model"),
        )

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        version_services.model_version_update(
            version=obj, by=request.user, description=form.cleaned_data["description"]
        )


@admin.register(Dataset)
class DatasetAdmin(ServiceAdmin):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "description")
    list_select_related = ("owner",)
    fields = ("name", "description", "history")
    readonly_fields = ("history",)

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            raise DomainError("datasets are described at registration; register a new version to change data")
        created = dataset_services.dataset_create(
            by=request.user, name=form.cleaned_data["name"], description=form.cleaned_data["description"]
        )
        obj.pk = created.pk
        obj._state.adding = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# A version's page names this many columns of its schema (up to REGISTRY_MAX_DATASET_COLUMNS): a page that
# listed two thousand would be slow to send and no one would read it; the API gives the whole schema.
SCHEMA_SHOWN = 50


def _schema_summary(obj: DatasetVersion) -> str:
    schema = obj.schema or []
    counts: dict[str, int] = {}
    for column in schema:
        counts[column["type"]] = counts.get(column["type"], 0) + 1
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    rest = len(schema) - SCHEMA_SHOWN
    return format_html(
        "<h3>Schema: {} column(s){}</h3><table><tr><th>Column</th><th>Type</th><th>Empty cells</th></tr>{}</table>{}",
        len(schema), f" ({kinds})" if kinds else "",
        format_html_join("", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                         ((c["name"], c["type"], c.get("nulls", "")) for c in schema[:SCHEMA_SHOWN])),
        format_html("<p>and {} more: the whole schema is at <code>{}</code></p>", rest,
                    f"/api/v1/dataset-versions/{obj.pk}/") if rest > 0 else "",
    )


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ServiceAdmin):
    list_display = ("__str__", "sha256", "row_count", "target_column", "created_by", "created_at")
    list_filter = ("dataset",)
    search_fields = ("dataset__name", "sha256")
    list_select_related = ("dataset", "created_by")
    fields = ("description", "provenance", "licence", "details", "history")
    readonly_fields = ("details", "history")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Registered")
    def details(self, obj: DatasetVersion) -> str:
        rows = [
            ("Dataset", obj.dataset.name), ("Version", obj.version), ("SHA-256", obj.sha256),
            ("Rows", obj.row_count), ("Target", obj.target_column),
            ("Positive label", obj.positive_label), ("Sensitive", obj.sensitive_columns),
            ("File", obj.file.name or obj.uri),
        ]
        return format_html(
            "<table>{}</table>{}", format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", rows),
            _schema_summary(obj),
        )

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        edits = {k: form.cleaned_data[k] for k in form.changed_data if k in dataset_services.VERSION_EDITABLE}
        dataset_services.dataset_version_update(version=obj, by=request.user, **edits)
