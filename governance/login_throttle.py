"""Brute-force protection for password logins: after repeated failures a username is locked for a while."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.http import HttpRequest

MAX_FAILURES = getattr(settings, "LOGIN_MAX_FAILURES", 5)
LOCK_SECONDS = getattr(settings, "LOGIN_LOCK_SECONDS", 15 * 60)


def _key(username: str) -> str:
    return f"login-failures:{username.lower()[:150]}"


def failures(username: str) -> int:
    return int(cache.get(_key(username), 0))


def record_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))
    key = _key(username)
    cache.add(key, 0, LOCK_SECONDS)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, LOCK_SECONDS)


class ThrottledModelBackend(ModelBackend):
    """Django's backend, refusing a username with too many recent failures (each still audited)."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if username and failures(username) >= MAX_FAILURES:
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and username:
            cache.delete(_key(username))
        return user


def connect() -> None:
    user_login_failed.connect(record_failure, dispatch_uid="governance-login-throttle")
