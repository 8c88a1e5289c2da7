"""The standalone verifier on what a hostile or careless exporter could hand it: every outcome is a verdict
naming the rule (exit 1) or "cannot read" (exit 2), never a traceback, and nothing valid is refused."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from audit.verifier import BundleError, verify_bundle
from tests.audit.test_verifier import make_checkpoint, make_entries, write_bundle
from tests.audit.verifier_cli import run_verifier


def _rechain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every prev and hash, as a writer of these entries would have."""
    prev = "0" * 64
    for e in entries:
        e.pop("hash", None)
        e["prev"] = prev
        e["hash"] = prev = hashlib.sha256(rfc8785.dumps(e)).hexdigest()
    return entries


def _lines(path: Path, lines: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "entries.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (path / "checkpoints.jsonl").write_text("")
    return path


@pytest.mark.parametrize("number", [1.2e18, 2.0**53, 2.0**53 + 2, -3.5e20])
@pytest.mark.parametrize("at", [0, 5])  # the first line takes the reference path, later ones the fast path first
def test_a_large_float_verifies_however_it_is_written(tmp_path: Path, number: float, at: int) -> None:
    # RFC 8785 writes 1.2e18 as 1200000000000000000; read back, that is an integer beyond 2**53, which the
    # reference package refuses unless given as the double it is.
    entries = make_entries(6)
    entries[at]["changes"]["flops"] = {"old": None, "new": number}
    entries = _rechain(entries)
    canonical_lines = [(rfc8785.dumps({k: v for k, v in e.items() if k != "hash"})[:-1]
                        + b',"hash":"' + e["hash"].encode() + b'"}').decode() for e in entries]
    assert str(int(number)) in canonical_lines[at]
    for name, lines in (("jcs", canonical_lines), ("python", [json.dumps(e) for e in entries])):
        r = verify_bundle(_lines(tmp_path / name, lines))
        assert r.ok, (name, r.summary())
    # Another number in its place no longer matches the hash.
    tampered = [line.replace(str(int(number)), str(int(number * 2))) for line in canonical_lines]
    r = verify_bundle(_lines(tmp_path / "tampered", tampered))
    assert (r.ok, r.failed_seq, r.rule) == (False, at + 1, "hash.mismatch")


@pytest.mark.parametrize("at", [0, 4])
def test_nesting_deeper_than_python_reads_is_a_named_parse_failure(tmp_path: Path, at: int) -> None:
    entries = _rechain(make_entries(6))
    lines = [json.dumps(e) for e in entries]
    lines[at] = lines[at].replace('"changes": {', '"changes": {"deep": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    r = verify_bundle(_lines(tmp_path / "b", lines))
    # On the first line no seq has been read to name it by: its line names it.
    where = f"seq {at + 1}" if at else "entries.jsonl line 1"
    assert (r.ok, r.rule) == (False, "entry.parse") and r.summary().startswith(f"FAILED at {where}:"), r.summary()
    assert "nested too deeply" in (r.message or "")
    cli = run_verifier(str(tmp_path / "b"))
    assert cli.returncode == 1 and "Traceback" not in cli.stderr and "entry.parse" in cli.stdout


def test_a_deep_checkpoint_line_is_a_named_parse_failure(tmp_path: Path) -> None:
    entries = make_entries(4)
    bundle = write_bundle(tmp_path / "b", entries, [])
    (bundle / "checkpoints.jsonl").write_text("[" * 5000 + "]" * 5000 + "\n")
    r = verify_bundle(bundle)
    assert (r.ok, r.rule) == (False, "checkpoint.parse")
    assert "line 1" in (r.message or "")


@pytest.mark.parametrize("changes", [
    {"password": "hunter2"},
    {"x": 5},
    {"x": {"old": 1}},
    {"x": {"old": 1, "new": 2, "why": 3}},
    {"x": [1, 2]},
])
@pytest.mark.parametrize("at", [0, 3])
def test_changes_must_be_old_and_new_per_field(tmp_path: Path, changes: dict[str, Any], at: int) -> None:
    entries = make_entries(5)
    entries[at]["changes"] = changes
    r = verify_bundle(write_bundle(tmp_path / "b", _rechain(entries), []))
    assert (r.ok, r.failed_seq, r.rule) == (False, at + 1, "entry.changes")


def test_an_empty_changes_object_is_allowed(tmp_path: Path) -> None:
    entries = make_entries(3)
    entries[1]["changes"] = {}
    assert verify_bundle(write_bundle(tmp_path / "b", _rechain(entries), [])).ok


def _unknown_algorithm_pem() -> bytes:
    # A SubjectPublicKeyInfo of algorithm 1.2.3.4, which no library knows.
    der = bytes.fromhex("302a300506032a0304032100") + b"\x11" * 32
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END PUBLIC KEY-----\n"


def test_a_key_of_an_unknown_algorithm_is_refused_by_rule_not_a_traceback(tmp_path: Path) -> None:
    entries = make_entries(4)
    cp = make_checkpoint(entries, 4)
    bundle = write_bundle(tmp_path / "b", entries, [cp])
    (bundle / "keys" / f"{cp['key']}.pub").write_bytes(_unknown_algorithm_pem())
    r = verify_bundle(bundle)
    assert (r.ok, r.failed_checkpoint_size, r.rule) == (False, 4, "checkpoint.key")
    assert "not Ed25519" in (r.message or "")
    (tmp_path / "odd.pem").write_bytes(_unknown_algorithm_pem())
    trusted = run_verifier(str(bundle), "--key", str(tmp_path / "odd.pem"))
    assert trusted.returncode == 2 and "Traceback" not in trusted.stderr and "not an Ed25519 key" in trusted.stderr


def _zip_of(bundle: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(bundle.rglob("*")):
            zf.write(f, f.relative_to(bundle).as_posix())
    return path


def test_a_damaged_archive_cannot_be_read_exit_2(tmp_path: Path) -> None:
    entries = make_entries(40)
    bundle = write_bundle(tmp_path / "b", entries, [make_checkpoint(entries, 40)])
    # A zip whose entries.jsonl fails its CRC.
    data = bytearray(_zip_of(bundle, tmp_path / "good.zip").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("entries.jsonl")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    # A tar.gz cut short.
    with tarfile.open(tmp_path / "good.tar.gz", "w:gz") as tf:
        tf.add(bundle, arcname="b")
    whole = (tmp_path / "good.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) * 2 // 3])
    # A gzip stream whose tar inside is garbage.
    (tmp_path / "junk.tar.gz").write_bytes(gzip.compress(b"\x01" * 4096))
    for name in ("bad.zip", "cut.tar.gz", "junk.tar.gz"):
        with pytest.raises(BundleError):
            verify_bundle(tmp_path / name)
        cli = run_verifier(str(tmp_path / name))
        assert cli.returncode == 2 and "Traceback" not in cli.stderr, (name, cli.stderr)
        assert "cannot read bundle" in cli.stderr
    assert verify_bundle(tmp_path / "good.zip").ok and verify_bundle(tmp_path / "good.tar.gz").ok


def test_a_checkpoint_past_the_last_entry_fails_a_range_export_too(tmp_path: Path) -> None:
    # Entries 2..11 with checkpoints at 8, 11 and 13: the export never holds a checkpoint past its last
    # entry, so the one at 13 says entries were cut off the end, whether or not seq 1 is there.
    entries = make_entries(16)
    cps = [make_checkpoint(entries, size) for size in (8, 11, 13)]
    for first in (0, 1):
        r = verify_bundle(write_bundle(tmp_path / f"from{first}", entries[first:11], cps))
        assert (r.ok, r.failed_checkpoint_size, r.rule) == (False, 13, "checkpoint.size"), first
        assert "truncated" in (r.message or "")
    # Checkpoints before a range's start are only noted.
    r = verify_bundle(write_bundle(tmp_path / "later", entries[9:16], cps[:1]))
    assert r.ok and any("before the exported range" in n for n in r.notices)


def test_blank_lines_a_bom_and_bad_checkpoint_sizes_are_named_plainly(tmp_path: Path) -> None:
    entries = make_entries(3)
    lines = [json.dumps(e) for e in entries]
    blank = verify_bundle(_lines(tmp_path / "blank", [*lines, ""]))
    assert (blank.ok, blank.rule) == (False, "entry.parse") and "blank line" in (blank.message or "")
    bom = verify_bundle(_lines(tmp_path / "bom", ["\ufeff" + lines[0], *lines[1:]]))
    assert (bom.ok, bom.failed_seq, bom.rule) == (False, None, "entry.parse")
    assert "byte order mark" in (bom.message or "")
    cp = make_checkpoint(entries, 3)
    cp["size"] = "3"
    bad = write_bundle(tmp_path / "cp", entries, [make_checkpoint(entries, 2), cp])
    r = verify_bundle(bad)
    assert (r.ok, r.rule) == (False, "checkpoint.size")
    assert "checkpoints.jsonl line 2" in r.summary()
