"""Stored files (artifacts, data sets, reports): whole or absent, never replaced, never deleted, and a
version never points at bytes other than its recorded digest's."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, default_storage, storages

from config.errors import Conflict
from config.storages import ImmutableFileError, WriteOnceFileSystemStorage
from registry import storage as registry_storage
from tests.factories import make_model, make_version, skops_bytes

pytestmark = pytest.mark.django_db


def _path(name: str) -> Path:
    return Path(default_storage.path(name))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


def test_the_configured_storage_is_write_once() -> None:
    assert isinstance(storages["default"], WriteOnceFileSystemStorage)


def test_an_artifact_cannot_be_deleted_and_is_read_only_on_disk(dev: Any) -> None:
    version = make_version(make_model(dev, "wo"), dev, content=skops_bytes(1))
    path = _path(version.artifact.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    with pytest.raises(ImmutableFileError, match="write-once"):
        version.artifact.delete(save=False)
    with pytest.raises(ImmutableFileError):
        default_storage.delete(version.artifact.name)
    assert _sha(path.read_bytes()) == version.artifact_sha256
    version.refresh_from_db()
    assert version.artifact.name  # the row still points at it


def test_a_taken_name_is_never_written_over(tmp_path: Path) -> None:
    store = WriteOnceFileSystemStorage(location=str(tmp_path))
    first = store.save("a/x.bin", ContentFile(b"first"))
    second = store.save("a/x.bin", ContentFile(b"second"))
    assert first == "a/x.bin" and second != first
    assert (tmp_path / first).read_bytes() == b"first"
    assert (tmp_path / second).read_bytes() == b"second"


class _FullDisk(File):
    """Content whose writing fails half way, as on a full disk."""

    def __init__(self, head: bytes) -> None:
        super().__init__(io.BytesIO(head), name="upload")
        self.head = head

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield self.head
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_failing_half_way_leaves_nothing_under_the_name(tmp_path: Path) -> None:
    store = WriteOnceFileSystemStorage(location=str(tmp_path))
    with pytest.raises(OSError, match="No space left"):
        store.save("artifacts/cut.skops", _FullDisk(b"half of it"))
    assert not (tmp_path / "artifacts" / "cut.skops").exists()
    assert os.listdir(tmp_path / "artifacts") == []  # no temporary file left behind either
    assert store.save("artifacts/cut.skops", ContentFile(b"whole")) == "artifacts/cut.skops"


def test_a_cut_file_under_a_digest_name_is_restored_not_reused(dev: Any) -> None:
    """A crash under the old storage left the first bytes of an artifact under its digest's name; the
    next upload of that content must not register a version pointing at them."""
    content = skops_bytes(2)
    name = f"artifacts/{_sha(content)}.skops"
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content[:100])
    version = make_version(make_model(dev, "cut"), dev, content=content)
    assert version.artifact.name == name
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_whole_file_is_reused_untouched(dev: Any) -> None:
    content = skops_bytes(3)
    model = make_model(dev, "reuse")
    first = make_version(model, dev, content=content)
    inode = _path(first.artifact.name).stat().st_ino
    second = make_version(model, dev, content=content)
    assert second.artifact.name == first.artifact.name
    assert _path(second.artifact.name).stat().st_ino == inode


def test_a_storage_that_cannot_restore_refuses_the_damaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = FileSystemStorage(location=str(tmp_path))
    monkeypatch.setattr(registry_storage, "default_storage", plain)
    content = b"the model bytes"
    name = f"artifacts/{_sha(content)}.bin"
    plain.save(name, ContentFile(b"something else"))
    spool_path = tmp_path / "spool"
    spool_path.write_bytes(content)
    spool = registry_storage.Spooled(path=spool_path, sha256=_sha(content), size=len(content))
    with pytest.raises(Conflict, match="does not hold the content"):
        registry_storage.store(spool, prefix="artifacts", suffix=".bin")
    assert (tmp_path / name).read_bytes() == b"something else"


def test_restore_never_touches_a_file_holding_its_content(tmp_path: Path) -> None:
    store = WriteOnceFileSystemStorage(location=str(tmp_path))
    name = store.save("a/f", ContentFile(b"right"))
    inode = (tmp_path / name).stat().st_ino
    store.restore(name, ContentFile(b"right"), _sha(b"right"))
    assert (tmp_path / name).stat().st_ino == inode
    (tmp_path / name).chmod(0o644)
    (tmp_path / name).write_bytes(b"wrong")  # damaged on disk
    with pytest.raises(ValueError, match="does not hold"):  # a replacement must hold the named content
        store.restore(name, ContentFile(b"not it"), _sha(b"right"))
    assert (tmp_path / name).read_bytes() == b"wrong"
    assert os.listdir(tmp_path / "a") == ["f"]
    store.restore(name, ContentFile(b"right"), _sha(b"right"))
    assert (tmp_path / name).read_bytes() == b"right"


def test_the_s3_store_refuses_deletes_too() -> None:
    from config.storages_s3 import WriteOnceS3Storage

    with pytest.raises(ImmutableFileError):
        WriteOnceS3Storage(bucket_name="modelgov-test").delete("artifacts/x.skops")
