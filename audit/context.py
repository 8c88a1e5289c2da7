"""Who is acting and through which channel: ContextVars set per request, command or task."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

CHANNELS = ("api", "admin", "cli", "task", "system")


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" or "system"
    id: str | None
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name}


def system_actor(name: str) -> Actor:
    return Actor(kind="system", id=None, name=name)


def user_actor(user: Any) -> Actor:
    return Actor(kind="user", id=str(user.pk), name=user.get_username())


_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
_context: ContextVar[dict[str, Any] | None] = ContextVar("audit_context", default=None)


def _process_name() -> str:
    return "process " + os.path.basename(sys.argv[0] or "python")


def current_actor() -> Actor:
    # Nothing set means a shell or script: it is still attributed, never anonymous.
    return _actor.get() or system_actor(_process_name())


def current_context() -> dict[str, Any]:
    ctx = _context.get()
    if ctx is None:
        return {"channel": "system"}
    return dict(ctx)


@contextmanager
def audit_context(*, actor: Actor | None = None, channel: str | None = None, **extra: Any) -> Iterator[None]:
    """Run a block as `actor` through `channel`; extra keys (request_id, ip, ...) go into context."""
    if channel is not None and channel not in CHANNELS:
        raise ValueError(f"unknown audit channel {channel!r}")
    ctx = dict(_context.get() or {"channel": "system"})
    if channel is not None:
        ctx["channel"] = channel
    ctx.update({k: v for k, v in extra.items() if v not in (None, "")})
    actor_token = _actor.set(actor if actor is not None else _actor.get())
    ctx_token = _context.set(ctx)
    try:
        yield
    finally:
        _context.reset(ctx_token)
        _actor.reset(actor_token)


def set_actor(actor: Actor | None) -> None:
    """Set the actor for the rest of the current context (used once authentication is known)."""
    _actor.set(actor)


def request_id() -> str | None:
    ctx = _context.get()
    return ctx.get("request_id") if ctx else None


def current_user_id() -> int | None:
    """The primary key of the user the current block is attributed to; None for the system or a shell that
    named nobody."""
    actor = _actor.get()
    if actor is None or actor.kind != "user" or actor.id is None:
        return None
    return int(actor.id)
