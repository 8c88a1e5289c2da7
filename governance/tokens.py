"""API token services and the DRF authenticator that reads `Authorization: Token <key>`.

A token is made only by someone signed in with a password, never by a token (rules.require_may_create_token):
a token that could mint tokens would let a leaked or short-lived one leave behind a successor that outlives it
and its revocation. Tying children to parents instead would need a chain checked at every request and a
cascade at every revocation, and a leaked token could still renew itself up to its parent's end.
"""

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
from governance import rules
from governance.models import ApiToken

DEFAULT_LIFETIME = dt.timedelta(days=90)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(
    *, user: Any, name: str, lifetime: dt.timedelta | None = DEFAULT_LIFETIME, by: Any | None = None,
    by_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`, asked by `by` signed in with a session, or `by_token` if the request came with
    a token (refused); `by` None is an operator's shell. The plain key is returned once and never stored."""
    rules.require_may_create_token(by=by, user=user, by_token=by_token)
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
    if not rules.may_revoke_token(by, token):
        raise PermissionDenied("only the token's owner, the owner of its service account or a governance admin "
                               "may revoke it", rule="token.owner")
    with writer.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)  # two revocations at once: one, then a 409
        if token.revoked_at is not None:
            raise Conflict("the token is already revoked")
        token.revoked_at = timezone.now()
        writer.save(token, action="auth.token.revoke")
    return token


def token_authenticate(key: str) -> ApiToken | None:
    """The token with this key if it may act now: unexpired, unrevoked, its user active and, for a service
    account, not disabled and its owner still active (who answers for it must still be here)."""
    token = (ApiToken.objects.select_related("user", "user__service_account__owner")
             .filter(key_hash=_digest(key)).first())
    if token is None or not token.is_active or not token.user.is_active:
        return None
    account = getattr(token.user, "service_account", None)
    if account is not None and (account.disabled_at is not None or not account.owner.is_active):
        return None
    return token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("token is not valid text") from exc
        token = token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        set_actor(user_actor(token.user))
        # request.auth is the token: what the request may do can depend on it (a token makes no tokens).
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
