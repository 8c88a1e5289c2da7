"""An entry of the log (spec sections 1 and 2): its members, the rules each must meet, its bytes and its hash.

The rules are stated once, in `entry_fault`: the verifier's fast path asks it whether an entry passes, its
reference path which rule an entry breaks, and the writer refuses what they would refuse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from audit.format.errors import VerificationError
from audit.format.jcs import integer

FORMAT_VERSION = 1
ZERO = "0" * 64  # the first entry's prev
ENTRY_MEMBERS = frozenset({"v", "seq", "ts", "actor", "action", "object", "changes", "context", "prev", "hash"})
BODY_MEMBERS = ENTRY_MEMBERS - {"hash"}  # what is hashed
CHANNELS = frozenset({"api", "admin", "cli", "task", "system"})
_ACTOR_MEMBERS = frozenset({"kind", "id", "name"})
_ACTOR_KINDS = ("user", "system")
_OBJECT_MEMBERS = frozenset({"type", "id", "repr"})
_CHANGE_MEMBERS = frozenset({"old", "new"})
# fullmatch: "$" would also accept a trailing newline; [0-9] rather than \d, which is any Unicode digit.
HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_TS_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z").fullmatch
# ASCII only: str.isalnum() and str.lower() would let "registry.modèle.create" through.
_ACTION = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+").fullmatch  # app.subject.verb

# What each rule says, by the name a failure gives it.
RULES = {
    "entry.v": "v must be the integer 1",
    "entry.seq": "seq must be an integer",
    "entry.ts": "ts must be YYYY-MM-DDTHH:MM:SS.ffffffZ, a real UTC time",
    "entry.actor": "actor must be {kind: user|system, id: string|null, name: string}",
    "entry.action": "action must be dotted lower case app.subject.verb",
    "entry.object": "object must be {type, id, repr} strings",
    "entry.changes": 'changes must be an object of field name -> {"old": value, "new": value}',
    "entry.context": "context must be an object with a known channel",
    "entry.prev": "prev must be 64 lower-case hex digits",
    "entry.hash": "hash must be 64 lower-case hex digits",
}


def format_ts(value: dt.datetime) -> str:
    """A time as entries and checkpoints write it: UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_ok(ts: str) -> bool:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ naming a real instant (no month 13, no second 99)."""
    if _TS_SHAPE(ts) is None:
        return False
    try:
        dt.datetime.fromisoformat(ts[:19])
    except ValueError:
        return False
    return True


def action_ok(action: Any) -> bool:
    return isinstance(action, str) and _ACTION(action) is not None


def changes_ok(changes: Any) -> bool:
    """`changes` is an object whose every member is {"old": value, "new": value} (spec section 1)."""
    if type(changes) is not dict:
        return False
    # A loop rather than all(): a generator costs a frame for every entry on the verifier's hot path.
    for change in changes.values():  # noqa: SIM110
        if type(change) is not dict or change.keys() != _CHANGE_MEMBERS:
            return False
    return True


def entry_fault(
    e: dict[str, Any], day: str | None = None, actions: set[str] | None = None, prev: str | None = None
) -> str | None:
    """The first rule of `RULES` the members of `e` (all of them there) break, or None; `hash` is not looked at.

    What a verifier already knows spares it work on each entry of a log, never changing the answer: `day`, the
    date of a time found real, on which only the time of day is left to check (the shape makes these two-digit
    comparisons numeric); `actions`, actions found well formed, grown here (a log has few); `prev`, a hash
    found well formed.
    """
    if type(e["v"]) is not int or e["v"] != 1:
        return "entry.v"
    if type(e["seq"]) is not int:
        return "entry.seq"
    ts = e["ts"]
    if type(ts) is not str:
        return "entry.ts"
    if not (ts[:10] == day and _TS_SHAPE(ts) is not None
            and ts[11:13] < "24" and ts[14:16] < "60" and ts[17:19] < "60") and not ts_ok(ts):
        return "entry.ts"
    actor = e["actor"]
    if (type(actor) is not dict or actor.keys() != _ACTOR_MEMBERS or actor["kind"] not in _ACTOR_KINDS
            or not (actor["id"] is None or type(actor["id"]) is str) or type(actor["name"]) is not str):
        return "entry.actor"
    action = e["action"]
    if type(action) is not str:
        return "entry.action"
    if actions is None or action not in actions:
        if _ACTION(action) is None:
            return "entry.action"
        if actions is not None and len(actions) < 10_000:  # the bound keeps memory flat
            actions.add(action)
    obj = e["object"]
    if (type(obj) is not dict or obj.keys() != _OBJECT_MEMBERS
            or type(obj["type"]) is not str or type(obj["id"]) is not str or type(obj["repr"]) is not str):
        return "entry.object"
    if not changes_ok(e["changes"]):
        return "entry.changes"
    context = e["context"]
    channel = context.get("channel") if type(context) is dict else None
    if type(channel) is not str or channel not in CHANNELS:
        return "entry.context"
    if (prev is None or e["prev"] != prev) and (type(e["prev"]) is not str or not HEX64(e["prev"])):
        return "entry.prev"
    return None


def check_entry(e: Any) -> None:
    """Raise VerificationError naming the first rule a parsed entry breaks. Its `v` and `seq` are taken as the
    integers they denote (`1.0` is 1)."""
    if not isinstance(e, dict):
        raise VerificationError("entry.parse", "an entry must be a JSON object")
    if set(e) != ENTRY_MEMBERS:
        missing, extra = sorted(ENTRY_MEMBERS - set(e)), sorted(set(e) - ENTRY_MEMBERS)
        raise VerificationError("entry.members", f"missing {missing}, unexpected {extra}")
    e["v"], e["seq"] = integer(e["v"]), integer(e["seq"])
    rule = entry_fault(e)
    if rule is None and (type(e["hash"]) is not str or not HEX64(e["hash"])):
        rule = "entry.hash"
    if rule is not None:
        raise VerificationError(rule, RULES[rule])


def entry_hash(hashed: bytes) -> str:
    """An entry's hash: lower-case hex SHA-256 of its canonical bytes without `hash`."""
    return hashlib.sha256(hashed).hexdigest()


def tail(*, prev: str, seq: int, ts_text: str) -> bytes:
    """The canonical JSON's last four members, in RFC 8785 order, closing the object: an entry's bytes are
    those of its other members (all sorting before "prev") followed by these."""
    return f'"prev":"{prev}","seq":{seq},"ts":"{ts_text}","v":{FORMAT_VERSION}}}'.encode()


def entry_line(hashed: bytes, digest: str) -> bytes:
    """An entry's line in entries.jsonl: the canonical bytes that were hashed, with "hash" appended as
    the last member (any serialisation will do, spec section 5; this one keeps the hashed bytes whole)."""
    return hashed[:-1] + b',"hash":"' + digest.encode() + b'"}'
