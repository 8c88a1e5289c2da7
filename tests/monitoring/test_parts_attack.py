"""What an adversarial review of one batch measured in parts found, each held: the parts' merged results are those one
pass gives (monitoring.measure.measure), bytes two readers could read two ways are refused at ingest with a 400
naming them, and nothing stays queued for ever."""

from __future__ import annotations

import io
import tracemalloc
from typing import Any
from unittest import mock

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from audit.context import audit_context, system_actor
from config.errors import InvalidInput
from monitoring import measure, spans
from monitoring.models import Batch, Evaluation
from tests.monitoring.helpers import frame, monitored, send
from tests.monitoring.test_parts import _close

pytestmark = pytest.mark.django_db

# pandas' C parser reads its source 262,144 bytes at a time (parser_defaults' chunksize in the tokenizer).
PANDAS_READ = 262_144


@pytest.fixture
def world(make_user: Any) -> tuple[Any, Any]:
    return monitored(make_user)


def _results(evaluation: Evaluation) -> dict[str, Any]:
    results = dict(evaluation.results)
    results.pop("findings")
    return results


def _csv(rows: int, seed: int) -> bytes:
    head, lines = _lines(rows, seed)
    return head + b"".join(lines)


def _lines(rows: int, seed: int) -> tuple[bytes, list[bytes]]:
    """A batch's header (sex first: any column order is accepted) and its data lines."""
    data = frame(rows, seed)
    data.insert(0, "row_id", [f"r{i}" for i in range(rows)])
    data = data.drop(columns=["risk"])[["sex", "row_id", "age", "amount", "score"]]
    text = data.to_csv(index=False).encode()
    head, *lines = text.splitlines(keepends=True)
    return head, lines


# ---------------------------------------------------------------------------------------------------------------
# 1. A line that begins with blanks, where pandas' read boundary falls inside them, is read one way by the whole
#    file (ingest's leaves, the one pass) and another way by the part that holds it.
# ---------------------------------------------------------------------------------------------------------------


def _leading_blanks_at_pandas_boundary(rows: int = 9000) -> tuple[bytes, int]:
    """A CSV batch whose line `at` starts with three blanks that straddle pandas' first read boundary: read from
    the file's start pandas loses them ("female"); read from any other offset it keeps them ("   female")."""
    head, lines = _lines(rows, seed=33)
    offset, at = len(head), None
    for i, line in enumerate(lines):
        if offset + len(line) > PANDAS_READ - 3:
            at = i
            break
        offset += len(line)
    assert at is not None and at > 0
    # Pad the row id of the line before (ids are free text) so that line `at` begins 3 bytes before the boundary.
    pad = PANDAS_READ - 3 - offset
    before = lines[at - 1].split(b",")
    before[1] += b"x" * pad
    lines[at - 1] = b",".join(before)
    lines[at] = b"   " + lines[at]
    data = head + b"".join(lines)
    assert data.index(b"\n   ") + 1 == PANDAS_READ - 3
    return data, at


def test_a_line_beginning_with_blanks_is_refused_at_ingest(world: Any) -> None:
    # Read from the file's start pandas lost the blanks ("female": the row's leaf, the one pass); read from any
    # other offset it kept them ("   female": the part holding the row, an unseen category). The receipt vouched
    # for a row the file does not hold. Such a line is now refused, before anything is stored.
    people, version = world
    data, _ = _leading_blanks_at_pandas_boundary()
    with pytest.raises(InvalidInput, match="begins with a space or a tab"):
        send(version, people.dev, data)
    assert not Batch.objects.filter(version=version).exists()
    head, lines = _lines(50, seed=1)
    with pytest.raises(InvalidInput, match="begins with a space or a tab"):
        send(version, people.dev, head + b"".join(lines[:5]) + b"\t" + b"".join(lines[5:]))


