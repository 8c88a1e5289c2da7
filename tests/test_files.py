"""Files made once (secret, signing key, log id, checkpoint copies): whole or absent, never replaced,
and one winner when several processes make the same file at once."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from config import files


def _race(path: str, index: int, barrier: Any, seen: Any) -> None:
    barrier.wait()
    files.write_once(Path(path), f"writer {index} ".encode() * 1_000_000, 0o600)
    seen.put(Path(path).read_bytes())  # what this process goes on to use, e.g. as its secret


def test_processes_racing_to_make_the_same_file_all_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret"
    ctx = multiprocessing.get_context("fork")
    barrier, seen = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(path), i, barrier, seen)) for i in range(8)]
    for p in procs:
        p.start()
    used = [seen.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    data = path.read_bytes()
    winner = data[: data.index(b" ", len("writer ")) + 1]
    assert data == winner * 1_000_000  # one writer's whole content, nothing interleaved or cut short
    assert used == [data] * 8  # every process read that same whole file, none a half-written one
    assert os.listdir(path.parent) == ["secret"]  # no temporary file left behind
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "key"
    files.write_once(path, b"first", 0o600)
    files.write_once(path, b"second", 0o600)
    assert path.read_bytes() == b"first"


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        files.write_once(tmp_path / "key", b"data", 0o600)
    assert os.listdir(tmp_path) == []  # a half-written key would be taken as the key on the next start
    monkeypatch.undo()
    files.write_once(tmp_path / "key", b"data", 0o600)
    assert (tmp_path / "key").read_bytes() == b"data"
