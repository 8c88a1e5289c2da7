"""The outsider's check of one proof served by the API, against public keys the outsider trusts.

Part of the standalone verifier (`python -m audit.verifier --proof FILE --key PEM`): it needs only the
format core, `rfc8785` and `cryptography`, and trusts nothing in the document but what a signature covers. The
roots a proof is checked against are the signed checkpoints' roots, never the `root` the server put
beside them, and a checkpoint counts only if it is signed by one of the keys given on the command line.

Documents (spec sections 3 and 4, as the API serves them):
- `GET /api/v1/audit/entries/{seq}/proof/`: an entry and its inclusion proof; the entry's hash is
  recomputed from the entry itself;
- `GET /api/v1/audit/checkpoints/inclusion/?seq=&size=`: an inclusion proof;
- `GET /api/v1/audit/checkpoints/consistency/?old_size=&size=`: a consistency proof. The older
  checkpoint may be one the outsider kept (`--old-checkpoint`), which is the point of the proof.
"""

from __future__ import annotations

from typing import Any

from audit.format.checkpoint import verify_checkpoint_signature
from audit.format.entry import check_entry, entry_hash
from audit.format.errors import VerificationError
from audit.format.jcs import canonical
from audit.format.rfc6962 import leaf_hash, verify_consistency, verify_inclusion


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise VerificationError("proof.shape", f"{what} must be 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise VerificationError("proof.shape", f"{what} must be 64 hex digits") from exc


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int:
        raise VerificationError("proof.shape", f"{name} must be an integer")
    return value


def _signed(cp: Any, keys: dict[str, bytes], what: str) -> dict[str, Any]:
    """The checkpoint, once its signature verifies with one of the trusted keys."""
    if not isinstance(cp, dict):
        raise VerificationError("proof.checkpoint", f"no signed {what}: ask for the proof at a checkpoint's size")
    pem = keys.get(str(cp.get("key")))
    if pem is None:
        raise VerificationError("checkpoint.key", f"the {what} is signed by key {cp.get('key')}, not a trusted one")
    verify_checkpoint_signature(cp, pem)
    return cp


def _inclusion(doc: dict[str, Any], entry: dict[str, Any] | None, keys: dict[str, bytes]) -> str:
    seq, index, size = _int(doc, "seq"), _int(doc, "leaf_index"), _int(doc, "tree_size")
    digest = doc.get("entry_hash")
    if entry is not None:
        check_entry(entry)
        body = {k: v for k, v in entry.items() if k != "hash"}
        try:
            hashed = canonical(body, read=True)
        except Exception as exc:  # NaN, a lone surrogate: what RFC 8785 cannot write, named as in a bundle
            raise VerificationError("entry.json", f"cannot be canonicalised: {exc}") from exc
        if entry_hash(hashed) != entry["hash"]:
            raise VerificationError("hash.mismatch", "the entry's hash is not SHA-256 of its canonical JSON")
        if entry["seq"] != seq or entry["hash"] != digest:
            raise VerificationError("proof.entry", "the proof is for another entry")
    cp = _signed(doc.get("checkpoint"), keys, "checkpoint")
    if cp["size"] != size or index != seq - 1:
        raise VerificationError("proof.size", "the proof's size or index does not match its checkpoint and seq")
    _hex32(digest, "entry_hash")
    leaf = leaf_hash(str(digest))
    path = doc.get("proof")
    if not isinstance(path, list):
        raise VerificationError("proof.shape", "proof must be a list of hashes")
    if not verify_inclusion(leaf, index, size, [_hex32(h, "a proof node") for h in path], bytes.fromhex(cp["root"])):
        raise VerificationError("proof.inclusion", f"entry {seq} is not in the signed tree of {size} entries")
    return f"entry {seq}{' (hash recomputed)' if entry is not None else ''} is in the signed tree of {size} entries"


def _consistency(doc: dict[str, Any], keys: dict[str, bytes], kept: dict[str, Any] | None) -> str:
    old_size, size = _int(doc, "old_size"), _int(doc, "tree_size")
    old = _signed(kept if kept is not None else doc.get("old_checkpoint"), keys, "older checkpoint")
    new = _signed(doc.get("checkpoint"), keys, "checkpoint")
    if old["size"] != old_size or new["size"] != size:
        raise VerificationError("proof.size", "the proof's sizes do not match the checkpoints'")
    path = doc.get("proof")
    if not isinstance(path, list):
        raise VerificationError("proof.shape", "proof must be a list of hashes")
    if not verify_consistency(old_size, size, [_hex32(h, "a proof node") for h in path], bytes.fromhex(old["root"]),
                              bytes.fromhex(new["root"])):
        raise VerificationError("proof.consistency", f"the tree of {size} entries does not extend that of {old_size}")
    return f"the signed tree of {size} entries extends the signed tree of {old_size}"


def check_proof(doc: Any, keys: dict[str, bytes], old_checkpoint: dict[str, Any] | None = None) -> str:
    """Check a proof document against trusted keys (`audit.verifier.trusted_keys`); returns what was
    proven, raises VerificationError naming the rule."""
    if not isinstance(doc, dict):
        raise VerificationError("proof.shape", "a proof document is a JSON object")
    if isinstance(doc.get("inclusion"), dict):
        entry = doc.get("entry")
        if not isinstance(entry, dict):
            raise VerificationError("proof.shape", "entry must be an object")
        return _inclusion(doc["inclusion"], entry, keys)
    if "leaf_index" in doc:
        return _inclusion(doc, None, keys)
    if "old_size" in doc:
        return _consistency(doc, keys, old_checkpoint)
    raise VerificationError("proof.shape", "not an inclusion or consistency proof document")
