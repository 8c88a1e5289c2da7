"""The writer's JSON values: any field value made into JSON that survives canonicalisation exactly.

The bytes, hashes and tree made from them are the format core's (`audit.format`), shared with the verifier.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import re
import uuid
from typing import Any

from audit.format.entry import format_ts
from audit.format.jcs import SAFE_INT

REDACTED = "<redacted>"


def digest_key(name: str) -> str:
    """The change recorded beside a secret field's "<redacted>": the SHA-256 of its value (secret_digest). A dot
    never occurs in a field's name, so it cannot be taken for one."""
    return f"{name}.sha256"


# What secret_digest answers for a value that is not a hash: a password column holding a password as typed (an
# ORM create or a shell can store one; it signs no one in), or an unusable password's random marker.
NOT_A_HASH = "not a hash"
# A token's key hash: SHA-256 of a random key, in hex.
_KEY_HASH = re.compile(r"[0-9a-f]{64}")
# A password hash as one of Django's salting hashers writes it: `algorithm$...$hash`, the hash at least 22 characters
# of base64 or hex. Read from the text alone, not the configured hashers, so that retiring a hasher or adding one
# changes no digest (a hash of a retired hasher still is one).
_PASSWORD_HASH = re.compile(r"(pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|md5)\$.*\$"
                            r"[A-Za-z0-9+/=.]{22,}")


def secret_digest(value: Any, name: str) -> str | None:
    """The SHA-256 (hex) of the secret field `name`'s value as stored, when that is itself a hash (an API token's key
    hash; a password hash with its salt): the log can then say whether the row still holds what it recorded, which
    "<redacted>" alone cannot, without holding anything a key or a password could be found from. Of a value that
    is not a hash (a password stored as typed, even one of 64 hex digits or starting "md5$"), nothing but
    NOT_A_HASH: its digest would be a fast unsalted hash of the password."""
    if value is None:
        return None
    text = str(jsonable(value))
    hashed = _PASSWORD_HASH.fullmatch(text) if name == "password" else _KEY_HASH.fullmatch(text)
    return hashlib.sha256(text.encode()).hexdigest() if hashed else NOT_A_HASH


_BIG_INT = re.compile(r"-?[0-9]{16,}")


def comparable(value: Any) -> Any:
    """A recorded (jsonable) value as compared with another: a number is one number however it travelled (an integer
    beyond 2**53, which `jsonable` writes as text and a JSON reader reads back as an integer or a double, is read as
    the double), and true is not 1."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, int):
        return value if abs(value) <= SAFE_INT else float(value)
    if isinstance(value, str) and _BIG_INT.fullmatch(value) and abs(int(value)) > SAFE_INT:
        return float(int(value))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def same(recorded: Any, value: Any) -> bool:
    """Whether a field's value is the one an entry recorded (`recorded`, as read from the entry's JSON)."""
    return bool(comparable(recorded) == comparable(jsonable(value)))


def jsonable(value: Any) -> Any:
    """Turn any field value into JSON that survives canonicalisation exactly."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        # I-JSON: integers beyond 2**53 cannot round-trip through every JSON reader, so they become strings.
        return value if abs(value) <= SAFE_INT else str(value)
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
