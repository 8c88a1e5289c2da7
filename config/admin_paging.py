"""Admin change-list paging that never counts a large table: planner estimate or a capped count."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Past this many rows a filtered list says "10,000" pages of results rather than scanning them all.
COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """An unfiltered list takes PostgreSQL's row estimate (kept by ANALYZE and autovacuum) when the
    table is large; a filtered one counts at most COUNT_CAP rows. Exact counts stay for small tables."""

    @cached_property
    def count(self) -> int:
        qs: Any = self.object_list
        query = getattr(qs, "query", None)
        if query is None:
            return len(qs)
        connection = connections[qs.db]
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [qs.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:
                return int(row[0])
        return int(qs[:COUNT_CAP].count())
