"""Database triggers that refuse a write to a governed row unless its audit entry is in the same transaction, and
that hold in place the rows a decision finds by a column (GovernedModel.DATABASE_FIXED, DATABASE_KEPT).

Guarded: every GovernedModel's table, Django's users, roles (groups) and permissions, and the link tables
between them and of governed models (role membership, permissions, a model's developers, lineage).

PostgreSQL: each write queues a deferred constraint trigger, checked at COMMIT: the latest entry for the
row's object (`object_type`, `object_id`) must have been appended by this transaction (the entry's `xact`
column, `pg_current_xact_id()` when it was inserted). A link row is covered by an entry for either of its
ends (a role given to a user is recorded on the user, or on the role). No one can append an entry after
ours until we commit (the append holds the chain head's row lock to the end), so the latest entry is ours
if we appended one. The coverage is the log itself: there is nothing besides it that a session could set
to pass the check, other than appending an entry (which is then in the log, in the chain, for anyone to
read). An UPDATE that leaves the row as it was is not a change and is not checked.

SQLite has no deferred triggers: each write runs a trigger that asks `audit_recorded(type, id)`, a
function each of our connections registers, whether the writer has noted that object in the current
transaction (it notes an object just before writing it, and each entry it records). A connection that
lacks the function (the sqlite3 shell) cannot write these tables at all: its triggers fail to run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models

from audit import permits
from audit.governed import GovernedModel

# The name every row guard trigger starts with (SQLite's `db_guards.suspended` drops triggers by prefix).
PREFIX = "audit_guard_"


@dataclass(frozen=True)
class Guarded:
    """A guarded table and the objects a row of it belongs to: (object type, column) for each end."""

    table: str
    ends: tuple[tuple[str, str], ...]


def _object_type(model: type[models.Model]) -> str:
    meta = model._meta.concrete_model._meta  # type: ignore[union-attr]
    return f"{meta.app_label}.{meta.model_name}"


def _link(through: Any) -> Guarded:
    fks = [f for f in through._meta.fields if f.is_relation]
    return Guarded(through._meta.db_table, tuple((_object_type(f.related_model), f.column) for f in fks))


def guarded_tables() -> list[Guarded]:
    """Every table whose rows change only with an entry, in a stable order."""
    found: dict[str, Guarded] = {}
    user_model = get_user_model()
    owned: list[type[models.Model]] = [user_model, Group, Permission]
    owned += [m for m in apps.get_models() if issubclass(m, GovernedModel)]
    for model in owned:
        meta = model._meta
        assert meta.pk is not None
        found[meta.db_table] = Guarded(meta.db_table, ((_object_type(model), str(meta.pk.column)),))
        for field in meta.local_many_to_many:
            through: Any = field.remote_field.through
            if through._meta.auto_created:
                found[through._meta.db_table] = _link(through)
    return [found[name] for name in sorted(found)]


# The guards' constraint names (the same on every table), for SET CONSTRAINTS.
DEFERRED_NAMES = f"{PREFIX}write, {PREFIX}update"

# Coverage is read by the entries' index (object_type, object_id, seq) from the newest end: one row. Only rows of the
# chain count, those up to its head (which the append moves in this transaction): a row INSERTed into the table by
# hand past the head (its xact defaults to the inserting transaction) is in no chain and covers nothing. PL/pgSQL,
# not SQL: a SQL function's query was planned again at every call (0.5 ms), PL/pgSQL keeps its plan.
_PG_FUNCTIONS = """
DROP FUNCTION IF EXISTS audit_recorded(text, text);
CREATE FUNCTION audit_recorded(p_type text, p_id text) RETURNS boolean AS $$
DECLARE v_ok boolean;
BEGIN
    SELECT e.xact = pg_current_xact_id() INTO v_ok FROM audit_auditentry e
     WHERE e.object_type = p_type AND e.object_id = p_id
       AND e.seq <= (SELECT h.seq FROM audit_chainhead h WHERE h.id = 1)
     ORDER BY e.seq DESC LIMIT 1;
    RETURN coalesce(v_ok, false);
END;
$$ LANGUAGE plpgsql STABLE;

