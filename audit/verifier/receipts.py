"""The outsider's check of a row receipt: one row of a production batch, in the batch's tree, whose root is in
the batch's entry, which is in a checkpoint signed by a key the outsider trusts.

Part of the standalone verifier (`python -m audit.verifier --receipt FILE --key PEM`). Nothing in the receipt is
taken on trust but what the signature covers: the entry's hash is recomputed and proven in the signed tree
(`proofs.check_proof`), the batch's root, size, digest and columns must be the ones the entry recorded, and the
row's leaf, recomputed from its line, must be in the tree of that root.
"""

from __future__ import annotations

from typing import Any

from audit.format.entry import HEX64
from audit.format.errors import VerificationError
from audit.format.jcs import integer
from audit.format.receipt import RECEIPT, row_leaf
from audit.format.rfc6962 import verify_inclusion
from audit.verifier.proofs import check_proof

INGEST = "monitoring.batch.ingest"
_MEMBERS = frozenset({"receipt", "row", "batch", "row_proof", "entry_proof"})
_ROW = frozenset({"index", "line", "columns"})
_BATCH = frozenset({"id", "sha256", "row_count", "merkle_root"})


def _shape(ok: bool, message: str) -> None:
    if not ok:
        raise VerificationError("receipt.shape", message)


def _members(value: Any, members: frozenset[str], what: str) -> dict[str, Any]:
    _shape(isinstance(value, dict) and set(value) == members, f"{what} has exactly {', '.join(sorted(members))}")
    return value


def _hashes(value: Any) -> list[bytes]:
    _shape(isinstance(value, list) and all(isinstance(h, str) and HEX64(h) for h in value),
           "row_proof is a list of 64 lower-case hex digits")
    return [bytes.fromhex(h) for h in value]


def _recorded(entry: dict[str, Any], name: str) -> Any:
    change = entry["changes"].get(name)
    if change is None:
        raise VerificationError("receipt.batch", f"the batch's entry records no {name}")
    return change["new"]


def _agree(entry: dict[str, Any], batch: dict[str, Any], row: dict[str, Any]) -> None:
    """The batch as the receipt states it is the batch as its entry recorded it."""
    if entry["object"]["id"] != str(batch["id"]):
        raise VerificationError("receipt.batch", f"the entry is for object {entry['object']['id']}, "
                                                 f"not batch {batch['id']}")
    stated = {"merkle_root": batch["merkle_root"], "row_count": batch["row_count"], "sha256": batch["sha256"],
              "columns": row["columns"]}
    for name, value in stated.items():
        recorded = integer(_recorded(entry, name))
        if type(recorded) is not type(value) or recorded != value:  # True == 1, but a count is no boolean
            raise VerificationError("receipt.batch", f"the receipt's {name} is not the one the batch's entry recorded")


def check_receipt(doc: Any, keys: dict[str, bytes]) -> str:
    """Check a row receipt against trusted keys (`audit.verifier.trusted_keys`); returns what was proven, raises
    VerificationError naming the rule: `receipt.shape`, the entry proof's rules (`hash.mismatch`,
    `proof.inclusion`, `checkpoint.key`, `checkpoint.signature`, ...), `receipt.action`, `receipt.batch`,
    `receipt.row`."""
    doc = _members(doc, _MEMBERS, "a receipt")
    _shape(doc["receipt"] == RECEIPT, f'receipt must be "{RECEIPT}"')
    row = _members(doc["row"], _ROW, "row")
    batch = _members(doc["batch"], _BATCH, "batch")
    index, size = integer(row["index"]), integer(batch["row_count"])
    _shape(type(index) is int and type(size) is int, "row.index and batch.row_count are integers")
    _shape(type(batch["id"]) in (int, str), "batch.id is an integer or a string")
    _shape(isinstance(batch["sha256"], str), "batch.sha256 is a string")
    _shape(isinstance(row["line"], str), "row.line is a string")
    _shape(isinstance(row["columns"], list) and all(isinstance(c, str) for c in row["columns"]),
           "row.columns is a list of strings")
    _shape(isinstance(batch["merkle_root"], str) and bool(HEX64(batch["merkle_root"])),
           "batch.merkle_root is 64 lower-case hex digits")
    path = _hashes(doc["row_proof"])
    entry_proof = doc["entry_proof"]
    _shape(isinstance(entry_proof, dict) and isinstance(entry_proof.get("entry"), dict)
           and isinstance(entry_proof.get("inclusion"), dict),
           "entry_proof is the batch entry's proof document: {entry, inclusion}")
    try:
        line = row["line"].encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VerificationError("receipt.shape", "row.line is not text UTF-8 can write") from exc

    proven = check_proof(entry_proof, keys)  # the entry, rehashed, is in a signed tree
    entry = entry_proof["entry"]
    if entry["action"] != INGEST:
        raise VerificationError("receipt.action", f"the entry is {entry['action']}, not a {INGEST} entry")
    _agree(entry, {**batch, "row_count": size}, row)
    if not verify_inclusion(row_leaf(line), index, size, path, bytes.fromhex(batch["merkle_root"])):
        raise VerificationError("receipt.row", f"this line is not row {index} of the batch's {size} rows")
    return f"row {index} of batch {batch['id']} ({size} rows) is in its ingest entry; {proven}"
