"""Services for model versions: registration with artifact and lineage, edits, stage moves."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from audit import writer
from config.errors import InvalidInput
from registry.artifacts import artifact_check
from registry.models import ArtifactFormat, DatasetVersion, ModelVersion, RegisteredModel, Stage
from registry.rules import require_model_developer
from registry.services.common import apply_edits, validate_json_size
from registry.storage import check_artifact_format, spooled, store

EDITABLE = ("description",)
_SUFFIX = {"skops": ".skops", "onnx": ".onnx", "joblib": ".joblib", "pickle": ".pkl"}


def model_version_create(
    *,
    model: RegisteredModel,
    by: Any,
    artifact: IO[bytes],
    artifact_format: str,
    expected_sha256: str | None = None,
    framework: str = "",
    framework_version: str = "",
    hyperparameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    code_repository: str = "",
    code_commit: str = "",
    python_version: str = "",
    packages: dict[str, Any] | None = None,
    training_datasets: list[DatasetVersion] | None = None,
    evaluation_datasets: list[DatasetVersion] | None = None,
    parent: ModelVersion | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a version: stream the artifact, check digest and format, prove in the sandbox that it is a model
    taking the training data's columns, then store it and assign the next number."""
    require_model_developer(by, model, doing="register versions")
    if artifact_format not in ArtifactFormat.values:
        raise InvalidInput(f"artifact_format must be one of {', '.join(ArtifactFormat.values)}")
    for name, value in (("hyperparameters", hyperparameters), ("metrics", metrics), ("packages", packages)):
        if value is not None and not isinstance(value, dict):
            raise InvalidInput(f"{name} must be a JSON object")
        validate_json_size(value or {}, name=name)
    if parent is not None and parent.model_id != model.pk:
        raise InvalidInput("the parent version must belong to the same model")
    with spooled(
        artifact, max_bytes=settings.REGISTRY_MAX_ARTIFACT_BYTES, expected_sha256=expected_sha256, what="artifact"
    ) as spool:
        check_artifact_format(spool.path, artifact_format)
        checked = artifact_check(path=spool.path, artifact_format=artifact_format,
                                 training_datasets=list(training_datasets or []))
        stored = store(spool, prefix="artifacts", suffix=_SUFFIX[artifact_format])
        version = ModelVersion(
            model=model,
            description=description,
            artifact=stored,
            artifact_sha256=spool.sha256,
            artifact_size=spool.size,
            artifact_format=artifact_format,
            artifact_check=checked,
            framework=framework,
            framework_version=framework_version,
            hyperparameters=hyperparameters or {},
            metrics=metrics or {},
            code_repository=code_repository,
            code_commit=code_commit,
            python_version=python_version,
            packages=packages or {},
            parent=parent,
            created_by=by,
        )
        train_ids = sorted(d.pk for d in training_datasets or [])
        eval_ids = sorted(d.pk for d in evaluation_datasets or [])
        with writer.atomic():
            # The lock makes numbering safe when several clients register at once.
            locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
            version.version = (locked.versions.aggregate(n=Max("version"))["n"] or 0) + 1
            writer.save(
                version,
                extra_changes={
                    "training_datasets": {"old": None, "new": train_ids},
                    "evaluation_datasets": {"old": None, "new": eval_ids},
                },
            )
            with writer.permit_governed_writes():
                version.training_datasets.set(train_ids)
                version.evaluation_datasets.set(eval_ids)
    return version


def model_version_update(*, version: ModelVersion, by: Any, **edits: Any) -> ModelVersion:
    require_model_developer(by, version.model, doing="edit its versions")
    apply_edits(version, edits, editable=EDITABLE)
    writer.save(version)
    return version


def model_version_set_stage(*, version: ModelVersion, stage: str, promotion_request_id: int | None) -> ModelVersion:
    """Move a version to a stage. Called only by the governance workflow, which decides who may: the writer refuses
    the change outside the decision that applies an approved request (`writer.deciding()`, DECIDED_FIELDS)."""
    if stage not in Stage.values:
        raise InvalidInput(f"stage must be one of {', '.join(Stage.values)}")
    version.stage = stage
    version.stage_changed_at = timezone.now()
    writer.save(
        version,
        action="registry.modelversion.stage_change",
        extra_changes={"promotion_request": {"old": None, "new": promotion_request_id}},
    )
    return version
