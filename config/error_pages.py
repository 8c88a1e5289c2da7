"""Answers no view gave: an API path nothing routes, an uncaught error, a lost database. JSON under /api/.

An API client reads every answer as JSON with a message; Django's own pages are HTML. A database that
cannot be reached (a failover, a restart, a cut connection) is a 503 the client may retry, not a 500.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

RETRY_AFTER = {"Retry-After": "5"}  # seconds: a failover or a restart takes about that long
UNAVAILABLE = {"detail": "the database cannot be reached at the moment: try again in a few seconds (a change "
                         "this request asked for may not have been made; check before repeating it)",
               "code": "unavailable"}
DATABASE_LOST = (OperationalError, InterfaceError)


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request: HttpRequest) -> JsonResponse:
    """Every /api/ path that no route matched (routed to last, so it also answers when DEBUG is on)."""
    return JsonResponse({"detail": f"no API endpoint at {request.path}: the paths are listed at /api/docs/",
                         "code": "not_found"}, status=404)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: an Http404 raised outside DRF (DRF's views answer their own in JSON)."""
    if is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. Django calls it while the exception is being handled, so it can tell a lost database
    (raised by a middleware reading the session, say, before any view runs) from a fault of ours."""
    lost = isinstance(sys.exc_info()[1], DATABASE_LOST)
    if is_api(request):
        if lost:
            return JsonResponse(UNAVAILABLE, status=503, headers=RETRY_AFTER)
        return JsonResponse({"detail": "an unexpected error occurred; it has been logged", "code": "error"},
                            status=500)
    if lost:
        # A plain template, no context processors: they would ask the database for the user again.
        return HttpResponse(loader.get_template("503.html").render(), status=503, headers=RETRY_AFTER)
    return defaults.server_error(request)
