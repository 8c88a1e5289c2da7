"""The jobs reports run in the sandbox, beside the loaded model (registry/sandbox/child.py). Imports no Django:
it runs in the child, and what it returns is checked by reports/loading.py before a report uses it."""

from __future__ import annotations

from typing import Any

import numpy as np

from registry.sandbox import wire
from reports.errors import ReportInputError
from reports.explain import compute_explanation

USER_ERRORS = (ReportInputError,)


def explain(model: Any, args: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
    X = wire.frame_from_wire(args["columns"], arrays, "x")
    metrics, ex = compute_explanation(model=model, X=X, **args["options"])
    spec, out = wire.frame_to_wire(ex.values, "v")
    out["shap"] = np.asarray(ex.shap_values, dtype=np.float64)
    return {"metrics": metrics, "features": ex.features, "base_value": ex.base_value, "values": spec}, out


JOBS = {"explain": explain}
