"""Binary labels read as text, with no Django and no project configuration: the sandboxed child reads a model's
predictions through these (registry/labels.py decides the positive label at registration and re-exports them).
Importing `config` here would import the Celery app, which puts its working directory on sys.path: in the child
that is "/", which the Landlock rules would then open to reading."""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
import pandas as pd

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


def positive_mask(labels: pd.Series, positive: str) -> np.ndarray:
    """1 where a label (read as text) is the positive one, else 0."""
    if labels.dtype.kind in "biuf" and len(labels) > 1000:
        # A model's predictions hold a few distinct numbers: each is read once, then spread to its rows. (Only for
        # numbers: values an object column holds as equal, 1 and True, read differently as text.)
        codes, uniques = pd.factorize(labels, use_na_sentinel=False)
        # Only if the values come back in the column's own dtype: factorize gives float16 ones back as float64,
        # whose text differs (0.1 reads "0.0999755859375").
        if uniques.dtype == labels.dtype:
            return _positive_mask_text(pd.Series(uniques), positive)[codes]
    return _positive_mask_text(labels, positive)


def _positive_mask_text(labels: pd.Series, positive: str) -> np.ndarray:
    text = labels.astype(str)
    mask = (text == positive).to_numpy()
    value = number(positive)
    if value is not None:
        mask = mask | (pd.to_numeric(text, errors="coerce") == value).to_numpy()
    return mask.astype(int)
