"""Receiving production batches and their outcomes: streamed, checked against the version's features, stored
write-once under their digest, each row hashed into the batch's RFC 6962 tree, recorded with their entry."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from audit import writer
from config.errors import Conflict, InvalidInput
from monitoring import rows, services
from monitoring.files import (
    batch_row_ids,
    check_bytes,
    check_parquet,
    check_rows,
    header,
    labelled_ids,
    read_chunks,
    read_outcomes,
)
from monitoring.layout import Layout, layout_of
from monitoring.models import Batch, BatchFormat, Outcomes
from registry import labels
from registry.models import ModelVersion, Stage
from registry.rules import require_model_developer
from registry.storage import Spooled, spooled, store
from registry.tabular import refuse_unreadable

MONITORED_STAGES = (Stage.PRODUCTION, Stage.STAGING)
_NUMERIC = ("number", "integer")


def _require_monitored(version: ModelVersion) -> None:
    if version.stage not in MONITORED_STAGES:
        raise InvalidInput(f"{version} is in stage {version.stage!r}: batches are received for versions in "
                           "production or staging only")


def _check_columns(columns: list[str], layout: Layout) -> None:
    given, allowed = Counter(columns), layout.allowed()
    missing = [c for c in layout.required() if c not in given]
    extra = [c for c in columns if c not in allowed]
    # Counted once: a header is the sender's, and list.count per column is quadratic in its width.
    doubled = sorted(c for c, n in given.items() if n > 1)
    if missing or extra or doubled:
        parts = ([f"missing {', '.join(missing[:20])}"] if missing else []) + (
            [f"not expected {', '.join(extra[:20])}"] if extra else []) + (
            [f"given twice {', '.join(doubled[:20])}"] if doubled else [])
        raise InvalidInput(f"the batch's columns do not match the model: {'; '.join(parts)}. Expected: "
                           f"{', '.join(layout.required())}" + (f", optionally {layout.prediction}"
                                                                  if layout.prediction else ""))


def _check_types(chunk: pd.DataFrame, layout: Layout, offset: int) -> None:
    """Each numeric feature and the score hold numbers (the score from 0 to 1), the prediction 0 or 1, each row an
    id; naming the first offending row (counted from 1, the header not counted)."""
    numeric = [f for f, t in layout.features.items() if t in _NUMERIC] + [layout.score]
    for column in numeric:
        values = chunk[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            text = values.astype(str)
            parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
            # A number is written as one, without blanks around it: " " or " 5" is not a number the measurement's
            # parser reads (it reads these columns as floats, an empty cell missing).
            bad = (parsed.isna() & (text != "")) | (text.str.strip() != text)
        else:
            parsed = pd.to_numeric(values, errors="coerce")
            bad = pd.Series(False, index=values.index)
            if pd.api.types.is_bool_dtype(values.dtype):
                bad[:] = True
        # Infinity is no measurement: a feature or score of inf would be binned, and judged, as a number.
        bad = bad | np.isinf(parsed.to_numpy(dtype=float, na_value=np.nan))
        if bool(bad.any()):
            row = offset + int(np.argmax(bad.to_numpy())) + 1
            raise InvalidInput(f"column {column!r} must hold finite numbers; row {row} holds "
                               f"{str(values.iloc[int(np.argmax(bad.to_numpy()))])[:60]!r}")
        if column == layout.score:
            scores = parsed.to_numpy(dtype=float, na_value=np.nan)
            wrong = np.isnan(scores) | (scores < 0) | (scores > 1) if len(scores) else np.zeros(0, bool)
            if wrong.any():
                row = offset + int(np.argmax(wrong)) + 1
                raise InvalidInput(f"the score column {column!r} must hold a probability from 0 to 1 in every row; "
                                   f"row {row} does not")
    if layout.prediction:
        values = chunk[layout.prediction]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            text = values.astype(str).str.strip()
            values = pd.to_numeric(text.where(text != ""), errors="coerce")
        classes = pd.to_numeric(values, errors="coerce").astype(float)
        wrong = ~classes.isin([0.0, 1.0]).to_numpy()
        if wrong.any():
            row = offset + int(np.argmax(wrong)) + 1
            held = str(chunk[layout.prediction].iloc[int(np.argmax(wrong))])[:60]
            raise InvalidInput(f"the prediction column {layout.prediction!r} must hold the class decided, 0 or 1, in "
                               f"every row; row {row} holds {held!r}")
    ids = chunk[layout.row_id].astype(str)
    if bool((ids.str.strip() == "").any()) or bool(chunk[layout.row_id].isna().any()):
        raise InvalidInput(f"every row needs its id in {layout.row_id!r}")


@contextmanager
def _leaves_file() -> Iterator[tuple[IO[bytes], Path]]:
    fd, name = tempfile.mkstemp(prefix="modelgov-leaves-")
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh, Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def batch_ingest(*, version: ModelVersion, by: Any, file: IO[bytes], file_format: str = "csv",
                 row_id_column: str = "row_id", score_column: str = "score", prediction_column: str = "",
                 expected_sha256: str | None = None) -> Batch:
    """Receive a batch of a production (or staging) version's inputs and outputs; refuse, with nothing stored, a
    batch of another stage, with other columns or types, a row without its id or an id given twice, or a batch
    received before."""
    require_model_developer(by, version.model, doing="send its production batches")
    _require_monitored(version)
    if file_format not in BatchFormat.values:
        raise InvalidInput(f"file_format must be one of {', '.join(BatchFormat.values)}")
    layout = layout_of(version, row_id=row_id_column, score=score_column, prediction=prediction_column)
    with spooled(file, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, expected_sha256=expected_sha256,
                 what="batch file") as spool:
        earlier = Batch.objects.filter(version=version, sha256=spool.sha256).first()
        if earlier is not None:
            raise InvalidInput(f"this batch was received before: batch {earlier.number} of {version} has the same "
                               f"SHA-256 ({spool.sha256}); nothing was stored")
        if file_format == BatchFormat.CSV:
            check_bytes(spool.path)
        else:
            check_parquet(spool.path, settings.MONITORING_MAX_ROW_GROUP_BYTES)
        columns = header(spool.path, file_format)
        _check_columns(columns, layout)
        with _leaves_file() as (leaves_fh, leaves_path):
            count, root, leaves_sha = _hash_rows(spool.path, file_format, columns, layout, leaves_fh)
            leaves = Spooled(path=leaves_path, sha256=leaves_sha, size=count * 32)
            return _save(version, by, spool, file_format, columns, layout, count, root, leaves)


def _hash_rows(path: Path, file_format: str, columns: list[str], layout: Layout,
               out: IO[bytes]) -> tuple[int, str, str]:
    """Check every chunk's types and ids and write its rows' leaves; the row count, the tree's root (hex) and the
    leaves file's digest."""
    seen: list[pd.Series] = []
    count = 0
    digest = hashlib.sha256()
    # A Parquet file's pages are read here for the first time (its footer was read before): a damaged page or a
    # malformed pandas metadata block raises what a reader raises (OSError, KeyError, TypeError, ArrowException).
    with refuse_unreadable("the batch is", file_format, also=(Exception,) if file_format == BatchFormat.PARQUET
                           else ()):
        for chunk in read_chunks(path, file_format):
            if [str(c) for c in chunk.columns] != columns:
                raise InvalidInput("the batch's header could not be read: its quoting is not consistent")
            check_rows(chunk, count)
            _check_types(chunk, layout, count)
            seen.append(chunk[layout.row_id].astype(str))
            block = rows.leaf_hashes(rows.render_lines(chunk))
            digest.update(block)
            out.write(block)
            count += len(chunk)
    if count == 0:
        raise InvalidInput("the batch has a header but no rows")
    ids = pd.concat(seen, ignore_index=True)
    doubled = ids[ids.duplicated()]
    if len(doubled):
        raise InvalidInput(f"row ids must be unique in a batch: {doubled.iloc[0][:60]!r} is given more than once")
    out.flush()
    out.seek(0)
    root = rows.root_of(out.read())
    return count, root.hex(), digest.hexdigest()


