"""The log's append-only triggers as migrations 0002, 0004 and 0008 installed them, frozen here: a migration must
do what it did when it was written, whatever audit.db_guards (the same triggers, reinstalled after a superuser
lifted them) becomes. Never edit this file; a change to the triggers is a new migration with its own SQL.

The module's name starts with an underscore, so Django's migration loader does not read it as a migration."""

from __future__ import annotations

from typing import Any

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
    """The triggers on the append-only tables that exist so far (migrations add tables), and on the chain head."""
    existing = set(connection.introspection.table_names())
    present = tuple(t for t in APPEND_ONLY_TABLES if t in existing)
    statements = _pg_statements(present) if connection.vendor == "postgresql" else _sqlite_statements(present)
    with connection.cursor() as cursor:
        for stmt in statements:
            cursor.execute(stmt)
