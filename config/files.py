"""Files made once and never changed: a secret, a key, a log id, a checkpoint copy."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_once(path: Path, data: bytes, mode: int) -> None:
    """Create `path` holding `data`, whole or not at all, unless it exists; never replace it.

    The data goes to a temporary file beside it, synced, then linked under the final name. A reader
    therefore never sees a half-written file, not even after a crash or a full disk, and when several
    processes make the same file at once (a web and a worker process on first start) one wins and all
    of them read the winner's.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process: keep that one
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