def _save(version: ModelVersion, by: Any, spool: Spooled, file_format: str, columns: list[str], layout: Layout,
          count: int, root: str, leaves: Spooled) -> Batch:
    name = store(spool, prefix="monitoring/batches", suffix=f".{file_format}")
    leaves_name = store(leaves, prefix="monitoring/leaves", suffix=".bin")
    with writer.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        _require_monitored(locked)
        number = (Batch.objects.filter(version=locked).aggregate(n=Max("number"))["n"] or 0) + 1
        batch = Batch(version=locked, number=number, file=name, file_format=file_format, sha256=spool.sha256,
                      size=spool.size, row_count=count, columns=columns, row_id_column=layout.row_id,
                      score_column=layout.score, prediction_column=layout.prediction, merkle_root=root,
                      leaves=leaves_name, stage=locked.stage, created_by=by)
        try:
            with transaction.atomic():
                writer.save(batch, action="monitoring.batch.ingest")
        except IntegrityError as exc:
            raise Conflict("this batch was received at the same moment by another upload; nothing was stored") from exc
        services.evaluation_queue(version=locked, batch=batch)
    return batch


def outcomes_attach(*, batch: Batch, by: Any, file: IO[bytes], label_column: str = "label",
                    positive_label: str = "", expected_sha256: str | None = None) -> Outcomes:
    """Receive outcomes (labels) for rows of a batch, joined by its row id: a CSV of the row id and the label. Every
    id must be one of the batch's and labelled once over all its outcomes; two label values, one of them
    `positive_label` (default 1 of a 0/1 column)."""
    require_model_developer(by, batch.version.model, doing="send outcomes of its production batches")
    if not isinstance(label_column, str) or not label_column or len(label_column) > 120:
        raise InvalidInput("label_column must be a column name of at most 120 characters")
    if label_column == batch.row_id_column:
        raise InvalidInput(f"label_column must not be the row id column ({batch.row_id_column}): an outcome is a "
                           "row id and its label")
    with spooled(file, max_bytes=settings.MONITORING_MAX_BATCH_BYTES, expected_sha256=expected_sha256,
                 what="outcomes file") as spool:
        if Outcomes.objects.filter(batch=batch, sha256=spool.sha256).exists():
            raise InvalidInput(f"these outcomes were received before for batch {batch.number}; nothing was stored")
        columns = header(spool.path, "csv")
        if sorted(columns) != sorted([batch.row_id_column, label_column]):
            raise InvalidInput(f"an outcomes file holds exactly the columns {batch.row_id_column} and {label_column}; "
                               f"it has {', '.join(columns[:20])}")
        frame = read_outcomes(spool.path)
        if frame.empty:
            raise InvalidInput("the outcomes file has a header but no rows")
        if bool((frame[label_column].str.strip() == "").any()):
            raise InvalidInput(f"every row of the outcomes needs its label in {label_column!r}")
        values = set(frame[label_column].unique().tolist())
        positive = labels.resolve_positive(values, positive_label, column=label_column, more=False)
        ids = frame[batch.row_id_column]
        if bool(ids.duplicated().any()):
            raise InvalidInput(f"row {ids[ids.duplicated()].iloc[0][:60]!r} is labelled twice in this file")
        known = batch_row_ids(batch)
        unknown = ids[~ids.isin(known)]
        if len(unknown):
            raise InvalidInput(f"{len(unknown)} row id(s) are not rows of batch {batch.number}, e.g. "
                               f"{unknown.iloc[0][:60]!r}; nothing was stored")
        name = store(spool, prefix="monitoring/outcomes", suffix=".csv")
        outcome = Outcomes(batch=batch, file=name, sha256=spool.sha256, size=spool.size, row_count=len(frame),
                           label_column=label_column, positive_label=positive, created_by=by)
        with writer.atomic():
            # The batch's row, locked: two uploads at once take turns, and the second sees the first's outcomes.
            Batch.objects.select_for_update().filter(pk=batch.pk).values_list("pk", flat=True).first()
            again = ids[ids.isin(labelled_ids(batch))]
            if len(again):
                raise InvalidInput(f"{len(again)} row(s) already have outcomes, e.g. {again.iloc[0][:60]!r}: an "
                                   "outcome is recorded once")
            try:
                with transaction.atomic():
                    writer.save(outcome, action="monitoring.outcomes.attach")
            except IntegrityError as exc:
                raise Conflict("these outcomes were received at the same moment by another upload; nothing was "
                               "stored") from exc
            services.evaluation_queue(version=batch.version, batch=batch)
    return outcome
