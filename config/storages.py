"""Where artifacts, data sets and reports are kept: each file whole or absent, never replaced, never deleted.

A version's artifact and a report's PDF are named by their SHA-256, and the audit log records that
digest. Django's own FileSystemStorage writes straight into the final name: a full disk or a crash
half way leaves a cut file there, which the next upload of the same content then finds and reuses,
and `storage.delete()` (or `version.artifact.delete()` in a shell) removes what a version points to
with no entry. Here a file appears under its name only once it is complete and on disk, a taken name
is never written over, and deleting is refused: files are kept as long as the log that cites them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage
from django.utils.deconstruct import deconstructible

logger = logging.getLogger(__name__)

READ_ONLY = 0o444
_CHUNK = 1024 * 1024


class ImmutableFileError(PermissionError):
    """A stored file was to be deleted or replaced."""


def refuse_delete(name: str) -> None:
    raise ImmutableFileError(
        f"{name}: stored files are write-once and kept as long as the audit log that cites them; "
        "nothing deletes them (use object-locked storage with a retention period in production)"
    )


def sha256_of(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@deconstructible(path="config.storages.WriteOnceFileSystemStorage")
class WriteOnceFileSystemStorage(FileSystemStorage):
    """Local disk, write-once: whole files only, read-only on disk, never replaced or deleted."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("file_permissions_mode", READ_ONLY)
        kwargs.pop("allow_overwrite", None)  # never
        super().__init__(**kwargs)

    def _save(self, name: str, content: Any) -> str:
        full = Path(self.path(name))
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp, _ = self._spool(full.parent, content)
        try:
            while True:
                try:
                    os.link(tmp, full)  # atomic, and fails rather than replace
                    break
                except FileExistsError:  # Django's rule for a taken name: another name
                    name = self.get_available_name(name)
                    full = Path(self.path(name))
        finally:
            tmp.unlink()
        return Path(os.path.relpath(full, self.location)).as_posix()

    def _spool(self, directory: Path, content: Any) -> tuple[Path, str]:
        """The content in a read-only temporary file beside its final place, synced to disk, and its SHA-256."""
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    data = chunk if isinstance(chunk, bytes) else chunk.encode()
                    digest.update(data)
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, self.file_permissions_mode or READ_ONLY)
        except BaseException:
            os.unlink(tmp)
            raise
        return Path(tmp), digest.hexdigest()

    def restore(self, name: str, content: Any, sha256: str) -> None:
        """Put back the content a digest names, where the file under that name no longer holds it (cut
        by a crash before files were written whole, or damaged on disk). Only then: a file that holds
        its digest's content is never touched, so nothing any entry cites can change."""
        if sha256_of(self, name) == sha256:
            return
        full = Path(self.path(name))
        tmp, written = self._spool(full.parent, content)
        try:
            if written != sha256:
                raise ValueError(f"{name}: the replacement does not hold the content its digest names")
            os.replace(tmp, full)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.warning("%s did not hold the content its digest names; restored it", name)

    def delete(self, name: str) -> None:
        refuse_delete(name)
