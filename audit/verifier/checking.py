"""Checking a log fed one entry at a time (spec section 6), in constant memory, against its checkpoints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from audit.format.checkpoint import verify_checkpoint_signature
from audit.format.entry import BODY_MEMBERS, ENTRY_MEMBERS, ZERO, check_entry, entry_fault, entry_line
from audit.format.errors import VerificationError
from audit.format.jcs import canonical, integer, parse, scan_object, scanned_plain, unparsable
from audit.format.rfc6962 import CompactRange, empty_root, leaf_hash

_HASH_MEMBER = len(',"hash":""')


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


def _canonical_of_scanned(value: dict[str, Any], raw: bytes) -> tuple[bytes | None, bool]:
    """RFC 8785 bytes of what `scan_object` just read from `raw` (None where the reference refuses it), and
    whether `raw` was plain (`jcs.scanned_plain`)."""
    plain = scanned_plain(raw)
    try:
        return canonical(value, plain=plain, read=True), plain
    except Exception:  # nested deeper than the encoder goes, or what RFC 8785 cannot write: the reference names it
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
        self._tree = CompactRange()
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
            self.fail_checkpoint(size, exc)
            return
        cp = {**cp, "v": 1, "size": integer(cp["size"])}
        self._max_checkpoint = max(self._max_checkpoint, cp["size"])
        if cp["size"] == 0:
            self._check_checkpoint(cp, empty_root(), ZERO)
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
        e = scan_object(raw)
        if e is None or e.keys() != ENTRY_MEMBERS:
            return False
        digest = e.pop("hash")
        if type(digest) is not str or not self._passes(e):
            return False
        body, plain = _canonical_of_scanned(e, raw)
        if body is None or hashlib.sha256(body).hexdigest() != digest:
            return False
        # The scan kept the last of a repeated member. Where plain, the canonical form is the shortest
        # spelling of the value (integers only, no \u escapes), so a line no longer than it plus the hash
        # member, as modelgov writes them, repeats nothing; any other line is scanned again, refusing repeats.
        compact = plain and len(raw) == len(body) + _HASH_MEMBER + len(digest)
        if not compact and scan_object(raw, unique=True) is None:
            return False
        self._accept(e["seq"], digest, e["ts"], e)
        return True

    def _stored_fast(self, raw: bytes, digest: str) -> bool:
        e = scan_object(raw)
        if e is None or e.keys() != BODY_MEMBERS or not self._passes(e):
            return False
        if _canonical_of_scanned(e, raw)[0] != raw or hashlib.sha256(raw).hexdigest() != digest:
            return False
        self._accept(e["seq"], digest, e["ts"], e)
        return True

    def _passes(self, e: dict[str, Any]) -> bool:
        """Rules 1-3 for an entry (without its hash) that follows another: the entry's rules, then seq, ts and
        prev against the entry before, as `_check` applies them."""
        return (
            entry_fault(e, self._ts[:10], self._actions, self._prev) is None  # type: ignore[index]
            and e["seq"] == self._seq + 1  # type: ignore[operator]
            and e["ts"] >= self._ts
            and e["prev"] == self._prev
        )

    def _feed_reference(self, line: bytes | str) -> None:
        seq = (self._seq or 0) + 1 if self._seq is not None else None
        try:
            entry, plain = parse(line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._fail(seq, VerificationError("entry.parse", f"line {self._lines}: {unparsable(line, exc)}"))
            return
        try:
            self._check(entry, plain)
        except VerificationError as exc:
            self._fail(entry.get("seq") if isinstance(entry, dict) and type(entry.get("seq")) is int else seq, exc)

    def _check(self, e: Any, plain: bool = False) -> None:
        check_entry(e)
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
            digest = hashlib.sha256(canonical(body, plain=plain, read=True)).hexdigest()
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
            self._tree.append(leaf_hash(digest))
            if seq in self._checkpoints:
                for cp in self._checkpoints.pop(seq):
                    self._check_checkpoint(cp, self._tree.root(), digest)
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
            self.fail_checkpoint(cp["size"], VerificationError("checkpoint.head", "head is not entry size's hash"))
        else:
            self._roots_unchecked.append(cp["size"])

    def _check_checkpoint(self, cp: dict[str, Any], root: bytes, head: str) -> None:
        if cp["root"].lower() != root.hex():
            self.fail_checkpoint(cp["size"], VerificationError("checkpoint.root", "root is not the Merkle root"))
        elif cp["head"].lower() != head:
            self.fail_checkpoint(cp["size"], VerificationError("checkpoint.head", "head is not entry size's hash"))
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

    def fail_checkpoint(self, size: int | None, exc: VerificationError) -> None:
        """Fail at the checkpoint of `size` (None: one whose size cannot be read)."""
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
            self.fail_checkpoint(min(beyond), VerificationError(
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
