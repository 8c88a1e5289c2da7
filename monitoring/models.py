"""Production batches of a version's inputs and outputs, the outcomes that arrive later, what each measurement
of them found against the validated baseline, and the breaches that found."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.governed import GovernedModel
from registry.models import ModelVersion


class BatchFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class Batch(GovernedModel):
    """A write-once batch of production rows: the file (content-addressed), its columns, and the RFC 6962 root of
    its rows' leaves (monitoring/rows.py), which the batch's entry records so that any one row has a receipt."""

    AUDIT_SCOPE = "version"
    IMMUTABLE_FIELDS = (
        "version", "number", "file", "file_format", "sha256", "size", "row_count", "columns", "row_id_column",
        "score_column", "prediction_column", "merkle_root", "leaves", "stage", "created_by",
    )

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="batches")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="monitoring/", max_length=300)
    file_format = models.CharField(max_length=10, choices=BatchFormat.choices)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    row_count = models.BigIntegerField()
    columns = models.JSONField(default=list)
    row_id_column = models.CharField(max_length=120)
    score_column = models.CharField(max_length=120)
    prediction_column = models.CharField(max_length=120, blank=True)
    merkle_root = models.CharField(max_length=64)
    # The rows' leaf hashes, 32 bytes each in row order: what a receipt's audit path is computed from.
    leaves = models.FileField(upload_to="monitoring/", max_length=300)
    # The version's stage when the batch arrived (production or staging).
    stage = models.CharField(max_length=12)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "number"], name="batch_unique_number"),
            models.UniqueConstraint(fields=["version", "sha256"], name="batch_unique_content"),
        ]
        indexes = [models.Index(fields=["version", "created_at"], name="batch_version_created")]

    def __str__(self) -> str:
        return f"batch {self.number} of version {self.version_id}"


class Outcomes(GovernedModel):
    """Outcomes (labels) for some of a batch's rows, joined by row id; write-once, as the batch is."""

    AUDIT_SCOPE = "batch"
    IMMUTABLE_FIELDS = ("batch", "file", "sha256", "size", "row_count", "label_column", "positive_label",
                        "created_by")

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="outcomes")
    file = models.FileField(upload_to="monitoring/", max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    row_count = models.BigIntegerField()
    label_column = models.CharField(max_length=120)
    positive_label = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["batch", "sha256"], name="outcomes_unique_content")]

    def __str__(self) -> str:
        return f"outcomes for {self.row_count} rows of batch {self.batch_id}"


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Evaluation(GovernedModel):
    """One measurement of a version's production rows against its baseline under the plan in force: of one batch
    when it arrives (or when its outcomes do), or of a window of batches on the plan's cadence."""

    AUDIT_SCOPE = "version"
    AUDIT_EXCLUDE = ("results",)
    # The results (what the colours and consequences were read from) are bound by their digest in the entries.
    AUDIT_DIGESTED = {"results": "results_sha256"}

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="evaluations")
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED)
    error = models.TextField(blank=True)
    plan = models.JSONField(default=dict)
    # The baseline the approval was bound to: the evaluation dataset and the validated reports, by digest.
    baseline = models.JSONField(default=dict)
    rows = models.BigIntegerField(default=0)
    labelled_rows = models.BigIntegerField(default=0)
    results = models.JSONField(default=dict, blank=True)
    results_sha256 = models.CharField(max_length=64, blank=True)
    colour = models.CharField(max_length=6, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["version", "-created_at"], name="evaluation_version_created")]

    def __str__(self) -> str:
        scope = f"batch {self.batch_id}" if self.batch_id else f"window to {self.window_end:%Y-%m-%d}"
        return f"evaluation #{self.pk} of version {self.version_id} ({scope})"


class EvaluationPart(GovernedModel):
    """One span of one batch of an evaluation (monitoring/spans.py), measured by a task of its own: a large batch
    is cut into parts that several workers measure at once, and the last to finish merges their counts. The
    counts are stored under their digest, which the part's entry records; the merge reads them only as logged."""

    AUDIT_SCOPE = "evaluation"
    IMMUTABLE_FIELDS = ("evaluation", "index", "batch", "first_row", "rows", "span_start", "span_end", "outcomes")

    evaluation = models.ForeignKey(Evaluation, on_delete=models.PROTECT, related_name="parts")
    index = models.PositiveIntegerField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+")
    first_row = models.BigIntegerField()
    rows = models.BigIntegerField()
    # Byte offsets of a CSV file, row-group indexes of a Parquet file (end exclusive); null for the whole file.
    span_start = models.BigIntegerField(null=True, blank=True)
    span_end = models.BigIntegerField(null=True, blank=True)
    # The batch's outcomes uploads the part reads labels from: those there when the evaluation was split.
    outcomes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED)
    error = models.TextField(blank=True)
    state = models.FileField(upload_to="monitoring/", max_length=300, blank=True)
    state_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["evaluation", "index"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "index"], name="evaluation_part_unique_index")]

    def __str__(self) -> str:
        return f"part {self.index} of evaluation #{self.evaluation_id}"


class Breach(GovernedModel):
    """An evaluation that found amber or red, each finding named, and what it triggered."""

    AUDIT_SCOPE = "version"
    IMMUTABLE_FIELDS = ("evaluation", "version", "colour", "findings", "consequence")

    evaluation = models.OneToOneField(Evaluation, on_delete=models.PROTECT, related_name="breach")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="breaches")
    colour = models.CharField(max_length=6)
    # [{metric, subject, value, threshold, colour}], worst first.
    findings = models.JSONField(default=list)
    # "notified" (amber), "revalidation" or "hold" (red, as the plan says).
    consequence = models.CharField(max_length=20)
    request = models.ForeignKey("governance.PromotionRequest", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    hold = models.ForeignKey("governance.PromotionHold", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    notified = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.colour} breach of version {self.version_id} (evaluation {self.evaluation_id})"


class MonitoringReport(GovernedModel):
    """The monitoring report of a version over a window: its PDF and JSON twin (monitoring/report.py), stored under
    their digests, which its entries record."""

    AUDIT_SCOPE = "version"
    IMMUTABLE_FIELDS = ("version", "window_start", "window_end", "requested_by")

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="monitoring_reports")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED)
    error = models.TextField(blank=True)
    pdf = models.FileField(upload_to="monitoring/reports/", max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    json = models.FileField(upload_to="monitoring/reports/", max_length=300, blank=True)
    json_sha256 = models.CharField(max_length=64, blank=True)
    audit_head = models.JSONField(default=dict)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"monitoring report #{self.pk} of version {self.version_id}"
