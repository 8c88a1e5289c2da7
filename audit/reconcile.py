"""Reconciling the tables with the log: the state the log says (audit.replay) against the rows, field by field.

Every governed table (the GovernedModel subclasses), users, roles and permissions, and their link tables. Each
table value goes through the writer's own normalisation (chain.jsonable) before it is compared with the log's.
What cannot be compared, and why, is in docs/audit-log.md ("Replaying the log").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, models

from audit import auth_events, chain, writer
from audit.format import jcs
from audit.governed import GovernedModel
from audit.models import AuditEntry, ChainHead, entry_json
from audit.replay import Link, Schema, State, fold_stored, iter_stored

OBJECT = "(object)"  # the divergence's field when the object itself is missing on one side
_AUTH_SKIPPED = ("last_login",)  # auth's writer leaves it out (audit.auth_events._SKIP_FIELDS)
_AUTH_SECRETS = ("password",)


@dataclass(frozen=True)
class Divergence:
    object_type: str
    object_id: str
    field: str
    log: Any
    table: Any

    def __str__(self) -> str:
        return (f"object {self.object_type}#{self.object_id} field {self.field}: "
                f"log {jcs.shown(self.log)} table {jcs.shown(self.table)}")


@dataclass(frozen=True)
class _Table:
    model: type[models.Model]
    type: str
    compared: tuple[models.Field, ...]  # the fields the log records
    secrets: frozenset[str]
    seeded: bool  # rows made with no entry by design (permissions, by migrate): only what the log says is checked


def _type(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def governed_models() -> list[type[models.Model]]:
    from django.apps import apps

    governed = [m for m in apps.get_models() if issubclass(m, GovernedModel)]
    return [*sorted(governed, key=_type), get_user_model(), Group, Permission]


def _secrets(model: type[models.Model]) -> frozenset[str]:
    """The fields whose values the log records as "<redacted>", each with its digest beside it (chain.digest_key)."""
    if issubclass(model, GovernedModel):
        return frozenset(model.AUDIT_SECRETS)
    return frozenset(f.name for f in model._meta.concrete_fields if f.name in _AUTH_SECRETS)


def _tables() -> list[_Table]:
    from audit.writer import _unlogged_fields

    tables = []
    for model in governed_models():
        skipped = set(_unlogged_fields(model)) if issubclass(model, GovernedModel) else set(_AUTH_SKIPPED)
        secrets = _secrets(model)
        compared = tuple(f for f in model._meta.concrete_fields if f.name not in skipped)
        tables.append(_Table(model, _type(model), compared, secrets, seeded=model is Permission))
    return tables


def secret_tables() -> list[_Table]:
    """The governed tables with secrets (their changes recorded as "<redacted>" with a digest beside)."""
    return [t for t in _tables() if t.secrets]


def _auth_links() -> list[tuple[Link, Any, str, str]]:
    """auth's relations: (the link, its through table, the owner's column, the member's column)."""
    user_model = get_user_model()
    user, group, perm = _type(user_model), _type(Group), _type(Permission)
    return [
        (Link(f"{user}.groups", user, group, names=True), user_model.groups.through, "user_id", "group_id"),
        (Link(f"{user}.user_permissions", user, perm, names=True), user_model.user_permissions.through,
         "user_id", "permission_id"),
        (Link(f"{group}.permissions", group, perm, names=True), Group.permissions.through, "group_id",
         "permission_id"),
    ]


def _governed_links() -> list[tuple[Link, Any, str, str, str]]:
    """The governed models' many-to-many fields: (link, through, owner column, member column, field name)."""
    out = []
    for model in governed_models():
        if not issubclass(model, GovernedModel):
            continue
        for f in model._meta.local_many_to_many:
            owner, member = _type(model), _type(f.related_model)
            out.append((Link(f"{owner}.{f.name}", owner, member), f.remote_field.through, f.m2m_column_name(),
                        f.m2m_reverse_name(), f.name))
    return out