CREATE OR REPLACE FUNCTION audit_guard_row() RETURNS trigger AS $$
DECLARE v_id text; v_ok boolean;
BEGIN
    -- TG_ARGV: the object type, the primary key's column. A row's field is resolved when the line runs, so
    -- a table whose key is not "id" (governance_role: "code") takes the other branch and never reads NEW.id.
    IF TG_ARGV[1] = 'id' THEN
        IF TG_OP = 'DELETE' THEN v_id := OLD.id::text; ELSE v_id := NEW.id::text; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        v_id := to_jsonb(OLD) ->> TG_ARGV[1];
    ELSE
        v_id := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    -- audit_recorded inlined: this runs once for every governed row a transaction writes.
    SELECT e.xact = pg_current_xact_id() INTO v_ok FROM audit_auditentry e
     WHERE e.object_type = TG_ARGV[0] AND e.object_id = v_id
       AND e.seq <= (SELECT h.seq FROM audit_chainhead h WHERE h.id = 1)
     ORDER BY e.seq DESC LIMIT 1;
    IF v_ok IS NOT TRUE THEN
        RAISE EXCEPTION 'unrecorded write refused: % on % row id=% with no audit entry for % % in its transaction; '
                        'change it through the application, which records the entry',
                        TG_OP, TG_TABLE_NAME, v_id, TG_ARGV[0], v_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_guard_link() RETURNS trigger AS $$
DECLARE v_row jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN v_row := to_jsonb(OLD); ELSE v_row := to_jsonb(NEW); END IF;
    IF NOT (audit_recorded(TG_ARGV[0], v_row ->> TG_ARGV[1]) OR audit_recorded(TG_ARGV[2], v_row ->> TG_ARGV[3])) THEN
        RAISE EXCEPTION 'unrecorded write refused: % on % row id=% (%=%, %=%) with no audit entry for either end '
                        'in its transaction; change it through the application, which records the entry',
                        TG_OP, TG_TABLE_NAME, v_row ->> 'id', TG_ARGV[1], v_row ->> TG_ARGV[1],
                        TG_ARGV[3], v_row ->> TG_ARGV[3]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_guard_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'unrecorded write refused: TRUNCATE on % would remove rows with no audit entry', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


# A governed row a decision finds by a column (DATABASE_FIXED) or whose absence it could not see (DATABASE_KEPT): the
# database refuses the move or the delete outright, entry or no entry. TG_ARGV: the columns fixed, then, for a delete,
# '' (never deleted), '*' (always refused) or 'table.column.own column': refused while rows of that table point at
# the object the row's own column names.
_PG_KEPT = """
CREATE OR REPLACE FUNCTION audit_guard_kept() RETURNS trigger AS $$
DECLARE v_old jsonb := to_jsonb(OLD); v_new jsonb; v_col text; v_rel text[]; v_held boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        v_new := to_jsonb(NEW);
        FOREACH v_col IN ARRAY string_to_array(TG_ARGV[0], ',') LOOP
            IF v_old -> v_col IS DISTINCT FROM v_new -> v_col THEN
                RAISE EXCEPTION 'refused: % of % row %=% is fixed for good (a decision finds the row by it); make '
                                'a new row through the application instead', v_col, TG_TABLE_NAME, TG_ARGV[2],
                                v_old ->> TG_ARGV[2]
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
        RETURN NEW;
    END IF;
    IF TG_ARGV[1] = '*' THEN
        v_held := true;
    ELSE
        v_rel := string_to_array(TG_ARGV[1], '.');
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I::text = $1)', v_rel[1], v_rel[2])
            INTO v_held USING v_old ->> v_rel[3];
    END IF;
    IF v_held THEN
        RAISE EXCEPTION 'refused: DELETE of % row %=% (kept for good: a decision could not see it gone)',
                        TG_TABLE_NAME, TG_ARGV[2], v_old ->> TG_ARGV[2]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
"""


@dataclass(frozen=True)
class Kept:
    """A governed table whose rows the database holds in place: `fixed` columns (its key first) never change; `kept`
    says when a row may not be deleted ('' never refused, '*' always, 'table.column.own column' while such rows
    point at it)."""

    table: str
    pk: str
    fixed: tuple[str, ...]
    kept: str


