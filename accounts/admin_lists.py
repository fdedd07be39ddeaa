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

The date links above such a list (date_hierarchy) are found the same way: Django reads
every row of the list for the distinct years, months or days it has (SELECT DISTINCT
DATE_TRUNC(...): about 1 s a page on 2,000,000 messages); `CheapDates` asks the index
instead, one EXISTS per candidate period between the first and the last date (at most
12 months or 31 days, or the years between).
"""

from __future__ import annotations

import datetime

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 100_000  # rows; below this an exact count is cheap
MAX_PERIODS = 400  # candidate periods probed one by one; more, and Django's own query runs


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


def _starts(first: datetime.datetime, last: datetime.datetime, kind: str) -> list:
    """The starts of every year, month or day from `first`'s to `last`'s (naive)."""
    if kind == "year":
        return [datetime.datetime(y, 1, 1) for y in range(first.year, last.year + 1)]
    if kind == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [datetime.datetime(m // 12, m % 12 + 1, 1) for m in months]
    day, out = datetime.datetime(first.year, first.month, first.day), []
    while day.date() <= last.date() and len(out) <= MAX_PERIODS:
        out.append(day)
        day += datetime.timedelta(days=1)
    return out


def _next(start: datetime.datetime, kind: str) -> datetime.datetime:
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + datetime.timedelta(days=1)


class CheapDates:
    """A QuerySet's dates()/datetimes() (what the date links ask) by index probes."""

    def _periods(self, field_name: str, kind: str, aware: bool):
        if kind not in ("year", "month", "day"):
            return None
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        first, last = bounds["first"], bounds["last"]
        if first is None or last is None:
            return []
        zone = timezone.get_current_timezone()
        if aware and timezone.is_aware(first):
            first, last = timezone.localtime(first, zone), timezone.localtime(last, zone)
        starts = _starts(first, last, kind)
        if len(starts) > MAX_PERIODS:
            return None
        out = []
        for start in starts:
            low, high = start, _next(start, kind)
            if aware:
                low, high = timezone.make_aware(low, zone), timezone.make_aware(high, zone)
            if self.filter(**{f"{field_name}__gte": low, f"{field_name}__lt": high}).exists():
                out.append(low if aware else low.date())
        return out

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        found = None if tzinfo is not None else self._periods(field_name, kind, True)
        if found is None:
            return super().datetimes(field_name, kind, order, tzinfo)
        return found if order == "ASC" else found[::-1]

    def dates(self, field_name, kind, order="ASC"):
        found = self._periods(field_name, kind, False) if kind != "week" else None
        if found is None:
            return super().dates(field_name, kind, order)
        return found if order == "ASC" else found[::-1]


_CHEAP: dict[type, type] = {}


def with_cheap_dates(queryset):
    """`queryset`, its dates()/datetimes() answered by CheapDates (clones keep it)."""
    cls = type(queryset)
    if issubclass(cls, CheapDates):
        return queryset
    cheap = _CHEAP.get(cls) or _CHEAP.setdefault(
        cls, type(f"CheapDates{cls.__name__}", (CheapDates, cls), {}))
    queryset = queryset._chain()
    queryset.__class__ = cheap
    return queryset


class CheckedChangeList(ChangeList):
    """A list whose query string names a value its lookup cannot hold is an invalid
    filter (Django's "?e=1" redirect), not a 500: Django checks the filter when it
    applies it, but such a value fails only when the query is written
    (?created_at__year=99999 on a list without date links: ValueError) or run (a NUL
    character, which PostgreSQL text cannot hold: DataError)."""

    def get_queryset(self, request, exclude_parameters=None):
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            raise IncorrectLookupParameters("a NUL character in the query string")
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            queryset.query.sql_with_params()
        except EmptyResultSet:
            pass
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset

    def get_results(self, request):
        super().get_results(request)
        if self.full_result_count is None and not self.queryset.query.where:
            # Nothing filtered (a BigList has no "N total"): the rows shown are all of
            # them, so no "N results (Show all)" beside the search box, whose link
            # would open the same list.
            self.full_result_count = self.result_count


class CheckedLookups:
    """Mix into a ModelAdmin: CheckedChangeList."""

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList


class BigList(CheckedLookups):
    """Mix into a ModelAdmin whose table grows without bound (before ModelAdmin)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        return with_cheap_dates(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        # PostgreSQL text holds no NUL, so nothing matches one, and a query naming it
        # fails (a 500). The list's own search box refuses it (its form does); the user
        # pickers' autocomplete (/admin/autocomplete/) passes the term as typed.
        if "\x00" in search_term:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)
