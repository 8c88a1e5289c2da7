"""Reading a dataset file's shape: rows, column schema, labels, required columns; bad files are refused.

The file is streamed: its header is checked from its first bytes (a bounded number of columns, each
name bounded) before anything else is read, and its rows are parsed in chunks whose size keeps the
cells held at once bounded, whatever the file's length or width. What is stored is one small entry
per column (name, type, empty cells): no values.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings

from config.errors import InvalidInput
from config.json_input import check_json_value
from registry import labels

# A column's name is shown in reports, messages and the admin: longer names are refused, not cut.
MAX_NAME = 200
# Cells parsed at once: a chunk's rows are this divided by the columns (a wide file reads fewer rows).
CHUNK_CELLS = 500_000
# The texts pandas reads as booleans.
_BOOLEAN_TEXT = {"True", "False", "TRUE", "FALSE", "true", "false"}


@dataclass(frozen=True)
class TableShape:
    row_count: int
    schema: list[dict[str, Any]]
    positive_label: str = ""


@contextmanager
def refuse_unreadable(subject: str, file_format: str = "CSV", *,
                      also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """A tabular file the parser cannot read, refused in the same words wherever it is read: `subject` is the file
    as the message names it, with its verb ("the dataset is", "the outcomes are"). A refusal raised inside passes as
    it is; `also` names more exceptions to refuse as unreadable."""
    try:
        yield
    except InvalidInput:
        raise
    except UnicodeDecodeError as exc:  # a ValueError: caught first, for its own message
        raise InvalidInput(f"{subject} not UTF-8 text: {exc.reason}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, *also) as exc:
        raise InvalidInput(f"{subject} not a readable {file_format} file: {str(exc)[:200]}") from exc


def max_columns() -> int:
    return int(settings.REGISTRY_MAX_DATASET_COLUMNS)


def header_bytes() -> int:
    """The most bytes a header within the bounds can take: every name at its longest, quoted, in UTF-8."""
    return max_columns() * (MAX_NAME * 4 + 3) + 2


def check_header(head: bytes, *, whole: bool) -> list[str]:
    """The column names from the first bytes of a CSV file (`whole`: the file ends within them), or a
    refusal: too many columns, a name too long, empty or repeated, or a header longer than its bound."""
    limit = max_columns()
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the dataset is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    ended = [whole]

    def lines() -> Iterator[str]:
        for line in text.removeprefix("\ufeff").splitlines(keepends=True):
            ended[0] = whole or line.endswith(("\n", "\r"))
            yield line

    try:
        # pandas skips blank lines before the header; so does this.
        columns = next((row for row in csv.reader(lines()) if row), None)
    except csv.Error as exc:
        if "field limit" in str(exc):  # the csv module's own bound on a field, far above MAX_NAME
            raise InvalidInput(f"a column name is longer than {MAX_NAME} characters") from exc
        raise InvalidInput(f"the dataset is not a readable CSV file: {exc}") from exc
    if columns is None:
        raise InvalidInput("the dataset is empty: it has no header")
    if len(columns) > limit:
        raise InvalidInput(
            f"the dataset has {'' if ended[0] else 'at least '}{len(columns)} columns; at most {limit} are "
            "accepted (REGISTRY_MAX_DATASET_COLUMNS)"
        )
    if not ended[0]:
        raise InvalidInput(
            f"the dataset's header is longer than {len(head)} bytes: at most {limit} columns of at most "
            f"{MAX_NAME} characters are accepted"
        )
    long = [c for c in columns if len(c) > MAX_NAME]
    if long:
        raise InvalidInput(f"a column name is longer than {MAX_NAME} characters: {long[0][:40]!r}...")
    if any(not c.strip() for c in columns):
        raise InvalidInput("the dataset has a column without a name")
    repeated = sorted({c for c in columns if columns.count(c) > 1}) if len(set(columns)) != len(columns) else []
    if repeated:
        raise InvalidInput(f"the dataset has duplicate column names: {', '.join(repeated[:10])}")
    # The schema is stored and logged: a column name with a NUL, which PostgreSQL cannot hold, is refused
    # here by name on every database, not as an out-of-range value by one of them.
    check_json_value(columns, name="the dataset's column names")
    return columns


def _read_header(path: Path) -> list[str]:
    size = header_bytes()
    with path.open("rb") as fh:
        head = fh.read(size + 1)
    return check_header(head[:size], whole=len(head) <= size)


def _kind(column: pd.Series) -> str:
    """A chunk's type of a column, as pandas infers it; 'empty' where the chunk has no value in it."""
    if column.isna().all():
        return "empty"
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    return "string"


