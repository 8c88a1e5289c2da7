"""Shared fixtures: users in each role, API clients, and flushing past the append-only guards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection


@pytest.fixture(autouse=True, scope="session")
def _flush_past_guards() -> Iterator[None]:
    """Transactional tests empty every table afterwards; the log's triggers refuse that.

    Patched for the whole session: teardown of transactional tests runs after function-scoped
    fixtures are undone.
    """
    from audit import db_guards

    ops_class = type(connection.ops)
    original = ops_class.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: Any) -> None:
        with db_guards.suspended(self.connection):
            original(self, sql_list)

    ops_class.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    ops_class.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_actor_between_tests() -> Iterator[None]:
    """Each test starts as a shell does, with nobody acting: a test that authenticates a token outside a request's
    middleware (which scopes the actor it sets) would otherwise leave its user acting in the tests after it, and
    role grants in their fixtures would be judged as that user's."""
    from audit import context

    actor, ctx = context._actor.set(None), context._context.set(None)
    yield
    context._context.reset(ctx)
    context._actor.reset(actor)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked postgres (or redis) run only against PostgreSQL (and a Redis broker); elsewhere
    they are deselected, not skipped. `.ci/run` runs the suite a second time with DATABASE_URL at
    PostgreSQL and CELERY_BROKER_URL at Redis, where they all run."""
    have_pg = _database_vendor() == "postgresql"
    have_redis = bool(os.environ.get("CELERY_BROKER_URL"))

    def runnable(item: pytest.Item) -> bool:
        return (have_pg or "postgres" not in item.keywords) and (have_redis or "redis" not in item.keywords)

    keep = [item for item in items if runnable(item)]
    dropped = [item for item in items if not runnable(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _database_vendor() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The product's clock for this test, moved on with `clock.advance(days=...)` (tests/clock.py)."""
    from django.utils import timezone

    from tests.clock import Clock

    moved = Clock()
    monkeypatch.setattr(timezone, "now", moved.now)
    return moved


@pytest.fixture
def make_user(db: None) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from audit.context import audit_context, system_actor

    def make(username: str, *roles: str, superuser: bool = False, **extra: Any) -> Any:
        with audit_context(actor=system_actor("test fixtures"), channel="system"):
            user_model = get_user_model()
            if superuser:
                user = user_model.objects.create_superuser(username, f"{username}@example.com", "pw-" + username)
            else:
                user = user_model.objects.create_user(username, f"{username}@example.com", "pw-" + username, **extra)
            for role in roles:
                user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def api() -> Iterator[Any]:
    from rest_framework.test import APIClient

    yield APIClient()
