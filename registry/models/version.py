"""ModelVersion: an immutable registered artifact with its lineage; only its stage moves."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from registry.models.dataset import DatasetVersion
from registry.models.model import RegisteredModel


class Stage(models.TextChoices):
    NONE = "none", "None"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ArtifactFormat(models.TextChoices):
    SKOPS = "skops", "skops"
    ONNX = "onnx", "ONNX"
    JOBLIB = "joblib", "joblib (pickle)"
    PICKLE = "pickle", "pickle"


class ModelVersion(GovernedModel):
    AUDIT_SCOPE = "model"
    # What governance governs: set when an approved request applies it, never by anyone who asks the writer.
    DECIDED_FIELDS = ("stage", "stage_changed_at")
    DECIDED_VERB = "stage_change"  # registry.services.version.model_version_set_stage
    # Its model, held by the database too: a model's spells are kept while it has versions, which moving them away
    # for a moment would lift (audit.row_guards).
    DATABASE_FIXED = ("model",)
    IMMUTABLE_FIELDS = (
        "model", "version", "artifact", "artifact_sha256", "artifact_size", "artifact_format", "artifact_check",
        "framework", "framework_version", "hyperparameters", "metrics", "code_repository",
        "code_commit", "python_version", "packages", "parent", "created_by", "created_at",
    )

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    # Moved only by the governance workflow.
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.NONE)
    artifact = models.FileField(upload_to="artifacts/", max_length=300)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField()
    artifact_format = models.CharField(max_length=10, choices=ArtifactFormat.choices)
    # What registration found when it loaded the artifact in the sandbox (registry/artifacts.py): the estimator,
    # whether it gives scores, its features, the sample rows it predicted on, and the isolation that applied.
    artifact_check = models.JSONField(default=dict, blank=True)
    framework = models.CharField(max_length=60, blank=True)
    framework_version = models.CharField(max_length=40, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    code_repository = models.CharField(max_length=500, blank=True)
    code_commit = models.CharField(max_length=64, blank=True)
    python_version = models.CharField(max_length=40, blank=True)
    packages = models.JSONField(default=dict, blank=True)
    training_datasets = models.ManyToManyField(DatasetVersion, blank=True, related_name="trained_versions")
    evaluation_datasets = models.ManyToManyField(DatasetVersion, blank=True, related_name="evaluated_versions")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="model_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="modelversion_unique_number"),
        ]
        indexes = [
            models.Index(fields=["stage", "model"], name="modelversion_stage_model"),
            models.Index(fields=["created_at"], name="modelversion_created"),
            models.Index(fields=["artifact_sha256"], name="modelversion_sha"),
            # The framework filter, newest first, and the admin's list of frameworks (an index skip scan).
            models.Index(fields=["framework", "id"], name="modelversion_framework"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"
