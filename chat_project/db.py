"""A cursor for the statements every message runs: prepared once per connection.

Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans
each statement again at every call. For the send transaction's statements that was
most of their time on the server (the conversations statement: 0.20 ms of planning to
0.13 ms of execution), and a lone `message_send_many` went from 4.1-5.0 ms to 3.3 ms
in process once they were prepared, with generic plans (`plan_cache_mode =
force_generic_plan`, set on the connection by settings.py when DB_PREPARED_STATEMENTS
is on; bench/README.md, "fifth round"; `python bench/sendtime.py`). Those statements
look rows up by key only, so a plan made without the values is the same plan, and it
is made once per connection instead of once per call. A statement whose text depends
on the batch (a VALUES list of one row per dialog or pair) is prepared once per batch
size; psycopg keeps the newest 100 per connection and deallocates the others.

Only the callers that ask for `prepared_cursor()` prepare anything: Django's own
cursors keep binding on the client, and psycopg never prepares those. Behind PgBouncer
set DB_PREPARED_STATEMENTS=0: it refuses the plan mode's startup parameter (`FATAL:
unsupported startup parameter: options`, seen with 1.18) and, before 1.21, carries no
prepared statement from one server connection to the next. Then this is Django's
cursor. SQLite has nothing to prepare.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper


class _PreparedCursor(ServerBindingCursor):
    """Server-side binding, and every statement prepared (psycopg keeps the newest
    100 per connection)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class _LoggedCursor(CursorDebugWrapper):
    """Logs each statement's text as given (its %s placeholders): Django composes the
    text it logs from a client-side binding cursor's last query, which a prepared
    statement does not keep."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return self._execute_with_wrappers(sql, params, many=False,
                                               executor=self._execute)


def prepared_cursor():
    """A cursor of the default database whose statements are prepared (PostgreSQL,
    DB_PREPARED_STATEMENTS on), wrapped as Django wraps its own (logged queries and
    execute wrappers still see every statement); else Django's cursor."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each read through the proxy looks it up
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        return db.cursor()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = _PreparedCursor(db.connection)
    return _LoggedCursor(raw, db) if db.queries_logged else db.make_cursor(raw)
