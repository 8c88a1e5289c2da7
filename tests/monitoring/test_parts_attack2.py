"""What a second adversarial review of one batch measured in parts found (after tests/monitoring/test_parts_attack.py),
each held: groups and Parquet integers read the same in parts and in one pass, unreadable Parquet a 400, the byte
check linear in numpy."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from audit.format.receipt import row_leaf
from audit.format.receipt import row_line as reference_line
from config.errors import InvalidInput
from monitoring import files, measure
from monitoring.models import Batch, Evaluation
from tests.monitoring.helpers import committed, frame, send
from tests.monitoring.test_parts import _close
from tests.monitoring.test_parts_attack import _results, world

pytestmark = pytest.mark.django_db


__all__ = ["world"]  # the fixture this module uses


def _data(rows: int, seed: int) -> pd.DataFrame:
    data = frame(rows, seed)
    data.insert(0, "row_id", [f"r{i}" for i in range(rows)])
    return data.drop(columns=["risk"])


# ---------------------------------------------------------------------------------------------------------------
# A1. A sensitive column's groups are decided per chunk (measure._sensitive: "numbers where every cell is one"), and
#     a part's chunks are not the one pass's: where part boundaries are not multiples of files.CHUNK_ROWS (the
#     defaults: parts of 250,000 rows, chunks of 100,000), rows 200,000-250,000 are one chunk in a part and half
#     of one in the one pass. A coded group ("01", "02": census-style codes) with one empty cell in a chunk stays
#     "01"; in a chunk without one it becomes the number 1, named "1". The merged fairness differs from one pass.
# ---------------------------------------------------------------------------------------------------------------


@override_settings(MONITORING_PART_ROWS=150)
def test_coded_groups_are_the_same_groups_in_parts_and_in_one_pass(world: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(files, "CHUNK_ROWS", 100)  # as the defaults, scaled down: 100,000 and 250,000
    people, version = world
    data = _data(600, seed=41)
    data["sex"] = np.where(np.arange(600) % 2 == 0, "01", "02")
    data.loc[120, "sex"] = ""  # one row whose group is not known
    batch = send(version, people.dev, data.to_csv(index=False).encode())
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.parts.count() == 4
    one_pass = measure.measure(evaluation)
    merged = _results(evaluation)
    # One pass: rows 100-199 are one chunk with the empty cell, "01"/"02"; in parts 150-199 share a chunk without
    # one, "1"/"2". (Either way one group is split in two by the chunking: "01" and "1" are one group.)
    sizes = {g: row["n"] for g, row in merged["fairness"]["sex"]["groups"].items()}
    assert sizes == {g: row["n"] for g, row in one_pass["fairness"]["sex"]["groups"].items()}
    _close(merged, one_pass)


# ---------------------------------------------------------------------------------------------------------------
# A2. Parquet: pyarrow's iter_batches runs across row groups, and a batch of an int64 column holding a null is read
#     by pandas as float64. So a row's integers are "7" or "7.0" by which other rows share its chunk: the one pass
#     (and ingest) read rows 300-499 in one chunk with row 0's null, the part holding row group 1 reads them alone.
#     Categorical features and groups of such a column differ between parts and one pass.
# ---------------------------------------------------------------------------------------------------------------


def _parquet_int_codes(rows: int = 900, group: int = 300) -> tuple[bytes, pa.Table]:
    data = _data(rows, seed=42)
    # As Spark, DuckDB or Arrow itself write it: no pandas metadata to restore an object column from.
    table = pa.Table.from_pandas(data, preserve_index=False).replace_schema_metadata(None)
    codes = pa.array([None, *[i % 2 for i in range(1, rows)]], type=pa.int64())  # sex coded 0/1, row 0 unknown
    table = table.set_column(table.schema.get_field_index("sex"), "sex", codes)
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=group)
    return out.getvalue(), table


@override_settings(MONITORING_PART_ROWS=300)
def test_parquet_integer_groups_are_the_same_in_parts_and_in_one_pass(world: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(files, "CHUNK_ROWS", 500)  # batches run across the row groups of 300
    people, version = world
    content, _ = _parquet_int_codes()
    batch = send(version, people.dev, content, file_format="parquet")
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.parts.count() == 3
    one_pass = measure.measure(evaluation)
    merged = _results(evaluation)
    sizes = {g: row["n"] for g, row in merged["fairness"]["sex"]["groups"].items()}
    assert sizes == {g: row["n"] for g, row in one_pass["fairness"]["sex"]["groups"].items()}
    _close(merged, one_pass)


def test_a_parquet_integer_cell_is_receipted_as_an_integer(world: Any) -> None:
    # docs/audit-log.md: "an integer in decimal". Every row sharing a 100,000-row chunk with one null of an int64
    # column has its integers receipted as floats ("1.0"): a verifier rendering the row from the file (pyarrow
    # gives int 1) gets another line and another leaf.
    people, version = world
    content, table = _parquet_int_codes(rows=600, group=600)
    batch = send(version, people.dev, content, file_format="parquet")
    with batch.leaves.open("rb") as fh:
        leaves = fh.read()
    row = table.slice(5, 1).to_pylist()[0]
    line = reference_line([row[c] for c in batch.columns])
    assert b",1," in line
    assert leaves[32 * 5:32 * 6] == row_leaf(line), "row 5's leaf is not its documented line's"


# ---------------------------------------------------------------------------------------------------------------
# C1. Errors a Parquet file's reader raises that are neither ValueErrors nor ParserErrors leave ingest as a 500:
#     a damaged data page (OSError: "Couldn't deserialize thrift"), a pandas metadata block of the wrong shape
#     (KeyError / TypeError from to_pandas). check_parquet and header read only the footer and pass such a file.
# ---------------------------------------------------------------------------------------------------------------


def _damaged_page() -> bytes:
    content = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(_data(2000, seed=43), preserve_index=False), content)
    data = bytearray(content.getvalue())
    offset = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(3).data_page_offset
    for i in range(offset, offset + 40):
        data[i] ^= 0x5A
    return bytes(data)


def _bad_pandas_metadata(meta: bytes) -> bytes:
    table = pa.Table.from_pandas(_data(300, seed=44), preserve_index=False)
    out = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"pandas": meta}), out)
    return out.getvalue()


@pytest.mark.parametrize("which", ["damaged page", "metadata a list", "metadata without columns"])
def test_an_unreadable_parquet_batch_is_a_400_not_a_500(world: Any, api: Any, which: str) -> None:
    content = {"damaged page": _damaged_page,
               "metadata a list": lambda: _bad_pandas_metadata(b"[]"),
               "metadata without columns": lambda: _bad_pandas_metadata(b'{"index_columns": []}')}[which]()
    people, version = world
    api.force_authenticate(people.dev)
    api.raise_request_exception = False
    with committed():
        answer = api.post(f"/api/v1/versions/{version.pk}/batches/",
                          {"file": io.BytesIO(content), "file_format": "parquet"}, format="multipart")
    assert answer.status_code == 400, (answer.status_code, answer.content[:300])
    assert "not a readable parquet file" in answer.json()["detail"]
    assert not Batch.objects.filter(version=version).exists()


# ---------------------------------------------------------------------------------------------------------------
# E1. check_bytes finds each block's last text byte by stepping back over its trailing line ends one numpy scalar
#     at a time: ~7 s for a 16 MiB block of line ends after one text byte, so a 2 GiB upload of such blocks holds
#     a web worker for about 16 minutes (the blank-line refusal comes only after the whole pass). And it holds
#     ~37 bytes per byte of a block of line ends (int64 arrays of every line end and line start): ~600 MiB per
#     upload in the web process.
# ---------------------------------------------------------------------------------------------------------------


def test_check_bytes_time_is_linear_in_numpy_not_in_python(tmp_path: Path) -> None:
    block = b"x" + b"\n" * ((16 << 20) - 1)
    path = tmp_path / "blanks.csv"
    path.write_bytes(b"row_id,sex\nr1,male\n" + block + block)
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="blank line"):
        files.check_bytes(path)
    assert time.monotonic() - started < 3, f"{time.monotonic() - started:.1f} s for 32 MiB"


def test_check_bytes_memory_is_a_few_times_its_block(tmp_path: Path) -> None:
    data = b"row_id,sex\nr1,male\n" + b"\n" * (4 << 20) + b"r2,female\n"
    path = tmp_path / "blanks.csv"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match="blank line"):
            files.check_bytes(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(data), f"peak {peak / len(data):.1f} x the file's size"


# ---------------------------------------------------------------------------------------------------------------
# D1. check_bytes refuses a line beginning with a blank inside a quoted cell too (a multi-line text value whose
#     second line is indented). Such a file reads one way (pandas' whitespace state applies at a record's start),
#     but telling a record's start from a line inside a quoted cell needs the quotes counted, which a stray quote
#     defeats; the refusal stays, and its message now names quoted cells rather than blaming a row's first cell.
# ---------------------------------------------------------------------------------------------------------------


def test_a_quoted_cell_with_an_indented_second_line_is_refused_naming_quoted_cells(world: Any) -> None:
    people, version = world
    data = _data(300, seed=45)
    data.loc[7, "sex"] = "female\n  (self-described)"
    content = data.to_csv(index=False).encode()
    assert b'"female\n  (self-described)"' in content
    with pytest.raises(InvalidInput, match="lines inside quoted cells, without leading blanks"):
        send(version, people.dev, content)
    assert not Batch.objects.filter(version=version).exists()