def schema() -> Schema:
    """The governed types' fields and how their entries name links (see audit.auth_events and the services)."""
    fields = {_type(m): frozenset(f.name for f in m._meta.concrete_fields) | {chain.digest_key(n) for n in _secrets(m)}
              for m in governed_models()}
    links: dict[tuple[str, str], tuple[Link, bool]] = {}
    for link, _through, _owner, _member, name in _governed_links():
        links[(link.owner_type, name)] = (link, True)
    user_groups, user_perms, group_perms = (link for link, *_ in _auth_links())
    user, group, perm = user_groups.owner_type, user_groups.member_type, user_perms.member_type
    # The names auth_events._m2m_field gives each side.
    links[(user, "groups")] = (user_groups, True)
    links[(group, "members")] = (user_groups, False)
    links[(user, "permissions")] = (user_perms, True)
    links[(perm, "users")] = (user_perms, False)
    links[(group, "permissions")] = (group_perms, True)
    links[(perm, "groups")] = (group_perms, False)
    set_once = {_type(m): frozenset(n for f in m.AUDIT_SET_ONCE
                                    for n in ((f, chain.digest_key(f)) if f in m.AUDIT_SECRETS else (f,)))
                for m in governed_models() if issubclass(m, GovernedModel) and m.AUDIT_SET_ONCE}
    fixed = {_type(m): frozenset(m.IMMUTABLE_FIELDS) - frozenset(m.AUDIT_SECRETS)
             for m in governed_models() if issubclass(m, GovernedModel) and m.IMMUTABLE_FIELDS}
    decided = {_type(m): (frozenset(m.DECIDED_FIELDS), m.DECIDED_VERB)
               for m in governed_models() if issubclass(m, GovernedModel) and m.DECIDED_FIELDS}
    return Schema(fields=fields, links=links, named_by={user: get_user_model().USERNAME_FIELD, group: "name"},
                  name_keyed=frozenset({perm}), set_once=set_once, fixed=fixed, decided=decided,
                  inert=auth_events.INERT_ACTIONS)


def replay_log() -> State:
    """The state the stored log says, folded in seq order, streamed."""
    return fold_stored(iter_stored(), schema())


def reconcile(state: State | None = None) -> Iterator[Divergence]:
    """Every difference between the state the log says and the tables, table by table (object, field, log
    value, table value)."""
    state = state if state is not None else replay_log()
    for governed in _tables():
        yield from _reconcile_table(state, governed)
        yield from _reconcile_digested(governed)
    perm_names = {str(p.pk): str(p) for p in Permission.objects.select_related("content_type")}
    for link, through, owner_col, member_col in _auth_links():
        rows = through._base_manager.values_list(owner_col, member_col)
        keyed = perm_names if link.member_type == _type(Permission) else None
        pairs = {(str(o), keyed.get(str(m), f"#{m}") if keyed is not None else str(m)) for o, m in rows.iterator()}
        yield from _reconcile_link(state, link, pairs, link.relation.rpartition(".")[2])
    for link, through, owner_col, member_col, name in _governed_links():
        rows = through._base_manager.values_list(owner_col, member_col)
        yield from _reconcile_link(state, link, {(str(o), str(m)) for o, m in rows.iterator()}, name)