def kept_tables() -> list[Kept]:
    """Every governed table, in a stable order: its primary key is fixed (the log finds a row by it: a row renamed
    would leave its history behind and be judged by an entry of the renamer's making), with DATABASE_FIXED and
    DATABASE_KEPT."""
    found = []
    for model in apps.get_models():
        if not issubclass(model, GovernedModel):
            continue
        meta = model._meta
        assert meta.pk is not None
        names = (meta.pk.name, *(n for n in model.DATABASE_FIXED if n != meta.pk.name))
        fixed = tuple(str(meta.get_field(name).column) for name in names)  # type: ignore[union-attr]
        kept = ""
        if model.DATABASE_KEPT is True:
            kept = "*"
        elif isinstance(model.DATABASE_KEPT, str):
            own, _, related = model.DATABASE_KEPT.partition(".")
            own_field: Any = meta.get_field(own)
            rel: Any = own_field.related_model._meta.get_field(related)  # the reverse relation, e.g. a model's versions
            kept = f"{rel.related_model._meta.db_table}.{rel.field.column}.{own_field.column}"
        found.append(Kept(meta.db_table, str(meta.pk.column), fixed, kept))
    return sorted(found, key=lambda k: k.table)


def _pg_kept_statements(tables: list[Kept]) -> list[str]:
    stmts = [_PG_KEPT]
    for k in tables:
        args = f"{_quote(','.join(k.fixed))}, {_quote(k.kept)}, {_quote(k.pk)}"
        stmts += [f'DROP TRIGGER IF EXISTS {PREFIX}kept_update ON "{k.table}"',
                  f'DROP TRIGGER IF EXISTS {PREFIX}kept_delete ON "{k.table}"']
        if k.fixed:
            columns = ", ".join(f'"{c}"' for c in k.fixed)
            changed = " OR ".join(f'OLD."{c}" IS DISTINCT FROM NEW."{c}"' for c in k.fixed)
            stmts.append(f'CREATE TRIGGER {PREFIX}kept_update BEFORE UPDATE OF {columns} ON "{k.table}" '
                         f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION audit_guard_kept({args})")
        if k.kept:
            stmts.append(f'CREATE TRIGGER {PREFIX}kept_delete BEFORE DELETE ON "{k.table}" '
                         f"FOR EACH ROW EXECUTE FUNCTION audit_guard_kept({args})")
    return stmts


def _sqlite_kept_statements(tables: list[Kept]) -> list[str]:
    stmts = []
    for k in tables:
        update, delete = f"{PREFIX}{k.table}_kept_update", f"{PREFIX}{k.table}_kept_delete"
        stmts += [f'DROP TRIGGER IF EXISTS "{update}"', f'DROP TRIGGER IF EXISTS "{delete}"']
        if k.fixed:
            columns = ", ".join(f'"{c}"' for c in k.fixed)
            changed = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in k.fixed)
            message = (f"refused: {', '.join(k.fixed)} of a {k.table} row is fixed for good (a decision finds the "
                       "row by it); make a new row through the application instead")
            stmts.append(f'CREATE TRIGGER "{update}" BEFORE UPDATE OF {columns} ON "{k.table}" WHEN {changed} '
                         f"BEGIN SELECT RAISE(ABORT, {_quote(message)}); END")
        if k.kept:
            message = f"refused: DELETE of a {k.table} row (kept for good: a decision could not see it gone)"
            when = ""
            if k.kept != "*":
                table, column, own = k.kept.split(".")
                when = f' WHEN EXISTS (SELECT 1 FROM "{table}" WHERE "{column}" = OLD."{own}")'
            stmts.append(f'CREATE TRIGGER "{delete}" BEFORE DELETE ON "{k.table}"{when} '
                         f"BEGIN SELECT RAISE(ABORT, {_quote(message)}); END")
    return stmts


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# An UPDATE is checked unless it changes nothing. It was once also let through when the row it changes had been
# written by this transaction (OLD.xmin, "that write's own check covers it"), but an UPDATE that changes nothing
# writes a new row version of this transaction too, and queues no check: `SET stage = stage` and then
# `SET stage = 'production'` passed with no entry at all. A service that creates an object and then updates it
# now pays for two checks, each one index lookup.
_UPDATE_WHEN = " WHEN (OLD.* IS DISTINCT FROM NEW.*)"


# Django makes foreign keys DEFERRABLE INITIALLY DEFERRED, so their row locks would be taken at COMMIT,
# after the head's lock: two writers could then wait on each other (soak found it). Checked at each
# statement instead, they are all taken before the append locks the head. (The append once ran SET
# CONSTRAINTS ALL IMMEDIATE for this, but that would also fire the row guards, which must wait for the
# entries; audit migration 0009 took it out. Naming the keys instead cost 0.2 ms per append.) Still
# DEFERRABLE: code that needs a deferred check can ask for it. Run after every migrate: new keys too.
_FOREIGN_KEYS_IMMEDIATE = """
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT con.conname, cls.relname FROM pg_constraint con JOIN pg_class cls ON cls.oid = con.conrelid
              WHERE con.contype = 'f' AND con.condeferred AND cls.relnamespace = current_schema()::regnamespace
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER CONSTRAINT %I DEFERRABLE INITIALLY IMMEDIATE', c.relname, c.conname);
    END LOOP;
END;
$$
"""


