"""Checkpoint copies outside the database: whole or absent, locked in S3, and a failed copy is made
again later instead of failing the checkpoint or being forgotten."""

from __future__ import annotations

import datetime as dt
import json
import logging
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from audit import mirror, signing
from audit.checkpoints import checkpoint_create
from audit.models import Checkpoint
from audit.tasks import checkpoint_if_due
from config import files
from tests.audit.conftest import BUCKET
from tests.factories import make_model

pytestmark = pytest.mark.django_db

@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


def _checkpoints(dev: Any, n: int) -> list[Checkpoint]:
    """n checkpoints at growing sizes, made with no mirror configured."""
    out = []
    for i in range(n):
        make_model(dev, f"m{i}")
        out.append(checkpoint_create())
    return out


def test_directory_copy_is_whole_read_only_and_carries_the_key(dev: Any, tmp_path: Path) -> None:
    (cp,) = _checkpoints(dev, 1)
    with override_settings(AUDIT_CHECKPOINT_MIRROR_DIR=str(tmp_path)):
        assert mirror.mirror([cp]) == []
    copy = tmp_path / mirror.file_name(cp.size)
    assert json.loads(copy.read_text()) == cp.as_json()
    assert copy.stat().st_mode & 0o777 == 0o444
    assert (tmp_path / "keys" / f"{cp.key_id}.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        copy.name, "keys", f"keys/{cp.key_id}.pub"]  # no temporary file left


def test_a_copy_that_fails_midway_leaves_nothing_and_is_made_on_the_next_run(
        dev: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    (cp,) = _checkpoints(dev, 1)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with override_settings(AUDIT_CHECKPOINT_MIRROR_DIR=str(tmp_path)):
        monkeypatch.setattr(files.os, "fsync", disk_full)
        with caplog.at_level(logging.ERROR, logger="audit.mirror"):
            failures = mirror.mirror_recent()
        assert len(failures) == 1 and "No space left on device" in failures[0]
        assert "not mirrored" in caplog.text
        # No partial copy (of the checkpoint or of its key) that a later run would take as done.
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
        monkeypatch.undo()
        assert mirror.mirror_recent() == []
    assert json.loads((tmp_path / mirror.file_name(cp.size)).read_text()) == cp.as_json()
    assert (tmp_path / "keys" / f"{cp.key_id}.pub").read_bytes() == signing.public_key_pem(cp.key_id)


def test_an_unreachable_mirror_never_fails_the_checkpoint(
        dev: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture) -> None:
    make_model(dev, "a")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with override_settings(AUDIT_CHECKPOINT_MIRROR_DIR=str(blocker / "mirror")), \
            caplog.at_level(logging.ERROR, logger="audit.mirror"), \
            django_capture_on_commit_callbacks(execute=True) as callbacks:
        cp = checkpoint_create()
    assert len(callbacks) == 1  # the copy was attempted after the commit ...
    assert "not mirrored" in caplog.text  # ... failed, and said so
    assert Checkpoint.objects.filter(size=cp.size).exists()  # the checkpoint stands


def test_the_command_reports_what_it_could_not_mirror_and_the_next_run_makes_it(dev: Any, tmp_path: Path) -> None:
    make_model(dev, "a")
    blocker = tmp_path / "mirror"
    blocker.write_text("")  # a file where the directory should be
    with override_settings(AUDIT_CHECKPOINT_MIRROR_DIR=str(blocker)):
        with pytest.raises(CommandError, match="signed and stored, but not all mirrored"):
            call_command("audit", "checkpoint", stdout=StringIO())
        cp = Checkpoint.objects.get()
        blocker.unlink()
        out = StringIO()
        call_command("audit", "checkpoint", "--if-due", stdout=out)
    assert "no checkpoint due" in out.getvalue()
    assert json.loads((blocker / mirror.file_name(cp.size)).read_text()) == cp.as_json()


def test_bucket_copy_is_locked_in_compliance_mode(dev: Any, s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    (cp,) = _checkpoints(dev, 1)
    with override_settings(AUDIT_CHECKPOINT_MIRROR_S3_BUCKET=BUCKET):
        assert mirror.mirror([cp]) == []
        assert mirror.mirror([cp]) == []  # already there: not written twice
    key = mirror.S3_PREFIX + mirror.file_name(cp.size)
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    assert json.loads(obj["Body"].read()) == cp.as_json()
    assert obj["ObjectLockMode"] == "COMPLIANCE"
    assert obj["ObjectLockRetainUntilDate"] > timezone.now() + dt.timedelta(days=365 * 9)
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1
    with pytest.raises(ClientError) as refused:  # not even the bucket's owner can remove it
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=obj["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_missing_bucket_copies_are_made_by_the_scheduled_run(dev: Any, s3: Any) -> None:
    cps = _checkpoints(dev, 3)
    with override_settings(AUDIT_CHECKPOINT_MIRROR_S3_BUCKET=BUCKET, AUDIT_CHECKPOINT_MIRROR_CATCH_UP=2):
        failures = mirror.mirror_recent()  # the bucket does not exist yet
        assert len(failures) == 1 and "NoSuchBucket" in failures[0]
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        assert checkpoint_if_due() is None  # nothing new to sign; the copies are caught up
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    # The latest AUDIT_CHECKPOINT_MIRROR_CATCH_UP checkpoints, no more, and the key that signed them.
    assert keys == [mirror.S3_PREFIX + mirror.file_name(cp.size) for cp in cps[1:]] + [
        f"{mirror.S3_KEYS_PREFIX}{cps[0].key_id}.pub"]

