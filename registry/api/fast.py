"""Registry list pages built from plain rows: byte for byte what `ModelOut` and `VersionOut` write, without
making a model instance (and its audit snapshot) per row or walking DRF's fields per value.

At 100,000 versions a 50-row page spent most of its CPU instantiating models and their prefetched relations
and running nested serializers; these read the same columns with `values_list` and the relations with one
query each, in the order the serializers' prefetches gave them. The serializers stay the schema and the
single-object output; tests/test_api_fast_paths.py holds the two to the same output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from config.api import datetime_out
from registry.models import DatasetVersion

# The columns of a model row, in the order `models_out` unpacks them.
MODEL_COLUMNS = (
    "id", "name", "title", "description", "owner__username", "business_unit", "intended_use", "out_of_scope_uses",
    "risk_tier", "eu_ai_act_category", "tags", "created_at", "updated_at",
)

# The columns of a version row, in the order `versions_out` unpacks them.
VERSION_COLUMNS = (
    "id", "model__name", "version", "description", "stage", "artifact_sha256", "artifact_size", "artifact_format",
    "framework", "framework_version", "hyperparameters", "metrics", "code_repository", "code_commit",
    "python_version", "packages", "parent_id", "parent__model__name", "parent__version", "created_by__username",
    "created_at", "updated_at", "stage_changed_at",
)


def model_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The models of `queryset` (filtered and ordered) as tuples of MODEL_COLUMNS."""
    return queryset.prefetch_related(None).values_list(*MODEL_COLUMNS)


def version_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The versions of `queryset` (filtered and ordered) as tuples of VERSION_COLUMNS."""
    return queryset.prefetch_related(None).values_list(*VERSION_COLUMNS)


def _developers(model_ids: Sequence[int]) -> dict[int, list[str]]:
    """Usernames of each model's developers, as the `developers` prefetch lists them (same join, same order)."""
    out: dict[int, list[str]] = defaultdict(list)
    if model_ids:
        users = get_user_model().objects.filter(developed_models__in=model_ids)
        for model_id, username in users.values_list("developed_models", "username"):
            out[model_id].append(username)
    return out


def models_out(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """ModelOut(many=True).data for rows of MODEL_COLUMNS."""
    developers = _developers([row[0] for row in rows])
    when = datetime_out()
    return [
        {
            "id": pk, "name": name, "title": title, "description": description, "owner": owner,
            "developers": developers.get(pk, []), "business_unit": unit, "intended_use": intended,
            "out_of_scope_uses": out_of_scope, "risk_tier": tier, "eu_ai_act_category": category, "tags": tags,
            "created_at": when(created), "updated_at": when(updated),
        }
        for (pk, name, title, description, owner, unit, intended, out_of_scope, tier, category, tags, created,
             updated) in rows
    ]


def _dataset_refs(relation: str, version_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """DatasetRef output of each version's `relation` (training or evaluation datasets), in the prefetch's
    order (the dataset versions' default ordering)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if version_ids:
        refs = DatasetVersion.objects.filter(**{f"{relation}__in": version_ids})
        for version_id, pk, dataset, number, sha256 in refs.values_list(relation, "id", "dataset__name", "version",
                                                                        "sha256"):
            out[version_id].append({"id": pk, "dataset": dataset, "version": number, "sha256": sha256})
    return out


def versions_out(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """VersionOut(many=True).data for rows of VERSION_COLUMNS."""
    ids = [row[0] for row in rows]
    training = _dataset_refs("trained_versions", ids)
    evaluation = _dataset_refs("evaluated_versions", ids)
    when = datetime_out()
    return [
        {
            "id": pk, "model": model, "version": number, "description": description, "stage": stage,
            "artifact_sha256": sha256, "artifact_size": size, "artifact_format": fmt, "framework": framework,
            "framework_version": framework_version, "hyperparameters": hyperparameters, "metrics": metrics,
            "code_repository": repository, "code_commit": commit, "python_version": python, "packages": packages,
            "training_datasets": training.get(pk, []), "evaluation_datasets": evaluation.get(pk, []),
            "parent": None if parent is None else {"id": parent, "model": parent_model, "version": parent_number},
            "created_by": created_by, "created_at": when(created), "updated_at": when(updated),
            "stage_changed_at": when(stage_changed),
        }
        for (pk, model, number, description, stage, sha256, size, fmt, framework, framework_version,
             hyperparameters, metrics, repository, commit, python, packages, parent, parent_model, parent_number,
             created_by, created, updated, stage_changed) in rows
    ]
