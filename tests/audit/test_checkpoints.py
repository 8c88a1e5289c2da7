"""Checkpoints: signed, scheduled, mirrored, verifiable after key rotation; proofs served over the API."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from django.test import override_settings
from django.utils import timezone

from audit import signing
from audit.checkpoints import checkpoint_create, checkpoint_due
from audit.format.checkpoint import key_id
from audit.format.rfc6962 import leaf_hash
from audit.models import Checkpoint, SigningKey
from audit.verification import verify_log
from audit.verifier import verify_checkpoint_signature, verify_consistency, verify_inclusion
from tests.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(make_user):
    return make_user("dev", "model developer")


def test_checkpoint_is_signed_per_spec(dev):
    make_model(dev, "a")
    cp = checkpoint_create()
    body = cp.as_json()
    assert set(body) == {"v", "log", "size", "root", "head", "ts", "key", "sig"}
    pem = signing.public_key_pem(body["key"])
    verify_checkpoint_signature(body, pem)
    public: Any = serialization.load_pem_public_key(pem)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import hashlib

    assert body["key"] == hashlib.sha256(raw).digest()[:8].hex()
    public.verify(base64.b64decode(body["sig"]), rfc8785.dumps({k: v for k, v in body.items() if k != "sig"}))
    assert checkpoint_create().size == cp.size  # nothing new: the same checkpoint


def test_schedule_by_entries_and_minutes(dev):
    make_model(dev, "a")
    assert checkpoint_due()
    checkpoint_create()
    assert not checkpoint_due()
    make_model(dev, "b")
    with override_settings(AUDIT_CHECKPOINT_EVERY_ENTRIES=1000, AUDIT_CHECKPOINT_EVERY_MINUTES=10):
        assert not checkpoint_due()
        Checkpoint.objects.filter()  # the last one is recent
        from unittest import mock

        with mock.patch("audit.checkpoints.timezone.now", return_value=timezone.now() + dt.timedelta(minutes=11)):
            assert checkpoint_due()
    with override_settings(AUDIT_CHECKPOINT_EVERY_ENTRIES=1):
        assert checkpoint_due()


def test_key_rotation_keeps_old_checkpoints_verifiable(dev, tmp_path, settings):
    make_model(dev, "a")
    first = checkpoint_create()
    settings.AUDIT_SIGNING_KEY_FILE = str(tmp_path / "rotated" / "checkpoint.key")
    signing.signing_key.cache_clear()
    try:
        make_model(dev, "b")
        second = checkpoint_create()
        assert second.key_id != first.key_id
        assert SigningKey.objects.count() == 2
        run = verify_log()
        assert run.ok and run.checkpoints_checked == 2
    finally:
        signing.signing_key.cache_clear()


def test_proofs_over_the_api_verify_independently(api, dev):
    for i in range(7):
        make_model(dev, f"m{i}")
    cp = checkpoint_create().as_json()
    api.force_authenticate(dev)
    latest = api.get("/api/v1/audit/checkpoints/latest/").json()
    assert latest == cp
    keys = api.get("/api/v1/audit/checkpoints/keys/").json()
    verify_checkpoint_signature(latest, keys[latest["key"]].encode())
    entry = api.get("/api/v1/audit/entries/3/proof/").json()
    inc = entry["inclusion"]
    assert verify_inclusion(bytes.fromhex(inc["leaf_hash"]), 2, inc["tree_size"],
                            [bytes.fromhex(h) for h in inc["proof"]], bytes.fromhex(cp["root"]))
    cons = api.get(f"/api/v1/audit/checkpoints/consistency/?old_size=3&size={cp['size']}").json()
    assert verify_consistency(3, cp["size"], [bytes.fromhex(h) for h in cons["proof"]],
                              bytes.fromhex(cons["old_root"]), bytes.fromhex(cp["root"]))
    assert api.get("/api/v1/audit/checkpoints/inclusion/?seq=999999").status_code == 400
    assert api.get("/api/v1/audit/checkpoints/consistency/?old_size=x").status_code == 400


def test_scheduled_task(dev):
    from audit.tasks import checkpoint_if_due

    make_model(dev, "a")
    assert checkpoint_if_due.delay().get() == Checkpoint.objects.get().size
    assert checkpoint_if_due.delay().get() is None


def test_stored_and_recomputed_nodes_give_the_rfc_tree(dev):
    """Only subtrees of 2**STORED_LEVEL leaves or more are stored; the smaller ones are rebuilt from the
    entries' hashes. Roots and proofs read from the database equal the in-memory RFC 6962 tree's, for
    every size across several stored-level boundaries (on PostgreSQL this is the SQL append's output)."""
    from audit import merkle, writer
    from audit.checkpoints import fetch_nodes
    from audit.models import AuditEntry, MerkleNode

    n = 3 * 2**merkle.STORED_LEVEL + 5
    while AuditEntry.objects.count() < n:
        writer.record(action="tests.merkle.fill", obj=writer.ObjectRef(type="tests.fill", id="1", repr="fill"))
    leaves = [leaf_hash(h) for h in AuditEntry.objects.order_by("seq").values_list("hash", flat=True)[:n]]
    memory = merkle.MemoryNodes(leaves)
    stored_levels = {key >> 56 for key in MerkleNode.objects.values_list("key", flat=True)}
    assert stored_levels and min(stored_levels) >= merkle.STORED_LEVEL
    for size in range(1, n + 1):
        assert merkle.root(size, fetch_nodes(merkle.root_keys(size))) == merkle.mth(leaves[:size])
        for index in {0, size // 2, size - 1}:
            keys = merkle.inclusion_keys(index, size)
            assert merkle.inclusion_proof(index, size, fetch_nodes(keys)) == merkle.inclusion_proof(index, size, memory)
        for old in {1, size // 3 or 1, size}:
            keys = merkle.consistency_keys(old, size)
            assert merkle.consistency_proof(old, size, fetch_nodes(keys)) == merkle.consistency_proof(old, size, memory)


def test_signing_key_from_the_environment(dev, settings):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    settings.AUDIT_SIGNING_KEY = base64.b64encode(raw).decode()
    signing.signing_key.cache_clear()
    try:
        make_model(dev, "a")
        cp = checkpoint_create()
        assert cp.key_id == key_id(key.public_key())
        public: Any = key.public_key()
        public.verify(base64.b64decode(cp.as_json()["sig"]),
                      rfc8785.dumps({k: v for k, v in cp.as_json().items() if k != "sig"}))
        assert verify_log().ok
        settings.AUDIT_SIGNING_KEY = "not a key"
        signing.signing_key.cache_clear()
        from django.core.exceptions import ImproperlyConfigured

        with pytest.raises(ImproperlyConfigured, match="must be a PEM Ed25519 key or 32 raw bytes in base64"):
            signing.current_key_id()
    finally:
        signing.signing_key.cache_clear()
