"""Turning computed numbers into deterministic JSON values."""

from __future__ import annotations

import decimal
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


def num_toward(value: Any, op: str, digits: int = DIGITS) -> float | None:
    """A value rounded toward the failing side of a threshold it must meet with op ('>=' or '<=').

    Rounded to nearest, 0.79999996 would be written 0.8 and read as meeting '>= 0.8'; rounded down
    it is written 0.799999 and still fails. For a threshold with at most `digits` decimals the
    rounded value passes exactly when the value does, so a status decided on it is the true one."""
    if num(value) is None:
        return None
    rounding = decimal.ROUND_FLOOR if op == ">=" else decimal.ROUND_CEILING
    exact = decimal.Decimal(repr(float(value)))
    return float(exact.quantize(decimal.Decimal(1).scaleb(-digits), rounding=rounding)) + 0.0
