"""Per-request audit context: request id (echoed as X-Request-ID), client IP, user agent, actor."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import audit_context, set_actor, user_actor
from config.client_ip import client_ip

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _channel(path: str) -> str:
    return "admin" if path.startswith("/admin/") else "api"


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with audit_context(
            actor=None,
            channel=_channel(request.path),
            request_id=request_id,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ActorMiddleware:
    """Attribute the request to the session user; token users are set by the authenticator."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            set_actor(user_actor(user))
        return self.get_response(request)
