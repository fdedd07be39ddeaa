"""Telling "the server is busy or a backing service is down" from a bug.

Every door turns such a failure into its own "retry shortly" answer, not an internal
error: the REST door HTTP 503 `{"code": 910503}`, `/v4` the envelope with 60008, the
socket an error reply 910503, and a socket that cannot be set up is closed with 1013
(HandshakeGuard). What counts:

- the PostgreSQL connection pool stayed exhausted for `DB_POOL_TIMEOUT` seconds
  (psycopg_pool.PoolTimeout), or PostgreSQL refused or lost the connection (too many
  clients, starting up, shutting down, unreachable);
- SQLite stayed locked for its busy timeout (embedded mode);
- the channel layer or the cache could not reach Redis in time
  (chat_project.redis_bounds.RealtimeUnavailable, redis-py's connection and timeout
  errors);
- PostgreSQL rolled the transaction back to break a deadlock or a serialization
  conflict with another writer (40P01, 40001): its transaction was undone, and the
  same request again normally goes through. The writers take their locks in one
  global order (messaging/persist.py), so this should not happen; when it does, it is
  a conflict to retry, not a bug the client could fix (tests/messaging/test_lock_order.py);
- PostgreSQL cancelled a statement that waited or ran too long (57014 query_canceled:
  statement_timeout, or a cancel request; 55P03 lock_not_available: lock_timeout), as
  an operator's timeouts on the server's role or in DATABASE_URL's `options` do, and
  the tasks' own statement_timeout (chat_project/task_rules.py): its transaction was
  rolled back, nothing of it was written, and another row lock is what it waited for
  (tests/test_db_timeouts.py).

A ChatError 910503 that a service returns for such a failure (a send's result) is
answered the same way: the REST door's handler (chat_project/api.py) and /v4
(chat_project/v4.py) check the code.
"""

from __future__ import annotations

import logging
import sqlite3

import django.db
import psycopg
import redis.exceptions
from django.http import HttpResponse, JsonResponse
from psycopg_pool import PoolTimeout

from chat_project.errors import CODES, ChatError
from chat_project.redis_bounds import RealtimeUnavailable

log = logging.getLogger(__name__)

BUSY_CODE = 910503  # chat_project/errors.py
V4_BUSY_CODE = 60008  # Tencent's "timeout" transport code (tencent-rest.md §1)
RETRY_AFTER_SECONDS = 1

# PostgreSQL refusing connections: too many clients, starting up, shutting down, and
# the connection-exception class.
_PG_UNAVAILABLE = {"53300", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004",
                   "08006"}
# The transaction was rolled back to let another one through: deadlock_detected,
# serialization_failure.
_PG_CONFLICT = {"40P01", "40001"}
# The statement was cancelled and its transaction rolled back: query_canceled
# (statement_timeout), lock_not_available (lock_timeout).
_PG_CANCELLED = {"57014", "55P03"}
_PG_RETRY = _PG_UNAVAILABLE | _PG_CONFLICT | _PG_CANCELLED


def _causes(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means "busy or down, retry", not a bug."""
    for cause in _causes(exc):
        if isinstance(cause, PoolTimeout | RealtimeUnavailable | redis.exceptions.ConnectionError
                      | redis.exceptions.TimeoutError):
            return True
        if isinstance(cause, psycopg.InterfaceError | django.db.InterfaceError):
            return True  # the connection was closed under us (a restart, a dropped link)
        if isinstance(cause, psycopg.OperationalError):
            # No SQLSTATE: the connection itself failed (refused, reset, unreachable).
            return cause.sqlstate is None or cause.sqlstate in _PG_RETRY
        if isinstance(cause, sqlite3.OperationalError):
            return "locked" in str(cause) or "busy" in str(cause)
    return False


class UnavailableMiddleware:
    """HTTP doors: a view that failed because the database or Redis is busy or down
    answers 503 with Retry-After, not 500: JSON `{"code": 910503, "message"}` under
    /api/ (the REST door's error shape), a short text page elsewhere. (/v4 answers its
    own envelope, chat_project/v4.py.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_unavailable(exception):
            return None
        log.warning("%s %s: a backing service is unavailable: %r", request.method,
                    request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"code": BUSY_CODE, "message": CODES[BUSY_CODE]},
                                    status=503)
        else:
            response = HttpResponse(CODES[BUSY_CODE], status=503,
                                    content_type="text/plain; charset=utf-8")
        return busy_headers(response)


def busy_headers(response):
    """The header every "busy, retry" HTTP answer carries."""
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def error_for(exc: BaseException) -> ChatError:
    """The ChatError a door reports for an unexpected exception: 910503 (retry) when
    a backing service is busy or down, else 20005 (internal error)."""
    if is_unavailable(exc):
        return ChatError(BUSY_CODE, http_status=503)
    return ChatError(20005)


# A socket the server cannot serve right now (Redis or the database unreachable) is
# accepted and closed at once with this code (RFC 6455's "try again later") and a
# reason; any other failure before the accept closes with 1011 (internal error).
CLOSE_TRY_AGAIN = 1013
CLOSE_INTERNAL = 1011


class _Handshake:
    """What HandshakeGuard follows of one socket: whether the connect event came in and
    whether the app answered. A slotted object, not closures over a dict: every socket
    holds it for its whole life."""

    __slots__ = ("_receive", "_send", "connect", "answered")

    def __init__(self, receive, send) -> None:
        self._receive, self._send = receive, send
        self.connect = self.answered = False

    async def receive(self):
        message = await self._receive()
        if message["type"] == "websocket.connect":
            self.connect = True
        return message

    async def send(self, message):
        if message["type"] in ("websocket.accept", "websocket.close",
                               "websocket.http.response.start"):
            self.answered = True
        await self._send(message)


class HandshakeGuard:
    """Before a socket is accepted, Channels subscribes it to the channel layer (and
    the session middleware reads the database); when that fails, the server would
    answer the handshake with HTTP 500, which a client cannot tell from a bug. Here the
    socket is accepted and closed with a code and a reason instead, so a client knows to
    reconnect later (with `since`: nothing is lost, the sync log has it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        state = _Handshake(receive, send)
        try:
            return await self.app(scope, state.receive, state.send)
        except Exception as exc:
            if state.answered:
                raise
            busy = is_unavailable(exc)
            if busy:
                log.warning("socket refused, a backing service is unavailable: %r", exc)
            else:
                log.exception("socket failed before its handshake")
            if not state.connect:
                await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close",
                        "code": CLOSE_TRY_AGAIN if busy else CLOSE_INTERNAL,
                        "reason": "server busy, retry later" if busy else "internal error"})
