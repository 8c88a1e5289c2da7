"""The outsider's verifier of an audit log export (format v1), written from the spec alone.

Needs only Python 3.11, `rfc8785` and `cryptography`; imports nothing of the project. Usage:

    python -m audit.verifier BUNDLE [--json] [--key PEM ...]   # a directory, .zip or .tar.gz
    python -m audit.verifier --proof FILE --key PEM [--key PEM] [--old-checkpoint FILE]
                                                 # one proof from the API (see audit.verifier_proofs)

Exit code 0: every entry and checkpoint verified; 1: a check failed (the first failure is named by
seq or checkpoint size and rule); 2: the bundle could not be read.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import re
import sys
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import rfc8785
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = "0" * 64
ENTRY_MEMBERS = frozenset({"v", "seq", "ts", "actor", "action", "object", "changes", "context", "prev", "hash"})
CHECKPOINT_MEMBERS = frozenset({"v", "log", "size", "root", "head", "ts", "key", "sig"})
CHANNELS = frozenset({"api", "admin", "cli", "task", "system"})
_BODY_MEMBERS = ENTRY_MEMBERS - {"hash"}
_ACTOR_MEMBERS = frozenset({"kind", "id", "name"})
_ACTOR_KINDS = ("user", "system")
_OBJECT_MEMBERS = frozenset({"type", "id", "repr"})
_CHANGE_MEMBERS = frozenset({"old", "new"})
# fullmatch: "$" would also accept a trailing newline; [0-9] rather than \d, which is any Unicode digit.
_HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_ANY_HEX64 = re.compile(r"[0-9a-fA-F]{64}").fullmatch  # checkpoint root and head: "hex", case not fixed
_TS_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z").fullmatch
_ACTION = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+").fullmatch  # app.subject.verb
_KEY_ID = re.compile(r"[0-9a-f]{16}").fullmatch
_SAFE_INT = 2**53 - 1  # RFC 8785 refuses integers beyond this; the C encoder would write them


def _ts_ok(ts: str) -> bool:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ naming a real instant (no month 13, no second 99)."""
    if _TS_SHAPE(ts) is None:
        return False
    try:
        dt.datetime.fromisoformat(ts[:19])
    except ValueError:
        return False
    return True


def _integer(value: Any) -> Any:
    """An integer as JSON may write it: `1` or `1.0` are the same number, and RFC 8785 writes both as
    `1` (spec section 5: any serialisation, verifiers re-canonicalise). Anything else is returned as it is."""
    if type(value) is float and value.is_integer() and abs(value) <= _SAFE_INT:
        return int(value)
    return value


class VerificationError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class BundleError(Exception):
    """The bundle cannot be read at all."""


@dataclass
class Result:
    ok: bool = True
    first_seq: int | None = None
    last_seq: int | None = None
    entries: int = 0
    checkpoints_checked: int = 0
    failed_seq: int | None = None
    failed_checkpoint_size: int | None = None
    failed_line: int | None = None  # the line of entries.jsonl, where no seq can be named
    rule: str | None = None
    message: str | None = None
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.ok:
            if self.failed_seq is not None:
                where = f"seq {self.failed_seq}"
            elif self.failed_line is not None:
                where = f"entries.jsonl line {self.failed_line}"
            elif self.failed_checkpoint_size is not None:
                where = f"checkpoint size {self.failed_checkpoint_size}"
            else:
                where = "a checkpoint"
            return f"FAILED at {where}: rule {self.rule}: {self.message}"
        span = f"seq {self.first_seq}..{self.last_seq}" if self.entries else "no entries"
        return f"OK: {self.entries} entries ({span}), {self.checkpoints_checked} checkpoint(s) verified"


