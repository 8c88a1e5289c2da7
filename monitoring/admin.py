"""Monitoring in the admin: batches, evaluations and breaches to read (never to edit: they change only through the
services), each version's and each model's monitoring state over time on their own pages, and a hold's release by
a validator's review."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin_base import ModelAdmin, TabularInline
from config.admin_readonly import ReadOnlyAdmin
from config.errors import DomainError
from governance import holds, rules
from governance.models import PromotionHold
from monitoring.models import Batch, Breach, Evaluation, EvaluationPart
from registry.admin import RegisteredModelAdmin
from registry.models import ModelVersion, RegisteredModel
from reports.admin import ModelVersionWithReportsAdmin

_COLOURS = {"green": "#2e7d32", "amber": "#ef8f00", "red": "#c62828", "": "#777"}


class RecordAdmin(ReadOnlyAdmin, ModelAdmin):
    actions = None
    show_full_result_count = False


@admin.register(Batch)
class BatchAdmin(RecordAdmin):
    list_display = ("id", "version", "number", "row_count", "stage", "file_format", "created_at")
    list_select_related = ("version", "version__model")
    readonly_fields = ("version", "number", "file_format", "sha256", "size", "row_count", "columns", "row_id_column",
                       "score_column", "prediction_column", "merkle_root", "stage", "created_by", "created_at")
    fields = readonly_fields


def _swatch(colour: str) -> str:
    return format_html('<b style="color:{}">{}</b>', _COLOURS.get(colour, "#777"), colour or "not judged")


class EvaluationPartInline(ReadOnlyAdmin, TabularInline):
    """The evaluation's parts (monitoring/parts.py): which rows of which batch each measured, and the digest of its
    counts that its entry records."""

    model = EvaluationPart
    fields = ("index", "batch", "first_row", "rows", "span_start", "span_end", "status", "error", "state_sha256",
              "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Evaluation)
class EvaluationAdmin(RecordAdmin):
    inlines = (EvaluationPartInline,)
    list_display = ("id", "version", "batch", "window_end", "status", "state", "rows", "labelled_rows", "created_at")
    list_filter = ("status", "colour")
    list_select_related = ("version", "version__model", "batch")
    readonly_fields = ("version", "batch", "window_start", "window_end", "status", "error", "state", "rows",
                       "labelled_rows", "findings", "baseline", "plan", "results_sha256", "created_at", "finished_at")
    fields = readonly_fields

    @admin.display(description="colour")
    def state(self, obj: Evaluation) -> str:
        return _swatch(obj.colour) if obj.status == "succeeded" else obj.status

    @admin.display(description="findings")
    def findings(self, obj: Evaluation) -> str:
        rows = (obj.results or {}).get("findings", [])
        if not rows:
            return "-"
        return format_html("<table><tr><th>metric</th><th>subject</th><th>value</th><th>amber</th><th>red</th>"
                           "<th>colour</th></tr>{}</table>",
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                                "<td>{}</td></tr>",
                                            ((f["metric"], f["subject"], _round(f["value"]), f["amber"], f["red"],
                                              _swatch(f["colour"])) for f in rows)))


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


@admin.register(Breach)
class BreachAdmin(RecordAdmin):
    list_display = ("id", "version", "colour", "consequence", "request", "hold", "created_at")
    list_filter = ("colour", "consequence")
    list_select_related = ("version", "version__model")
    readonly_fields = ("evaluation", "version", "colour", "consequence", "request", "hold", "findings", "notified",
                       "created_at")
    fields = readonly_fields


def state_over_time(evaluations: Any) -> str:
    """A version's evaluations, oldest first, as coloured marks with their dates: its monitoring state over time."""
    marks = [(e.pk, _COLOURS.get(e.colour, "#777"), f"{e.created_at:%Y-%m-%d %H:%M}", e.colour or e.status)
             for e in evaluations]
    if not marks:
        return "not monitored yet: no production batch received"
    return format_html_join(" ", '<a href="{}"><span style="color:{}">&#9632;</span> {} {}</a>',
                            ((reverse("admin:monitoring_evaluation_change", args=[pk]), colour, when, what)
                             for pk, colour, when, what in marks))


# The version and model pages are the registry's; their monitoring sections are this app's, added by subclasses
# registered in their place (the registry's admin cannot import this app: it is below it).
admin.site.unregister(ModelVersion)
admin.site.unregister(RegisteredModel)


@admin.register(ModelVersion)
class ModelVersionWithMonitoringAdmin(ModelVersionWithReportsAdmin):
    # The registry's fields and this section: wider tuples than the base's, which mypy reads as fixed-length.
    fields = (*ModelVersionWithReportsAdmin.fields, "monitoring")  # type: ignore[assignment]
    readonly_fields = (*ModelVersionWithReportsAdmin.readonly_fields, "monitoring")  # type: ignore[assignment]

    @admin.display(description="monitoring over time")
    def monitoring(self, obj: ModelVersion) -> str:
        return state_over_time(Evaluation.objects.filter(version=obj).order_by("created_at", "id")[:200])


@admin.register(RegisteredModel)
class RegisteredModelWithMonitoringAdmin(RegisteredModelAdmin):
    fields = (*RegisteredModelAdmin.fields, "monitoring")  # type: ignore[assignment]
    readonly_fields = (*RegisteredModelAdmin.readonly_fields, "monitoring")  # type: ignore[assignment]

    @admin.display(description="monitoring of its versions over time")
    def monitoring(self, obj: RegisteredModel) -> str:
        versions = obj.versions.filter(evaluations__isnull=False).distinct().order_by("-version")
        if not versions:
            return "no version of this model is monitored yet"
        return format_html_join("", "<p>v{}: {}</p>", ((v.version, state_over_time(
            Evaluation.objects.filter(version=v).order_by("created_at", "id")[:200])) for v in versions))


class ReleaseForm(forms.ModelForm):
    review = forms.CharField(widget=forms.Textarea, required=True,
                             help_text="What the breach was and why the model's promotions may resume.")
    user: Any = None  # set by PromotionHoldAdmin.get_form: who is releasing

    class Meta:
        model = PromotionHold
        fields = ("review",)

    def clean(self) -> dict[str, Any]:
        """Refused on the form, as the service would refuse it: nothing is said to have changed."""
        data = super().clean() or {}
        try:
            rules.require_may_review_breach(self.user, self.instance.model_id)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(PromotionHold)
class PromotionHoldAdmin(ReadOnlyAdmin, ModelAdmin):
    """A hold is released by a validator's review, here as over the API (holds.hold_release decides who may)."""

    form = ReleaseForm
    list_display = ("id", "model", "opened_at", "released_at", "released_by")
    list_select_related = ("model", "released_by")
    actions = None

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = ("model", "reason", "opened_at", "released_at", "released_by")
        return (*shown, "review") if obj is not None and obj.released_at is None else (*shown, "review_text")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("model", "reason", "opened_at", "released_at", "released_by", "review_text")

    @admin.display(description="review")
    def review_text(self, obj: PromotionHold) -> str:
        return obj.review or "-"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The one change made on the form: an open hold's release, through the service (save_model).
        return request.user.is_authenticated and (obj is None or obj.released_at is None)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            holds.hold_release(hold=PromotionHold.objects.get(pk=obj.pk), by=request.user,
                               review=form.cleaned_data["review"])
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
