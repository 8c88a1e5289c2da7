"""Refuse requests carrying NUL characters: no field of ours can hold one, and PostgreSQL rejects them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in vs)
                                         for k, vs in request.GET.lists()):
            return JsonResponse({"detail": "NUL characters are not allowed in the URL or query", "code": "invalid"},
                                status=400)
        return self.get_response(request)
