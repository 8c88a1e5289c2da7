"""On PostgreSQL the outermost transaction sends its entries and COMMIT in one message.

These run with real transactions (not the test case's wrapping one), since what is tested is the
commit itself: the change and its entries become visible together, or neither does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from audit import writer
from audit.context import audit_context, system_actor
from audit.models import AuditEntry, ChainHead
from audit.verification import verify_log
from registry.models import RegisteredModel

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner(make_user: Any) -> Any:
    return make_user("owner", "model developer")


@pytest.fixture
def statements() -> Iterator[list[str]]:
    sent: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy), audit_context(actor=system_actor("test"), channel="system"):
        yield sent


def _seen_from_another_connection(name: str) -> tuple[int, int]:
    """(models with that name, their entries) as a separate session sees them: only committed rows."""
    params = connection.get_connection_params()
    conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in (
        "dbname", "user", "host", "port", "password") and v})
    with psycopg.connect(conninfo) as other:
        models = other.execute("SELECT count(*) FROM registry_registeredmodel WHERE name = %s", [name]).fetchone()
        entries = other.execute("SELECT count(*) FROM audit_auditentry WHERE object_repr = %s", [name]).fetchone()
    assert models is not None and entries is not None
    return models[0], entries[0]


def test_outermost_transaction_commits_with_its_entries(owner: Any, statements: list[str]) -> None:
    writer.save(RegisteredModel(name="together", title="t", owner=owner))
    appends = [sql for sql in statements if "audit_append" in sql]
    assert len(appends) == 1 and appends[0].rstrip().endswith("; COMMIT")
    assert not connection.in_atomic_block and connection.get_autocommit()
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert _seen_from_another_connection("together") == (1, 1)
    run = verify_log()
    assert run.ok, (run.rule, run.message)


def test_nested_blocks_leave_the_commit_to_the_outer_transaction(owner: Any, statements: list[str]) -> None:
    with transaction.atomic():
        writer.save(RegisteredModel(name="inner", title="t", owner=owner))
        assert _seen_from_another_connection("inner") == (0, 0)
    assert not any(sql.rstrip().endswith("COMMIT") for sql in statements)
    assert _seen_from_another_connection("inner") == (1, 1)


def test_failing_append_commits_neither(owner: Any, statements: list[str]) -> None:
    head_before = ChainHead.objects.values_list("seq", "hash").get()
    entries_before = AuditEntry.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_entry() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'entry refused by test'; END $$ LANGUAGE plpgsql; "
            "CREATE TRIGGER test_refuse_entry BEFORE INSERT ON audit_auditentry "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_entry()"
        )
    try:
        with pytest.raises(DatabaseError, match="entry refused by test"):
            writer.save(RegisteredModel(name="orphan", title="t", owner=owner))
        assert connection.get_autocommit() and not connection.in_atomic_block
        assert _seen_from_another_connection("orphan") == (0, 0)
        assert not RegisteredModel.objects.filter(name="orphan").exists()  # the connection is usable
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_refuse_entry ON audit_auditentry; DROP FUNCTION test_refuse_entry()")
    assert ChainHead.objects.values_list("seq", "hash").get() == head_before
    assert AuditEntry.objects.count() == entries_before
    writer.save(RegisteredModel(name="after", title="t", owner=owner))
    assert _seen_from_another_connection("after") == (1, 1)
    run = verify_log()
    assert run.ok, (run.rule, run.message)


def test_on_commit_callbacks_run_once_after_the_commit(owner: Any, statements: list[str]) -> None:
    seen: list[tuple[int, int]] = []
    with writer.atomic():
        writer.save(RegisteredModel(name="hooked", title="t", owner=owner))
        transaction.on_commit(lambda: seen.append(_seen_from_another_connection("hooked")))
        assert seen == []
    assert seen == [(1, 1)]


def test_a_rollback_asked_for_inside_the_block_commits_nothing(owner: Any, statements: list[str]) -> None:
    with writer.atomic():
        writer.save(RegisteredModel(name="unwanted", title="t", owner=owner))
        transaction.set_rollback(True)
    assert not any("audit_append" in sql for sql in statements)
    assert _seen_from_another_connection("unwanted") == (0, 0)


def test_a_manual_transaction_is_not_committed_by_the_writer(owner: Any, statements: list[str]) -> None:
    transaction.set_autocommit(False)
    try:
        writer.save(RegisteredModel(name="manual", title="t", owner=owner))
        assert _seen_from_another_connection("manual") == (0, 0)
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert not RegisteredModel.objects.filter(name="manual").exists()
    assert _seen_from_another_connection("manual") == (0, 0)
