"""Reads of the registry: querysets shaped for their pages, and lineage both ways."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel


def model_list() -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.select_related("owner").prefetch_related("developers")


# A version's datasets are shown as references (id, dataset name, version, sha256): loading every column
# decoded each dataset version's schema JSON, a quarter of a 50-version page's CPU.
_DATASET_REF_FIELDS = ("id", "version", "sha256", "dataset_id", "dataset__id", "dataset__name")


def version_list() -> QuerySet[ModelVersion]:
    refs = DatasetVersion.objects.select_related("dataset").only(*_DATASET_REF_FIELDS)
    return ModelVersion.objects.select_related("model", "created_by", "parent", "parent__model").prefetch_related(
        Prefetch("training_datasets", queryset=refs),
        Prefetch("evaluation_datasets", queryset=refs),
    )


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("owner")


def dataset_version_list() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("dataset", "created_by").prefetch_related(
        Prefetch("parents", queryset=DatasetVersion.objects.select_related("dataset"))
    )


def _version_ref(v: ModelVersion) -> dict[str, Any]:
    return {"id": v.pk, "model": v.model.name, "version": v.version, "stage": v.stage,
            "artifact_sha256": v.artifact_sha256}


def _dataset_ref(d: DatasetVersion) -> dict[str, Any]:
    return {"id": d.pk, "dataset": d.dataset.name, "version": d.version, "sha256": d.sha256}


def version_lineage(version: ModelVersion) -> dict[str, Any]:
    """Upstream (datasets, parents up to the root) and downstream (children) of a model version."""
    ancestors: list[dict[str, Any]] = []
    seen = {version.pk}
    current = version.parent
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        ancestors.append(_version_ref(current))
        current = ModelVersion.objects.select_related("model", "parent").get(pk=current.pk).parent
    children = ModelVersion.objects.filter(parent=version).select_related("model").order_by("version")
    return {
        "version": _version_ref(version),
        "training_datasets": [_dataset_ref(d) for d in version.training_datasets.select_related("dataset")],
        "evaluation_datasets": [_dataset_ref(d) for d in version.evaluation_datasets.select_related("dataset")],
        "parents": ancestors,
        "children": [_version_ref(c) for c in children],
    }


def dataset_lineage(dataset_version: DatasetVersion) -> dict[str, Any]:
    """Every model version trained or evaluated on a dataset version, and its dataset parents/children."""
    trained = ModelVersion.objects.filter(training_datasets=dataset_version).select_related("model")
    evaluated = ModelVersion.objects.filter(evaluation_datasets=dataset_version).select_related("model")
    return {
        "dataset_version": _dataset_ref(dataset_version),
        "parents": [_dataset_ref(p) for p in dataset_version.parents.select_related("dataset")],
        "children": [_dataset_ref(c) for c in dataset_version.children.select_related("dataset")],
        "trained_versions": [_version_ref(v) for v in trained.order_by("model__name", "version")],
        "evaluated_versions": [_version_ref(v) for v in evaluated.order_by("model__name", "version")],
    }
