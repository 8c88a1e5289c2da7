"""The writer's permits, at the bottom of the audit room: what the guards ask before a row is written.

The writer (audit.writer) grants them around its own writes; the guards that read them — a governed model's
save and delete (audit.governed), the log's append-only rows (audit.models), the link tables, SQLite's row
guards (audit.row_guards) and auth's signal handlers (audit.auth_events) — import this module, not the writer,
so nothing below the writer needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

_append_permit: ContextVar[bool] = ContextVar("audit_append_permit", default=False)
_write_permit: ContextVar[bool] = ContextVar("audit_write_permit", default=False)
_link_permit: ContextVar[bool] = ContextVar("audit_link_permit", default=False)
_decide_permit: ContextVar[bool] = ContextVar("audit_decide_permit", default=False)


@dataclass
class _Noted:
    """The objects the writer is writing or has recorded in one SQLite transaction (see `note`)."""

    block: Any  # the transaction's outermost atomic block
    objects: set[tuple[str, str]] = field(default_factory=set)


_noted: ContextVar[_Noted | None] = ContextVar("audit_noted", default=None)


def note(object_type: str, object_id: Any) -> None:
    """Tell SQLite's row guards (audit.row_guards) that this object is written here with its entry recorded in
    this transaction: just before the writer writes it, and for each entry recorded. `object_id` None is a
    row of that type about to be inserted. PostgreSQL's guards read the entries themselves: nothing to do."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "sqlite" or not conn.atomic_blocks:
        return  # outside a transaction nothing written can have its entry in the same one
    block = conn.atomic_blocks[0]
    noted = _noted.get()
    if noted is None or noted.block is not block:
        noted = _Noted(block)
        _noted.set(noted)
    noted.objects.add((object_type, "*" if object_id is None else str(object_id)))


def transaction_ended(alias: str) -> None:
    """SQLite's connection began, committed or rolled back a transaction (audit.row_guards traces its statements):
    nothing noted before it holds in the next, even where the next is entered through the same atomic block (a
    `transaction.atomic()` object used twice, or a function decorated with it)."""
    if alias == DEFAULT_DB_ALIAS:
        _noted.set(None)


def noted(object_type: str, object_id: Any, inserting: bool) -> bool:
    """Whether `note` named this object in the current transaction (SQLite's row guards ask)."""
    conn = connections[DEFAULT_DB_ALIAS]
    found = _noted.get()
    if found is None or not conn.atomic_blocks or found.block is not conn.atomic_blocks[0]:
        return False
    return (object_type, str(object_id)) in found.objects or (inserting and (object_type, "*") in found.objects)


def append_permitted() -> bool:
    return _append_permit.get()


def governed_write_permitted() -> bool:
    return _write_permit.get()


def link_writes_permitted() -> bool:
    return _link_permit.get()


def deciding_permitted() -> bool:
    return _decide_permit.get()


@contextmanager
def writing() -> Iterator[None]:
    """The writer's own save or delete of a governed object."""
    token = _write_permit.set(True)
    try:
        yield
    finally:
        _write_permit.reset(token)


@contextmanager
def permit_append() -> Iterator[None]:
    """For the log's own append-only rows besides entries (checkpoints, signing keys)."""
    token = _append_permit.set(True)
    try:
        yield
    finally:
        _append_permit.reset(token)


@contextmanager
def permit_governed_writes() -> Iterator[None]:
    """For the writes the writer cannot see itself, many-to-many links of governed objects (through
    their related managers): the caller records them. Saving or deleting a governed object stays the
    writer's alone, here too."""
    token = _link_permit.set(True)
    try:
        yield
    finally:
        _link_permit.reset(token)


@contextmanager
def deciding() -> Iterator[None]:
    """For a decision applying what it decided (governance.decisions, the moment a request is approved): the writer
    changes a field of DECIDED_FIELDS (a version's stage) only inside this."""
    token = _decide_permit.set(True)
    try:
        yield
    finally:
        _decide_permit.reset(token)