@pytest.mark.parametrize(("content", "message"), [
    (b"row_id,sex\nr1,male\n\nr2,female\n", "blank line"),
    (b"row_id,sex\nr1,ma\x00le\n", "NUL byte"),
])
def test_bytes_read_two_ways_are_refused_at_ingest(world: Any, content: bytes, message: str) -> None:
    people, version = world
    head, lines = _lines(10, seed=2)
    body = content.replace(b"row_id,sex\n", b"").replace(b"r1,male", lines[0].rstrip(b"\n"))
    body = body.replace(b"r2,female", lines[1].rstrip(b"\n")).replace(b"r1,ma\x00le", lines[0][:3] + b"\x00" +
                                                                        lines[0][3:].rstrip(b"\n"))
    with pytest.raises(InvalidInput, match=message):
        send(version, people.dev, head + body)
    assert not Batch.objects.filter(version=version).exists()


def test_trailing_blank_lines_are_taken(world: Any) -> None:
    people, version = world
    head, lines = _lines(300, seed=2)
    batch = send(version, people.dev, head + b"".join(lines) + b"\n\n")
    assert batch.row_count == 300


# ---------------------------------------------------------------------------------------------------------------
# 2. A Parquet file whose last row group is empty (what a streaming pyarrow.ParquetWriter leaves when its last
#    table is empty) makes a part of 0 rows, which fails; one pass measures the batch.
# ---------------------------------------------------------------------------------------------------------------


def _parquet_with_groups(rows: int, group: int, empty_after: bool) -> bytes:
    data = frame(rows, 5, shift=0.6)
    data.insert(0, "row_id", [f"r{i}" for i in range(rows)])
    table = pa.Table.from_pandas(data.drop(columns=["risk"]), preserve_index=False)
    out = io.BytesIO()
    with pq.ParquetWriter(out, table.schema) as writer:
        writer.write_table(table, row_group_size=group)
        if empty_after:
            writer.write_table(table.slice(0, 0))
    return out.getvalue()


@override_settings(MONITORING_PART_ROWS=250)
def test_parquet_with_a_trailing_empty_row_group_is_measured(world: Any) -> None:
    people, version = world
    content = _parquet_with_groups(900, group=300, empty_after=True)
    sizes = [pq.ParquetFile(io.BytesIO(content)).metadata.row_group(i).num_rows for i in range(4)]
    assert sizes == [300, 300, 300, 0]
    batch = send(version, people.dev, content, file_format="parquet")
    evaluation = Evaluation.objects.get(batch=batch)
    one_pass = measure.measure(evaluation)  # one pass measures it
    assert one_pass["rows"] == 900
    assert evaluation.status == "succeeded", evaluation.error
    _close(_results(evaluation), one_pass)


# ---------------------------------------------------------------------------------------------------------------
# 3. Splitting holds ~36 bytes of memory per byte of a CSV of blank lines (pandas skips them at ingest, so a
#    2 GiB upload of a few rows and blank lines passes): the coordinator runs out of memory before it compares
#    the count of records with the batch's.
# ---------------------------------------------------------------------------------------------------------------


