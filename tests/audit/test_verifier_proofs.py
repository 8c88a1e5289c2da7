"""An outsider checks one proof from the API with the standalone verifier and a key they trust."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import signing
from audit.checkpoints import checkpoint_create
from audit.verifier import VerificationError, trusted_keys
from audit.verifier.proofs import check_proof
from tests.audit.verifier_cli import run_verifier
from tests.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def docs(api: Any, make_user: Any) -> dict[str, Any]:
    dev = make_user("dev", "model developer")
    for i in range(5):
        make_model(dev, f"m{i}")
    old = checkpoint_create().as_json()
    for i in range(5, 9):
        make_model(dev, f"m{i}")
    new = checkpoint_create().as_json()
    api.force_authenticate(dev)
    return {
        "entry": api.get("/api/v1/audit/entries/3/proof/").json(),
        "inclusion": api.get(f"/api/v1/audit/checkpoints/inclusion/?seq=4&size={old['size']}").json(),
        "consistency": api.get(f"/api/v1/audit/checkpoints/consistency/?old_size={old['size']}").json(),
        "old": old, "new": new, "key": signing.public_key_pem(new["key"]),
    }


def _fails(doc: Any, keys: list[bytes], rule: str, kept: Any = None) -> None:
    with pytest.raises(VerificationError) as failed:
        check_proof(doc, trusted_keys(keys), kept)
    assert failed.value.rule == rule, failed.value.message


def test_each_kind_of_proof_checks_out(docs: dict[str, Any]) -> None:
    key = trusted_keys([docs["key"]])
    assert check_proof(docs["entry"], key) == (
        f"entry 3 (hash recomputed) is in the signed tree of {docs['new']['size']} entries")
    assert check_proof(docs["inclusion"], key) == f"entry 4 is in the signed tree of {docs['old']['size']} entries"
    assert check_proof(docs["consistency"], key, docs["old"]).startswith(
        f"the signed tree of {docs['new']['size']} entries extends the signed tree of {docs['old']['size']}")


def test_any_change_fails_by_rule(docs: dict[str, Any]) -> None:
    key = [docs["key"]]
    entry = copy.deepcopy(docs["entry"])
    entry["entry"]["action"] = "registry.registeredmodel.delete"
    _fails(entry, key, "hash.mismatch")
    node = copy.deepcopy(docs["inclusion"])
    node["proof"][0] = "0" * 64
    _fails(node, key, "proof.inclusion")
    server_root = copy.deepcopy(docs["inclusion"])  # a root beside the checkpoint is never trusted
    server_root["root"], server_root["checkpoint"]["root"] = "1" * 64, "1" * 64
    _fails(server_root, key, "checkpoint.signature")
    other_key = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _fails(docs["inclusion"], [other_key], "checkpoint.key")
    unsigned = copy.deepcopy(docs["inclusion"])
    unsigned["checkpoint"] = None
    _fails(unsigned, key, "proof.checkpoint")
    cons = copy.deepcopy(docs["consistency"])
    cons["proof"][-1] = "0" * 64
    _fails(cons, key, "proof.consistency", docs["old"])
    _fails(docs["consistency"], key, "proof.size", docs["new"])  # an older checkpoint of another size
    _fails([1], key, "proof.shape")


def test_the_command_line_needs_no_django(docs: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "entry.json").write_text(json.dumps(docs["entry"]))
    (tmp_path / "cons.json").write_text(json.dumps(docs["consistency"]))
    (tmp_path / "old.json").write_text(json.dumps(docs["old"]))
    (tmp_path / "key.pem").write_bytes(docs["key"])
    bad = copy.deepcopy(docs["entry"])
    bad["inclusion"]["proof"][0] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(bad))

    ok = run_verifier("--proof", "entry.json", "--key", "key.pem", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: entry 3 (hash recomputed)"), ok.stdout + ok.stderr
    ok = run_verifier("--proof", "cons.json", "--key", "key.pem", "--old-checkpoint", "old.json", cwd=tmp_path)
    assert ok.returncode == 0 and "extends the signed tree" in ok.stdout, ok.stdout + ok.stderr
    failed = run_verifier("--proof", "bad.json", "--key", "key.pem", cwd=tmp_path)
    assert failed.returncode == 1 and "FAILED: rule proof.inclusion" in failed.stdout
    assert run_verifier("--proof", "missing.json", "--key", "key.pem", cwd=tmp_path).returncode == 2
    # No trusted key: refused by the argument parser.
    assert run_verifier("--proof", "entry.json", cwd=tmp_path).returncode == 2


def test_a_proof_document_that_rfc8785_cannot_write_or_that_repeats_a_member_is_refused(
        docs: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(docs["key"])
    nan = copy.deepcopy(docs["entry"])
    nan["entry"]["changes"] = {"score": {"old": None, "new": float("nan")}}
    _fails(nan, [docs["key"]], "entry.json")
    (tmp_path / "nan.json").write_text(json.dumps(nan))
    failed = run_verifier("--proof", "nan.json", "--key", "key.pem", cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr and "rule entry.json" in failed.stdout
    # A forged "action" before the real one: read as its last value it would pass; it is not JSON a
    # verifier may read either way (I-JSON), as in a bundle.
    text = json.dumps(docs["entry"])
    twice = text.replace('"entry": {', '"entry": {"action": "registry.registeredmodel.delete", ', 1)
    assert twice != text
    (tmp_path / "twice.json").write_text(twice)
    refused = run_verifier("--proof", "twice.json", "--key", "key.pem", cwd=tmp_path)
    assert refused.returncode == 2 and "duplicate member 'action'" in refused.stderr
