"""Console lists of tables that grow without bound (messages, sync log, conversations,
relationships, push and webhook records, audit entries, users): no count(*) of the
whole table per page.

Django admin counts a list twice per page (the rows the filters leave, for the pages;
the whole table, for "N total"), and PostgreSQL counts by reading every row: on
millions of messages each page of the message list took seconds. `BigList` drops the
whole-table count, and its paginator answers an unfiltered list from PostgreSQL's own
row estimate (pg_class.reltuples, kept by ANALYZE and autovacuum) once that passes
ESTIMATE_ABOVE rows; the page then says "about N". A filtered or searched list is
counted exactly (the filter's index bounds it); so is a table never analyzed, and any
table on SQLite.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 100_000  # rows; below this an exact count is cheap


def table_estimate(model, using: str) -> int | None:
    """PostgreSQL's estimate of the rows in `model`'s table, or None (another database,
    or a table not analyzed yet)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """Counts exactly, except an unfiltered list of a big table: its estimate."""

    estimate_above = ESTIMATE_ABOVE
    estimated = False  # whether `count` is PostgreSQL's estimate ("about N")

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        query = getattr(rows, "query", None)
        if query is not None and not query.where:
            estimate = table_estimate(rows.model, rows.db)
            if estimate is not None and estimate >= self.estimate_above:
                self.estimated = True
                return estimate
        return super().count


class BigList:
    """Mix into a ModelAdmin whose table grows without bound (before ModelAdmin)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
