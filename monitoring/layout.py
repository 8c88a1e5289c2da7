"""What a production batch of a version must hold: the model's features with their types (from the version's data),
its row id and score columns, optionally its predicted class, and the sensitive columns its bias report groups by."""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import InvalidInput
from registry.models import DatasetVersion, ModelVersion


@dataclass(frozen=True)
class Layout:
    """What a batch of a version must hold: the model's features (with their types, from the version's data), the
    row id and score columns, optionally its predicted class, and the sensitive columns its bias report groups by."""

    features: dict[str, str]
    row_id: str
    score: str
    prediction: str
    sensitive: tuple[str, ...]

    def required(self) -> list[str]:
        # The sensitive columns too: a batch without them would switch fairness monitoring off.
        return [self.row_id, *self.features, self.score, *self.sensitive]

    def allowed(self) -> set[str]:
        return {*self.required(), *([self.prediction] if self.prediction else []), *self.sensitive}


def reference_dataset(version: ModelVersion) -> DatasetVersion | None:
    """The data whose schema types the version's features: its first training dataset held as a file, else its first
    evaluation dataset."""
    for related in (version.training_datasets, version.evaluation_datasets):
        found = related.exclude(schema=[]).order_by("id").first()
        if found is not None:
            return found
    return None


def layout_of(version: ModelVersion, *, row_id: str, score: str, prediction: str) -> Layout:
    dataset = reference_dataset(version)
    if dataset is None:
        raise InvalidInput(f"{version} names no training or evaluation dataset with a schema: monitoring needs the "
                           "features' types to check a batch against")
    types = {c["name"]: c["type"] for c in dataset.schema}
    names = (version.artifact_check or {}).get("feature_names")
    features = [str(n) for n in names] if isinstance(names, list) and names else [
        c for c in types if c != dataset.target_column]
    unknown = [f for f in features if f not in types]
    if unknown:
        raise InvalidInput(f"the model's features {', '.join(unknown[:10])} are not in {dataset}'s schema")
    names_given = {"row_id_column": row_id, "score_column": score, "prediction_column": prediction}
    for key, value in names_given.items():
        if not isinstance(value, str) or len(value) > 120 or (key != "prediction_column" and not value):
            raise InvalidInput(f"{key} must be a column name of at most 120 characters")
        if value and value in features:
            raise InvalidInput(f"{key} {value!r} is one of the model's features; name the batch's own column")
    if len({row_id, score, prediction} - {""}) != len([v for v in (row_id, score, prediction) if v]):
        raise InvalidInput("row_id_column, score_column and prediction_column must be different columns")
    evaluation = version.evaluation_datasets.order_by("-id").first()
    sensitive = tuple(c for c in (evaluation.sensitive_columns if evaluation else []) if c not in features)
    return Layout({f: types[f] for f in features}, row_id, score, prediction, sensitive)


