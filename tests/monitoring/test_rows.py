"""A batch's row encoding, leaves and root (monitoring.rows) against the receipt's reference
(audit.format.receipt.row_line), csv.writer where the two agree, and the naive RFC 6962 MTH."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.format.receipt import row_line
from audit.merkle import mth
from monitoring.rows import leaf_hashes, render_lines, root_of


def _record(cells: list[str]) -> bytes:
    """The reference line of rendered cells: the receipt's row_line (csv.writer's record, with CR and LF quoted)."""
    return row_line(cells)


def _writer(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode("utf-8")


def _by_hand(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def test_a_row_rendered_by_hand_is_csv_writers_record() -> None:
    frame = pd.DataFrame({
        "id": [7, 8], "amount": [1250.5, np.nan], "rate": [1e-05, 1e16], "ok": [True, False],
        "purpose": ['car, "new"', "naïve\nline"], "note": [None, ""],
    })
    lines = render_lines(frame)
    assert lines[0] == b'7,1250.5,1e-05,true,"car, ""new""",'
    assert lines[1] == '8,,1e+16,false,"naïve\nline",'.encode()
    assert lines[0] == _writer([_by_hand(v) for v in frame.astype(object).iloc[0]])
    for line, row in zip(lines, frame.astype(object).itertuples(index=False), strict=True):
        assert line == _record([_by_hand(v) for v in row])


def test_a_single_empty_cell_is_quoted_as_csv_writer_quotes_it() -> None:
    assert render_lines(pd.DataFrame({"a": ["", "x", None]})) == [_record([""]), b"x", _record([""])]


def test_nullable_and_mixed_columns() -> None:
    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "b": pd.array([None, True], dtype="boolean"),
                          "m": pd.Series([3, "x,y"], dtype=object), "s": pd.array(["a", None], dtype="string")})
    assert render_lines(frame) == [b"1,,3,a", b',true,"x,y",']


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20),
       st.lists(st.integers(-(2**63), 2**63 - 1), min_size=20, max_size=20), st.lists(st.booleans(), min_size=20,
                                                                                       max_size=20))
def test_typed_columns_render_as_their_python_values(floats: list[float], ints: list[int], bools: list[bool]) -> None:
    n = len(floats)
    frame = pd.DataFrame({"f": np.array(floats, dtype=np.float64), "i": np.array(ints[:n], dtype=np.int64),
                          "b": np.array(bools[:n], dtype=bool)})
    assert render_lines(frame) == [_record([_by_hand(f), str(i), _by_hand(b)])
                                   for f, i, b in zip(floats, ints, bools, strict=False)]


cells = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=5), st.integers(1, 3))
def test_any_rows_encode_as_csv_writer_writes_them(rows: list[list[Any]], width: int) -> None:
    rows = [r[:width] for r in rows]
    frame = pd.DataFrame({f"c{i}": pd.Series([r[i] for r in rows], dtype=object) for i in range(width)})
    assert render_lines(frame) == [_record([_by_hand(v) for v in r]) for r in rows]


@pytest.mark.parametrize("n", [*range(0, 40), 64, 65, 127, 1000])
def test_root_is_the_recursive_mth(n: int) -> None:
    lines = [f"{i},row".encode() for i in range(n)]
    leaves = leaf_hashes(lines)
    assert leaves == b"".join(hashlib.sha256(b"\x00" + line).digest() for line in lines)
    assert root_of(leaves) == mth([leaves[i:i + 32] for i in range(0, len(leaves), 32)])
