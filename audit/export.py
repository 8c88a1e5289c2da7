"""Writing the export bundle of spec section 5, streamed from the database in constant memory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import CharField, Func

from audit import writer
from audit.format.entry import entry_line
from audit.models import ENTRY_COLUMNS, AuditEntry, Checkpoint
from config.errors import InvalidInput

BATCH = 5000


@dataclass(frozen=True)
class ExportResult:
    path: Path
    first_seq: int
    last_seq: int
    entries: int
    checkpoints: int


def stored_entries(first: int, last: int) -> Iterator[tuple[bytes, str]]:
    """Each entry as stored, (the hashed bytes, the hash), in seq order, without loading the log."""
    qs = (
        AuditEntry.objects.filter(seq__gte=first, seq__lte=last)
        .order_by("seq")
        .values_list("canonical", "hash")
    )
    for raw, digest in qs.iterator(chunk_size=BATCH):
        yield bytes(raw), digest


class TsText(Func):
    """The ts column written by the database as the log writes it ("2026-01-02T03:04:05.000006Z"): text is
    read several times quicker than a timestamp is parsed into a datetime."""

    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"to_char(({sql}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", params

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]", the fraction left out when it is zero.
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"replace(substr({sql}, 1, 19), ' ', 'T') || '.' || substr(substr({sql}, 21) || '000000', 1, 6) "
                "|| 'Z'"), params * 2


def stored_rows(first: int, last: int) -> Iterator[tuple[Any, ...]]:
    """Each entry as stored, (the hashed bytes, the hash, ts as the log writes it, *ENTRY_COLUMNS), in seq order."""
    qs = (
        AuditEntry.objects.filter(seq__gte=first, seq__lte=last)
        .order_by("seq")
        .annotate(ts_text=TsText("ts"))
        .values_list("canonical", "hash", "ts_text", *ENTRY_COLUMNS)
    )
    yield from qs.iterator(chunk_size=BATCH)


def entry_lines(first: int, last: int) -> Iterator[bytes]:
    """Each entry as its canonical line (spec section 5), in seq order, without loading the log."""
    for raw, digest in stored_entries(first, last):
        yield entry_line(raw, digest)


def export_bundle(
    dest: Path,
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    head_seq, _, _ = writer.head()
    first = 1 if from_seq is None else from_seq
    last = min(to_seq or head_seq, head_seq)
    if first < 1 or (to_seq is not None and to_seq < first):
        raise InvalidInput("the range must satisfy 1 <= --from <= --to")
    if head_seq == 0:
        last = 0
    elif first > last:
        raise InvalidInput(f"the log has {head_seq} entries; nothing to export from seq {first}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        occupied = any(dest.iterdir())
    except OSError as exc:
        # A path the operator typed (unwritable, or under a file): a message, not a traceback.
        raise InvalidInput(f"cannot write the export to {dest}: {exc.strerror or exc}") from exc
    if occupied:
        raise InvalidInput(f"{dest} is not empty; export into a new directory")
    count = 0
    tmp = dest / "entries.jsonl.partial"
    try:
        with tmp.open("wb") as out:
            for line in entry_lines(first, last):
                out.write(line + b"\n")
                count += 1
                if progress and count % BATCH == 0:
                    progress(BATCH)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        # A full disk leaves no file that could pass for a complete export.
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"the export could not be written to {dest}: {exc.strerror or exc}") from exc
    tmp.rename(dest / "entries.jsonl")
    if progress:
        progress(count % BATCH)
    checkpoints = list(Checkpoint.objects.filter(size__lte=last).order_by("size"))
    with (dest / "checkpoints.jsonl").open("w", encoding="utf-8") as out:
        for cp in checkpoints:
            out.write(cp.document + "\n")
    keys_dir = dest / "keys"
    keys_dir.mkdir()
    _write_keys(keys_dir, {cp.key_id for cp in checkpoints})
    writer.record(
        action="audit.log.export",
        obj=writer.ObjectRef(type="audit.log", id="log", repr="audit log"),
        changes={"exported": {"old": None, "new": {"from": first, "to": last, "entries": count,
                                                   "checkpoints": len(checkpoints)}}},
    )
    return ExportResult(path=dest, first_seq=first, last_seq=last, entries=count, checkpoints=len(checkpoints))


def _write_keys(keys_dir: Path, key_ids: set[str]) -> None:
    if not key_ids:
        return
    from audit import signing

    for key_id in sorted(key_ids):
        try:
            pem = signing.public_key_pem(key_id)
        except KeyError:
            continue  # the verifier names the checkpoint whose key is missing
        (keys_dir / f"{key_id}.pub").write_bytes(pem)
