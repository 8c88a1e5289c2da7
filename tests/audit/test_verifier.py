"""The standalone verifier on bundles built here from the spec alone: valid passes, each tamper is named."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.verifier import verify_bundle
from tests.audit.verifier_cli import run_verifier

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def make_entries(n: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    prev = "0" * 64
    for seq in range(1, n + 1):
        e: dict[str, Any] = {
            "v": 1, "seq": seq, "ts": f"2026-01-01T00:00:{seq:02d}.000000Z",
            "actor": {"kind": "user", "id": "7", "name": "ana"}, "action": "registry.modelversion.create",
            "object": {"type": "registry.modelversion", "id": str(seq), "repr": f"m v{seq} — ü"},
            "changes": {"stage": {"old": None, "new": "none"}, "score": {"old": 0.5, "new": 1e-7}},
            "context": {"channel": "api", "request_id": f"r{seq}"}, "prev": prev,
        }
        e["hash"] = hashlib.sha256(rfc8785.dumps(e)).hexdigest()
        prev = e["hash"]
        entries.append(e)
    return entries


def make_checkpoint(entries: list[dict[str, Any]], size: int) -> dict[str, Any]:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    leaves = [_h(b"\x00" + bytes.fromhex(e["hash"])) for e in entries[:size]]
    cp = {"v": 1, "log": "test", "size": size, "root": _mth(leaves).hex(), "head": entries[size - 1]["hash"],
          "ts": "2026-01-02T00:00:00.000000Z", "key": _h(raw)[:8].hex()}
    cp["sig"] = base64.b64encode(KEY.sign(rfc8785.dumps(cp))).decode()
    return cp


def write_bundle(path: Path, entries: list[Any], checkpoints: list[dict[str, Any]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "entries.jsonl").write_text("".join(
        (e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)) + "\n" for e in entries), encoding="utf-8")
    (path / "checkpoints.jsonl").write_text("".join(json.dumps(c) + "\n" for c in checkpoints))
    (path / "keys").mkdir(exist_ok=True)
    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for c in checkpoints:
        (path / "keys" / f"{c['key']}.pub").write_bytes(pem)
    return path


@pytest.fixture
def entries() -> list[dict[str, Any]]:
    return make_entries(12)


def test_valid_bundle_passes(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    result = verify_bundle(write_bundle(tmp_path / "b", entries, [make_checkpoint(entries, 5),
                                                                 make_checkpoint(entries, 12)]))
    assert result.ok, result
    assert (result.first_seq, result.last_seq, result.entries, result.checkpoints_checked) == (1, 12, 12, 2)


@pytest.mark.parametrize("member", ["v", "seq", "ts", "actor", "action", "object", "changes", "context", "prev",
                                    "hash"])
def test_tampering_any_member_of_any_entry_is_named(tmp_path: Path, entries: list[dict[str, Any]],
                                                     member: str) -> None:
    target = 7
    e = entries[target - 1]
    e[member] = {
        "v": 2, "seq": 70, "ts": "2026-01-01T00:00:07.000001Z", "actor": {"kind": "user", "id": "8", "name": "x"},
        "action": "registry.modelversion.delete", "object": {"type": "a.b", "id": "1", "repr": "x"},
        "changes": {}, "context": {"channel": "cli"}, "prev": "1" * 64, "hash": "2" * 64,
    }[member]
    result = verify_bundle(write_bundle(tmp_path / "b", entries, []))
    assert not result.ok
    assert result.failed_seq == (70 if member == "seq" else target)
    assert result.rule in {"entry.v", "seq.order", "hash.mismatch", "prev.chain"}


def test_deleted_swapped_and_reordered_entries(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    deleted = verify_bundle(write_bundle(tmp_path / "a", entries[:4] + entries[5:], []))
    assert (deleted.ok, deleted.failed_seq, deleted.rule) == (False, 6, "seq.order")
    swapped = entries[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    result = verify_bundle(write_bundle(tmp_path / "b", swapped, []))
    assert (result.ok, result.failed_seq, result.rule) == (False, 5, "seq.order")


def test_decreasing_ts_extra_and_missing_members(tmp_path: Path) -> None:
    e = make_entries(3)
    e[2]["ts"] = "2025-12-31T23:59:59.000000Z"
    body = {k: v for k, v in e[2].items() if k != "hash"}
    e[2]["hash"] = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    r = verify_bundle(write_bundle(tmp_path / "a", e, []))
    assert (r.failed_seq, r.rule) == (3, "ts.order")
    e = make_entries(3)
    e[1]["extra"] = 1
    assert verify_bundle(write_bundle(tmp_path / "b", e, [])).rule == "entry.members"
    e = make_entries(3)
    del e[0]["context"]
    r = verify_bundle(write_bundle(tmp_path / "c", e, []))
    assert (r.failed_seq, r.rule) == (1, "entry.members")
    r = verify_bundle(write_bundle(tmp_path / "d", [*make_entries(2), "{not json"], []))
    assert r.rule == "entry.parse"


def test_checkpoint_failures(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    bad_sig = make_checkpoint(entries, 6)
    bad_sig["sig"] = base64.b64encode(b"\x00" * 64).decode()
    r = verify_bundle(write_bundle(tmp_path / "a", entries, [bad_sig]))
    assert (r.failed_checkpoint_size, r.rule) == (6, "checkpoint.signature")
    bad_root = make_checkpoint(entries, 6)
    bad_root.pop("sig")
    bad_root["root"] = "ab" * 32
    bad_root["sig"] = base64.b64encode(KEY.sign(rfc8785.dumps(bad_root))).decode()
    r = verify_bundle(write_bundle(tmp_path / "b", entries, [bad_root]))
    assert (r.failed_checkpoint_size, r.rule) == (6, "checkpoint.root")
    bad_head = make_checkpoint(entries, 6)
    bad_head.pop("sig")
    bad_head["head"] = entries[4]["hash"]
    bad_head["sig"] = base64.b64encode(KEY.sign(rfc8785.dumps(bad_head))).decode()
    r = verify_bundle(write_bundle(tmp_path / "c", entries, [bad_head]))
    assert (r.failed_checkpoint_size, r.rule) == (6, "checkpoint.head")


def _resigned(cp: dict[str, Any], **change: Any) -> dict[str, Any]:
    body = {k: v for k, v in cp.items() if k != "sig"} | change
    return body | {"sig": base64.b64encode(KEY.sign(rfc8785.dumps(body))).decode()}


def _noncanonical_b64(sig: str) -> str:
    """The same signature bytes spelt with non-zero padding bits: a second spelling standard base64 never writes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = sig.rstrip("=")
    last = alphabet[alphabet.index(body[-1]) ^ 1]  # 64 bytes: the last character carries 4 unused bits
    spelt = body[:-1] + last + "=" * (len(sig) - len(body))
    assert spelt != sig and base64.b64decode(spelt) == base64.b64decode(sig)
    return spelt


