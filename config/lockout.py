"""Login lockout (django-axes): a username locked for one client address, and what a locked-out client is told.

Failures are counted per username and client address together (AXES_LOCKOUT_PARAMETERS), so a stranger who
guesses at someone's password locks that username for their own address only: the user still signs in from
theirs, and other users from the stranger's address are not affected.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a username locked for this client address; authenticates no one itself (ModelBackend does).

    A call with no request (a shell, a test client's login) has no client address to count against, so it is
    let through to the next backend rather than refused: every login over the network carries its request."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _retry_after(request: HttpRequest) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a JSON 429 under /api/, a page elsewhere; both say when to try again."""
    seconds = _retry_after(request)
    minutes = math.ceil(seconds / 60)
    message = (f"too many failed logins for this username from your address: try again in {minutes} minute"
               f"{'s' if minutes != 1 else ''}, or ask an administrator to lift the lock")
    headers = {"Retry-After": str(seconds)}
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked_out"}, status=429, headers=headers)
    page = loader.get_template("lockout.html").render({"message": message}, request)
    return HttpResponse(page, status=429, headers=headers)