# RFC 6962 / RFC 9162 hashing.
def _leaf(entry_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _all_hashes(values: list[bytes]) -> bool:
    return all(isinstance(v, bytes) and len(v) == 32 for v in values)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index < 0 or index >= size or not _all_hashes([leaf_hash, root, *proof]):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if size1 < 0 or size2 < size1:
        return False
    if size1 == size2:
        # Nothing to prove but that the roots match; between empty trees there is nothing at all.
        return size1 > 0 and not proof and root1 == root2
    if size1 == 0 or not _all_hashes([root1, root2, *proof]):
        return False  # a proof from the empty tree proves nothing
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def verify_checkpoint_signature(cp: dict[str, Any], public_key_pem: bytes) -> None:
    """Shape, key id and Ed25519 signature of a checkpoint (spec section 4); raises VerificationError."""
    if not isinstance(cp, dict) or set(cp) != CHECKPOINT_MEMBERS:
        raise VerificationError("checkpoint.members", "a checkpoint has exactly v, log, size, root, head, ts, key, sig")
    if type(_integer(cp["v"])) is not int or cp["v"] != 1:
        raise VerificationError("checkpoint.v", "v must be the integer 1")
    if type(_integer(cp["size"])) is not int or cp["size"] < 0:
        raise VerificationError("checkpoint.size", "size must be a non-negative integer")
    for name in ("root", "head"):
        if not isinstance(cp[name], str) or not _ANY_HEX64(cp[name]):
            raise VerificationError(f"checkpoint.{name}", f"{name} must be 64 hex digits")
    if not isinstance(cp["ts"], str) or not _ts_ok(cp["ts"]):
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
        unsigned = {k: v for k, v in cp.items() if k != "sig"}
        public_key.verify(signature, _jcs(unsigned))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("checkpoint.signature", "the signature does not verify") from exc


_seen = threading.local()  # per thread, so concurrent verifications never share the flag


def _float(text: str) -> float:
    """Also NaN and Infinity, which Python reads but RFC 8785 refuses."""
    _seen.exotic = True
    return float(text)


def _int(text: str) -> int:
    value = int(text)
    if not -_SAFE_INT <= value <= _SAFE_INT:
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
# to refuse a repeated one. The fast paths scan without that call, and rescan a line with it unless its
# length proves it repeats nothing (see LogChecker._feed_fast).
_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_float,
                            object_pairs_hook=_unique_members)
_SCAN_UNIQUE = _DECODER.scan_once  # type: ignore[attr-defined]  # the scanner without decode()'s wrapping
_SCAN = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_float).scan_once  # type: ignore[attr-defined]
_ASTRAL = re.compile(rb"[\xf0-\xff]")  # the lead byte of a 4-byte UTF-8 sequence: a character beyond U+FFFF


def _plain_text(raw: bytes) -> bool:
    """Whether the text holds no escape and no character beyond U+FFFF.

    Within the Basic Multilingual Plane, ordering keys by UTF-16 code units (RFC 8785) is ordering
    them by code point (Python), and both escape the same characters the same way. An escape might
    hide an astral character or a lone surrogate, so it goes to the reference; so does a literal
    backslash before a `u`, which costs only speed, never correctness.
    """
    return b"\\u" not in raw and (raw.isascii() or not _ASTRAL.search(raw))


def entry_line(hashed: bytes, digest: str) -> bytes:
    """An entry's line in entries.jsonl: the canonical bytes that were hashed, with "hash" appended as
    the last member (any serialisation will do, spec section 5; this one keeps the hashed bytes whole)."""
    return hashed[:-1] + b',"hash":"' + digest.encode() + b'"}'


def parse(line: bytes | str) -> tuple[Any, bool]:
    """Parse one line; the flag says whether `canonical` may take its fast path."""
    _seen.exotic = False
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    obj = _DECODER.decode(raw.decode("utf-8"))
    return obj, not _seen.exotic and _plain_text(raw)


_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    _make_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    if _make_encoder is not None else None
)


def _fast_canonical(value: Any) -> bytes:
    if _ENCODE is None:  # an interpreter without the C accelerator
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "".join(_ENCODE(value, 0)).encode()


def _as_doubles(value: Any) -> Any:
    """The value with every integer beyond 2**53 - 1 read as the IEEE 754 double it denotes."""
    if type(value) is int:
        return value if -_SAFE_INT <= value <= _SAFE_INT else float(value)
    if type(value) is dict:
        return {k: _as_doubles(v) for k, v in value.items()}
    if type(value) is list:
        return [_as_doubles(v) for v in value]
    return value


