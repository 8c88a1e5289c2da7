"""Binary labels: which value of a target column is the positive class, decided once, at registration.

A label column is read as the text the file holds ("yes", "Y", "true", "good", "1"). The dataset
version records which of its values is positive; every reader maps labels through that record with
`positive_mask`, so registration and the reports can never disagree about what counts as 1.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
import pandas as pd

from config.errors import InvalidInput

# Written where nothing is declared and the column holds 0 and 1 (as 0/1, 0.0/1.0): the value 1 is positive.
DEFAULT_POSITIVE = "1"
# How many distinct values an error message names; a continuous column has thousands.
SHOWN = 20


def number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def matches(value: str, positive: str) -> bool:
    """The value is the positive label: the same text, or the same number ("1" and "1.0")."""
    if value == positive:
        return True
    a, b = number(value), number(positive)
    return a is not None and a == b


def describe(values: Collection[str], *, more: bool = False) -> str:
    found = sorted(values)
    shown = ", ".join(repr(v) for v in found[:SHOWN])
    return shown + (", ..." if more or len(found) > SHOWN else "")


def resolve_positive(values: Collection[str], declared: str, *, column: str, more: bool = False) -> str:
    """The positive label to record for a target column holding `values` (its distinct non-empty texts;
    `more` if there were more than were collected), or InvalidInput naming the values found."""
    if len(values) > 2 or more:
        raise InvalidInput(
            f"the target column {column!r} must hold two values, one of them the positive label; it holds "
            f"{'more than ' + str(len(values)) if more else len(values)}: {describe(values, more=more)}"
        )
    if not declared:
        if all(number(v) in (0.0, 1.0) for v in values):
            return DEFAULT_POSITIVE
        raise InvalidInput(
            f"the target column {column!r} holds {describe(values)}, not 0 and 1: declare which value is the "
            "positive label (positive_label)"
        )
    if not any(matches(v, declared) for v in values):
        raise InvalidInput(
            f"the declared positive label {declared!r} is not a value of the target column {column!r}; "
            f"it holds {describe(values)}"
        )
    return declared


def positive_mask(labels: pd.Series, positive: str) -> np.ndarray:
    """1 where a label (read as text) is the positive one, else 0."""
    text = labels.astype(str)
    mask = (text == positive).to_numpy()
    value = number(positive)
    if value is not None:
        mask = mask | (pd.to_numeric(text, errors="coerce") == value).to_numpy()
    return mask.astype(int)
