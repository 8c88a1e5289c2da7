"""The admin's view-only pages: records that change only through the services are shown, never added, edited or
deleted in the admin."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdmin:
    """ModelAdmin (or inline) mixin: the view permission alone. An admin that allows one of the three (a form that
    changes through a service, an add a rule allows) overrides that method itself, where a reader sees it."""

    # `obj` as inlines pass it; a ModelAdmin calls with the request alone.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