def _jcs(value: Any) -> bytes:
    """rfc8785.dumps, for every JSON number. RFC 8785 reads each number as an IEEE 754 double, and writes
    1.2e18 as 1200000000000000000; the reference package refuses that integer back (Python reads it as an
    int beyond 2**53), so such integers are given to it as the doubles they are. An integer no double holds
    exactly (2**53 + 1) becomes the nearest double, whose JCS form differs from the text: as RFC 8785 says."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        return rfc8785.dumps(_as_doubles(value))


def canonical(value: Any, fast: bool = False) -> bytes:
    """RFC 8785 bytes of a parsed value.

    With no non-integer or huge numbers and no text beyond the Basic Multilingual Plane, JCS is
    exactly Python's sorted, compact JSON, which the C encoder writes far faster; anything else goes
    to the reference implementation. Property tests check both give identical bytes.
    """
    return _fast_canonical(value) if fast else _jcs(value)


def _check_entry_shape(e: Any) -> None:
    if not isinstance(e, dict):
        raise VerificationError("entry.parse", "an entry must be a JSON object")
    if set(e) != ENTRY_MEMBERS:
        missing, extra = sorted(ENTRY_MEMBERS - set(e)), sorted(set(e) - ENTRY_MEMBERS)
        raise VerificationError("entry.members", f"missing {missing}, unexpected {extra}")
    e["v"], e["seq"] = _integer(e["v"]), _integer(e["seq"])
    if type(e["v"]) is not int or e["v"] != 1:
        raise VerificationError("entry.v", "v must be the integer 1")
    if type(e["seq"]) is not int:
        raise VerificationError("entry.seq", "seq must be an integer")
    if not isinstance(e["ts"], str) or not _ts_ok(e["ts"]):
        raise VerificationError("entry.ts", "ts must be YYYY-MM-DDTHH:MM:SS.ffffffZ, a real UTC time")
    actor = e["actor"]
    if (not isinstance(actor, dict) or set(actor) != {"kind", "id", "name"} or actor["kind"] not in ("user", "system")
            or not (actor["id"] is None or isinstance(actor["id"], str)) or not isinstance(actor["name"], str)):
        raise VerificationError("entry.actor", "actor must be {kind: user|system, id: string|null, name: string}")
    if not isinstance(e["action"], str) or not _ACTION(e["action"]):
        raise VerificationError("entry.action", "action must be dotted lower case app.subject.verb")
    obj = e["object"]
    if not isinstance(obj, dict) or set(obj) != {"type", "id", "repr"} or not all(
            isinstance(v, str) for v in obj.values()):
        raise VerificationError("entry.object", "object must be {type, id, repr} strings")
    if not isinstance(e["changes"], dict) or not _changes_ok(e["changes"]):
        raise VerificationError("entry.changes", 'changes must be an object of field name -> {"old": value, '
                                '"new": value}')
    context = e["context"]
    channel = context.get("channel") if isinstance(context, dict) else None
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise VerificationError("entry.context", "context must be an object with a known channel")
    for name in ("prev", "hash"):
        if not isinstance(e[name], str) or not _HEX64(e[name]):
            raise VerificationError(f"entry.{name}", f"{name} must be 64 lower-case hex digits")


def _changes_ok(changes: dict[str, Any]) -> bool:
    """Each member of `changes` is {"old": value, "new": value} (spec section 1)."""
    # A loop rather than all(): a generator costs a frame for every entry on the verifier's hot path.
    for change in changes.values():  # noqa: SIM110
        if type(change) is not dict or change.keys() != _CHANGE_MEMBERS:
            return False
    return True


def _reference_canonical(value: Any) -> bytes | None:
    try:
        return _jcs(value)
    except Exception:  # the reference path names what it cannot canonicalise
        return None


def _scan_object(raw: bytes, *, unique: bool = False) -> dict[str, Any] | None:
    """One JSON object filling `raw`, or None to leave it to the reference. With `unique`, an object
    repeating a member is None too."""
    _seen.exotic = False
    try:
        text = raw.decode()
        value, end = (_SCAN_UNIQUE if unique else _SCAN)(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    return value if end == len(text) and type(value) is dict else None


def _canonical_of_scanned(value: dict[str, Any], raw: bytes) -> tuple[bytes | None, bool]:
    """RFC 8785 bytes of what `_scan_object` just read from `raw` (None where the reference refuses it), and
    whether `raw` was plain: integers only, no escape or astral character, where the C encoder's bytes are
    RFC 8785's and the shortest spelling of the value."""
    plain = not _seen.exotic and _plain_text(raw)
    if not plain:
        return _reference_canonical(value), plain
    try:
        return _fast_canonical(value), plain
    except RecursionError:  # nested deeper than the encoder goes: the reference path names it
        return None, plain


