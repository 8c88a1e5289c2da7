"""Splitting a stored batch into spans of rows that separate tasks read on their own (monitoring.parts), so that
one large batch is measured by several workers at once.

A Parquet file splits between its row groups, as its own metadata gives them. A CSV file splits between
records, found by one pass over its bytes in blocks (numpy, about a second for 200 MB): a newline ends a record
when an even number of quote characters came before it. That is the RFC 4180 reading only when every quote opens
a field, closes one or is doubled inside one, and no bare CR ends a line; the pass checks both and splits
nothing where either fails, as it splits nothing where its count of records differs from the batch's. Each cut is
then checked against the batch's own leaves (monitoring.rows): the record read from the cut must be the row the
batch's receipt tree holds at that index, so a part always reads exactly the rows the batch's entry vouches for.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import IO

import numpy as np
import pandas as pd

from monitoring import rows
from monitoring.models import Batch, BatchFormat

BLOCK = 256 * 1024  # small: what one block makes is several arrays of one number per line end in it
COMMA, LF, CR, QUOTE = 44, 10, 13, 34
_EDGE = np.array([COMMA, LF, CR, QUOTE], dtype=np.uint8)


@dataclass(frozen=True)
class Span:
    """Rows first_row .. first_row + rows - 1 of a batch; `start`/`end` are byte offsets of a CSV file or row-group
    indexes of a Parquet file, end exclusive; both None for the whole file."""

    first_row: int
    rows: int
    start: int | None = None
    end: int | None = None


def spans_of(batch: Batch, part_rows: int) -> list[Span]:
    """The batch cut into spans of about `part_rows` rows; one span of the whole file where it cannot be cut."""
    whole = [Span(first_row=0, rows=int(batch.row_count))]
    if batch.row_count <= part_rows:
        return whole
    with batch.file.open("rb") as fh:
        if batch.file_format == BatchFormat.PARQUET:
            return _parquet_spans(fh, int(batch.row_count), part_rows) or whole
        starts = record_starts(fh, limit=int(batch.row_count) + 1)
        if starts is None or starts.size - 2 != batch.row_count:
            return whole
        cuts = list(range(part_rows, int(batch.row_count), part_rows))
        with batch.leaves.open("rb") as leaves:
            if not all(_cut_holds(fh, leaves, starts, row) for row in cuts):
                return whole
    bounds = [0, *cuts, int(batch.row_count)]
    return [Span(first_row=a, rows=b - a, start=int(starts[a + 1]), end=int(starts[b + 1]))
            for a, b in itertools.pairwise(bounds)]


def _parquet_spans(fh: IO[bytes], total: int, part_rows: int) -> list[Span]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(fh).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if sum(sizes) != total or len(sizes) < 2:
        return []
    spans, first, group, taken = [], 0, 0, 0
    for i, size in enumerate(sizes):
        taken += size
        if taken >= part_rows:
            spans.append(Span(first_row=first, rows=taken, start=group, end=i + 1))
            first, group, taken = first + taken, i + 1, 0
    if group < len(sizes):  # the rows left, with any empty groups after them
        if taken:
            spans.append(Span(first_row=first, rows=taken, start=group, end=len(sizes)))
        elif spans:
            last = spans.pop()
            spans.append(Span(first_row=last.first_row, rows=last.rows, start=last.start, end=len(sizes)))
    return spans


def record_starts(fh: IO[bytes], limit: int | None = None) -> np.ndarray | None:
    """The byte offset of each non-blank record of a CSV file (the header first), then the file's size; None where
    the bytes cannot be cut by counting quotes (a quote inside an unquoted field or after a closing one, a bare
    CR outside quotes), or where there are more than `limit` records. Blank records are dropped block by block,
    so what is held is the records' offsets, not the file's line ends."""
    kept: list[np.ndarray] = []
    count = 0
    quotes = 0
    last_end = -1  # the previous record's LF (a virtual one before the file)
    # A virtual LF before the file: its first byte starts a field. Each block is processed but for its last byte,
    # whose next byte the following block brings; the last byte of all is followed by a virtual LF.
    pending, base = np.array([LF], dtype=np.uint8), -1
    while True:
        block = fh.read(BLOCK)
        last = not block
        chunk = np.frombuffer(block, dtype=np.uint8) if block else np.array([LF], dtype=np.uint8)
        buf = np.concatenate([pending, chunk])
        inner = buf[1:-1]
        q = np.flatnonzero(inner == QUOTE) + 1
        opener = (quotes + np.arange(q.size)) % 2 == 0
        if not np.isin(buf[q[opener] - 1], _EDGE).all() or not np.isin(buf[q[~opener] + 1], _EDGE).all():
            return None
        cr = np.flatnonzero(inner == CR) + 1
        cr = cr[(quotes + np.searchsorted(q, cr)) % 2 == 0]
        if (buf[cr + 1] != LF).any():
            return None
        lf = np.flatnonzero(inner == LF) + 1
        lf = lf[(quotes + np.searchsorted(q, lf)) % 2 == 0]
        quotes += q.size
        if last:
            lf = np.append(lf, buf.size - 1)  # the virtual LF after the file
        if lf.size:
            ends = lf + base
            begins = np.concatenate([[last_end + 1], ends[:-1] + 1])
            length = ends - begins
            blank = (length == 0) | ((length == 1) & (buf[lf - 1] == CR))
            found = begins[~blank]
            kept.append(found)
            count += found.size
            last_end = int(ends[-1])
            if limit is not None and count > limit:
                return None
        if last:
            break
        pending, base = buf[-2:], base + buf.size - 2
    size = base + buf.size - 1  # the virtual LF after the file sits at offset `size`
    return np.append(np.concatenate(kept), size).astype(np.int64)


def _cut_holds(fh: IO[bytes], leaves: IO[bytes], starts: np.ndarray, row: int) -> bool:
    """Whether the record at the cut before `row` reads as that row's leaf."""
    fh.seek(0)
    head = fh.read(int(starts[1]))
    fh.seek(int(starts[row + 1]))
    record = fh.read(int(starts[row + 2] - starts[row + 1]))
    leaves.seek(32 * row)
    expected = leaves.read(32)
    try:
        frame = pd.read_csv(io.BytesIO(head + record), dtype=str, keep_default_na=False, na_filter=False,
                            encoding="utf-8")
    except Exception:
        return False
    return len(frame) == 1 and rows.leaf_hashes(rows.render_lines(frame)) == expected


class SpanReader(io.RawIOBase):
    """A CSV file's header line followed by the bytes [start, end) of the same file: what pandas reads as a CSV of
    the span's rows. The header is the file's first line (ingest reads it as one: monitoring.files.header)."""

    def __init__(self, fh: IO[bytes], start: int, end: int) -> None:
        super().__init__()
        fh.seek(0)
        self._head = io.BytesIO(fh.readline())
        self._fh, self._left = fh, end - start
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._head.read(len(buffer))
        if not data and self._left > 0:
            data = self._fh.read(min(len(buffer), self._left))
            self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def span_source(fh: IO[bytes], span: Span) -> IO[bytes]:
    """What to read a CSV span's rows from: the file itself for the whole file."""
    if span.start is None or span.end is None:
        return fh
    return io.BufferedReader(SpanReader(fh, span.start, span.end), buffer_size=1024 * 1024)
