"""Input and output serializers of the registry API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from config.json_input import JSONValueField
from config.strict_input import IdField, RefuseUnknownFields
from registry.models import (
    ArtifactFormat,
    Dataset,
    DatasetVersion,
    EUAIActCategory,
    ModelVersion,
    RegisteredModel,
    RiskTier,
)
from registry.services.common import BIGINT_MAX

User = get_user_model()


class ModelOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    developers = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")  # type: ignore[var-annotated]

    class Meta:
        model = RegisteredModel
        fields = [
            "id", "name", "title", "description", "owner", "developers", "business_unit", "intended_use",
            "out_of_scope_uses", "risk_tier", "eu_ai_act_category", "tags", "created_at", "updated_at",
        ]


class ModelIn(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)
    developers = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), many=True, required=False
    )
    business_unit = serializers.CharField(required=False, allow_blank=True, max_length=120)
    intended_use = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    out_of_scope_uses = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    eu_ai_act_category = serializers.ChoiceField(choices=EUAIActCategory.choices, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)


class ModelEdit(RefuseUnknownFields, ModelIn):
    name = None  # type: ignore[assignment]
    title = serializers.CharField(max_length=200, required=False)


class DatasetRef(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")

    class Meta:
        model = DatasetVersion
        fields = ["id", "dataset", "version", "sha256"]


class VersionOut(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    created_by = serializers.CharField(source="created_by.username")
    training_datasets = DatasetRef(many=True)
    evaluation_datasets = DatasetRef(many=True)
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]

    class Meta:
        model = ModelVersion
        fields = [
            "id", "model", "version", "description", "stage", "artifact_sha256", "artifact_size",
            "artifact_format", "framework", "framework_version", "hyperparameters", "metrics",
            "code_repository", "code_commit", "python_version", "packages", "training_datasets",
            "evaluation_datasets", "parent", "created_by", "created_at", "updated_at", "stage_changed_at",
        ]

    def get_parent(self, obj: ModelVersion) -> dict | None:
        if obj.parent is None:
            return None
        return {"id": obj.parent.pk, "model": obj.parent.model.name, "version": obj.parent.version}


class VersionIn(serializers.Serializer):
    artifact = serializers.FileField()
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    expected_sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    framework = serializers.CharField(required=False, allow_blank=True, max_length=60)
    framework_version = serializers.CharField(required=False, allow_blank=True, max_length=40)
    hyperparameters = JSONValueField(required=False, binary=True)
    metrics = JSONValueField(required=False, binary=True)
    code_repository = serializers.CharField(required=False, allow_blank=True, max_length=500)
    code_commit = serializers.CharField(required=False, allow_blank=True, max_length=64)
    python_version = serializers.CharField(required=False, allow_blank=True, max_length=40)
    packages = JSONValueField(required=False, binary=True)
    training_datasets = IdField(
        queryset=DatasetVersion.objects.all(), many=True, required=False
    )
    evaluation_datasets = IdField(
        queryset=DatasetVersion.objects.all(), many=True, required=False
    )
    parent = IdField(  # type: ignore[assignment]
        queryset=ModelVersion.objects.all(), required=False
    )


class VersionEdit(RefuseUnknownFields):
    description = serializers.CharField(allow_blank=True, max_length=20000)


class DatasetOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")

    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "owner", "created_at", "updated_at"]


class DatasetIn(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)


class DatasetVersionListOut(serializers.ModelSerializer):
    """A dataset version in a list: everything but its schema (up to REGISTRY_MAX_DATASET_COLUMNS entries,
    which would make a page of wide data sets megabytes); the schema is on the version's own page."""

    dataset = serializers.CharField(source="dataset.name")
    created_by = serializers.CharField(source="created_by.username")
    parents = DatasetRef(many=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "dataset", "version", "uri", "sha256", "size", "row_count", "target_column",
            "positive_label", "sensitive_columns", "description", "provenance", "licence", "parents", "created_by",
            "created_at",
        ]


class DatasetVersionOut(DatasetVersionListOut):
    class Meta(DatasetVersionListOut.Meta):
        fields = [*DatasetVersionListOut.Meta.fields[:7], "schema", *DatasetVersionListOut.Meta.fields[7:]]


class DatasetVersionIn(serializers.Serializer):
    file = serializers.FileField(required=False)
    uri = serializers.CharField(required=False, allow_blank=True, max_length=500)
    expected_sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)
    # The column is a signed 64-bit integer: a larger count is refused here, as PostgreSQL would, not
    # left to SQLite's driver to raise OverflowError.
    row_count = serializers.IntegerField(required=False, min_value=0, max_value=BIGINT_MAX)
    target_column = serializers.CharField(required=False, allow_blank=True, max_length=120)
    positive_label = serializers.CharField(required=False, allow_blank=True, max_length=200, trim_whitespace=False)
    sensitive_columns = serializers.ListField(child=serializers.CharField(max_length=120), required=False,
                                              max_length=50)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    provenance = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    licence = serializers.CharField(required=False, allow_blank=True, max_length=300)
    parents = IdField(queryset=DatasetVersion.objects.all(), many=True, required=False)
    allow_schema_change = serializers.BooleanField(required=False, default=False)


class DatasetVersionEdit(RefuseUnknownFields):
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    provenance = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    licence = serializers.CharField(required=False, allow_blank=True, max_length=300)