@pytest.mark.parametrize(("mutate", "rule"), [
    (lambda cp: {k: v for k, v in cp.items() if k != "log"}, "checkpoint.members"),
    (lambda cp: cp | {"extra": 1}, "checkpoint.members"),
    (lambda cp: _resigned(cp, v=2), "checkpoint.v"),
    (lambda cp: _resigned(cp, v=True), "checkpoint.v"),
    (lambda cp: _resigned(cp, size=-1), "checkpoint.size"),
    (lambda cp: _resigned(cp, size="6"), "checkpoint.size"),
    (lambda cp: _resigned(cp, root=cp["root"][:-1] + "g"), "checkpoint.root"),
    (lambda cp: _resigned(cp, root=cp["root"] + "\n"), "checkpoint.root"),
    (lambda cp: _resigned(cp, size=6.5), "checkpoint.size"),
    (lambda cp: _resigned(cp, ts="2026-13-45T99:99:99.000000Z"), "checkpoint.ts"),
    (lambda cp: _resigned(cp, ts="2026-01-02T00:00:00.000000Z\n"), "checkpoint.ts"),
    (lambda cp: _resigned(cp, ts="\uff12\uff10\uff12\uff16-01-02T00:00:00.000000Z"), "checkpoint.ts"),
    (lambda cp: _resigned(cp, key=cp["key"] + "\n"), "checkpoint.key"),
    (lambda cp: cp | {"sig": _noncanonical_b64(cp["sig"])}, "checkpoint.signature"),
    (lambda cp: _resigned(cp, head="zz"), "checkpoint.head"),
    (lambda cp: _resigned(cp, ts="2026-01-02 00:00:00"), "checkpoint.ts"),
    (lambda cp: _resigned(cp, key="XYZ"), "checkpoint.key"),
    (lambda cp: _resigned(cp, log=7), "checkpoint.log"),
])
def test_every_checkpoint_shape_rule_is_named(tmp_path: Path, entries: list[dict[str, Any]], mutate: Any,
                                              rule: str) -> None:
    cp = mutate(make_checkpoint(entries, 6))
    bundle = write_bundle(tmp_path, entries, [])
    (bundle / "checkpoints.jsonl").write_text(json.dumps(cp) + "\n")
    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(cp.get("key"), str):
        (bundle / "keys" / f"{cp['key']}.pub").write_bytes(pem)
    r = verify_bundle(bundle)
    assert not r.ok and r.rule == rule, (r.rule, r.message)


