"""Loading a registered artifact and its evaluation data. The artifact is never deserialised in this process: it
is loaded in the sandbox (registry/sandbox/), and what comes back is checked here before a report uses it."""

from __future__ import annotations

import hashlib
import io
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from config.errors import InvalidInput
from registry import labels as binary
from registry.models import DatasetVersion, ModelVersion
from registry.sandbox import wire
from registry.sandbox.runner import Limits, SandboxError, Session, trusted_types
from reports.bias import is_age, sensitive_groups
from reports.errors import ReportInputError
from reports.explain import ExplanationArrays

JOB_MODULES = ("reports.sandbox_jobs",)


class SandboxedModel:
    """An artifact loaded in a sandboxed child: what it is, and the jobs run on it there. Close it (or use it as a
    context manager); one left open is closed when it is collected, and the child ends with this process."""

    def __init__(self, session: Session) -> None:
        self.session = session
        info = session.info
        self.estimator = str(info.get("estimator"))
        self.feature_names: list[str] | None = info.get("feature_names")
        self.has_predict_proba = bool(info.get("predict_proba"))
        self.classes = info.get("classes")
        self._finalizer = weakref.finalize(self, session.close)

    @property
    def isolation(self) -> dict[str, str]:
        return {**self.session.isolation, "limits": self.session.limits.describe()}

    def run(self, job: str, args: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        try:
            return self.session.call(job, args, arrays)
        except SandboxError as exc:
            raise ReportInputError(str(exc)) from exc

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> SandboxedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_model(path: Path, fmt: str) -> SandboxedModel:
    """Load the artifact at `path` in a new sandboxed child."""
    session = Session(artifact=path, fmt=fmt, limits=Limits.from_settings(), modules=JOB_MODULES,
                      trust_pickle=settings.REGISTRY_TRUST_PICKLE, types=trusted_types())
    try:
        session.open()
    except SandboxError as exc:
        raise ReportInputError(f"the artifact could not be loaded: {exc}") from exc
    return SandboxedModel(session)


class _Digesting(io.RawIOBase):
    """A file read through, its SHA-256 taken of every byte read."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.sha = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.raw.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.sha.update(chunk)
        return len(chunk)

    def hexdigest(self) -> str:
        """The digest of the whole file: what was not read yet is read now."""
        while chunk := self.raw.read(1 << 20):
            self.sha.update(chunk)
        return self.sha.hexdigest()


def _check_digest(what: str, found: str, registered: str) -> None:
    # The stored file is what a report measures, and registration recorded its digest: a file replaced in storage
    # since (another model, other labels) would be measured under the registered one's name.
    if found != registered:
        raise ReportInputError(f"the stored {what} is not the one registered: its SHA-256 is {found}, the registry "
                               f"recorded {registered}; it was replaced in storage and is not used")


def load_model(version: ModelVersion) -> SandboxedModel:
    fmt = version.artifact_format
    with tempfile.TemporaryDirectory(prefix="modelgov-artifact-") as tmp:
        path = Path(tmp) / f"artifact.{fmt}"
        with version.artifact.open("rb") as src, path.open("wb") as dst:
            reader = _Digesting(src)
            while chunk := reader.read(1 << 20):
                dst.write(chunk)
            found = reader.hexdigest()
        _check_digest(f"artifact of {version}", found, version.artifact_sha256)
        return open_model(path, fmt)


def load_frame(dataset: DatasetVersion) -> pd.DataFrame:
    if not dataset.file:
        raise ReportInputError(f"dataset {dataset} is registered by URI only; its rows are not available here")
    target = dataset.target_column
    with dataset.file.open("rb") as fh:
        reader = _Digesting(fh)
        try:
            # The labels as the file writes them ("yes", "1"), as registration read them.
            frame = pd.read_csv(reader, dtype={target: str} if target else None)
        except Exception as exc:
            raise ReportInputError(f"dataset {dataset} cannot be read: {str(exc)[:200]}") from exc
        _check_digest(f"file of dataset {dataset}", reader.hexdigest(), dataset.sha256)
    return frame


def features(model: SandboxedModel, frame: pd.DataFrame, dataset: DatasetVersion) -> pd.DataFrame:
    """The columns the model takes, in its order; the labels are neither needed nor read."""
    target = dataset.target_column
    wanted = model.feature_names or [c for c in frame.columns if c != target]
    if target and target in wanted:
        # A model handed the answer measures perfectly: the labels are never a feature.
        raise ReportInputError(f"the model takes the target column {target!r} as a feature: the labels it would be "
                               "measured against are never sent to it")
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


def features_and_labels(model: SandboxedModel, frame: pd.DataFrame, dataset: DatasetVersion,
                        frozen: dict[str, str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    y = labels(frame, dataset, frozen)
    return features(model, frame, dataset), y


def sensitive_frame(frame: pd.DataFrame, dataset: DatasetVersion) -> pd.DataFrame:
    columns = list(dataset.sensitive_columns or [])
    if not columns:
        raise ReportInputError("the evaluation dataset names no sensitive columns")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(f"sensitive column(s) missing from the data: {', '.join(missing)}")
    out = {}
    for c in columns:
        if pd.api.types.is_numeric_dtype(frame[c]) and not is_age(c, frame[c]) and frame[c].nunique() > 10:
            raise ReportInputError(f"sensitive column {c!r} is numeric with many values; bucket it first")
        name, groups = sensitive_groups(c, frame[c])
        out[name] = groups
    return pd.DataFrame(out)


def _out_of_format(what: str) -> ReportInputError:
    return ReportInputError(f"the sandbox's answer is out of format: {what}")


def positive_label(frozen: dict[str, str] | None, dataset: DatasetVersion) -> str:
    """The label counted as 1: as frozen with the request, the dataset version's, or "1" for 0/1 labels."""
    positive = frozen["positive_label"] if frozen else dataset.positive_label
    return positive or binary.DEFAULT_POSITIVE


def declared_positive(frozen: dict[str, str] | None, dataset: DatasetVersion) -> str | None:
    """The positive label if the data declares one (frozen with the request, or the dataset version's); None for
    data without labels, whose explanation takes the model's second class as the favourable one and says so."""
    return (frozen["positive_label"] if frozen else dataset.positive_label) or None


def predict(model: SandboxedModel, X: pd.DataFrame, positive: str = binary.DEFAULT_POSITIVE,
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions as 0/1 (1 where the model predicts the positive label) and P(positive label) where the model
    gives scores, from the sandbox, checked row for row. The model speaks its own labels ("yes", 0 and 1): they
    are read through the positive label as the data's are, so a favourable outcome written 0 is not inverted; a
    model whose classes are 0 and 1 while the data's labels are other texts was fitted on them read as 0/1."""
    spec, arrays = wire.frame_to_wire(X, "x")
    result, out = model.run("predict", {"columns": spec}, arrays)
    try:
        labels = wire.frame_from_wire(result.get("labels"), out, "y", rows=len(X))
    except wire.WireError as exc:
        raise _out_of_format(str(exc)) from exc
    if labels.shape != (len(X), 1):
        raise _out_of_format(f"{labels.shape[0]} predictions for {len(X)} rows")
    raw = labels.iloc[:, 0]
    said = set(raw.astype(str).unique().tolist())
    classes = result.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != 2):
        raise ReportInputError(f"the model is not a binary classifier: its classes are {str(classes)[:200]}")
    known = [str(c) for c in classes] if classes is not None else [binary.DEFAULT_POSITIVE]
    if len(said) > 2 or raw.isna().any() or (classes is not None and not said <= set(known)):
        raise ReportInputError(f"the model cannot predict on this data: it predicted {binary.describe(said)}, "
                               f"not its classes {', '.join(map(repr, known))}"[:2000])
    if classes is not None and not any(binary.matches(c, positive) for c in known):
        if {binary.number(c) for c in known} != {0.0, 1.0}:
            raise ReportInputError(f"the model's classes {', '.join(map(repr, known))} do not include the data's "
                                   f"positive label {positive!r}")
        positive = binary.DEFAULT_POSITIVE  # fitted on the labels already read as 0/1: its 1 is the positive one
    if classes is None and not all(binary.matches(v, "0") or binary.matches(v, "1") for v in said):
        raise ReportInputError(f"the model cannot predict on this data: its predictions are not 0/1 numbers "
                               f"({binary.describe(said)})"[:2000])
    y_pred = binary.positive_mask(raw, positive)
    proba = out.get("proba")
    if proba is None:
        return y_pred, None
    wide = 2 if classes is not None else max(2, proba.shape[1] if proba.ndim == 2 else 0)
    if proba.ndim != 2 or proba.shape != (len(X), wide):
        raise _out_of_format(f"predict_proba gave an array of shape {proba.shape} for {len(X)} rows")
    column = next(i for i, c in enumerate(known) if binary.matches(c, positive)) if classes is not None else 1
    y_score = np.asarray(proba[:, column], dtype=float)
    if not np.isfinite(y_score).all() or y_score.min(initial=0.0) < -1e-9 or y_score.max(initial=0.0) > 1 + 1e-9:
        raise ReportInputError("the model's predict_proba gave values that are not probabilities (outside 0..1)")
    return y_pred, y_score


def explain(model: SandboxedModel, X: pd.DataFrame, **options: Any) -> tuple[dict[str, Any], ExplanationArrays]:
    """reports.explain.compute_explanation, run in the sandbox beside the model; its answer checked here."""
    spec, arrays = wire.frame_to_wire(X, "x")
    result, out = model.run("explain", {"columns": spec, "options": options}, arrays)
    metrics, features, base = result.get("metrics"), result.get("features"), result.get("base_value")
    if not isinstance(metrics, dict) or metrics.get("kind") != "explainability":
        raise _out_of_format("no explainability metrics")
    if not isinstance(features, list) or not all(isinstance(f, str) and len(f) <= 1000 for f in features):
        raise _out_of_format("the features are not a list of names")
    shap_values = out.get("shap")
    if shap_values is None or shap_values.ndim != 2 or shap_values.shape[1] != len(features) or shap_values.shape[
            0] > len(X) or not np.isfinite(shap_values).all():
        raise _out_of_format("the SHAP values are not a finite array of one column per feature")
    if not isinstance(base, (int, float)) or isinstance(base, bool) or not np.isfinite(base):
        raise _out_of_format("the base value is not a number")
    try:
        values = wire.frame_from_wire(result.get("values"), out, "v", rows=shap_values.shape[0])
    except wire.WireError as exc:
        raise _out_of_format(str(exc)) from exc
    if list(values.columns) != features:
        raise _out_of_format("the feature values do not match the features")
    ranked = metrics.get("global_importance")
    if not isinstance(ranked, list) or not all(isinstance(g, dict) and g.get("feature") in features for g in ranked):
        raise _out_of_format("the importance ranking names features that were not explained")
    local = metrics.get("local")
    return metrics, ExplanationArrays(features=features, shap_values=shap_values, values=values,
                                      base_value=float(base), local=local if isinstance(local, list) else [])
