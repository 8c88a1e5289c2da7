"""Row receipts: a batch's lines, leaves and tree against the RFC 6962 reference and vectors, and a receipt checked
offline, every tampering named by its rule. Built here from the spec alone: no database, no monitoring app."""

from __future__ import annotations

import base64
import copy
import csv
import enum
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit.format.receipt import RECEIPT, audit_path, receipt_document, root_of, row_leaf, row_line
from audit.format.rfc6962 import CompactRange, empty_root, verify_inclusion
from audit.merkle import mth, path
from audit.verifier import VerificationError, trusted_keys
from audit.verifier.receipts import check_receipt
from tests.audit.test_rfc6962_vectors import INCLUSION
from tests.audit.test_verifier import KEY, make_checkpoint
from tests.audit.verifier_cli import run_verifier

PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
COLUMNS = ["age", "amount", "purpose", "approved", "score"]
ROWS: list[list[Any]] = [
    [35, 1200.5, "car", True, 0.81],
    [None, 0.1, 'say "yes", please', False, 1e-07],
    [61, -0.0, "ü, ✓", True, float("nan")],
    [19, 3.0, "line\nbreak", False, 0.5],
    [44, 25000.0, "", True, 0.25],
]
INGEST = "monitoring.batch.ingest"


def _leaf(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def _chain(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries of a log with these actions, objects and changes, each hashed and chained as spec section 2 says."""
    entries, prev = [], "0" * 64
    for seq, body in enumerate(bodies, 1):
        e = {"v": 1, "seq": seq, "ts": f"2026-03-01T00:00:{seq:02d}.000000Z",
             "actor": {"kind": "user", "id": "3", "name": "ops"}, "context": {"channel": "api"}, "prev": prev, **body}
        e["hash"] = prev = hashlib.sha256(rfc8785.dumps(e)).hexdigest()
        entries.append(e)
    return entries


def _entry_proof(entries: list[dict[str, Any]], seq: int, cp: dict[str, Any]) -> dict[str, Any]:
    """What `GET /api/v1/audit/entries/{seq}/proof/` serves (audit.proofs.inclusion), for a checkpoint."""
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(e["hash"])).digest() for e in entries[:cp["size"]]]
    entry = entries[seq - 1]
    return {"entry": copy.deepcopy(entry), "inclusion": {
        "seq": seq, "leaf_index": seq - 1, "tree_size": cp["size"], "entry_hash": entry["hash"],
        "leaf_hash": leaves[seq - 1].hex(), "proof": [h.hex() for h in path(seq - 1, leaves)],
        "root": mth(leaves).hex(), "checkpoint": cp}}


def batch(rows: list[list[Any]] = ROWS) -> dict[str, Any]:
    lines = [row_line(r) for r in rows]
    leaves = b"".join(row_leaf(line) for line in lines)
    text = row_line(COLUMNS) + b"\n" + b"\n".join(lines) + b"\n"
    return {"lines": lines, "leaves": leaves, "root": root_of(leaves), "sha256": hashlib.sha256(text).hexdigest()}


def make_receipt(index: int = 2, *, action: str = INGEST) -> dict[str, Any]:
    """Row `index` of a batch of ROWS, whose ingest entry (seq 4 of 6, or seq 5 under `action`) is in a signed
    checkpoint of 6 entries."""
    b = batch()
    changes = {"merkle_root": {"old": None, "new": b["root"].hex()}, "row_count": {"old": None, "new": len(ROWS)},
               "sha256": {"old": None, "new": b["sha256"]}, "columns": {"old": None, "new": COLUMNS},
               "model_version": {"old": None, "new": "12"}}
    other = {"action": "registry.modelversion.create", "changes": {"stage": {"old": None, "new": "none"}},
             "object": {"type": "registry.modelversion", "id": "12", "repr": "credit v2"}}
    ingest = {"action": INGEST, "changes": changes,
              "object": {"type": "monitoring.productionbatch", "id": "7", "repr": "batch 7"}}
    entries = _chain([other, other, other, ingest, {**ingest, "action": action}, other])
    cp = make_checkpoint(entries, 6)
    return receipt_document(
        index=index, line=b["lines"][index], columns=COLUMNS, batch_id=7, sha256=b["sha256"], row_count=len(ROWS),
        merkle_root=b["root"], row_proof=audit_path(index, b["leaves"], len(ROWS)),
        entry_proof=_entry_proof(entries, 4 if action == INGEST else 5, cp))


def _fails(doc: Any, rule: str, keys: list[bytes] | None = None) -> None:
    with pytest.raises(VerificationError) as failed:
        check_receipt(doc, trusted_keys(keys or [PEM]))
    assert failed.value.rule == rule, failed.value


# The line and the leaf.

def test_a_row_line_renders_each_cell_by_the_rule() -> None:
    assert [row_line(r) for r in ROWS[:3]] == [
        b"35,1200.5,car,true,0.81",
        b',0.1,"say ""yes"", please",false,1e-07',
        '61,-0.0,"ü, ✓",true,'.encode(),
    ]
    assert row_line([""]) == b'""' and row_line([None]) == b'""' and row_line(["", ""]) == b"," and row_line([]) == b""

    class Grade(enum.IntEnum):
        A = 1

    class Text(str):
        def __str__(self) -> str:
            return "not the value"

    class Score(float):
        def __repr__(self) -> str:
            return "Score(0.5)"

    assert row_line([Grade.A, Text("x,y"), Score(0.5)]) == b'1,"x,y",0.5'
    assert row_leaf(b"35,1200.5") == hashlib.sha256(b"\x0035,1200.5").digest()
    with pytest.raises(TypeError):
        row_line([b"bytes"])


def _csv_writer(cells: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode()


_cells = st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()), max_size=6)


@given(_cells)
def test_a_row_line_is_what_csv_writer_writes(cells: list[Any]) -> None:
    # A float NaN is a missing cell, as None is (docs/audit-log.md, "Row receipts").
    rendered = [None if c is None or (isinstance(c, float) and c != c) else ("true" if c else "false")
                if isinstance(c, bool) else repr(c) if isinstance(c, float) else c for c in cells]
    if any(isinstance(c, str) and ("\r" in c or "\n" in c) for c in rendered):
        return  # below, by hand: csv.writer before Python 3.11.9 leaves CR and LF unquoted
    assert row_line(cells) == _csv_writer(rendered)


def test_a_cell_holding_a_line_break_is_always_quoted() -> None:
    """As csv.writer from Python 3.11.9 / 3.12.3 on (gh-67044), whatever the interpreter: one row, one leaf."""
    assert row_line(["a\nb", "c\rd", "e\r\n"]) == b'"a\nb","c\rd","e\r\n"'
    assert next(csv.reader(io.StringIO(row_line(["a\nb", 1]).decode(), newline=""))) == ["a\nb", "1"]


# The tree: the reference (audit.merkle, RFC 6962 word for word), the compact range, the vectors.

@pytest.mark.parametrize("size", range(1, 71))
def test_root_and_every_path_match_the_reference(size: int) -> None:
    hashes = [_leaf(i) for i in range(size)]
    leaves = b"".join(hashes)
    assert root_of(leaves) == mth(hashes)
    for index in range(size):
        assert audit_path(index, leaves, size) == path(index, hashes)


@pytest.mark.parametrize("size", [1023, 1024, 1025, 100_003])
def test_large_trees_match_the_compact_range_and_the_reference(size: int) -> None:
    hashes = [_leaf(i) for i in range(size)]
    leaves = b"".join(hashes)
    grown = CompactRange()
    for h in hashes:
        grown.append(h)
    root = root_of(leaves)
    assert root == grown.root()
    for index in (0, 1, size // 2, size - 2, size - 1):
        proof = audit_path(index, leaves, size)
        assert verify_inclusion(hashes[index], index, size, proof, root)
        if size < 2000:
            assert proof == path(index, hashes)


def test_the_empty_tree_and_bad_arguments() -> None:
    assert root_of(b"") == empty_root() == mth([])
    for index, leaves, size in ((1, _leaf(0), 1), (-1, _leaf(0), 1), (0, _leaf(0), 2), (0, b"\x00" * 33, 1)):
        with pytest.raises(ValueError):
            audit_path(index, leaves, size)
    with pytest.raises(ValueError):
        root_of(b"\x00" * 31)


# The trees of the vectors: the eight leaves their README names, and the roots RFC 6962's tests publish.
VECTOR_DATA = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f")]
KNOWN_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_roots_of_the_rfc6962_test_trees() -> None:
    leaves = b"".join(row_leaf(d) for d in VECTOR_DATA)
    assert [root_of(leaves[:32 * n]).hex() for n in range(1, 9)] == KNOWN_ROOTS


@pytest.mark.parametrize("vector", [p for p in INCLUSION if p.name == "happy-path.json"], ids=lambda p: p.parent.name)
def test_the_paths_of_the_inclusion_vectors(vector: Path) -> None:
    v = json.loads(vector.read_text())
    index, size = v["leafIdx"], v["treeSize"]
    leaves = b"".join(row_leaf(d) for d in VECTOR_DATA[:size])
    assert row_leaf(VECTOR_DATA[index]) == base64.b64decode(v["leafHash"])
    assert root_of(leaves) == base64.b64decode(v["root"])
    assert audit_path(index, leaves, size) == [base64.b64decode(p) for p in v["proof"] or []]


# The receipt.

def test_the_receipt_document() -> None:
    doc = make_receipt()
    b = batch()
    assert {k: v for k, v in doc.items() if k != "entry_proof"} == {
        "receipt": RECEIPT,
        "row": {"index": 2, "line": "61,-0.0,\"ü, ✓\",true,", "columns": COLUMNS},
        "batch": {"id": 7, "sha256": b["sha256"], "row_count": 5, "merkle_root": b["root"].hex()},
        "row_proof": [h.hex() for h in path(2, [b["leaves"][i:i + 32] for i in range(0, 160, 32)])],
    }
    assert set(doc["entry_proof"]) == {"entry", "inclusion"}


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_a_receipt_checks_out(index: int) -> None:
    assert check_receipt(make_receipt(index), trusted_keys([PEM])) == (
        f"row {index} of batch 7 (5 rows) is in its ingest entry; entry 4 (hash recomputed) is in the signed tree "
        "of 6 entries")


def _tampered(change: Any) -> dict[str, Any]:
    doc = make_receipt()
    change(doc)
    return doc


def _forged_batch(doc: dict[str, Any]) -> None:
    """A batch whose row 2 says another thing, with its own tree: its root put in the receipt, not in the entry."""
    rows = copy.deepcopy(ROWS)
    rows[2][3] = False
    forged = batch(rows)
    doc["row"]["line"] = forged["lines"][2].decode()
    doc["batch"]["merkle_root"] = forged["root"].hex()
    doc["row_proof"] = [h.hex() for h in audit_path(2, forged["leaves"], len(rows))]


def _other_entry_in_both(doc: dict[str, Any]) -> None:
    _forged_batch(doc)
    doc["entry_proof"]["entry"]["changes"]["merkle_root"]["new"] = doc["batch"]["merkle_root"]


def _resigned(doc: dict[str, Any]) -> None:
    cp = doc["entry_proof"]["inclusion"]["checkpoint"]
    cp["sig"] = base64.b64encode(KEY.sign(b"something else")).decode()


@pytest.mark.parametrize(("change", "rule"), [
    (lambda d: d["row"].update(line=d["row"]["line"].replace("true", "false")), "receipt.row"),
    (lambda d: d["row"].update(index=3), "receipt.row"),
    (lambda d: d["row"].update(index=-1), "receipt.row"),
    (lambda d: d.update(row_proof=make_receipt(3)["row_proof"]), "receipt.row"),
    (lambda d: d.update(row_proof=d["row_proof"][:-1]), "receipt.row"),
    (lambda d: d["batch"].update(row_count=6), "receipt.batch"),
    (lambda d: d["batch"].update(row_count=True), "receipt.shape"),
    (_forged_batch, "receipt.batch"),
    (lambda d: d["batch"].update(sha256="0" * 64), "receipt.batch"),
    (lambda d: d["row"].update(columns=COLUMNS[::-1]), "receipt.batch"),
    (lambda d: d["batch"].update(id=8), "receipt.batch"),
    (_other_entry_in_both, "hash.mismatch"),
    (lambda d: d.update(entry_proof=make_receipt(action="registry.modelversion.create")["entry_proof"]),
     "receipt.action"),
    (_resigned, "checkpoint.signature"),
    (lambda d: d["entry_proof"]["inclusion"].update(checkpoint=None), "proof.checkpoint"),
    (lambda d: d["entry_proof"]["inclusion"]["proof"].reverse(), "proof.inclusion"),
    (lambda d: d.update(receipt="modelgov row receipt v2"), "receipt.shape"),
    (lambda d: d.update(extra=1), "receipt.shape"),
    (lambda d: d.update(entry_proof=d["entry_proof"]["inclusion"]), "receipt.shape"),
    (lambda d: d.update(row_proof=["zz" * 32]), "receipt.shape"),
], ids=["changed line", "wrong index", "negative index", "proof of another row", "short proof", "wrong row_count",
        "boolean row_count", "root swapped in batch not entry", "wrong sha256", "wrong columns", "another batch",
        "root swapped in entry too", "entry of another action", "bad checkpoint signature", "no checkpoint",
        "bad entry proof", "unknown version", "extra member", "proof without its entry", "proof not hex"])
def test_every_tampering_is_refused_by_its_rule(change: Any, rule: str) -> None:
    _fails(_tampered(change), rule)


def test_a_receipt_signed_by_a_key_not_trusted_is_refused() -> None:
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _fails(make_receipt(), "checkpoint.key", [other])


def test_the_command_line_checks_a_receipt_without_django(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(PEM)
    (tmp_path / "ok.json").write_text(json.dumps(make_receipt()))
    (tmp_path / "bad.json").write_text(json.dumps(_tampered(lambda d: d["row"].update(index=1))))
    ok = run_verifier("--receipt", "ok.json", "--key", "key.pem", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: row 2 of batch 7 (5 rows)"), ok.stdout + ok.stderr
    failed = run_verifier("--receipt", "bad.json", "--key", "key.pem", cwd=tmp_path)
    assert failed.returncode == 1 and "FAILED: rule receipt.row" in failed.stdout, failed.stdout + failed.stderr
    assert run_verifier("--receipt", "missing.json", "--key", "key.pem", cwd=tmp_path).returncode == 2
    assert run_verifier("--receipt", "ok.json", cwd=tmp_path).returncode == 2  # no trusted key
    assert run_verifier("--receipt", "ok.json", "--proof", "ok.json", "--key", "key.pem", cwd=tmp_path).returncode == 2
