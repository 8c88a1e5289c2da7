"""Reading stored batches and outcomes, from whichever storage holds them (a local directory, or S3 in production):
streamed in chunks, never whole."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from config.errors import InvalidInput
from monitoring.models import Batch, BatchFormat
from monitoring.spans import Span, span_source
from registry.tabular import refuse_unreadable

CHUNK_ROWS = 100_000
# A header line longer than this is refused before it is parsed: a sender's header could be the whole file.
MAX_HEADER_BYTES = 1 << 20


def read_chunks(path: Path | IO[bytes], file_format: str, columns: list[str] | None = None,
                numbers: list[str] | None = None, row_groups: range | None = None) -> Iterator[pd.DataFrame]:
    """A stored batch's rows in chunks: a CSV's cells as the text the file holds ("" where empty), a Parquet
    file's as their types (monitoring/rows.py renders both the same way for the rows' leaves). `numbers`, columns
    ingest checked hold numbers, are read from a CSV as floats (an empty cell NaN) by the parser itself: what the
    measurements read, several times faster than converting text. `row_groups`: a Parquet file's groups to read
    (all when None)."""
    if file_format == BatchFormat.PARQUET:
        # Imported here: pyarrow.parquet adds about 55 ms to the start of every process that imports this module.
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        groups = None if row_groups is None else list(row_groups)
        for part in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=columns, row_groups=groups):
            yield parquet_frame(part)
        return
    if numbers:
        typed = pd.read_csv(path, dtype=defaultdict(lambda: "str", dict.fromkeys(numbers, "float64")),
                            keep_default_na=False, na_values={c: [""] for c in numbers}, encoding="utf-8",
                            chunksize=CHUNK_ROWS, usecols=columns)
    else:
        typed = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8",
                            chunksize=CHUNK_ROWS, usecols=columns)
    with typed as reader:
        yield from reader


def _nullable(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def parquet_frame(part: Any) -> pd.DataFrame:
    """A Parquet record batch as a frame, integers and booleans as pandas' nullable types: by default a chunk of an
    integer column holding one null became floats (its 1 rendered "1.0" and grouped apart from the 1 of a chunk
    without nulls), so one row read differently depending on which rows shared its chunk."""
    return part.to_pandas(types_mapper=_nullable)


def header(path: Path, file_format: str) -> list[str]:
    """The file's column names as given (a name given twice is listed twice, for the caller to name)."""
    # Any error: the csv module's (a field over its limit) and a Parquet reader's are not all ValueErrors.
    with refuse_unreadable("the batch is", file_format, also=(Exception,)):
        if file_format == BatchFormat.PARQUET:
            import pyarrow.parquet as pq

            return [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
        with path.open("rb") as fh:
            first = fh.readline(MAX_HEADER_BYTES + 1)
        if len(first) > MAX_HEADER_BYTES:
            raise InvalidInput(f"the file's header is longer than {MAX_HEADER_BYTES // 1024} KiB: no model has "
                               "that many columns")
        # The csv module, not pandas: as fast for a wide header as a narrow one, and a name given twice stays itself.
        return next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")]), [])


_BLOCK = 1024 * 1024
_LF, _CR, _SPACE, _TAB = 10, 13, 32, 9


def check_bytes(path: Path) -> None:
    """Refuse a CSV file whose bytes its readers could read two ways: a NUL byte (a text column's value no JSON
    store keeps), a line beginning with a space or a tab (pandas' parser drops such blanks where its read buffer
    happens to end inside them, so a row would be measured and receipted other than it is written, and read
    differently by the part of the batch that starts elsewhere), or a blank line before the last row (skipped by
    the parser, counted by a reader of the bytes). One pass over the bytes in blocks of 1 MiB, with masks of one
    byte per byte: time and memory linear in the block, whatever the bytes are."""
    offset, previous, blank_at, last_text = 0, _LF, -1, -1  # last_text: the last byte that is not a line end
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            data = np.frombuffer(block, dtype=np.uint8)
            if not data.all():
                raise InvalidInput(f"the batch holds a NUL byte (at byte {offset + int(np.argmin(data))}): a CSV "
                                   "batch is text")
            is_end = (data == _LF) | (data == _CR)
            after_end = np.empty_like(is_end)  # each line's first byte
            after_end[0], after_end[1:] = previous in (_LF, _CR), is_end[:-1]
            blank = after_end & ((data == _SPACE) | (data == _TAB))
            if blank.any():
                raise InvalidInput(f"a line of the batch begins with a space or a tab (at byte "
                                   f"{offset + int(np.argmax(blank))}): pandas' reader keeps or drops such blanks "
                                   "depending on where its buffer ends; write rows, and lines inside quoted cells, "
                                   "without leading blanks")
            if blank_at < 0:
                after_lf = np.empty_like(is_end)
                after_lf[0], after_lf[1:] = previous == _LF, data[:-1] == _LF
                empty = after_lf & is_end
                if empty.any():
                    blank_at = offset + int(np.argmax(empty))
            text = ~is_end
            if text.any():
                last_text = offset + data.size - 1 - int(np.argmax(text[::-1]))
            previous, offset = int(data[-1]), offset + data.size
    if 0 <= blank_at < last_text:
        raise InvalidInput(f"the batch has a blank line (at byte {blank_at}) before its last row: remove it")


def check_parquet(path: Path, max_group_bytes: int) -> None:
    """Refuse a Parquet file whose row groups decompress to more than `max_group_bytes` each, as its footer states
    them: a reader holds one row group decoded at a time, so a small file of huge groups (a decompression bomb)
    would take a worker's memory. (A footer that understates its groups is met by the reader's own checks of each
    page against its header, or by the worker's memory limit.)"""
    import pyarrow.parquet as pq

    with refuse_unreadable("the batch is", BatchFormat.PARQUET, also=(Exception,)):
        meta = pq.ParquetFile(path).metadata
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        stated = max(group.total_byte_size, sum(group.column(c).total_uncompressed_size
                                                for c in range(group.num_columns)))
        if stated > max_group_bytes:
            raise InvalidInput(f"row group {i} of the batch decompresses to {stated} bytes, more than the limit of "
                               f"{max_group_bytes}: write it in smaller row groups")


def check_rows(chunk: pd.DataFrame, offset: int) -> None:
    """Refuse rows with more cells than the header names: pandas would take the first cell of each as the rows'
    index and drop it from what is measured and hashed (a receipt would vouch for a row that was not sent)."""
    if not isinstance(chunk.index, pd.RangeIndex):
        raise InvalidInput(f"row {offset + 1} has more cells than the header names ({chunk.shape[1]})")


def read_outcomes(path: Path) -> pd.DataFrame:
    """An outcomes file's cells as text ("" where empty or missing), every row with the header's cells."""
    with refuse_unreadable("the outcomes are", "csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    check_rows(frame, 0)
    return frame.fillna("")  # a row short of cells: its missing cells are empty, and refused as such


def batch_chunks(batch: Batch, columns: list[str] | None = None,
                 numbers: list[str] | None = None) -> Iterator[pd.DataFrame]:
    with batch.file.open("rb") as fh:
        yield from read_chunks(fh, batch.file_format, columns, numbers)


def batch_row_ids(batch: Batch) -> pd.Series:
    return pd.concat([c[batch.row_id_column].astype(str) for c in batch_chunks(batch, [batch.row_id_column])],
                     ignore_index=True)


def labelled_ids(batch: Batch) -> pd.Series:
    parts = []
    for outcome in batch.outcomes.all():
        with outcome.file.open("rb") as fh:
            parts.append(pd.read_csv(fh, dtype=str, keep_default_na=False)[batch.row_id_column])
    return pd.concat(parts, ignore_index=True) if parts else pd.Series([], dtype=str)


def span_chunks(batch: Batch, span: Span, columns: list[str] | None = None,
                numbers: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The rows of one span of a batch (monitoring.spans), in chunks, read as `read_chunks` reads the whole file."""
    with batch.file.open("rb") as fh:
        if batch.file_format == BatchFormat.PARQUET:
            groups = None if span.start is None or span.end is None else range(span.start, span.end)
            yield from read_chunks(fh, batch.file_format, columns, numbers, row_groups=groups)
        else:
            yield from read_chunks(span_source(fh, span), batch.file_format, columns, numbers)
