"""Evidence reports about a model version: status, verdict, metrics and the digests of PDF and JSON."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from config.errors import PermissionDenied
from registry.models import DatasetVersion, ModelVersion


class ReportKind(models.TextChoices):
    BIAS = "bias", "Bias / fairness"
    EXPLAINABILITY = "explainability", "Explainability (SHAP)"
    LINEAGE = "lineage", "Lineage"
    PERFORMANCE = "performance", "Performance"


# Every kind, in the order "generate all" requests them: the lineage last, so it lists the others.
ALL_KINDS = (ReportKind.BIAS, ReportKind.EXPLAINABILITY, ReportKind.PERFORMANCE, ReportKind.LINEAGE)


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    INFO = "info", "Informational"


class Report(GovernedModel):
    AUDIT_EXCLUDE = ("updated_at", "progress", "metrics")
    # The metrics (what the gates read) are the JSON twin's content: json_sha256, in the entries, binds them.
    AUDIT_DIGESTED = {"metrics": "json_sha256"}
    # What was asked for, fixed at the request; what the report found, set once when it succeeds.
    IMMUTABLE_FIELDS = ("version", "kind", "evaluation_dataset", "config", "config_sha256", "inputs", "requested_by",
                        "created_at")
    AUDIT_SET_ONCE = ("verdict", "json_sha256", "pdf_sha256")
    # Once it succeeded (its digest set), it reads as succeeded, finished when it did.
    AUDIT_SET_WITH = {"json_sha256": ("status", "finished_at")}
    # Evidence is kept for good, on its version: the gates pick the latest report of each kind, so one taken away
    # would let an older one count again. Refused here (the writer) and by the database (audit.row_guards).
    DATABASE_FIXED = ("version",)
    DATABASE_KEPT = True

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="reports")
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    evaluation_dataset = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    # The configuration the report was computed with (thresholds, seeds, sample sizes).
    config = models.JSONField(default=dict, blank=True)
    config_sha256 = models.CharField(max_length=64, blank=True)
    verdict = models.CharField(max_length=6, choices=Verdict.choices, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    pdf = models.FileField(upload_to="reports/", max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    json = models.FileField(upload_to="reports/", max_length=300, blank=True)
    json_sha256 = models.CharField(max_length=64, blank=True)
    # Digests of every input at computation time: artifact, datasets, configuration.
    inputs = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["version", "kind", "-created_at"], name="report_version_kind"),
            models.Index(fields=["status", "created_at"], name="report_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} report #{self.pk} for version {self.version_id}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied(f"{self} is evidence, kept for good: it is never deleted (a later report of its kind "
                               "supersedes it)", rule="report.kept")