class LogChecker:
    """Checks a log fed one entry at a time, in constant memory (an RFC 6962 compact range).

    With `whole_log_to`, what is fed must be the whole log, seq 1 to that seq (the size its keeper
    claims): a missing first or last entry is then a failure, not a range export or a notice.
    """

    def __init__(self, whole_log_to: int | None = None) -> None:
        self._whole_log_to = whole_log_to
        self.result = Result()
        self.last_entry: dict[str, Any] = {}  # the entry last accepted, as read
        self._checkpoints: dict[int, list[dict[str, Any]]] = {}
        self._prev: str | None = None
        self._ts: str | None = None
        self._seq: int | None = None
        self._frontier: list[bytes] = []  # roots of the complete subtrees, largest first
        self._leaves = 0
        self._actions: set[str] = set()  # actions already seen to be well formed
        self._max_checkpoint = 0
        self._lines = 0  # lines fed, to name a line no seq can name
        self._roots_unchecked: list[int] = []  # range export: checkpoints whose head alone could be checked

    @property
    def failed(self) -> bool:
        return not self.result.ok

    def add_checkpoint(self, cp: dict[str, Any], public_key_pem: bytes) -> None:
        """Register a checkpoint before feeding: its signature now, root and head when its size is reached."""
        if self.failed:
            return
        try:
            verify_checkpoint_signature(cp, public_key_pem)
        except VerificationError as exc:
            size = cp.get("size") if isinstance(cp, dict) and type(cp.get("size")) is int else None
            self._fail_checkpoint(size, exc)
            return
        cp = {**cp, "v": 1, "size": _integer(cp["size"])}
        self._max_checkpoint = max(self._max_checkpoint, cp["size"])
        if cp["size"] == 0:
            self._check_checkpoint(cp, hashlib.sha256(b"").digest(), ZERO)
            return
        self._checkpoints.setdefault(cp["size"], []).append(cp)

    def feed(self, line: bytes | str) -> None:
        """Check the next line of entries.jsonl."""
        if not self.result.ok:
            return
        self._lines += 1
        if self._seq is not None and type(line) is bytes and self._feed_fast(line):
            return
        self._feed_reference(line)

    def feed_stored(self, canonical_bytes: bytes, digest: str) -> None:
        """Check the next entry as a database stores it: the bytes that were hashed, and the hash.

        The decision is exactly `feed` of the export line made from them; only the common case
        (bytes already canonical, hash matching) is quicker, since the bytes are hashed as they are.
        """
        if self.failed:
            return
        self._lines += 1
        if self._seq is not None and self._stored_fast(canonical_bytes, digest):
            return
        self._feed_reference(entry_line(canonical_bytes, digest))

    # The fast paths decide nothing: they accept only an entry that the reference path would accept,
    # with the same effect, and otherwise leave it, untouched, to the reference path to name the failure.
    def _feed_fast(self, line: bytes) -> bool:
        raw = line.rstrip(b" \t\r\n")  # white space may follow the object
        e = _scan_object(raw)
        if e is None or e.keys() != ENTRY_MEMBERS:
            return False
        digest = e.pop("hash")
        if type(digest) is not str or not self._fields_pass(e):
            return False
        body, plain = _canonical_of_scanned(e, raw)
        if body is None or hashlib.sha256(body).hexdigest() != digest:
            return False
        # The scan kept the last of a repeated member. Where plain, the canonical form is the shortest
        # spelling of the value (integers only, no \u escapes), so a line no longer than it plus the hash
        # member, as modelgov writes them, repeats nothing; any other line is scanned again, refusing repeats.
        compact = plain and len(raw) == len(body) + len(',"hash":""') + len(digest)
        if not compact and _scan_object(raw, unique=True) is None:
            return False
        self._accept(e["seq"], digest, e["ts"], e)
        return True

    def _stored_fast(self, raw: bytes, digest: str) -> bool:
        e = _scan_object(raw)
        if e is None or e.keys() != _BODY_MEMBERS or not self._fields_pass(e):
            return False
        if _canonical_of_scanned(e, raw)[0] != raw or hashlib.sha256(raw).hexdigest() != digest:
            return False
        self._accept(e["seq"], digest, e["ts"], e)
        return True

    def _fields_pass(self, e: dict[str, Any]) -> bool:
        """Rules 1-3 for an entry (without its hash) that follows another: the shape, seq, ts and prev."""
        seq, ts, actor, obj, context = e["seq"], e["ts"], e["actor"], e["object"], e["context"]
        action = e["action"]
        return (
            type(seq) is int and seq == self._seq + 1  # type: ignore[operator]
            and type(e["v"]) is int and e["v"] == 1
            and type(ts) is str and ts >= self._ts and _TS_SHAPE(ts) is not None  # type: ignore[operator]
            # The date was checked for the entry before: on the same day only the time of day is left
            # (the shape above makes these two-digit comparisons numeric); a new day is checked whole.
            and ((ts[:10] == self._ts[:10]  # type: ignore[index]
                 and ts[11:13] < "24" and ts[14:16] < "60" and ts[17:19] < "60") or _ts_ok(ts))
            and e["prev"] == self._prev
            and type(actor) is dict and actor.keys() == _ACTOR_MEMBERS and actor["kind"] in _ACTOR_KINDS
            and (actor["id"] is None or type(actor["id"]) is str) and type(actor["name"]) is str
            and type(action) is str and (action in self._actions or self._new_action(action))
            and type(obj) is dict and obj.keys() == _OBJECT_MEMBERS
            and type(obj["type"]) is str and type(obj["id"]) is str and type(obj["repr"]) is str
            and type(e["changes"]) is dict and _changes_ok(e["changes"])
            and type(context) is dict and type(context.get("channel")) is str and context["channel"] in CHANNELS
        )

    def _new_action(self, action: str) -> bool:
        if _ACTION(action) is None:
            return False
        if len(self._actions) < 10_000:  # a log has few distinct actions; the bound keeps memory flat
            self._actions.add(action)
        return True

    def _feed_reference(self, line: bytes | str) -> None:
        seq = (self._seq or 0) + 1 if self._seq is not None else None
        try:
            entry, fast = parse(line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._fail(seq, VerificationError("entry.parse", f"line {self._lines}: {_unparsable(line, exc)}"))
            return
        try:
            self._check(entry, fast)
        except VerificationError as exc:
            self._fail(entry.get("seq") if isinstance(entry, dict) and type(entry.get("seq")) is int else seq, exc)

    def _check(self, e: Any, fast: bool = False) -> None:
        _check_entry_shape(e)
        seq = e["seq"]
        if self._seq is None:
            if seq < 1:
                raise VerificationError("seq.order", "the first seq must be 1 or more")
            if self._whole_log_to is not None and seq != 1:
                raise VerificationError("seq.order", f"the log must start at seq 1; its first entry is seq {seq} "
                                                     "(entries deleted)")
            self.result.first_seq = seq
            if seq == 1 and e["prev"] != ZERO:
                raise VerificationError("prev.chain", "the first entry's prev must be 64 zeros")
            if seq > 1:
                self.result.notices.append(f"range export starting at seq {seq}: its first prev is taken as given")
        else:
            if seq != self._seq + 1:
                raise VerificationError("seq.order", f"expected seq {self._seq + 1}, found {seq}")
            if e["ts"] < (self._ts or ""):
                raise VerificationError("ts.order", f"ts {e['ts']} is earlier than the previous {self._ts}")
            if e["prev"] != self._prev:
                raise VerificationError("prev.chain", "prev is not the previous entry's hash")
        body = {k: v for k, v in e.items() if k != "hash"}
        try:
            digest = hashlib.sha256(canonical(body, fast)).hexdigest()
        except Exception as exc:
            raise VerificationError("entry.json", f"cannot be canonicalised: {exc}") from exc
        if digest != e["hash"]:
            raise VerificationError("hash.mismatch", "hash is not SHA-256 of the canonical entry")
        self._accept(seq, e["hash"], e["ts"], e)

    def _accept(self, seq: int, digest: str, ts: str, entry: dict[str, Any]) -> None:
        self._seq, self._prev, self._ts = seq, digest, ts
        self.last_entry = entry
        result = self.result
        result.last_seq = seq
        result.entries += 1
        if result.first_seq == 1:
            self._push(hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest())
            if seq in self._checkpoints:
                for cp in self._checkpoints.pop(seq):
                    self._check_checkpoint(cp, self._root(), digest)
            return
        # A range export: a checkpoint's root needs entries 1..size, but its head is checkable for
        # every size inside the range, and the one just before it pins the first prev "taken as given".
        if self.result.entries == 1 and seq - 1 in self._checkpoints:
            for cp in self._checkpoints.pop(seq - 1):
                self._check_head(cp, entry["prev"])
        if seq in self._checkpoints:
            for cp in self._checkpoints.pop(seq):
                self._check_head(cp, digest)

    def _check_head(self, cp: dict[str, Any], head: str) -> None:
        if cp["head"].lower() != head:
            self._fail_checkpoint(cp["size"], VerificationError("checkpoint.head", "head is not entry size's hash"))
        else:
            self._roots_unchecked.append(cp["size"])

    def _push(self, leaf: bytes) -> None:
        # The compact range of n leaves holds one subtree per 1 bit of n, largest first; appending
        # merges one subtree per trailing 1 bit.
        node, n, stack = leaf, self._leaves, self._frontier
        while n & 1:
            node = hashlib.sha256(b"\x01" + stack.pop() + node).digest()
            n >>= 1
        stack.append(node)
        self._leaves += 1

    def _root(self) -> bytes:
        acc = self._frontier[-1]
        for h in reversed(self._frontier[:-1]):
            acc = _node(h, acc)
        return acc

    def _check_checkpoint(self, cp: dict[str, Any], root: bytes, head: str) -> None:
        if cp["root"].lower() != root.hex():
            self._fail_checkpoint(cp["size"], VerificationError("checkpoint.root", "root is not the Merkle root"))
        elif cp["head"].lower() != head:
            self._fail_checkpoint(cp["size"], VerificationError("checkpoint.head", "head is not entry size's hash"))
        else:
            self.result.checkpoints_checked += 1

    def fail(self, seq: int, rule: str, message: str) -> None:
        """Fail at `seq` for a reason found outside the checker (an installation's own checks)."""
        if not self.failed:
            self._fail(seq, VerificationError(rule, message))

    def _fail(self, seq: int | None, exc: VerificationError) -> None:
        self.result.ok = False
        self.result.failed_seq = seq
        if seq is None:
            self.result.failed_line = self._lines
        self.result.rule, self.result.message = exc.rule, exc.message

    def _fail_checkpoint(self, size: int | None, exc: VerificationError) -> None:
        self.result.ok = False
        self.result.failed_checkpoint_size = size
        self.result.rule, self.result.message = exc.rule, exc.message

    def finish(self) -> Result:
        r = self.result
        if r.ok and self._whole_log_to is not None and (r.last_seq or 0) != self._whole_log_to:
            self._fail((r.last_seq or 0) + 1, VerificationError(
                "seq.order", f"the log's head says {self._whole_log_to} entries but the entries end at seq "
                f"{r.last_seq or 0} (entries deleted from the tail)"))
        if r.ok and self._roots_unchecked:
            r.notices.append(f"checkpoints at sizes {self._roots_unchecked}: signature and head checked; the root "
                             "needs the entries from seq 1, which this range export does not hold")
        beyond = [size for size in self._checkpoints if size > (r.last_seq or 0)]
        if r.ok and beyond:
            # Also in a range export: an export holds no checkpoint past its last entry, so one there
            # means entries were cut off the end.
            self._fail_checkpoint(min(beyond), VerificationError(
                "checkpoint.size", f"a checkpoint covers {min(beyond)} entries but the entries end at seq "
                f"{r.last_seq or 0}: entries are missing (truncated)"))
        if r.ok and self._checkpoints:
            r.notices.append(f"checkpoints at sizes {sorted(self._checkpoints)}: signature checked; they lie "
                             f"before the exported range seq {r.first_seq}..{r.last_seq}")
        if r.ok and r.entries and not r.checkpoints_checked:
            r.notices.append("no checkpoint covers these entries: truncation of the tail is detectable only "
                             "against a signed checkpoint")
        elif r.ok and r.entries and self._max_checkpoint < (r.last_seq or 0):
            r.notices.append(f"entries after seq {self._max_checkpoint} (the last checkpoint) could be truncated "
                             "undetected until a later checkpoint covers them")
        return r


def _unparsable(line: bytes | str, exc: Exception) -> str:
    """Why a line is not one JSON value, in the reader's terms."""
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    if not raw.strip():
        return "a blank line (every line holds one JSON object)"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "the line starts with a byte order mark (BOM), which JSON text must not"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"not JSON: {exc}"


_NO_CHECKPOINTS = "{path} has no checkpoints.jsonl (a bundle always holds it, empty where there are no checkpoints)"


@contextmanager
def _open_bundle(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes], dict[str, bytes]]]:
    """Yield (entries stream, checkpoints stream, key PEMs by key id) from a directory, zip or tar.gz."""
    if path.is_dir():
        entries = path / "entries.jsonl"
        if not entries.exists():
            raise BundleError(f"{path} has no entries.jsonl")
        keys = {p.stem: p.read_bytes() for p in (path / "keys").glob("*.pub")} if (path / "keys").is_dir() else {}
        cps = path / "checkpoints.jsonl"
        if not cps.exists():
            raise BundleError(_NO_CHECKPOINTS.format(path=path))
        with entries.open("rb") as fe, cps.open("rb") as fc:
            yield fe, fc, keys
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            files = [n for n in zf.namelist() if not n.endswith("/")]
            nested = _nested(files)
            names = {n.split("/", 1)[1] if nested else n: n for n in files}
            if "entries.jsonl" not in names:
                raise BundleError(f"{path} has no entries.jsonl")
            keys = {Path(k).stem: zf.read(v) for k, v in names.items() if k.startswith("keys/") and k.endswith(".pub")}
            if "checkpoints.jsonl" not in names:
                raise BundleError(_NO_CHECKPOINTS.format(path=path))
            with zf.open(names["entries.jsonl"]) as fe, zf.open(names["checkpoints.jsonl"]) as fc:
                yield fe, fc, keys
        return
    try:
        tf = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path} is not a directory, zip or tar.gz bundle: {exc}") from exc
    with tf:
        tar_files = [m for m in tf.getmembers() if m.isfile()]
        nested = _nested([m.name for m in tar_files])
        members = {m.name.split("/", 1)[1] if nested else m.name: m for m in tar_files}
        if "entries.jsonl" not in members:
            raise BundleError(f"{path} has no entries.jsonl")
        tar_keys: dict[str, bytes] = {}
        for name, member in members.items():
            if name.startswith("keys/") and name.endswith(".pub"):
                fh = tf.extractfile(member)
                tar_keys[Path(name).stem] = fh.read() if fh else b""
        if "checkpoints.jsonl" not in members:
            raise BundleError(_NO_CHECKPOINTS.format(path=path))
        tar_entries = tf.extractfile(members["entries.jsonl"])
        tar_cps = tf.extractfile(members["checkpoints.jsonl"])
        if tar_entries is None or tar_cps is None:
            raise BundleError("entries.jsonl and checkpoints.jsonl must be regular files")
        yield tar_entries, tar_cps, tar_keys


