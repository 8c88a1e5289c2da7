"""Shapes of the monitoring API."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import Batch, BatchFormat, Breach, Evaluation, MonitoringReport, Outcomes


class BatchIn(serializers.Serializer):
    file = serializers.FileField()
    file_format = serializers.ChoiceField(choices=BatchFormat.choices, required=False, default=BatchFormat.CSV)
    row_id_column = serializers.CharField(required=False, default="row_id", max_length=120)
    score_column = serializers.CharField(required=False, default="score", max_length=120)
    prediction_column = serializers.CharField(required=False, default="", allow_blank=True, max_length=120)
    expected_sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)


class OutcomesIn(serializers.Serializer):
    file = serializers.FileField()
    label_column = serializers.CharField(required=False, default="label", max_length=120)
    positive_label = serializers.CharField(required=False, default="", allow_blank=True, max_length=200,
                                           trim_whitespace=False)
    expected_sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)


class ReviewIn(serializers.Serializer):
    review = serializers.CharField(max_length=10_000)


class BatchOut(serializers.ModelSerializer):
    class Meta:
        model = Batch
        fields = ["id", "version", "number", "file_format", "sha256", "size", "row_count", "columns",
                  "row_id_column", "score_column", "prediction_column", "merkle_root", "stage", "created_by",
                  "created_at"]


class OutcomesOut(serializers.ModelSerializer):
    class Meta:
        model = Outcomes
        fields = ["id", "batch", "sha256", "size", "row_count", "label_column", "positive_label", "created_by",
                  "created_at"]


class BreachOut(serializers.ModelSerializer):
    class Meta:
        model = Breach
        fields = ["id", "evaluation", "version", "colour", "findings", "consequence", "request", "hold", "notified",
                  "created_at"]


class EvaluationOut(serializers.ModelSerializer):
    breach = BreachOut(read_only=True, allow_null=True)

    class Meta:
        model = Evaluation
        fields = ["id", "version", "batch", "window_start", "window_end", "status", "error", "colour", "rows",
                  "labelled_rows", "plan", "baseline", "results", "results_sha256", "breach", "created_at",
                  "finished_at"]


class EvaluationRowOut(serializers.ModelSerializer):
    """One point of a version's monitoring state over time."""

    class Meta:
        model = Evaluation
        fields = ["id", "batch", "window_start", "window_end", "status", "error", "colour", "rows", "labelled_rows",
                  "results_sha256", "created_at", "finished_at"]


# The window, by its wire names ("from" is a Python keyword, so the class is made, not written out).
MonitoringReportIn = type("MonitoringReportIn", (serializers.Serializer,), {
    "__module__": __name__,
    "from": serializers.DateTimeField(required=False, help_text="start of the window (default: 90 days before to)"),
    "to": serializers.DateTimeField(required=False, help_text="end of the window (default: now)"),
})


class MonitoringReportOut(serializers.ModelSerializer):
    class Meta:
        model = MonitoringReport
        fields = ["id", "version", "window_start", "window_end", "status", "error", "pdf_sha256", "json_sha256",
                  "audit_head", "requested_by", "created_at", "finished_at"]
