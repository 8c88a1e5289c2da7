"""Loading a registered artifact and its evaluation data safely: no code from an untrusted file ever runs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from config.errors import InvalidInput
from registry import labels as binary
from registry.models import DatasetVersion, ModelVersion
from reports.bias import age_group, normalise_groups
from reports.errors import ReportInputError

# skops refuses any type not listed as trusted; these prefixes are libraries whose objects are data.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.", "builtins.", "collections.", "pandas.core.dtypes.")


def _local_copy(field: Any, suffix: str) -> Path:
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115 - caller deletes
    with field.open("rb") as src, tmp:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            tmp.write(chunk)
    return Path(tmp.name)


class OnnxModel:
    """predict / predict_proba over an ONNX graph with onnxruntime (no Python code in the file runs)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()

    def _feed(self, X: pd.DataFrame) -> dict[str, Any]:
        if len(self.inputs) == 1:
            return {self.inputs[0].name: np.asarray(X, dtype=np.float32)}
        feed = {}
        for inp in self.inputs:
            if inp.name not in X.columns:
                raise ReportInputError(f"the ONNX model needs a column {inp.name!r} the data does not have")
            col = X[[inp.name]].to_numpy()
            feed[inp.name] = col.astype(np.float32) if "float" in inp.type else col.astype(str)
        return feed

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.session.run(None, self._feed(X))[0]).reshape(-1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        out = self.session.run(None, self._feed(X))
        probs = out[1] if len(out) > 1 else out[0]
        if isinstance(probs, list):  # zipmap output: a list of {label: p}
            return np.array([[row.get(0, 0.0), row.get(1, 0.0)] for row in probs])
        return np.asarray(probs)


def load_model(version: ModelVersion) -> Any:
    fmt = version.artifact_format
    path = _local_copy(version.artifact, f".{fmt}")
    try:
        if fmt == "skops":
            import skops.io as sio

            untrusted = sio.get_untrusted_types(file=str(path))
            refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
            if refused:
                raise ReportInputError(f"the skops file contains types that are not trusted: {', '.join(refused)}")
            return sio.load(str(path), trusted=untrusted)
        if fmt == "onnx":
            return OnnxModel(path)
        if fmt in ("joblib", "pickle"):
            if not settings.REGISTRY_TRUST_PICKLE:
                raise ReportInputError(f"{fmt} artifacts are not loaded: set REGISTRY_TRUST_PICKLE to trust them")
            import joblib

            return joblib.load(path)
        raise ReportInputError(f"unknown artifact format {fmt}")
    except ReportInputError:
        raise
    except Exception as exc:
        raise ReportInputError(f"the artifact could not be loaded: {str(exc)[:300]}") from exc
    finally:
        path.unlink(missing_ok=True)


def load_frame(dataset: DatasetVersion) -> pd.DataFrame:
    if not dataset.file:
        raise ReportInputError(f"dataset {dataset} is registered by URI only; its rows are not available here")
    target = dataset.target_column
    with dataset.file.open("rb") as fh:
        try:
            # The labels as the file writes them ("yes", "1"), as registration read them.
            return pd.read_csv(fh, dtype={target: str} if target else None)
        except Exception as exc:
            raise ReportInputError(f"dataset {dataset} cannot be read: {str(exc)[:200]}") from exc


def features(model: Any, frame: pd.DataFrame, dataset: DatasetVersion) -> pd.DataFrame:
    """The columns the model takes, in its order; the labels are neither needed nor read."""
    target = dataset.target_column
    inner = model
    while not hasattr(inner, "feature_names_in_") and hasattr(inner, "estimator"):
        inner = inner.estimator
    wanted = list(getattr(inner, "feature_names_in_", [c for c in frame.columns if c != target]))
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ReportInputError(f"the model needs column(s) the data lacks: {', '.join(map(str, missing))}")
    return frame[wanted]


def labels(frame: pd.DataFrame, dataset: DatasetVersion, frozen: dict[str, str] | None = None) -> np.ndarray:
    """The target as 0/1, 1 where it holds the positive label: as frozen with the report's request
    (config["labels"]), or the dataset version's for a request from before labels were frozen."""
    target = frozen["target_column"] if frozen else dataset.target_column
    if not target or target not in frame.columns:
        raise ReportInputError(f"the evaluation dataset has no target column {target!r}")
    column = frame[target]
    if column.isna().any():
        raise ReportInputError(f"target column {target!r} is empty in {int(column.isna().sum())} row(s)")
    positive = frozen["positive_label"] if frozen else dataset.positive_label
    if not positive:
        # Registered before a positive label was recorded, when only 0/1 columns were meant to be accepted.
        y = pd.to_numeric(column, errors="coerce")
        if y.isna().any() or not set(y.unique()) <= {0, 1}:
            raise ReportInputError(f"target column {target!r} must hold only 0 and 1")
        return y.astype(int).to_numpy()
    values = set(column.astype(str).unique().tolist())
    try:
        binary.resolve_positive(values, positive, column=target)
    except InvalidInput as exc:  # the file under a recorded digest is the one registered: a guard only
        raise ReportInputError(str(exc)) from exc
    return binary.positive_mask(column, positive)


def describe_labels(frozen: dict[str, str] | None, dataset: DatasetVersion) -> str:
    """How the labels were read, for the report's Data section."""
    target = frozen["target_column"] if frozen else dataset.target_column
    positive = frozen["positive_label"] if frozen else dataset.positive_label
    if not positive:
        return f"Labels: column {target}, read as 0 and 1."
    return (f"Labels: column {target}; the value {positive!r} is counted as 1 (the favourable outcome), its other "
            "value as 0.")


def features_and_labels(model: Any, frame: pd.DataFrame, dataset: DatasetVersion,
                        frozen: dict[str, str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    y = labels(frame, dataset, frozen)
    return features(model, frame, dataset), y


# An age column by its name: "age" as a word of it ("age", "Age", "applicant_age", "age_years"), not inside
# another word ("usage", "mileage", "percentage", "stage"), whose numbers bucketed as ages would be nonsense.
_AGE = re.compile(r"(?<![a-z])age(?![a-z])").search


def sensitive_frame(frame: pd.DataFrame, dataset: DatasetVersion) -> pd.DataFrame:
    columns = list(dataset.sensitive_columns or [])
    if not columns:
        raise ReportInputError("the evaluation dataset names no sensitive columns")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(f"sensitive column(s) missing from the data: {', '.join(missing)}")
    out = {}
    for c in columns:
        if pd.api.types.is_numeric_dtype(frame[c]) and _AGE(c.lower()):
            out[f"{c} group"] = age_group(frame[c])
        elif pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 10:
            raise ReportInputError(f"sensitive column {c!r} is numeric with many values; bucket it first")
        else:
            out[c] = normalise_groups(frame[c])
    return pd.DataFrame(out)


def predict(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        y_pred = np.asarray(model.predict(X)).astype(int)
        y_score = np.asarray(model.predict_proba(X))[:, 1] if hasattr(model, "predict_proba") else None
    except ReportInputError:
        raise
    except Exception as exc:
        raise ReportInputError(f"the model cannot predict on this data: {str(exc)[:300]}") from exc
    return y_pred, y_score