def _nested(names: list[str]) -> bool:
    """Whether every name sits under one top directory (an archive of the bundle directory)."""
    tops = {n.split("/", 1)[0] for n in names if n}
    return len(tops) == 1 and all("/" in n for n in names if not n.endswith("/"))


def trusted_keys(pems: list[bytes]) -> dict[str, bytes]:
    """Public keys given by the one who checks, by key id; a file that is not an Ed25519 key is refused."""
    keys = {}
    for pem in pems:
        try:
            public = serialization.load_pem_public_key(pem)
        except UnsupportedAlgorithm as exc:
            raise BundleError("a trusted key is not an Ed25519 key") from exc
        except ValueError as exc:
            raise BundleError("a trusted key is not a PEM public key") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise BundleError("a trusted key is not an Ed25519 key")
        keys[key_id(public)] = pem
    return keys


def verify_bundle(path: str | Path, trusted: dict[str, bytes] | None = None) -> Result:
    """Verify an export bundle (spec section 5) by every rule of section 6.

    With `trusted` (key id → PEM), checkpoints must be signed by those keys, whatever keys/ holds: a
    bundle from a database rewritten and re-signed with a key of the rewriter's own then fails.
    """
    try:
        return _verify_bundle(Path(path), trusted)
    except RecursionError:
        raise  # every parse catches it; one escaping is a bug to see, not a damaged archive
    except (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, NotImplementedError, RuntimeError) as exc:
        # A damaged or encrypted archive, found while streaming it: it cannot be read, which is not a
        # failed check of what it holds.
        raise BundleError(f"{path}: the archive is damaged or cannot be read: {exc!r}") from exc