def test_record_starts_memory_is_bounded_by_the_records_not_the_bytes() -> None:
    data = b"row_id,sex\n" + b"r1,male\n" + b"\n" * (8 << 20) + b"r2,female\n"
    tracemalloc.start()
    try:
        starts = spans.record_starts(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert starts is not None and starts.size == 4
    # Two records: what is kept should be a few blocks' worth, not many times the file.
    assert peak < 4 * len(data), f"peak {peak / len(data):.1f} x the file's size"


# ---------------------------------------------------------------------------------------------------------------
# 4. A part's sum of a feature is merged as a float: where it overflows in a part but not in one pass (values
#    ingest accepts: finite), the merged mean is None where one pass gives a number.
# ---------------------------------------------------------------------------------------------------------------


@override_settings(MONITORING_PART_ROWS=170)
def test_a_sum_that_overflows_in_a_part_but_not_in_one_pass(world: Any) -> None:
    people, version = world
    data = frame(1000, 7)
    data.insert(0, "row_id", [f"r{i}" for i in range(1000)])
    amount = data["amount"].to_numpy(dtype=float).copy()
    amount[[0, 169]], amount[[170, 339]] = 1e308, -1e308
    data["amount"] = amount
    batch = send(version, people.dev, data.drop(columns=["risk"]).to_csv(index=False).encode())
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "succeeded", evaluation.error
    one_pass = measure.measure(evaluation)
    # A part's sum overflowed to inf where one pass's did not, and the merge made the mean None. Sums are now kept
    # scaled (monitoring.drift.SUM_SCALE): never inf. Values this far apart lose the small ones in any float sum,
    # in an order that differs between one pass and parts, so the two means are both numbers, not one number.
    assert one_pass["features"]["amount"]["mean"] is not None
    assert _results(evaluation)["features"]["amount"]["mean"] is not None


# ---------------------------------------------------------------------------------------------------------------
# 5. A sensitive cell holding a NUL (a CSV upload carries it; pandas keeps it) becomes a group's name in the
#    results, which PostgreSQL's jsonb cannot hold: the settling part's _finish raises outside any try, the
#    evaluation stays queued, and the schedule's evaluations_resend settles it again every hour, for ever.
# ---------------------------------------------------------------------------------------------------------------


@override_settings(MONITORING_PART_ROWS=200)
def test_an_evaluation_that_cannot_be_finished_fails_not_stays_queued(world: Any) -> None:
    # A NUL in a group's name reached PostgreSQL's jsonb, which refused the results: the settling part raised
    # outside any try, the evaluation stayed queued, and the schedule settled it again every hour. NUL bytes are
    # now refused at ingest (above); whatever else makes the finish raise fails the evaluation with its reason.
    import datetime as dt

    from django.utils import timezone

    from monitoring import evaluate
    from monitoring.services import evaluations_resend

    people, version = world
    with mock.patch.object(evaluate, "findings", side_effect=RuntimeError("the results could not be stored")):
        batch = send(version, people.dev, _csv(600, seed=3))
    evaluation = Evaluation.objects.get(batch=batch)
    assert evaluation.status == "failed", "left queued"
    assert "the results could not be stored" in evaluation.error
    with audit_context(actor=system_actor("test beat"), channel="task"):
        assert evaluations_resend(now=timezone.now() + dt.timedelta(hours=1)) == []


# ---------------------------------------------------------------------------------------------------------------
# 6. Beside the change (read_chunks' `numbers`, older): ingest takes a blank cell (" ") of a numeric feature as
#    missing (it strips), but the measurement's parser reads the column as float64 and cannot convert " ": a
#    batch accepted with 201 is never measured (one pass and every part fail).
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [" ", " 1500", "1500 "])
def test_a_number_written_with_blanks_is_refused_at_ingest(world: Any, cell: str) -> None:
    # Ingest took " " as missing (it stripped), the measurement's parser could not read it as a float: a batch
    # accepted with 201 was never measured.
    people, version = world
    data = frame(300, 4)
    data.insert(0, "row_id", [f"r{i}" for i in range(300)])
    data["amount"] = data["amount"].astype(str)
    data.loc[5, "amount"] = cell
    with pytest.raises(InvalidInput, match="'amount' must hold finite numbers; row 6"):
        send(version, people.dev, data.drop(columns=["risk"]).to_csv(index=False).encode())


def test_a_parquet_whose_row_groups_decompress_past_the_limit_is_refused(world: Any) -> None:
    # A decompression bomb: a few kilobytes on the wire, row groups of many megabytes once decoded.
    people, version = world
    rows = 200_000
    data = pd.DataFrame({"row_id": [f"r{i}" for i in range(rows)], "sex": "female", "age": 30,
                         "amount": 1500.0, "score": 0.5})
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), out, compression="zstd")
    assert len(out.getvalue()) < 1_000_000
    with override_settings(MONITORING_MAX_ROW_GROUP_BYTES=1_000_000), \
            pytest.raises(InvalidInput, match=r"row group 0 of the batch decompresses to .* write it in smaller"):
        send(version, people.dev, out.getvalue(), file_format="parquet")
    assert not Batch.objects.filter(version=version).exists()
