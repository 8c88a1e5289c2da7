"""API token services and the DRF authenticator that reads `Authorization: Token <key>`."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from audit import writer
from audit.context import set_actor, user_actor
from config.errors import Conflict, PermissionDenied
from governance.models import ApiToken

DEFAULT_LIFETIME = dt.timedelta(days=90)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(
    *, user: Any, name: str, lifetime: dt.timedelta | None = DEFAULT_LIFETIME
) -> tuple[ApiToken, str]:
    """Create a token; the plain key is returned once and never stored."""
    key = "mg_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name[:100] or "token",
        prefix=key[:10],
        key_hash=_digest(key),
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    writer.save(token, action="auth.token.create")
    return token, key


def token_revoke(*, token: ApiToken, by: Any) -> ApiToken:
    if token.user_id != by.pk and not by.has_perm("governance.change_apitoken"):
        raise PermissionDenied("only the token's owner or a governance admin may revoke it", rule="token.owner")
    if token.revoked_at is not None:
        raise Conflict("the token is already revoked")
    token.revoked_at = timezone.now()
    writer.save(token, action="auth.token.revoke")
    return token


def token_user(key: str) -> Any | None:
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(key)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    return token.user


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("token is not valid text") from exc
        user = token_user(key)
        if user is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        set_actor(user_actor(user))
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
