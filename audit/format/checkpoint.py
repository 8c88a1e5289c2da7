"""A signed checkpoint (spec section 4): its members, the bytes its Ed25519 signature covers, and the check."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.format.entry import ts_ok
from audit.format.errors import VerificationError
from audit.format.jcs import canonical, integer

CHECKPOINT_MEMBERS = frozenset({"v", "log", "size", "root", "head", "ts", "key", "sig"})
_ANY_HEX64 = re.compile(r"[0-9a-fA-F]{64}").fullmatch  # root and head: "hex", case not fixed
_KEY_ID = re.compile(r"[0-9a-f]{16}").fullmatch


def key_id(public_key: Ed25519PublicKey) -> str:
    """Lower-case hex of the first 8 bytes of the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def signed_bytes(cp: dict[str, Any], *, read: bool = False) -> bytes:
    """What the signature covers: RFC 8785 of the checkpoint without `sig` (`read` as for `jcs.canonical`)."""
    return canonical({k: v for k, v in cp.items() if k != "sig"}, read=read)


def verify_checkpoint_signature(cp: dict[str, Any], public_key_pem: bytes) -> None:
    """Shape, key id and Ed25519 signature of a checkpoint (spec section 4); raises VerificationError."""
    if not isinstance(cp, dict) or set(cp) != CHECKPOINT_MEMBERS:
        raise VerificationError("checkpoint.members", "a checkpoint has exactly v, log, size, root, head, ts, key, sig")
    if type(integer(cp["v"])) is not int or cp["v"] != 1:
        raise VerificationError("checkpoint.v", "v must be the integer 1")
    if type(integer(cp["size"])) is not int or cp["size"] < 0:
        raise VerificationError("checkpoint.size", "size must be a non-negative integer")
    for name in ("root", "head"):
        if not isinstance(cp[name], str) or not _ANY_HEX64(cp[name]):
            raise VerificationError(f"checkpoint.{name}", f"{name} must be 64 hex digits")
    if not isinstance(cp["ts"], str) or not ts_ok(cp["ts"]):
        raise VerificationError("checkpoint.ts", "ts must be YYYY-MM-DDTHH:MM:SS.ffffffZ, a real UTC time")
    if not isinstance(cp["log"], str):
        raise VerificationError("checkpoint.log", "log must be a string")
    if not isinstance(cp["key"], str) or not _KEY_ID(cp["key"]):
        raise VerificationError("checkpoint.key", "key must be 16 lower-case hex digits")
    if not public_key_pem:
        raise VerificationError("checkpoint.key", f"no public key with id {cp['key']}")
    try:
        public_key = serialization.load_pem_public_key(public_key_pem)
    except UnsupportedAlgorithm as exc:
        raise VerificationError("checkpoint.key", f"the public key for {cp['key']} is not Ed25519") from exc
    except ValueError as exc:
        raise VerificationError("checkpoint.key", f"the public key for {cp['key']} is not a PEM key") from exc
    if not isinstance(public_key, Ed25519PublicKey):
        raise VerificationError("checkpoint.key", "the public key is not Ed25519")
    if key_id(public_key) != cp["key"]:
        raise VerificationError("checkpoint.key", "the key id does not match the public key")
    try:
        signature = base64.b64decode(cp["sig"], validate=True) if isinstance(cp["sig"], str) else b""
        if base64.b64encode(signature).decode() != cp["sig"]:
            # Standard base64 has one spelling per value; other padding bits would make a second one.
            raise ValueError("not standard base64")
        public_key.verify(signature, signed_bytes(cp, read=True))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("checkpoint.signature", "the signature does not verify") from exc
