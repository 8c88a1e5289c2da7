"""List paging that never counts a large table: planner estimate or a capped count.

Used by the audit log's change list (EstimatedCountPaginator: counting its 1,000,000 entries takes 90-140 ms, a
page 20-40 ms) and the API's offset-paged lists (EstimatedCountPagination). The admin's approval queue is counted
from the table of open slots (CountedPaginator; counting the filtered requests probed each of 4,000 pending ones:
24 ms of 35 at scale). The other change lists count with Django's own Paginator: their counts cost 1-7 ms, within
the noise of their pages at scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from config.ids import BIGINT

# Past this many rows a filtered audit log says "10,000" rather than scanning them all.
COUNT_CAP = 10_000
# The API's pages are 50 rows: its counts stop at 1,000 (20 pages), which costs a tenth of the admin's cap.
API_COUNT_CAP = 1_000


def estimated_count(qs: Any, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, exact). An unfiltered query on a large PostgreSQL table takes the planner's row estimate
    (kept by ANALYZE and autovacuum); otherwise at most `cap` rows are counted (in no particular order,
    so that no sort is needed), and a count of `cap` means "at least that many". Small results count
    exactly. `qs` may also be a function counting at most the cap it is given (a count made a cheaper way)."""
    if callable(qs):
        counted = int(qs(cap))
        return counted, counted < cap
    query = getattr(qs, "query", None)
    if query is None:
        return len(qs), True
    connection = connections[qs.db]
    if connection.vendor == "postgresql" and not query.where:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [qs.model._meta.db_table])
            row = cursor.fetchone()
        if row and row[0] > cap:
            return int(row[0]), False
    count = int(qs.order_by()[:cap].count())
    return count, count < cap


class EstimatedCountPaginator(Paginator):
    """An unfiltered list takes PostgreSQL's row estimate when the table is large; a filtered one counts
    at most COUNT_CAP rows. Exact counts stay for small tables."""

    @cached_property
    def count(self) -> int:
        return estimated_count(self.object_list)[0]


class CountedPaginator(Paginator):
    """A paginator told its count: `count_upto(cap)` counts the list's rows a cheaper way, up to `cap` (exact here:
    the cap is the largest count a database holds)."""

    def __init__(self, object_list: Any, per_page: int, orphans: int = 0, allow_empty_first_page: bool = True, *,
                 count_upto: Callable[[int], int]) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.count_upto = count_upto

    @cached_property
    def count(self) -> int:
        return int(self.count_upto(BIGINT))


class EstimatedCountPagination(LimitOffsetPagination):
    """Limit/offset paging whose `count` is exact up to API_COUNT_CAP rows; past that it is PostgreSQL's row
    estimate (unfiltered lists) or API_COUNT_CAP as a lower bound (filtered ones). `next` is exact either way:
    one row past the page is fetched to know whether another page follows."""

    count_exact = True
    has_more = False

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None,
                          rows_of: Callable[[Any], Any] | None = None, count_of: Any = None) -> list[Any] | None:
        """The page of `queryset`; with `rows_of`, the page of `rows_of(queryset)` (the same rows as plain values,
        for a list that builds its JSON without model instances) while the count is still made on `queryset`, or on
        `count_of` (one row for each of `queryset`'s, found a cheaper way; or a function counting them up to a cap)."""
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        self.count, self.count_exact = estimated_count(queryset if count_of is None else count_of, API_COUNT_CAP)
        if self.count_exact and (self.count == 0 or self.offset > self.count):
            self.has_more = False
            return []
        source = queryset if rows_of is None else rows_of(queryset)
        rows = list(source[self.offset:self.offset + self.limit + 1])
        self.has_more = len(rows) > self.limit
        rows = rows[:self.limit]
        # The estimate never contradicts the page: the end seen is the exact count, and there are at least
        # as many rows as reached.
        if not self.has_more and (rows or self.offset == 0):
            self.count, self.count_exact = self.offset + len(rows), True
        else:
            self.count = max(self.count, self.offset + len(rows) + int(self.has_more))
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_next_link(self) -> str | None:
        if not self.has_more or self.request is None or self.limit is None or self.offset is None:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = super().get_paginated_response_schema(schema)
        out["properties"]["count"]["description"] = (
            f"Rows in the list: exact up to {API_COUNT_CAP:,}; past that, PostgreSQL's row estimate for an "
            f"unfiltered list, or at least {API_COUNT_CAP:,} for a filtered one. Follow `next` to the end.")
        return out


def rows_response(view: Any, queryset: Any, rows_of: Callable[[Any], Any],
                  out: Callable[[list[Any]], list[Any]], *, count_of: Any = None) -> Response:
    """A list view's response built from plain rows: `out` of the page of `rows_of(queryset)`, counted on
    `queryset` itself (the count then joins nothing the rows need) or on `count_of`, one row for each of its rows;
    the whole list when the view does not paginate."""
    paginator = view.paginator
    page: list[Any] | None = None
    if isinstance(paginator, EstimatedCountPagination):
        page = paginator.paginate_queryset(queryset, view.request, view=view, rows_of=rows_of, count_of=count_of)
    elif paginator is not None:
        page = paginator.paginate_queryset(rows_of(queryset), view.request, view=view)
    if page is None:
        return Response(out(list(rows_of(queryset))))
    return view.get_paginated_response(out(page))
