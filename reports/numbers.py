"""Turning computed numbers into deterministic JSON values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DIGITS = 6


def num(value: Any) -> float | None:
    """A finite float rounded to a fixed precision, or None; the same inputs always give the same text."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, DIGITS) + 0.0


def clean(value: Any) -> Any:
    """Recursively make numpy and pandas values into plain JSON."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return num(value)
    return value
