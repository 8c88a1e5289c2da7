"""A production batch's rows as the bytes its receipts hash: one CSV record per row, RFC 6962 leaves and root.

A row's line is the one `audit.format.receipt.row_line` writes from its cells (docs/audit-log.md, "Row receipts"):
missing (None, NaN, pd.NA) "", bool "true" / "false", integer decimal, float Python's `repr`, text as is, joined as
one CSV record (a cell holding ',', '"', CR or LF quoted, its '"' doubled; one empty cell written '""'), UTF-8.
Here the cells are rendered a column at a time and each row joined once, for a million rows in seconds;
`row_line`, cell by cell, is the reference, held equal by tests/monitoring/test_rows.py.

leaf = SHA-256(0x00 || line); the batch's root is RFC 6962's MTH over the leaves in row order (`root_of`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from audit.format.receipt import root_of

_sha256 = hashlib.sha256


def _cell(value: Any) -> str:
    """One cell of a column of mixed Python values."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return "" if math.isnan(f) else repr(f)
    raise ValueError(f"a cell holds a {type(value).__name__} ({value!r}): only text, numbers and booleans are rendered")


_QUOTED = frozenset(',"\r\n')


def _quoted(cells: list[str]) -> list[str]:
    return [c if _QUOTED.isdisjoint(c) else '"' + c.replace('"', '""') + '"' for c in cells]


def render_column(column: pd.Series) -> list[str]:
    """Each cell of a column as text, before CSV quoting."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return np.where(column.to_numpy(), "true", "false").tolist()
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return list(map(str, column.to_numpy().tolist()))
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = column.to_numpy(dtype=np.float64)
        cells = list(map(repr, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            cells[i] = ""
        return cells
    values = column.to_numpy(dtype=object, na_value=None).tolist()
    if isinstance(dtype, pd.StringDtype):
        return ["" if v is None else v for v in values]
    return [_cell(v) for v in values]


def _quotable(column: pd.Series) -> bool:
    """Whether a column's text can hold a quote or a comma: numbers and booleans never do."""
    dtype = column.dtype
    return not (isinstance(dtype, np.dtype) and dtype.kind in "biuf")


_TEXT = pa.large_string()
_QUOTE, _COMMA, _NOTHING = pa.scalar('"', _TEXT), pa.scalar(",", _TEXT), pa.scalar("", _TEXT)


def _text_cells(column: pd.Series) -> pa.Array:
    """A text column's cells, quoted where they must be, as one Arrow array: quoting and joining a million rows
    cell by cell in Python took four times as long as the rest of a batch's ingest."""
    cells = pc.fill_null(pa.array(column, type=_TEXT, from_pandas=True), _NOTHING)
    needs = pc.match_substring_regex(cells, '[,"\r\n]')
    if not pc.any(needs).as_py():
        return cells
    quoted = pc.binary_join_element_wise(_QUOTE, pc.replace_substring(cells, '"', '""'), _QUOTE, _NOTHING)
    return pc.if_else(needs, quoted, cells)


def render_lines(frame: pd.DataFrame) -> list[bytes]:
    """Each row of the frame as its CSV record in UTF-8 (the columns in the frame's order)."""
    if frame.shape[1] == 0:
        raise ValueError("a row needs at least one column")
    columns = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype) and not isinstance(column.dtype, np.dtype):
            columns.append(_text_cells(column))  # a CSV batch's cells, as the text its file holds
        else:
            cells = render_column(column)
            columns.append(pa.array(_quoted(cells) if _quotable(column) else cells, type=_TEXT))
    if len(columns) == 1:
        return [(c or '""').encode() for c in columns[0].to_pylist()]
    joined = pc.binary_join_element_wise(*columns, _COMMA)
    return [line.encode() for line in joined.to_pylist()]


def leaf_hashes(lines: Iterable[bytes]) -> bytes:
    """The RFC 6962 leaf hash of each line, SHA-256(0x00 || line), concatenated (32 bytes each)."""
    return b"".join([_sha256(b"\x00" + line).digest() for line in lines])


__all__ = ["leaf_hashes", "render_column", "render_lines", "root_of"]
