"""Reading a dataset file's shape: rows, column schema, required columns; bad files are refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import InvalidInput
from config.json_input import check_json_value


@dataclass(frozen=True)
class TableShape:
    row_count: int
    schema: list[dict[str, Any]]


def _kind(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    return "string"


def inspect_csv(path: Path, *, target_column: str, sensitive_columns: list[str]) -> TableShape:
    try:
        frame = pd.read_csv(path, encoding="utf-8", low_memory=False)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the dataset is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(f"the dataset is not a readable CSV file: {str(exc)[:200]}") from exc
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise InvalidInput("the dataset has duplicate column names")
    if any(c.startswith("Unnamed:") for c in columns):
        raise InvalidInput("the dataset has a column without a name")
    missing = [c for c in [target_column, *sensitive_columns] if c and c not in columns]
    if missing:
        raise InvalidInput(f"the dataset has no column(s) {', '.join(missing)}; it has {', '.join(columns)}")
    if len(frame) == 0:
        raise InvalidInput("the dataset has a header but no rows")
    schema = [
        {"name": c, "type": _kind(frame[c].dtype), "nulls": int(frame[c].isna().sum())} for c in columns
    ]
    # The schema is stored and logged: a column name with a NUL, which PostgreSQL cannot hold, is refused
    # here by name on every database, not as an out-of-range value by one of them.
    check_json_value(schema, name="the dataset's column names")
    return TableShape(row_count=len(frame), schema=schema)
