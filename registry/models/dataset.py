"""Datasets and their immutable versions, with digests, schema and provenance."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel


class Dataset(GovernedModel):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="datasets")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(GovernedModel):
    # What identifies the data never changes once registered; a change is a new version.
    IMMUTABLE_FIELDS = (
        "dataset", "version", "file", "uri", "sha256", "size", "row_count", "schema",
        "target_column", "positive_label", "sensitive_columns", "created_by",
    )

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to="datasets/", max_length=300, blank=True)
    uri = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    row_count = models.BigIntegerField(null=True, blank=True)
    schema = models.JSONField(default=list, blank=True)
    target_column = models.CharField(max_length=120, blank=True)
    # The target's value that is the positive class (1), as the file writes it ("yes", "good", "1"); set at
    # registration from the declaration, or "1" for a 0/1 column. Blank: no target, or registered before.
    positive_label = models.CharField(max_length=200, blank=True, default="")
    sensitive_columns = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    provenance = models.TextField(blank=True)
    licence = models.CharField(max_length=300, blank=True)
    parents = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="children")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dataset_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="datasetversion_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}@{self.version}"