@pytest.mark.parametrize(("line", "rule"), [
    ("[1]", "checkpoint.members"), ('"x"', "checkpoint.members"), ("{not json", "checkpoint.parse"),
    ('{"key": []}', "checkpoint.members"), ('{"key": {"a": 1}}', "checkpoint.members"),
])
def test_a_malformed_checkpoint_line_fails_by_rule_instead_of_crashing(tmp_path: Path, entries: list[dict[str, Any]],
                                                                      line: str, rule: str) -> None:
    bundle = write_bundle(tmp_path, entries, [])
    (bundle / "checkpoints.jsonl").write_text(line + "\n")
    r = verify_bundle(bundle)
    assert not r.ok and r.rule == rule, (r.rule, r.message)


def test_checkpoint_key_problems(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    cp = make_checkpoint(entries, 6)
    missing = write_bundle(tmp_path / "missing", entries, [cp])
    (missing / "keys" / f"{cp['key']}.pub").unlink()
    r = verify_bundle(missing)
    assert (r.failed_checkpoint_size, r.rule) == (6, "checkpoint.key") and "missing" in (r.message or "")
    other = write_bundle(tmp_path / "other", entries, [cp])  # a different key under the checkpoint's key id
    (other / "keys" / f"{cp['key']}.pub").write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    r = verify_bundle(other)
    assert (r.rule, r.message) == ("checkpoint.key", "the key id does not match the public key")
    r = verify_bundle(write_bundle(tmp_path / "order", entries, [make_checkpoint(entries, 8),
                                                                 make_checkpoint(entries, 6)]))
    assert (r.failed_checkpoint_size, r.rule) == (6, "checkpoint.order")


def test_truncation_below_a_checkpoint_is_detected(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    r = verify_bundle(write_bundle(tmp_path / "a", entries[:9], [make_checkpoint(entries, 12)]))
    assert (r.ok, r.failed_checkpoint_size, r.rule) == (False, 12, "checkpoint.size")
    without = verify_bundle(write_bundle(tmp_path / "b", entries[:9], []))
    assert without.ok
    assert any("truncation" in n for n in without.notices)


def test_range_export(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    r = verify_bundle(write_bundle(tmp_path / "a", entries[4:], [make_checkpoint(entries, 12)]))
    assert r.ok
    assert (r.first_seq, r.last_seq, r.checkpoints_checked) == (5, 12, 0)
    assert any("taken as given" in n for n in r.notices)


def test_zip_and_tar_bundles(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    bundle = write_bundle(tmp_path / "bundle", entries, [make_checkpoint(entries, 12)])
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        for f in bundle.rglob("*"):
            zf.write(f, f.relative_to(tmp_path).as_posix())
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as tf:
        tf.add(bundle, arcname="bundle")
    for archive in ("b.zip", "b.tar.gz"):
        r = verify_bundle(tmp_path / archive)
        assert r.ok and r.entries == 12 and r.checkpoints_checked == 1, (archive, r)


def test_cli_exit_codes_and_no_django(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    good = write_bundle(tmp_path / "good", entries, [make_checkpoint(entries, 12)])
    entries[2]["action"] = "registry.modelversion.delete"
    bad = write_bundle(tmp_path / "bad", entries, [])
    ok = run_verifier(str(good))
    assert ok.returncode == 0, ok.stderr
    assert "OK: 12 entries" in ok.stdout
    failed = run_verifier(str(bad))
    assert failed.returncode == 1
    assert "seq 3" in failed.stdout and "hash.mismatch" in failed.stdout
    assert run_verifier(str(tmp_path / "missing")).returncode == 2


def _plain_entries(n: int) -> list[tuple[bytes, str]]:
    """Rows as a database stores them (the hashed bytes, the hash): integers and BMP text only."""
    rows, prev = [], "0" * 64
    for seq in range(1, n + 1):
        e: dict[str, Any] = {
            "v": 1, "seq": seq, "ts": f"2026-01-01T00:00:{seq:02d}.000000Z",
            "actor": {"kind": "user", "id": "7", "name": "ana"}, "action": "registry.modelversion.update",
            "object": {"type": "registry.modelversion", "id": str(seq), "repr": "m ü"},
            "changes": {"n": {"old": seq - 1, "new": seq}}, "context": {"channel": "api"}, "prev": prev,
        }
        raw = rfc8785.dumps(e)
        prev = hashlib.sha256(raw).hexdigest()
        rows.append((raw, prev))
    return rows


def _outcome(rows: list[tuple[bytes, str]], stored: bool) -> tuple[Any, ...]:
    from audit.verifier import LogChecker, entry_line

    checker = LogChecker()
    for raw, digest in rows:
        if stored:
            checker.feed_stored(raw, digest)
        else:
            checker.feed(entry_line(raw, digest))
    r = checker.finish()
    return r.ok, r.entries, r.last_seq, r.failed_seq, r.rule


ROWS = _plain_entries(12)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 11), st.integers(0, 10_000), st.binary(min_size=1, max_size=3), st.booleans())
def test_stored_rows_are_judged_exactly_as_their_export_lines(row: int, at: int, patch: bytes, rehash: bool) -> None:
    """`feed_stored` (what `audit verify` uses) decides exactly what `feed` decides on the export line
    made from the same row, for any tampering of the stored bytes, with or without a recomputed hash."""
    rows = list(ROWS)
    raw, digest = rows[row]
    at %= len(raw)
    raw = raw[:at] + patch + raw[at + len(patch):]
    rows[row] = (raw, hashlib.sha256(raw).hexdigest() if rehash else digest)
    assert _outcome(rows, stored=True) == _outcome(rows, stored=False)
    assert _outcome(ROWS, stored=True) == (True, 12, 12, None, None)


def test_plain_rows_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first entry goes through the reference path; the rest are hashed as stored."""
    from audit import verifier

    calls: list[bytes | str] = []
    original = verifier.LogChecker._feed_reference

    def counted(self: verifier.LogChecker, line: bytes | str) -> None:
        calls.append(line)
        original(self, line)

    monkeypatch.setattr(verifier.LogChecker, "_feed_reference", counted)
    assert _outcome(ROWS, stored=True)[0] and _outcome(ROWS, stored=False)[0]
    assert len(calls) == 2


def test_trusted_keys_catch_a_bundle_re_signed_by_someone_else(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    from audit.verifier import BundleError, trusted_keys

    def pem(key: Ed25519PrivateKey) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    genuine = write_bundle(tmp_path / "genuine", entries, [make_checkpoint(entries, 12)])
    assert verify_bundle(genuine, trusted_keys([pem(KEY)])).ok
    # Whoever rewrote the log signs with a key of their own and ships it in keys/: alone, it checks out.
    forger = Ed25519PrivateKey.generate()
    forged_cp = make_checkpoint(entries, 12)
    forged_cp.pop("sig")
    forged_cp["key"] = hashlib.sha256(forger.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).digest()[:8].hex()
    forged_cp["sig"] = base64.b64encode(forger.sign(rfc8785.dumps(forged_cp))).decode()
    forged = write_bundle(tmp_path / "forged", entries, [])
    (forged / "checkpoints.jsonl").write_text(json.dumps(forged_cp) + "\n")
    (forged / "keys" / f"{forged_cp['key']}.pub").write_bytes(pem(forger))
    assert verify_bundle(forged).ok
    r = verify_bundle(forged, trusted_keys([pem(KEY)]))
    assert (r.ok, r.rule) == (False, "checkpoint.key") and "not a trusted one" in (r.message or "")
    with pytest.raises(BundleError, match="not a PEM public key"):
        trusted_keys([b"not a key"])