def _verify_bundle(path: Path, trusted: dict[str, bytes] | None) -> Result:
    checker = LogChecker()
    with _open_bundle(path) as (entries, checkpoints, bundle_keys):
        keys = bundle_keys if trusted is None else trusted
        last_size = -1
        for number, line in enumerate(checkpoints, start=1):
            try:
                cp = _DECODER.decode(line.decode("utf-8"))  # a blank line, too, is not a checkpoint
            except (ValueError, RecursionError) as exc:
                checker._fail_checkpoint(None, VerificationError("checkpoint.parse",
                                                                 f"line {number}: {_unparsable(line, exc)}"))
                break
            if not isinstance(cp, dict):
                checker._fail_checkpoint(None, VerificationError("checkpoint.members",
                                                                 f"line {number}: a checkpoint is a JSON object"))
                break
            size = _integer(cp.get("size"))
            if type(size) is int and 0 <= size <= last_size:
                checker._fail_checkpoint(size, VerificationError("checkpoint.order", "sizes must increase"))
                break
            last_size = size if type(size) is int else last_size
            key = cp.get("key")
            pem = keys.get(key) if isinstance(key, str) else b""  # not a string: the shape check names it
            if pem is None:
                why = f"keys/{key}.pub missing" if trusted is None else f"signed by key {key}, not a trusted one"
                checker._fail_checkpoint(size, VerificationError("checkpoint.key", why))
                break
            checker.add_checkpoint(cp, pem)
            if checker.failed:
                if checker.result.failed_checkpoint_size is None:  # no size to name it by: its line does
                    checker.result.message = f"checkpoints.jsonl line {number}: {checker.result.message}"
                break
        result, feed = checker.result, checker.feed
        for line in entries:
            if not result.ok:
                break
            feed(line)  # "every line parses": a blank one does not
        if not result.ok:
            # An archive's checksum is checked only once a file is read to its end: a failure that damage
            # caused is then "cannot read" (exit 2), not a verdict on entries nobody exported as read.
            for stream in (checkpoints, entries):
                while stream.read(1 << 20):
                    pass
    return checker.finish()


