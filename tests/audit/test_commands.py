"""`manage.py audit`: verify, export (checked by the standalone verifier), checkpoints and tamper evidence."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
import rfc8785
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from audit import db_guards
from audit.checkpoints import checkpoint_create
from audit.models import AuditEntry, Checkpoint, VerificationRun
from audit.reconcile import reconcile
from audit.verifier import verify_bundle
from tests.audit.conftest import BUCKET
from tests.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(make_user):
    dev = make_user("dev", "model developer")
    for i in range(6):
        make_model(dev, f"m{i}")
    return AuditEntry.objects.count()


def _cmd(*args: str) -> str:
    out = StringIO()
    call_command("audit", *args, "--quiet", stdout=out, stderr=StringIO()) if args[0] in ("verify", "export") \
        else call_command("audit", *args, stdout=out)
    return out.getvalue()


def _sql(sql: str, params: list | None = None) -> None:
    with db_guards.suspended(connection), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _rewrite(seq: int, **members: object) -> None:
    """Change an entry's stored JSON as a database superuser could, keeping the stored hash."""
    entry = AuditEntry.objects.get(seq=seq)
    body = json.loads(bytes(entry.canonical))
    body.update(members)
    _sql("UPDATE audit_auditentry SET canonical = %s WHERE seq = %s", [rfc8785.dumps(body), seq])


def test_verify_passes_and_is_recorded(log):
    out = _cmd("verify")
    assert f"verified {log} entries" in out
    run = VerificationRun.objects.get()
    assert run.ok and run.entries_checked == log
    assert AuditEntry.objects.filter(action="audit.log.verify").exists()


def test_export_is_verified_by_the_standalone_verifier(log, tmp_path):
    checkpoint_create()
    _cmd("export", str(tmp_path / "full"))
    result = verify_bundle(tmp_path / "full")
    assert result.ok, result
    assert (result.first_seq, result.last_seq, result.checkpoints_checked) == (1, log, 1)
    _cmd("export", str(tmp_path / "part"), "--from", "3", "--to", "5")
    part = verify_bundle(tmp_path / "part")
    assert part.ok and (part.first_seq, part.last_seq) == (3, 5)
    assert AuditEntry.objects.filter(action="audit.log.export").count() == 2
    with pytest.raises(CommandError, match="not empty"):
        _cmd("export", str(tmp_path / "full"))


@pytest.mark.parametrize("member, value", [
    ("action", "registry.registeredmodel.delete"), ("ts", "2020-01-01T00:00:00.000000Z"),
    ("actor", {"kind": "system", "id": None, "name": "intruder"}), ("changes", {}),
    ("object", {"type": "registry.registeredmodel", "id": "999", "repr": "x"}), ("context", {"channel": "cli"}),
])
def test_any_changed_field_is_named_by_seq(log, member, value):
    _rewrite(4, **{member: value})
    with pytest.raises(CommandError, match=r"seq 4: rule (hash.mismatch|ts.order)"):
        _cmd("verify")
    assert not VerificationRun.objects.get().ok


def test_deleted_swapped_and_rehashed_entries_are_named(log):
    _sql("DELETE FROM audit_auditentry WHERE seq = 5")
    with pytest.raises(CommandError, match=r"seq 6: rule seq\.order"):
        _cmd("verify")


def test_deleted_first_entries_are_named(log):
    checkpoint_create()
    _sql("DELETE FROM audit_auditentry WHERE seq <= 2")
    with pytest.raises(CommandError, match=r"seq 3: rule seq\.order: the log must start at seq 1"):
        _cmd("verify")


def test_deleted_last_entry_is_named_even_before_any_checkpoint(log):
    _sql("DELETE FROM audit_auditentry WHERE seq = %s", [log])
    with pytest.raises(CommandError, match=rf"seq {log}: rule seq\.order: the log's head says {log} entries"):
        _cmd("verify")


def test_success_says_what_is_not_yet_covered_by_a_checkpoint(log):
    out = _cmd("verify")
    assert "OK" in out and "truncation of the tail is detectable only against a signed checkpoint" in out


def test_a_checkpoint_whose_key_is_gone_fails_by_rule(log):
    checkpoint_create()
    _sql("DELETE FROM audit_signingkey")
    _sql("UPDATE audit_checkpoint SET key_id = %s", ["f" * 16])
    with pytest.raises(CommandError, match=r"rule checkpoint\.key: no public key with id [0-9a-f]{16}"):
        _cmd("verify")
    assert not VerificationRun.objects.get().ok


