"""The state the log says: a fold of its entries, in seq order, into every governed object's fields and links.

Pure and streamed: `fold` reads entries (their canonical JSON) one at a time and keeps only the state, whose
size is that of the inventory, never that of the log. It knows nothing of Django: what an object type's fields
and links are comes in a `Schema` (audit.reconcile builds it from the models).

How an entry changes the state (docs/audit-log.md, "Replaying the log"):

- `<app>.<model>.create`: the object exists, with the fields its changes give as `new`; a field it does not
  name was null (the writer records no change from null to null).
- `<app>.<model>.delete`: the object no longer exists; its links went with it.
- any other verb with changes (update, stage_change, activate, ...): each named field takes its `new` value.
  An object the log never created (one made before the log, by a migration) is known by those fields only.
- a change of a link (many-to-many) field: `new` a list is the whole set of linked ids (developers_set, a
  version's datasets at its creation); `new` `{"add"|"remove"|"clear": [names]}` is a change of a user's or
  a role's links as auth records them, by name, resolved to ids through the names the log gave them.
- changes that are no field (a login's lockout, `promotion_request` beside a stage change) change nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# What a field set once holds until it is set (audit.governed.UNSET): null, or a blank text column's "".
UNSET = (None, "")


@dataclass(frozen=True)
class Link:
    """A many-to-many relation as the state keeps it: pairs (owner id, member key) under `relation`.

    `owner_type`/`member_type` are the object types at each end; `names` says whether the log names the
    members (auth's links: usernames, role names, permission names) rather than giving their ids."""

    relation: str
    owner_type: str
    member_type: str
    names: bool = False


# The verbs whose entries may set a secret's digest; `digests_recorded` (audit.secret_digests) only where none is.
SEALED = "digests_recorded"
DIGEST_VERBS = frozenset({"create", "update", SEALED})


@dataclass(frozen=True)
class Schema:
    """What the fold needs to know of the governed types: their fields, and which entry changes are links.

    `links` maps (object type, change name) to the relation and which end the object is on (True: the
    object is the relation's owner; False: its member, as `auth.group.members_add` is from the role's side).
    `named_by` holds the types whose objects the log names by a field (auth.user by username)."""

    fields: dict[str, frozenset[str]]
    links: dict[tuple[str, str], tuple[Link, bool]]
    named_by: dict[str, str] = field(default_factory=dict)
    # Types the links key by their name (str()) rather than an id: permissions, made by migrate with no entry.
    name_keyed: frozenset[str] = frozenset()
    # The fields set once (GovernedModel.AUDIT_SET_ONCE), secrets' digests (audit.chain.digest_key) included, by type.
    set_once: dict[str, frozenset[str]] = field(default_factory=dict)
    # The fields fixed when an object is made (GovernedModel.IMMUTABLE_FIELDS): only its creation sets them.
    fixed: dict[str, frozenset[str]] = field(default_factory=dict)
    # Fields only a decision changes (GovernedModel.DECIDED_FIELDS), by type, with the one verb that changes them.
    decided: dict[str, tuple[frozenset[str], str]] = field(default_factory=dict)
    # Actions that change nothing (a login, a logout): whatever changes an entry of one carries are not applied.
    inert: frozenset[str] = frozenset()


@dataclass
class State:
    objects: dict[str, dict[str, dict[str, Any]]]
    created: dict[str, set[str]]
    deleted: dict[str, set[str]]
    mentioned: dict[str, set[str]]
    # relation -> owner id -> member keys
    links: dict[str, dict[str, set[str]]]
    # The names the log gave auth objects (a username, a role's name), for the links it records by name.
    names: dict[str, dict[str, str]]
    entries: int = 0
    # Objects an entry changed after the log deleted them, or created a second time: the log contradicts itself there
    # (an entry claiming a deletion around a swapped secret, say).
    revived: dict[str, set[str]] = field(default_factory=dict)
    # Objects created again after the log deleted them: PostgreSQL never hands an id out twice, SQLite may (a table
    # Django remakes in a migration restarts its ids after the highest one left).
    recreated: dict[str, set[str]] = field(default_factory=dict)

    def alive(self, type_: str, id_: str) -> bool:
        return id_ not in self.deleted.get(type_, ())

    def live_links(self, relation: Link) -> set[tuple[str, str]]:
        """The relation's pairs, less those whose owner or member the log deleted: the database deletes a
        deleted object's links with it, and the delete entry lists them but need not be replayed pair by
        pair (ids are never reused)."""
        by_owner = self.links.get(relation.relation, {})
        gone_owner = self.deleted.get(relation.owner_type, set())
        gone_member = self.deleted.get(relation.member_type, set())
        return {(o, m) for o, members in by_owner.items() if o not in gone_owner
                for m in members if m not in gone_member}


_LINK_VERBS = ("add", "remove", "clear")


def new_state(schema: Schema) -> State:
    types = list(schema.fields)
    return State(
        objects={t: {} for t in types}, created={t: set() for t in types}, deleted={t: set() for t in types},
        mentioned={t: set() for t in types}, links={link.relation: {} for link, _ in schema.links.values()},
        names={t: {} for t in schema.named_by},
    )


def fold(entries: Iterable[bytes | str | dict[str, Any]], schema: Schema, state: State | None = None) -> State:
    """Apply `entries` (canonical JSON, or already parsed) in order to `state` (a new one by default)."""
    state = state or new_state(schema)
    apply = applier(schema, state)
    decode = json.JSONDecoder().decode
    count = 0
    for raw in entries:
        if isinstance(raw, bytes | bytearray | memoryview):
            raw = bytes(raw).decode()
        apply(raw if isinstance(raw, dict) else decode(raw))
        count += 1
    state.entries += count
    return state


_NOTHING_CHANGED = '"changes":{},"context":'


def fold_stored(rows: Iterable[tuple[str, bytes | str]], schema: Schema, state: State | None = None) -> State:
    """`fold` of stored rows (object type column, canonical JSON): an entry of a type the schema does not govern
    (the log's own verifications, say), or one that changed nothing and neither creates nor deletes (a login), is
    not even parsed, and of the others only `changes` and `object` are. The column is the hashed entry's, as
    `audit verify` checks (row.columns); a canonical entry holds `"changes":{},"context":` unquoted only as its
    own members, JSON strings escaping every quote. An entry not in the canonical member order is parsed whole."""
    state = state or new_state(schema)
    apply = applier(schema, state)
    decoder = json.JSONDecoder()
    decode, raw_decode = decoder.decode, decoder.raw_decode
    governed = schema.fields
    count = 0
    for object_type, raw in rows:
        count += 1
        if object_type not in governed:
            continue
        text = raw if isinstance(raw, str) else raw.decode() if isinstance(raw, bytes) else bytes(raw).decode()
        # {"action":"app.model.verb","actor":{...},"changes":{...},"context":{...},"object":{...},"prev":...
        action = text[11:text.index('"', 11)] if text.startswith('{"action":"') else ""
        if _NOTHING_CHANGED in text and action.rpartition(".")[2] not in ("create", "delete"):
            continue
        entry = None
        start = text.find(',"changes":')
        if action and start > 0:
            try:
                changes, end = raw_decode(text, start + 11)
                if text.startswith(',"context":', end):
                    _, end = raw_decode(text, end + 11)
                    if text.startswith(',"object":', end):
                        entry = {"action": action, "changes": changes, "object": raw_decode(text, end + 10)[0]}
            except ValueError:
                entry = None
        apply(entry if entry is not None else decode(text))
    state.entries += count
    return state


def applier(schema: Schema, state: State) -> Any:
    """The function that applies one parsed entry to `state`."""
    # Each object's dict keyed by the one string of each field name, not the copy each parsed entry brings.
    fields_of = {t: {sys.intern(n): sys.intern(n) for n in names} for t, names in schema.fields.items()}
    links = schema.links
    named_by = schema.named_by
    name_keyed = schema.name_keyed
    set_once = schema.set_once
    fixed_of = schema.fixed
    decided_of = schema.decided
    inert = schema.inert
    objects, created, deleted, mentioned, names = (state.objects, state.created, state.deleted, state.mentioned,
                                                   state.names)

    def apply(entry: dict[str, Any]) -> None:
        obj = entry["object"]
        type_ = obj["type"]
        fields = fields_of.get(type_)
        if fields is None:
            return
        id_ = obj["id"]
        verb = entry["action"].rpartition(".")[2]
        changes = entry["changes"]
        if verb == "delete":
            objects[type_].pop(id_, None)
            deleted[type_].add(id_)
            mentioned[type_].add(id_)
            if type_ in named_by:
                _forget_name(state, type_, id_)
            if type_ in schema.name_keyed:
                for by_owner in state.links.values():
                    for members in by_owner.values():
                        members.discard(obj["repr"])
            return
        if not changes or entry["action"] in inert:
            return  # a login, a logout, a failed login (whose id is the name tried): nothing changes
        current = objects[type_].get(id_)
        once = set_once.get(type_)
        fixed = fixed_of.get(type_)
        decided = decided_of.get(type_)
        known = current is not None  # before this entry: its first entry (a "create", a spell's "start") sets them
        applied = False
        for name, change in changes.items():
            field_name = fields.get(name)
            # A secret's digest (audit.chain.digest_key) counts only beside its field's own change, and only from an
            # entry that creates or updates the object, or records the digest the log lacked (`digests_recorded`):
            # under any other (a role granted, a token revoked) no one reading the entries would look for it.
            if field_name is not None and "." in name and (
                    name.rpartition(".")[0] not in changes or verb not in DIGEST_VERBS
                    or (verb == SEALED and current is not None and current.get(name) is not None)):
                continue
            # A field set once (a token's owner, key hash, revocation) keeps what its creation recorded (or the
            # first value, for an object made before the log said it).
            if once is not None and name in once and verb != "create" and current is not None \
                    and current.get(name) not in UNSET:
                continue
            # A fixed field keeps what the creation recorded (null if it named none), blank or not.
            if fixed is not None and name in fixed and verb != "create" and known:
                continue
            # A field only a decision sets (a version's stage) changes only by that decision's verb: a stage written
            # by SQL under an "update" of the writer's own making is not what the log says.
            if decided is not None and name in decided[0] and verb not in ("create", decided[1]):
                continue
            if field_name is not None:
                if current is None:
                    current = objects[type_][id_] = {}
                current[field_name] = change["new"]
                applied = True
            else:
                link = links.get((type_, name))
                if link is not None:
                    key = obj["repr"] if type_ in name_keyed else id_
                    _apply_link(state, link[0], link[1], key, change["new"])
                    applied = True
        if verb == "create":
            if id_ in deleted[type_]:
                state.recreated.setdefault(type_, set()).add(id_)
            elif id_ in created[type_]:
                state.revived.setdefault(type_, set()).add(id_)
            if current is None:
                current = objects[type_][id_] = {}
            created[type_].add(id_)
        elif not applied:
            return  # no field of it: a lockout's record, say (whose id is the name tried)
        elif id_ in deleted[type_]:
            state.revived.setdefault(type_, set()).add(id_)
        mentioned[type_].add(id_)
        name_field = named_by.get(type_)
        if name_field is not None:
            name = current.get(name_field) if current is not None else None
            names[type_][obj["repr"] if name is None else str(name)] = id_

    return apply


def _forget_name(state: State, type_: str, id_: str) -> None:
    table = state.names[type_]
    for name in [n for n, i in table.items() if i == id_]:
        del table[name]


def _apply_link(state: State, link: Link, owner_side: bool, key: str, new: Any) -> None:
    by_owner = state.links[link.relation]
    if isinstance(new, list):
        # The whole set: developers_set, a version's datasets, a dataset version's parents (ids).
        if owner_side:
            by_owner[key] = set(map(str, new))
        else:
            for members in by_owner.values():
                members.discard(key)
            for owner in new:
                by_owner.setdefault(str(owner), set()).add(key)
        return
    if not isinstance(new, dict) or len(new) != 1:
        return  # a delete's old links (new is null): the deletion itself takes them
    verb, members = next(iter(new.items()))
    if verb not in _LINK_VERBS or not isinstance(members, list):
        return
    other_type = link.member_type if owner_side else link.owner_type
    others = [_resolve(state, other_type, link, m) for m in members]
    add = verb == "add"
    if owner_side:
        mine = by_owner.setdefault(key, set())
        if add:
            mine.update(others)
        else:  # remove, or clear (which lists every link it removed)
            mine.difference_update(others)
    else:
        for owner in others:
            if add:
                by_owner.setdefault(owner, set()).add(key)
            else:
                by_owner.get(owner, set()).discard(key)


def _resolve(state: State, type_: str, link: Link, member: Any) -> str:
    """A member as the relation keys it: a user's or a role's id, from the name the log gave it; a permission
    by its name (permissions are made by migrate, with no entry, so the log knows them only by name)."""
    if not link.names:
        return str(member)
    table = state.names.get(type_)
    if table is None:  # keyed by name
        return str(member)
    return table.get(str(member), f"name:{member}")


def iter_stored(batch: int = 5000) -> Iterator[tuple[str, bytes]]:
    """The stored entries' (object type, canonical bytes) in seq order, streamed from the database."""
    from audit.models import AuditEntry

    qs = AuditEntry.objects.order_by("seq").values_list("object_type", "canonical")
    for object_type, raw in qs.iterator(chunk_size=batch):
        yield object_type, bytes(raw)
