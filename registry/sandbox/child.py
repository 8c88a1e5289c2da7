"""The sandboxed child's side: load one artifact, then answer jobs about it over the socket until it closes.

Runs in the child the zygote forks (registry/sandbox/zygote.py), after its isolation is in place. Imports no Django
and sends back only JSON and numeric arrays. Jobs beyond `load` and `predict` come from modules the parent names
(reports adds `explain`); each is a function (model, args, arrays) -> (result, arrays).
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.sandbox import skops_types, wire

Job = Callable[[Any, dict[str, Any], dict[str, np.ndarray]], tuple[dict[str, Any], dict[str, np.ndarray]]]
# What the parent may send: the rows to predict on, at most this many bytes in one message.
MAX_REQUEST = 4 * 1024 * 1024 * 1024


class JobError(Exception):
    """A job that cannot be done, with a message for the person who registered the artifact."""


class OnnxModel:
    """predict / predict_proba over an ONNX graph with onnxruntime (no Python code in the file runs)."""

    def __init__(self, path: Path) -> None:
        import onnx
        import onnxruntime as ort

        try:
            proto = onnx.load(str(path), load_external_data=False)
            onnx.checker.check_model(proto)
        except Exception as exc:
            raise JobError(f"the file is not a valid ONNX model: {str(exc)[:300]}") from exc
        if not proto.graph.node or not proto.graph.input or not proto.graph.output:
            raise JobError("the ONNX file holds no model: its graph has no nodes, inputs or outputs")
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        if len(self.inputs) > 1:
            self.feature_names_in_ = np.array([i.name for i in self.inputs], dtype=object)

    def _feed(self, X: pd.DataFrame) -> dict[str, Any]:
        if len(self.inputs) == 1:
            return {self.inputs[0].name: np.asarray(X, dtype=np.float32)}
        feed = {}
        for inp in self.inputs:
            if inp.name not in X.columns:
                raise JobError(f"the ONNX model needs a column {inp.name!r} the data does not have")
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


def _json_scalar(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (bool, int, str)) or (isinstance(value, float) and np.isfinite(value)):
        return value
    return str(value)


def feature_names(model: Any) -> list[str] | None:
    """The columns the model was fitted on, looking inside threshold and calibration wrappers."""
    inner = model
    for _ in range(10):
        if hasattr(inner, "feature_names_in_") or not hasattr(inner, "estimator"):
            break
        inner = inner.estimator
    names = getattr(inner, "feature_names_in_", None)
    return None if names is None else [str(n) for n in list(names)]


def describe(model: Any, fmt: str) -> dict[str, Any]:
    classes = getattr(model, "classes_", None)
    n_features = getattr(model, "n_features_in_", None)
    return {
        "format": fmt,
        "estimator": type(model).__name__,
        "predict": callable(getattr(model, "predict", None)),
        "predict_proba": callable(getattr(model, "predict_proba", None)),
        "feature_names": feature_names(model),
        "n_features_in": int(n_features) if isinstance(n_features, (int, np.integer)) else None,
        "classes": None if classes is None else [_json_scalar(c) for c in list(classes)[:1000]],
    }


def load(args: dict[str, Any]) -> Any:
    path, fmt = Path(args["path"]), args["format"]
    if fmt == "skops":
        # Checked again here, with the list the parent sent: a file that reached the child some other way than
        # through registration is refused before any of it is constructed.
        try:
            names = skops_types.check(path, args["trusted_types"])
        except skops_types.SkopsRefused as exc:
            raise JobError(str(exc)) from exc
        import skops.io as sio

        return sio.load(path, trusted=sorted(names))
    if fmt == "onnx":
        return OnnxModel(path)
    if fmt in ("joblib", "pickle"):
        if not args.get("trust_pickle"):
            raise JobError(f"{fmt} artifacts are not loaded: set REGISTRY_TRUST_PICKLE to trust them")
        import joblib

        return joblib.load(path)
    raise JobError(f"unknown artifact format {fmt}")


def predict(model: Any, args: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
    X = wire.frame_from_wire(args["columns"], arrays, "x")
    try:
        labels = np.asarray(model.predict(X)).reshape(-1)
        proba = (np.asarray(model.predict_proba(X), dtype=np.float64)
                 if args.get("scores", True) and callable(getattr(model, "predict_proba", None)) else None)
    except JobError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise JobError(f"the model cannot predict on this data: {type(exc).__name__}: {str(exc)[:300]}") from exc
    spec, out = wire.frame_to_wire(pd.DataFrame({"y": labels}), "y")
    if proba is not None:
        out["proba"] = proba
    classes = getattr(model, "classes_", None)
    return {"labels": spec, "classes": None if classes is None else [_json_scalar(c) for c in list(classes)]}, out


def serve(sock: socket.socket, modules: list[str]) -> None:
    jobs: dict[str, Job] = {"predict": predict}
    said: tuple[type[Exception], ...] = (JobError,)  # errors whose message is meant for the reader as it is
    for name in modules:
        module = importlib.import_module(name)
        jobs.update(module.JOBS)
        said += tuple(getattr(module, "USER_ERRORS", ()))
    model: Any = None
    while True:
        try:
            header, arrays = wire.recv(sock, limit=MAX_REQUEST)
        except wire.Closed:
            return
        job, args = header.get("job"), header.get("args") or {}
        try:
            if job == "load":
                model = load(args)
                wire.send(sock, {"ok": True, "result": describe(model, args["format"])})
                continue
            if model is None or job not in jobs:
                raise JobError(f"no such job {job!r}" if model is not None else "no artifact loaded")
            result, out = jobs[job](model, args, arrays)
            wire.send(sock, {"ok": True, "result": result}, out)
        except MemoryError:
            wire.send(sock, {"ok": False, "reason": "memory", "error": "the model ran out of memory"})
        except said as exc:
            wire.send(sock, {"ok": False, "error": str(exc)[:2000]})
        except Exception as exc:
            wire.send(sock, {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:1000]}"})
