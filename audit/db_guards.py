"""Database triggers that make the log append-only even for raw SQL from the application's role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from audit import row_guards

APPEND_ONLY_TABLES = ("audit_auditentry", "audit_merklenode", "audit_checkpoint", "audit_signingkey")
HEAD_TABLE = "audit_chainhead"

_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
        RAISE EXCEPTION 'audit chain head only moves forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _pg_statements(tables: tuple[str, ...]) -> list[str]:
    stmts = [_PG_FUNCTIONS]
    for table in tables:
        stmts += [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    stmts += [
        f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_forward ON {HEAD_TABLE}",
        f"CREATE TRIGGER {HEAD_TABLE}_forward BEFORE UPDATE ON {HEAD_TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()",
        f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_no_delete ON {HEAD_TABLE}",
        f"CREATE TRIGGER {HEAD_TABLE}_no_delete BEFORE DELETE ON {HEAD_TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_no_truncate ON {HEAD_TABLE}",
        f"CREATE TRIGGER {HEAD_TABLE}_no_truncate BEFORE TRUNCATE ON {HEAD_TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    ]
    return stmts


def _sqlite_statements(tables: tuple[str, ...]) -> list[str]:
    stmts = []
    for table in tables:
        for op in ("UPDATE", "DELETE"):
            name = f"{table}_no_{op.lower()}"
            stmts += [
                f"DROP TRIGGER IF EXISTS {name}",
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {op} on {table} is refused'); END",
            ]
    stmts += [
        f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_forward",
        f"CREATE TRIGGER {HEAD_TABLE}_forward BEFORE UPDATE ON {HEAD_TABLE} "
        "WHEN NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) "
        "BEGIN SELECT RAISE(ABORT, 'audit chain head only moves forward'); END",
        f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_no_delete",
        f"CREATE TRIGGER {HEAD_TABLE}_no_delete BEFORE DELETE ON {HEAD_TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE on audit_chainhead is refused'); END",
    ]
    return stmts


def install(connection: Any) -> None:
    """(Re)create the triggers on every guarded table that exists so far (migrations add tables)."""
    existing = set(connection.introspection.table_names())
    tables = tuple(t for t in APPEND_ONLY_TABLES if t in existing)
    statements = _pg_statements(tables) if connection.vendor == "postgresql" else _sqlite_statements(tables)
    with connection.cursor() as cursor:
        for stmt in statements:
            cursor.execute(stmt)


def _sqlite_drop(connection: Any) -> None:
    with connection.cursor() as cursor:
        names = [r[0] for r in cursor.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()]
        for name in names:
            if name.startswith(("audit_",)):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


@contextmanager
def suspended(connection: Any) -> Iterator[None]:
    """Lift the guards (the log's and the governed rows'), as only a database superuser can: for test teardown
    and tamper tests."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # What was written before is checked now, as its COMMIT would have checked it: a superuser's
            # session of its own lifts the guards for what it writes, not for what others wrote before.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # Then deferred again, for the rest of the transaction, each check made at COMMIT: the row guards and
            # any other app's (governance's stage guard), found by what they are rather than named here.
            cursor.execute("SELECT DISTINCT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgdeferrable "
                           "AND tginitdeferred ORDER BY tgname")
            names = [row[0] for row in cursor.fetchall()] or [row_guards.DEFERRED_NAMES]
            cursor.execute(f"SET CONSTRAINTS {', '.join(names)} DEFERRED")
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    else:
        _sqlite_drop(connection)
        try:
            yield
        finally:
            install(connection)
            row_guards.install(connection)
