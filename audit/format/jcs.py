"""Canonical JSON (RFC 8785) with one entry point, and reading JSON text as RFC 8785 takes it (I-JSON).

`canonical` is how the writer makes an entry's bytes and how the verifier remakes them. Where a value is
plain (below), JCS is exactly Python's sorted, compact JSON, which the C encoder writes far faster; anything
else goes to the reference implementation. Property tests (tests/audit/test_canonical.py) hold the two equal.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

import rfc8785

SAFE_INT = 2**53 - 1  # RFC 8785 refuses integers beyond this (I-JSON); the C encoder would write them

_make_encoder = getattr(json.encoder, "c_make_encoder", None)
# No markers: a value read from text, or made by the writer, cannot hold itself.
_ENCODE = (
    _make_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    if _make_encoder is not None else None
)


def _encode(value: Any) -> bytes:
    if _ENCODE is None:  # an interpreter without the C accelerator
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "".join(_ENCODE(value, 0)).encode()


def _plain_value(value: Any) -> bool:
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
        return -SAFE_INT <= value <= SAFE_INT
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            if type(v) is not str and v is not None and not _plain_value(v):  # strings inline: most members
                return False
        return True
    if kind is list or kind is tuple:
        return all(type(v) is str or _plain_value(v) for v in value)
    return False


def _as_doubles(value: Any) -> Any:
    """The value with every integer beyond 2**53 - 1 read as the IEEE 754 double it denotes."""
    if type(value) is int:
        return value if -SAFE_INT <= value <= SAFE_INT else float(value)
    if type(value) is dict:
        return {k: _as_doubles(v) for k, v in value.items()}
    if type(value) is list:
        return [_as_doubles(v) for v in value]
    return value


def canonical(value: Any, *, plain: bool = False, read: bool = False) -> bytes:
    """RFC 8785 bytes of a JSON value; raises what the reference raises for what RFC 8785 cannot write.

    `plain`: the caller has proved, from the text the value was read from (`parse`), that the C encoder's
    bytes are RFC 8785's, so the value is not walked to find out.
    `read`: the value was read from JSON text, where RFC 8785 reads every number as an IEEE 754 double: 1.2e18
    is written 1200000000000000000, which the reference package refuses back (Python reads it as an int
    beyond 2**53), so such integers are given to it as the doubles they are; an integer no double holds
    exactly (2**53 + 1) becomes the nearest double, as RFC 8785 says. The writer leaves it False: it refuses
    such an integer (it makes none: `chain.jsonable` writes them as strings).
    """
    if plain and _ENCODE is not None:  # the verifier's hot path: no call more than needed
        return "".join(_ENCODE(value, 0)).encode()
    if plain or _plain_value(value):
        try:
            return _encode(value)
        except UnicodeEncodeError:
            pass  # a lone surrogate: the reference names the error
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        if not read:
            raise
        return rfc8785.dumps(_as_doubles(value))


def integer(value: Any) -> Any:
    """An integer as JSON may write it: `1` or `1.0` are the same number, and RFC 8785 writes both as
    `1` (spec section 5: any serialisation, verifiers re-canonicalise). Anything else is returned as it is."""
    if type(value) is float and value.is_integer() and abs(value) <= SAFE_INT:
        return int(value)
    return value


# Reading. The flag says whether the text just read held a number the C encoder would not write as RFC 8785
# does (a non-integer, NaN, Infinity, an integer beyond 2**53); per thread, so concurrent readers never share it.
_seen = threading.local()


def _float(text: str) -> float:
    """Also NaN and Infinity, which Python reads but RFC 8785 refuses."""
    _seen.exotic = True
    return float(text)


def _int(text: str) -> int:
    value = int(text)
    if not -SAFE_INT <= value <= SAFE_INT:
        _seen.exotic = True
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 8785 takes I-JSON, where a name appears once in an object: with two "action" members, one
    reader would see the first and another the last."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        raise ValueError(f"duplicate member {next(n for n in names if names.count(n) > 1)!r}")
    return obj


# The reference decoder: the C scanner calls back into Python for numbers and for each object's members,
# to refuse a repeated one. The fast paths scan without that call, and rescan with it unless the text's
# length proves it repeats nothing (see the verifier's LogChecker._feed_fast).
_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_float,
                            object_pairs_hook=_unique_members)
_SCAN_UNIQUE = _DECODER.scan_once  # type: ignore[attr-defined]  # the scanner without decode()'s wrapping
_SCAN = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_float).scan_once  # type: ignore[attr-defined]
_ASTRAL = re.compile(rb"[\xf0-\xff]")  # the lead byte of a 4-byte UTF-8 sequence: a character beyond U+FFFF


def read_json(text: str) -> Any:
    """One JSON value as RFC 8785 takes it: a member named twice is refused (ValueError)."""
    return _DECODER.decode(text)


def plain_text(raw: bytes) -> bool:
    """Whether the text holds no escape and no character beyond U+FFFF.

    Within the Basic Multilingual Plane, ordering keys by UTF-16 code units (RFC 8785) is ordering
    them by code point (Python), and both escape the same characters the same way. An escape might
    hide an astral character or a lone surrogate, so it goes to the reference; so does a literal
    backslash before a `u`, which costs only speed, never correctness.
    """
    return b"\\u" not in raw and (raw.isascii() or not _ASTRAL.search(raw))


def parse(line: bytes | str) -> tuple[Any, bool]:
    """Parse one line as `read_json`; the flag says whether `canonical` may take it as `plain`."""
    _seen.exotic = False
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    obj = _DECODER.decode(raw.decode("utf-8"))
    return obj, not _seen.exotic and plain_text(raw)


def scan_object(raw: bytes, *, unique: bool = False) -> dict[str, Any] | None:
    """One JSON object filling `raw`, or None to leave it to `parse`. With `unique`, an object repeating a
    member is None too; without, the last of a repeated member is kept."""
    _seen.exotic = False
    try:
        text = raw.decode()
        value, end = (_SCAN_UNIQUE if unique else _SCAN)(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    return value if end == len(text) and type(value) is dict else None


def scanned_plain(raw: bytes) -> bool:
    """Whether `raw`, just read by `scan_object`, was plain: integers only, no escape or astral character,
    where the C encoder's bytes are RFC 8785's and the shortest spelling of the value."""
    return not _seen.exotic and b"\\u" not in raw and (raw.isascii() or not _ASTRAL.search(raw))  # plain_text


def unparsable(line: bytes | str, exc: Exception) -> str:
    """Why a line is not one JSON value, in the reader's terms."""
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    if not raw.strip():
        return "a blank line (every line holds one JSON object)"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "the line starts with a byte order mark (BOM), which JSON text must not"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"not JSON: {exc}"


def digest_of(value: Any) -> str:
    """The SHA-256 of a JSON value's RFC 8785 bytes (what GovernedModel.AUDIT_DIGESTED binds); "" for a value that
    has no such bytes (NaN, infinity, a number beyond any double).

    Read as RFC 8785 reads JSON text (`canonical`'s `read`): an integer beyond 2**53 is the double it denotes.
    PostgreSQL's jsonb keeps numbers as numeric and writes a float such as 1e16 back as 10000000000000000, which
    Python reads as an int the reference refuses; it is the same number, so it keeps its digest. A reader of the
    number (governance.gates) reads it as that double too: what the digest binds."""
    try:
        return hashlib.sha256(canonical(value, read=True)).hexdigest()
    except (TypeError, ValueError, OverflowError):
        return ""


def shown(value: Any, limit: int = 200) -> str:
    """A value as a divergence names it: JSON with sorted keys, cut at `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
