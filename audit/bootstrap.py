"""Rows the log needs before its first append; recreated after a test database is flushed."""

from __future__ import annotations

from typing import Any


def ensure_chain_head(using: str = "default", **kwargs: Any) -> None:
    from audit.models import ChainHead

    ChainHead.objects.using(using).get_or_create(pk=1)


def ensure_guards(using: str = "default", **kwargs: Any) -> None:
    """Reinstall the append-only triggers: SQLite drops them whenever a migration rebuilds a table."""
    from django.db import connections

    from audit import db_guards

    db_guards.install(connections[using])


def ensure_row_guards(using: str = "default", **kwargs: Any) -> None:
    """Install the guards of the governed tables after every migrate, never within one: the data migrations
    before them wrote rows the log does not record (see audit.row_guards)."""
    from django.db import connections

    from audit import row_guards

    row_guards.install(connections[using])


def after_migrate(using: str = "default", **kwargs: Any) -> None:
    ensure_chain_head(using)
    ensure_guards(using)
    ensure_row_guards(using)