def _table_value(field: models.Field, value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(field, models.FileField):
        value = value or None  # the writer records a FieldFile by its name, an empty one as null
    if field.name in secrets:
        return chain.REDACTED if value else chain.jsonable(value)
    return chain.jsonable(value)


def _digested(digest: str | None) -> str | None:
    return None if digest is None else f"{chain.REDACTED} sha256 {digest}"


def _same(field: models.Field, log: Any, table: Any, secrets: frozenset[str]) -> bool:
    if field.name in secrets and log == chain.REDACTED:
        return bool(table == chain.REDACTED)  # set: the log cannot say to what
    # JSON's equality: 1 and 1.0 are one number, true is not 1
    return bool(log == table) and isinstance(log, bool) == isinstance(table, bool)


def _reconcile_table(state: State, table: _Table) -> Iterator[Divergence]:
    type_ = table.type
    objects = state.objects.get(type_, {})
    created = state.created.get(type_, set())
    deleted = state.deleted.get(type_, set())
    mentioned = state.mentioned.get(type_, set())
    attnames = [f.attname for f in table.compared]
    seen: set[str] = set()
    rows = table.model._base_manager.order_by("pk").values_list("pk", *attnames)
    for pk, *values in rows.iterator(chunk_size=2000):
        id_ = str(pk)
        seen.add(id_)
        logged = objects.get(id_)
        if logged is None:
            if id_ in deleted:
                yield Divergence(type_, id_, OBJECT, "deleted", "present")
            elif id_ not in mentioned and not table.seeded:
                yield Divergence(type_, id_, OBJECT, "absent", "present")
            continue
        whole = id_ in created
        for field, value in zip(table.compared, values, strict=True):
            if field.name in table.secrets and chain.digest_key(field.name) in logged:
                # The log holds the secret's digest (entries since it did): the row must hold what it digests.
                digest, held = logged[chain.digest_key(field.name)], chain.secret_digest(value, field.name)
                if digest != held:
                    yield Divergence(type_, id_, field.name, _digested(digest), _digested(held))
                continue
            if field.name not in logged and not whole:
                continue  # an object made before the log (by a migration): the log knows what it changed
            log_value = logged.get(field.name)
            table_value = _table_value(field, value, table.secrets)
            if not _same(field, log_value, table_value, table.secrets):
                yield Divergence(type_, id_, field.name, log_value, table_value)
    contradicted = set(state.revived.get(type_, ()))
    if connection.vendor == "postgresql":  # SQLite may hand a deleted object's id out again (replay.State)
        contradicted |= state.recreated.get(type_, set())
    for id_ in sorted(contradicted, key=_id_order):
        yield Divergence(type_, id_, OBJECT, "deleted or created before, then recorded again",
                         "present" if id_ in seen else "absent")
    for id_ in sorted(set(objects) - seen, key=_id_order):
        yield Divergence(type_, id_, OBJECT, "present", "absent")


def logged_value(object_type: str, object_id: Any, field: str) -> Any:
    """The value the log last recorded for one field of an object (this transaction's entries not yet appended,
    then those up to the chain's head, newest first; None where none records it): what a decision reads instead
    of the row, which may have been changed behind the log's back since."""
    pending, value = writer.pending_change(object_type, object_id, field)
    if pending:
        return value  # recorded in this transaction, appended at its COMMIT
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    entries = (AuditEntry.objects.filter(object_type=object_type, object_id=str(object_id), seq__lte=head)
               .order_by("-seq").values_list("canonical", "hash"))
    for canonical, hash_ in entries.iterator(chunk_size=50):
        change = entry_json(canonical, hash_).get("changes", {}).get(field)
        if isinstance(change, dict) and "new" in change:
            return change["new"]
    return None


def _reconcile_digested(table: _Table) -> Iterator[Divergence]:
    """Fields left out of the entries but bound by a digest that is in them: each must still hash to it, and a
    row with no digest (a report not served) must hold no value, which no digest would bind."""
    for name, digest_field in getattr(table.model, "AUDIT_DIGESTED", {}).items():
        rows = table.model._base_manager.order_by("pk").values_list("pk", name, digest_field)
        for pk, value, recorded in rows.iterator(chunk_size=500):
            if not recorded:
                if value in (None, "", {}, []):
                    continue
                actual = jcs.digest_of(value)
                yield Divergence(table.type, str(pk), name, f"no {digest_field}: empty",
                                 f"sha256 {actual or '(not canonical JSON)'}")
                continue
            actual = jcs.digest_of(value)
            if actual != recorded:
                yield Divergence(table.type, str(pk), name, f"sha256 {recorded} (its {digest_field})",
                                 f"sha256 {actual or '(not canonical JSON)'}")


def _id_order(id_: str) -> tuple[int, str]:
    return (int(id_), "") if id_.isdigit() else (0, id_)


def _reconcile_link(state: State, link: Link, table: set[tuple[str, str]], name: str) -> Iterator[Divergence]:
    logged = state.live_links(link)
    if logged == table:
        return
    by_owner: dict[str, tuple[list[str], list[str]]] = {}
    for owner, member in logged - table:
        by_owner.setdefault(owner, ([], []))[0].append(member)
    for owner, member in table - logged:
        by_owner.setdefault(owner, ([], []))[1].append(member)
    log_of = _members(logged, by_owner)
    table_of = _members(table, by_owner)
    for owner in sorted(by_owner, key=_id_order):
        yield Divergence(link.owner_type, owner, name, sorted(log_of.get(owner, ())), sorted(table_of.get(owner, ())))


def _members(pairs: set[tuple[str, str]], owners: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for owner, member in pairs:
        if owner in owners:
            out.setdefault(owner, []).append(member)
    return out
