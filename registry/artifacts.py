"""Proving an upload is a model before anything is stored: its skops types, then a load and a prediction in the
sandbox on sample rows of its training data. What it found is kept with the version (`artifact_check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from config.errors import InvalidInput
from config.json_input import check_json_value
from registry.models import DatasetVersion
from registry.sandbox import skops_types, wire
from registry.sandbox.runner import Limits, SandboxError, Session, trusted_types

SAMPLE_ROWS = 20
MAX_NAMES_KEPT = 500


def _sample(datasets: list[DatasetVersion]) -> tuple[pd.DataFrame, DatasetVersion] | None:
    """A few rows of the first training dataset version whose file is held, its target column left out."""
    for dataset in datasets:
        if not dataset.file:
            continue
        with dataset.file.open("rb") as fh:
            frame = pd.read_csv(fh, nrows=SAMPLE_ROWS, encoding="utf-8", low_memory=False)
        return frame.drop(columns=[dataset.target_column], errors="ignore"), dataset
    return None


def _features(info: dict[str, Any], frame: pd.DataFrame, dataset: DatasetVersion) -> pd.DataFrame:
    names = info.get("feature_names")
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInput(f"the model expects column(s) {', '.join(missing)} that training dataset version "
                               f"{dataset} does not have (it has {', '.join(map(str, frame.columns))})"[:2000])
        return frame[names]
    expected = info.get("n_features_in")
    if expected is not None and expected != frame.shape[1]:
        raise InvalidInput(f"the model takes {expected} features; training dataset version {dataset} has "
                           f"{frame.shape[1]} columns besides its target ({', '.join(map(str, frame.columns))})"[:2000])
    return frame


def _predict_sample(session: Session, X: pd.DataFrame) -> int:
    spec, arrays = wire.frame_to_wire(X, "x")
    result, out = session.call("predict", {"columns": spec}, arrays)
    try:
        labels = wire.frame_from_wire(result.get("labels"), out, "y", rows=len(X))
    except wire.WireError as exc:
        raise SandboxError(f"the model's predictions are not data: {exc}") from exc
    proba = out.get("proba")
    if len(labels.columns) != 1 or (proba is not None and (proba.ndim != 2 or proba.shape[0] != len(X))):
        raise SandboxError(f"the model returned {len(labels)} predictions for {len(X)} rows")
    if proba is not None and not np.isfinite(proba).all():
        raise SandboxError("the model's predict_proba returned values that are not finite")
    return len(X)


def artifact_check(*, path: Path, artifact_format: str, training_datasets: list[DatasetVersion]) -> dict[str, Any]:
    """Load the file in the sandbox, see that it predicts (on sample training rows where a file is held), and
    return what was found; any failure is an InvalidInput naming it, before anything is stored."""
    types = trusted_types()
    if artifact_format == "skops":
        try:
            skops_types.check(path, types)
        except skops_types.SkopsRefused as exc:
            raise InvalidInput(str(exc)) from exc
    sample = _sample(training_datasets)
    limits = Limits.from_settings(timeout_seconds=settings.REGISTRY_SANDBOX_PROBE_TIMEOUT_SECONDS)
    try:
        with Session(artifact=path, fmt=artifact_format, limits=limits, types=types,
                     trust_pickle=settings.REGISTRY_TRUST_PICKLE) as session:
            info = session.info
            if not info.get("predict"):
                raise InvalidInput(f"the artifact is not a model: the {str(info.get('estimator'))[:100]} it holds "
                                   "has no predict method")
            rows = _predict_sample(session, _features(info, *sample)) if sample else 0
    except SandboxError as exc:
        raise InvalidInput(f"the artifact could not be used as a model: {exc}") from exc
    names, classes = info.get("feature_names"), info.get("classes")
    found = {
        "estimator": str(info.get("estimator"))[:200],
        "predict_proba": bool(info.get("predict_proba")),
        "features": len(names) if isinstance(names, list) else info.get("n_features_in"),
        # Names and classes come from the file: kept when short, and checked as any stored JSON is.
        "feature_names": names if isinstance(names, list) and len(names) <= MAX_NAMES_KEPT else None,
        "classes": classes if isinstance(classes, list) and len(classes) <= MAX_NAMES_KEPT else None,
        "sample": {"dataset_version": sample[1].pk, "rows": rows} if sample else None,
        "skops_trusted_types_sha256": skops_types.digest(types) if artifact_format == "skops" else None,
        "isolation": session.isolation,
    }
    check_json_value(found, name="the model's feature names and classes")
    return found
