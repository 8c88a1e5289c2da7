"""The writer's view of the chain: JSON values, canonical bytes (RFC 8785) and entry hashes."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import uuid
from typing import Any

import rfc8785

FORMAT_VERSION = 1
REDACTED = "<redacted>"
# I-JSON: integers beyond 2**53 cannot round-trip through every JSON reader, so they become strings.
_MAX_SAFE_INT = 2**53 - 1


def format_ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jsonable(value: Any) -> Any:
    """Turn any field value into JSON that survives canonicalisation exactly."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return format_ts(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | dt.time | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if hasattr(value, "name") and hasattr(value, "storage"):  # a FieldFile
        return value.name or None
    return str(value)


_fast_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode


def _plain(value: Any) -> bool:
    """Whether the C encoder writes exactly RFC 8785's bytes for this value.

    It does for null, booleans, safe integers, strings (both escape only '"', backslash and
    control characters, the same way) and plain dicts, lists and tuples of them (subclasses go to
    the reference), when every key is ASCII, so that ordering by code point equals RFC 8785's
    ordering by UTF-16 unit. Floats are left to the reference: their ECMAScript form differs from
    Python's repr.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            if type(v) is not str and v is not None and not _plain(v):  # strings inline: most members
                return False
        return True
    if kind is list or kind is tuple:
        return all(type(v) is str or _plain(v) for v in value)
    return False


def canonical(entry_without_hash: dict[str, Any]) -> bytes:
    """JCS (RFC 8785) bytes; the common float-free case through the C encoder, proven equal by tests."""
    if _plain(entry_without_hash):
        try:
            return _fast_dumps(entry_without_hash).encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: the reference names the error
    return rfc8785.dumps(entry_without_hash)


def entry_hash(canonical_bytes: bytes) -> str:
    return hashlib.sha256(canonical_bytes).hexdigest()


def leaf_hash(entry_hash_hex: str) -> bytes:
    """RFC 6962 leaf: SHA-256(0x00 || the entry's 32 hash bytes)."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    """MTH of the empty tree: SHA-256 of nothing."""
    return hashlib.sha256(b"").digest()


def tail(*, prev: str, seq: int, ts_text: str) -> bytes:
    """The canonical JSON's last four members, in RFC 8785 order, closing the object."""
    return f'"prev":"{prev}","seq":{seq},"ts":"{ts_text}","v":{FORMAT_VERSION}}}'.encode()