def _text_kind(column: pd.Series) -> str:
    """The type pandas would infer for a column read as text (the target, whose labels are kept as written)."""
    values = column.dropna()
    if values.empty:
        return "empty"
    if values.isin(_BOOLEAN_TEXT).all():
        return "boolean" if len(values) == len(column) else "string"
    if pd.to_numeric(values, errors="coerce").isna().any():
        return "string"
    if len(values) == len(column) and values.str.fullmatch(r"\s*[+-]?\d+\s*").all():
        return "integer"
    return "number"


def _join(a: str, b: str) -> str:
    """Two chunks' types of one column joined as pandas types the whole column: an empty cell makes
    integers numbers (NaN is a float) and booleans text; mixed kinds are text."""
    if a == b:
        return a
    kinds = {a, b}
    if "string" in kinds or "boolean" in kinds:
        return "string"
    return "number"  # integer, number and empty in any mix


def inspect_csv(path: Path, *, target_column: str, sensitive_columns: list[str],
                positive_label: str = "") -> TableShape:
    columns = _read_header(path)
    missing = [c for c in [target_column, *sensitive_columns] if c and c not in columns]
    if missing:
        shown = ", ".join(columns[:50]) + (f" and {len(columns) - 50} more" if len(columns) > 50 else "")
        raise InvalidInput(f"the dataset has no column(s) {', '.join(missing)}; it has {shown}")
    if positive_label and not target_column:
        raise InvalidInput("a positive label is declared for a target column: name the target column")
    kinds: dict[str, str] = {}
    nulls = dict.fromkeys(columns, 0)
    values: set[str] = set()
    more = False
    rows = 0
    # The target is read as the text the file holds, so that its labels are what the file says.
    with (refuse_unreadable("the dataset is"),
          pd.read_csv(path, encoding="utf-8", chunksize=max(1, CHUNK_CELLS // len(columns)),
                      dtype={target_column: str} if target_column else None) as chunks):
        for chunk in chunks:
            if [str(c) for c in chunk.columns] != columns:
                raise InvalidInput("the dataset's header could not be read: its quoting is not consistent")
            rows += len(chunk)
            for c in columns:
                kind = _text_kind(chunk[c]) if c == target_column else _kind(chunk[c])
                kinds[c] = _join(kinds.get(c, kind), kind)
                nulls[c] += int(chunk[c].isna().sum())
            if target_column and not more:
                values.update(chunk[target_column].dropna().unique().tolist())
                more = len(values) > labels.SHOWN
                if more:
                    values = set(sorted(values)[:labels.SHOWN])
    if rows == 0:
        raise InvalidInput("the dataset has a header but no rows")
    positive = ""
    if target_column:
        if nulls[target_column]:
            raise InvalidInput(f"the target column {target_column!r} is empty in {nulls[target_column]} row(s): "
                               "every row needs its label")
        positive = labels.resolve_positive(values, positive_label, column=target_column, more=more)
    # A column empty throughout is read by pandas as floats (NaN).
    schema = [{"name": c, "type": "number" if kinds[c] == "empty" else kinds[c], "nulls": nulls[c]} for c in columns]
    return TableShape(row_count=rows, schema=schema, positive_label=positive)