def _pg_statements(tables: list[Guarded]) -> list[str]:
    stmts = [_PG_FUNCTIONS, _FOREIGN_KEYS_IMMEDIATE]
    for g in tables:
        if len(g.ends) == 1:
            function, args = "audit_guard_row", ", ".join(_quote(part) for part in g.ends[0])
        else:
            function, args = "audit_guard_link", ", ".join(_quote(part) for end in g.ends for part in end)
        for suffix, event, when in (("write", "INSERT OR DELETE", ""), ("update", "UPDATE", _UPDATE_WHEN)):
            name = f"{PREFIX}{suffix}"
            stmts += [
                f'DROP TRIGGER IF EXISTS {name} ON "{g.table}"',
                f'CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON "{g.table}" DEFERRABLE INITIALLY DEFERRED '
                f"FOR EACH ROW{when} EXECUTE FUNCTION {function}({args})",
            ]
        stmts += [
            f'DROP TRIGGER IF EXISTS {PREFIX}truncate ON "{g.table}"',
            f'CREATE TRIGGER {PREFIX}truncate BEFORE TRUNCATE ON "{g.table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_guard_truncate()",
        ]
    return stmts


def _sqlite_statements(tables: list[Guarded]) -> list[str]:
    stmts = []
    for g in tables:
        for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            name = f"{PREFIX}{g.table}_{op.lower()}"
            inserting = int(op == "INSERT")
            covered = " OR ".join(f'audit_recorded({_quote(kind)}, {row}."{column}", {inserting})'
                                  for kind, column in g.ends)
            message = (f"unrecorded write refused: {op} on {g.table} with no audit entry for the row in its "
                       "transaction; change it through the application, which records the entry")
            stmts += [
                f'DROP TRIGGER IF EXISTS "{name}"',
                f'CREATE TRIGGER "{name}" AFTER {op} ON "{g.table}" WHEN NOT ({covered}) '
                f"BEGIN SELECT RAISE(ABORT, {_quote(message)}); END",
            ]
    return stmts


def install(connection: Any) -> None:
    """(Re)create the guards on every guarded table that exists."""
    existing = set(connection.introspection.table_names())
    tables = [g for g in guarded_tables() if g.table in existing]
    kept = [k for k in kept_tables() if k.table in existing]
    statements = (_pg_statements(tables) + _pg_kept_statements(kept) if connection.vendor == "postgresql"
                  else _sqlite_statements(tables) + _sqlite_kept_statements(kept))
    with connection.cursor() as cursor:
        for stmt in statements:
            cursor.execute(stmt)


def _sqlite_recorded(object_type: str, object_id: Any, inserting: int) -> bool:
    return permits.noted(object_type, object_id, bool(inserting))


# A statement that begins or ends a transaction; not ROLLBACK TO (a savepoint's), which ends none.
_TRANSACTION_BOUNDARY = re.compile(r"\s*(BEGIN|COMMIT|END|ROLLBACK(?!.*\bTO\b))", re.IGNORECASE | re.DOTALL)


def _boundaries(alias: str) -> Callable[[str], None]:
    def traced(statement: str) -> None:
        if _TRANSACTION_BOUNDARY.match(statement):
            permits.transaction_ended(alias)
    return traced


def register_sqlite_function(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Each of our SQLite connections answers its row guards (connection_created), and tells the permits where each
    of its transactions begins and ends: sqlite3's trace callback sees every statement the engine runs, Django's
    BEGIN and the driver's COMMIT and ROLLBACK included (Django has no signal for either). Recursive triggers on: a
    row that REPLACE (INSERT OR REPLACE, UPDATE OR REPLACE) removes is then deleted with its DELETE triggers, the
    guards included, rather than silently."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("audit_recorded", 3, _sqlite_recorded)
        connection.connection.execute("PRAGMA recursive_triggers = ON")
        connection.connection.set_trace_callback(_boundaries(connection.alias))