def _check_proof_file(args: argparse.Namespace) -> int:
    # Its errors are those of the imported audit.verifier: under `python -m` this module is __main__,
    # a second copy with classes of its own.
    from audit.verifier_proofs import VerificationError as ProofError
    from audit.verifier_proofs import check_proof

    try:
        # As for a bundle: I-JSON, so a member given twice is refused, not read as its last value.
        doc = _DECODER.decode(Path(args.proof).read_bytes().decode("utf-8"))
        keys = trusted_keys([Path(k).read_bytes() for k in args.key])
        kept = _DECODER.decode(Path(args.old_checkpoint).read_bytes().decode("utf-8")) if args.old_checkpoint else None
    except (OSError, ValueError, RecursionError, BundleError) as exc:
        print(f"cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        print("OK: " + check_proof(doc, keys, kept))
    except ProofError as exc:
        print(f"FAILED: rule {exc.rule}: {exc.message}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.verifier", description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, nargs="?")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--proof", type=Path, help="check one proof document from the API instead of a bundle")
    parser.add_argument("--key", action="append", default=[],
                        help="a public key (PEM) you trust; checkpoints signed by any other key then fail")
    parser.add_argument("--old-checkpoint", help="with --proof of consistency: the older checkpoint you kept")
    args = parser.parse_args(argv)
    if args.proof is not None:
        if not args.key:
            parser.error("--proof needs at least one --key: a proof is only as good as the key you trust")
        return _check_proof_file(args)
    if args.bundle is None:
        parser.error("give a bundle, or --proof FILE --key PEM")
    try:
        trusted = trusted_keys([Path(k).read_bytes() for k in args.key]) if args.key else None
        result = verify_bundle(args.bundle, trusted)
    except (BundleError, OSError) as exc:
        print(f"cannot read bundle: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else result.summary())
    if not args.json:
        for notice in result.notices:
            print(f"note: {notice}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
