"""The machine-readable twin of a report: JSON-ready numbers, canonical bytes, digests, software versions."""

from __future__ import annotations

import hashlib
import math
import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import rfc8785

# Six decimals: finer than any threshold a policy sets, coarse enough that the last bits of floating-point
# summation order (BLAS, thread count) never reach the JSON, so the same inputs give the same bytes.
DIGITS = 6
PACKAGES = ("scikit-learn", "shap", "fairlearn", "reportlab", "matplotlib", "numpy", "pandas", "scipy")


def num(value: Any) -> float | None:
    """A finite float rounded to DIGITS, or None for missing, NaN and infinite values."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0: one spelling per number


def json_ready(value: Any) -> Any:
    """Recursively turn numpy and pandas scalars into str/int/float/bool/None, lists and str-keyed dicts."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return num(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def metrics_json_bytes(metrics: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON (sorted keys, one number format): the bytes whose SHA-256 the PDF prints."""
    return rfc8785.dumps(json_ready(metrics))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def software_versions() -> dict[str, str]:
    """Python and the libraries whose versions can change a report's numbers or its rendering."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
