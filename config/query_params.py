"""Query parameters an API endpoint does not know are refused, not silently ignored.

`GET /api/v1/versions/?stage=production` filters; `?stag=production` or `?as_of=2026-01-01` was answered 200
with every row, which a client could take for the answer to the question it asked. Every list (and every
object, read through the same filtered queryset) now answers such a query with a 400 naming each unknown
parameter and the ones the endpoint takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from config.errors import InvalidInput

_NAMED = 20  # the unknown names a refusal lists one by one
# DRF's format override (?format=json), taken by every endpoint.
_ALWAYS = frozenset({"format"})


def _filter_names(view: Any, queryset: Any) -> set[str]:
    filterset_class = DjangoFilterBackend().get_filterset_class(view, queryset)
    if filterset_class is None:
        return set()
    names: set[str] = set()
    for name, flt in filterset_class.base_filters.items():
        suffixes = getattr(flt.field_class.widget, "suffixes", None)
        names.update(f"{name}_{s}" if s else name for s in suffixes) if suffixes else names.add(name)
    return names


def _paging_names(view: Any) -> set[str]:
    paginator = getattr(view, "paginator", None)
    if paginator is None:
        return set()
    return {str(name) for attr in ("limit_query_param", "offset_query_param", "cursor_query_param",
                                   "page_query_param", "page_size_query_param")
            if (name := getattr(paginator, attr, None))}


def known_params(view: Any, queryset: Any = None, extra: Iterable[str] = (), *, filters: bool = True,
                 paging: bool = True) -> set[str]:
    """What `view` reads from the query string: its filters, its paging, `format`, and `extra`."""
    return (set(_ALWAYS) | (_filter_names(view, queryset) if filters else set())
            | (_paging_names(view) if paging else set()) | set(extra))


def require_only(request: Request, view: Any, *names: str, paging: bool = False) -> None:
    """For an endpoint that applies no filter set: it takes `names` (and its paging, if it pages), each once,
    nothing else. A name given twice (`?as_of=A&as_of=B`) was answered for the last value alone, which a client
    could take for the answer to the first: it is refused, naming it."""
    require_known(request, known_params(view, extra=names, filters=False, paging=paging))
    repeated = sorted(name for name in request.query_params if len(request.query_params.getlist(name)) > 1)
    if repeated:
        named = ", ".join(repr(n[:100]) for n in repeated[:_NAMED])
        raise InvalidInput(f"query parameter{'s' if len(repeated) > 1 else ''} {named} given more than once: "
                           "give each once", rule="query.repeated_parameter")


def require_known(request: Request, known: set[str]) -> None:
    unknown = sorted(name for name in request.query_params if name not in known)
    if not unknown:
        return
    named = ", ".join(repr(n[:100]) for n in unknown[:_NAMED])
    more = f" and {len(unknown) - _NAMED} more" if len(unknown) > _NAMED else ""
    takes = ", ".join(sorted(known)) or "none"
    raise InvalidInput(f"unknown query parameter{'s' if len(unknown) > 1 else ''} {named}{more}: this endpoint "
                       f"takes {takes}", rule="query.unknown_parameter")


class KnownParamsOnly(BaseFilterBackend):
    """The first filter backend: before any filter reads the query string, refuse what none of them would."""

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        require_known(request, known_params(view, queryset))
        return queryset