@pytest.mark.parametrize(("column", "value", "named"), [
    ("object_id", "999999", "object_id"), ("actor_name", "someone else", "actor_name"),
    ("action", "registry.registeredmodel.delete", "action"), ("request_id", "forged", "request_id"),
    ("ts", "2020-01-01 00:00:00+00:00", "ts"),
])
def test_a_changed_filter_column_is_named_by_seq(log, column, value, named):
    """The hashed bytes are intact, but the column every filter reads (an object's history, the admin's
    search) no longer says what they say: that is a failure too."""
    _sql(f"UPDATE audit_auditentry SET {column} = %s WHERE seq = 4", [value])
    with pytest.raises(CommandError, match=rf"seq 4: rule row\.columns: the stored columns differ from the hashed "
                                           rf"entry: {named}"):
        _cmd("verify")


def test_swapped_entries_are_named(log):
    a, b = AuditEntry.objects.get(seq=3), AuditEntry.objects.get(seq=4)
    _sql("UPDATE audit_auditentry SET canonical = %s, hash = %s WHERE seq = 3", [bytes(b.canonical), "f" * 64])
    _sql("UPDATE audit_auditentry SET canonical = %s, hash = %s WHERE seq = 4", [bytes(a.canonical), a.hash])
    _sql("UPDATE audit_auditentry SET hash = %s WHERE seq = 3", [b.hash])
    with pytest.raises(CommandError, match=r"seq 4: rule seq\.order"):
        _cmd("verify")


def test_truncated_tail_is_caught_by_a_checkpoint(log):
    checkpoint_create()
    # Truncate as a database superuser would, consistently: entries, Merkle nodes and head.
    from audit import merkle
    from audit.checkpoints import fetch_nodes
    from audit.models import MerkleNode

    _sql("DELETE FROM audit_auditentry WHERE seq > 4")
    for key in MerkleNode.objects.values_list("key", flat=True):
        level, index = key >> 56, key & ((1 << 56) - 1)
        if (index + 1) << level > 4:
            _sql("DELETE FROM audit_merklenode WHERE key = %s", [key])
    nodes = fetch_nodes(merkle.root_keys(4))
    frontier = b"".join(nodes[k] for k in merkle.root_keys(4))
    _sql("DELETE FROM audit_chainhead")
    _sql("INSERT INTO audit_chainhead (id, seq, hash, ts, frontier) VALUES (1, 4, %s, NULL, %s)",
         [AuditEntry.objects.get(seq=4).hash, frontier])
    with pytest.raises(CommandError, match=r"checkpoint\.size"):
        _cmd("verify")


@pytest.mark.parametrize("where", ["directory", "bucket"])
def test_truncation_with_the_database_checkpoints_gone_is_caught_by_an_outside_copy(log, tmp_path, where, request):
    if where == "bucket":
        s3 = request.getfixturevalue("s3")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        mirror, settings = f"s3://{BUCKET}", {"AUDIT_CHECKPOINT_MIRROR_S3_BUCKET": BUCKET}
    else:
        mirror, settings = str(tmp_path / "mirror"), {"AUDIT_CHECKPOINT_MIRROR_DIR": str(tmp_path / "mirror")}
    from audit.mirror import S3_PREFIX, file_name
    from audit.mirror import mirror as mirror_checkpoints

    with override_settings(**settings):
        small = checkpoint_create()
        make_model(User.objects.get(username="dev"), "later")
        big = checkpoint_create()
        assert mirror_checkpoints([small, big]) == []
    if where == "bucket":
        # Object lock keeps each version, but whoever may write can put a newer version over a copy, or
        # a delete marker: the check reads every version, so hiding the big checkpoint does not work.
        s3.put_object(Bucket=BUCKET, Key=S3_PREFIX + file_name(big.size), Body=small.document.encode())
        s3.delete_object(Bucket=BUCKET, Key=S3_PREFIX + file_name(big.size))
    # A database superuser cuts the log back to the small checkpoint, consistently (head included),
    # and removes the checkpoints the database holds.
    # The head's frontier is the compact range of the small tree, as the writer would have left it.
    from audit import merkle
    from audit.checkpoints import fetch_nodes

    nodes = fetch_nodes(merkle.root_keys(small.size))
    frontier = b"".join(nodes[k] for k in merkle.root_keys(small.size))
    _sql("DELETE FROM audit_auditentry WHERE seq > %s", [small.size])
    _sql("DELETE FROM audit_merklenode")
    _sql("DELETE FROM audit_chainhead")
    _sql("INSERT INTO audit_chainhead (id, seq, hash, ts, frontier) VALUES (1, %s, %s, NULL, %s)",
         [small.size, small.head, frontier])
    _sql("DELETE FROM audit_checkpoint")
    with pytest.raises(CommandError, match=rf"rule checkpoint\.size: a checkpoint covers {big.size} entries"):
        _cmd("verify", "--against", mirror)


