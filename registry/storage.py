"""Streaming uploads into content-addressed storage, with digests, size limits and format checks."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from config.errors import Conflict, InvalidInput
from config.storages import sha256_of

CHUNK = 1024 * 1024
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


def normalise_sha256(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if len(text) != 64 or not set(text) <= _HEX:
        raise InvalidInput("expected_sha256 must be 64 hexadecimal digits")
    return text


def _chunks(source: Any) -> Iterator[bytes]:
    if hasattr(source, "chunks"):
        yield from source.chunks(CHUNK)
        return
    while True:
        block = source.read(CHUNK)
        if not block:
            return
        yield block


@contextmanager
def spooled(source: IO[bytes] | File, *, max_bytes: int, expected_sha256: str | None, what: str,
            check_head: tuple[int, Callable[[bytes, bool], Any]] | None = None) -> Iterator[Spooled]:
    """Copy an upload to a temporary file, hashing and counting as it streams.

    `check_head` (n, check) is called with the first n bytes (and whether the file ends within them) as
    soon as they have arrived, so a file whose start refuses it is refused before the rest is read."""
    expected = normalise_sha256(expected_sha256)
    digest = hashlib.sha256()
    size = 0
    head, pending = bytearray(), check_head
    fd, name = tempfile.mkstemp(prefix="modelgov-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in _chunks(source):
                size += len(block)
                if size > max_bytes:
                    raise InvalidInput(f"{what} is larger than the limit of {max_bytes} bytes")
                if pending is not None:
                    head += block[:pending[0] + 1 - len(head)]
                    if len(head) > pending[0]:
                        pending[1](bytes(head[:pending[0]]), False)
                        pending = None
                digest.update(block)
                out.write(block)
        if size == 0:
            raise InvalidInput(f"{what} is empty")
        if pending is not None:
            pending[1](bytes(head), True)
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise InvalidInput(
                f"{what} SHA-256 mismatch: expected {expected}, received {actual}; nothing was stored"
            )
        yield Spooled(path=Path(name), sha256=actual, size=size)
    finally:
        Path(name).unlink(missing_ok=True)


def store(spool: Spooled, *, prefix: str, suffix: str) -> str:
    """Save under a name derived from the digest, so equal content is stored once.

    A file already under that name is reused only if it holds that content: one cut short by a crash
    (before files were written whole) or damaged on disk is restored where the storage can, and
    otherwise refused, so that no version ever points at bytes other than its recorded digest's.
    """
    name = f"{prefix}/{spool.sha256}{suffix}"
    with spool.path.open("rb") as fh:
        if not default_storage.exists(name):
            return default_storage.save(name, File(fh))
        restore = getattr(default_storage, "restore", None)
        if restore is not None:
            restore(name, File(fh), spool.sha256)  # checks the file first, and leaves a whole one untouched
        elif sha256_of(default_storage, name) != spool.sha256:
            raise Conflict(
                f"the stored file {name} does not hold the content its name's digest says; "
                "nothing was registered: an operator must restore it from its backup"
            )
    return name


def check_artifact_format(path: Path, declared: str) -> None:
    """Refuse files that are not what they claim, from their bytes alone: nothing is deserialised here; the
    sandbox loads the file next (registry/artifacts.py)."""
    if declared in ("joblib", "pickle"):
        if not settings.REGISTRY_TRUST_PICKLE:
            raise InvalidInput(
                f"{declared} artifacts are refused: loading a pickle runs code from the file. "
                "Export the model as skops or ONNX, or set REGISTRY_TRUST_PICKLE=true if you trust its source"
            )
        head = path.read_bytes()[:2]
        if not head or (head[0] != 0x80 and head[:2] not in (b"\x78\x9c", b"\x1f\x8b", b"\x78\x01")):
            raise InvalidInput(f"the file is not a {declared} file")
        return
    if declared == "skops":
        if not zipfile.is_zipfile(path):
            raise InvalidInput("the file is not a skops file (a skops file is a zip archive with schema.json)")
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "schema.json" not in names:
                    raise InvalidInput("the file is not a skops file: schema.json is missing")
                total = sum(info.file_size for info in zf.infolist())
                if total > 20 * max(path.stat().st_size, CHUNK) and total > settings.REGISTRY_MAX_ARTIFACT_BYTES:
                    raise InvalidInput("the skops archive expands far beyond its size and the limit (archive bomb)")
        except zipfile.BadZipFile as exc:
            raise InvalidInput(f"the skops archive is corrupt: {exc}") from exc
        return
    if declared == "onnx":
        return  # parsed and checked in the sandbox (registry/artifacts.py): protobuf is not read here
    raise InvalidInput(f"unknown artifact format {declared!r}; expected skops, onnx, joblib or pickle")