@pytest.mark.parametrize("where", ["directory", "bucket"])
def test_rewritten_history_is_caught_by_an_external_checkpoint(log, tmp_path, where, request):
    if where == "bucket":
        request.getfixturevalue("s3").create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        mirror, settings = f"s3://{BUCKET}", {"AUDIT_CHECKPOINT_MIRROR_S3_BUCKET": BUCKET}
    else:
        mirror, settings = str(tmp_path / "mirror"), {"AUDIT_CHECKPOINT_MIRROR_DIR": str(tmp_path / "mirror")}
    with override_settings(**settings):
        cp = checkpoint_create()
        from audit.mirror import mirror as mirror_checkpoints

        assert mirror_checkpoints([cp]) == []
    # A database superuser rewrites entry 2 and recomputes every hash after it, and drops the
    # checkpoints in the database: the chain itself then verifies.
    prev = AuditEntry.objects.get(seq=1).hash
    for entry in AuditEntry.objects.filter(seq__gte=2).order_by("seq"):
        body = json.loads(bytes(entry.canonical))
        if entry.seq == 2:
            body["changes"] = {"title": {"old": None, "new": "rewritten"}}
        body["prev"] = prev
        raw = rfc8785.dumps(body)
        prev = hashlib.sha256(raw).hexdigest()
        _sql("UPDATE audit_auditentry SET canonical = %s, prev = %s, hash = %s WHERE seq = %s",
             [raw, body["prev"], prev, entry.seq])
    _sql("DELETE FROM audit_checkpoint")
    # The chain verifies; the state it now says is not the tables' (the object whose fields entry 2 gave).
    rewritten = AuditEntry.objects.values_list("object_type", "object_id").get(seq=2)
    assert rewritten in {(d.object_type, d.object_id) for d in reconcile()}
    assert "OK" in _cmd("verify", "--no-state")
    with pytest.raises(CommandError, match=r"checkpoint\.root"):
        _cmd("verify", "--against", mirror)


def test_verify_against_a_place_with_no_copies_is_an_error_not_a_pass(log, tmp_path, s3):
    checkpoint_create()
    with pytest.raises(CommandError, match="no directory of checkpoint copies"):
        _cmd("verify", "--against", str(tmp_path / "typo"))
    with pytest.raises(CommandError, match="no checkpoint copies in"):
        _cmd("verify", "--against", str(tmp_path))
    with pytest.raises(CommandError, match="cannot read checkpoint copies from s3://nowhere"):
        _cmd("verify", "--against", "s3://nowhere")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    with pytest.raises(CommandError, match=f"no checkpoint copies in s3://{BUCKET}"):
        _cmd("verify", "--against", f"s3://{BUCKET}")


def test_checkpoint_command_signs_and_proof_command_serves(log):
    out = json.loads(_cmd("checkpoint"))
    assert out["size"] == log
    assert Checkpoint.objects.get().size == log
    assert "no checkpoint due" in _cmd("checkpoint", "--if-due")
    proof = json.loads(_cmd("proof", "--seq", "2"))
    assert proof["tree_size"] == log and proof["root"] == out["root"]
    cons = json.loads(_cmd("proof", "--old-size", "2"))
    assert cons["root"] == out["root"]


def test_verify_of_empty_bundle_dir_path(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="nothing to export"):
        _cmd("export", str(tmp_path / "x"), "--from", "99999")


def test_export_from_zero_is_refused_not_taken_as_one(log, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="1 <= --from"):
        _cmd("export", str(tmp_path / "x"), "--from", "0")
    assert not (tmp_path / "x" / "entries.jsonl").exists()


def test_an_entry_made_on_a_whole_second_verifies(log, monkeypatch):
    """The stored ts is compared as the database writes it; a whole second is where its text form differs."""
    import datetime as dt

    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2036, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    make_model(User.objects.get(username="dev"), "on-the-second")
    monkeypatch.undo()
    assert AuditEntry.objects.latest("seq").as_json()["ts"] == "2036-01-02T03:04:05.000000Z"
    assert "OK" in _cmd("verify")
