"""Read replicas: which database a read goes to, and read-your-writes.

With DATABASE_REPLICA_URLS empty (the default) nothing here runs: no router is
installed, `history_read` calls its selector as it is, `remember_writes` returns at
once. No query, no Redis call.

With replicas (aliases `replica1`, `replica2`, ... in settings.DATABASES):

- Where: a read goes to a replica only inside `history_read` (the history selectors
  every door calls: REST and socket `getMessageList`, /v4 `admin_getroammsg`) and on the
  admin's GET pages (`AdminReadsFromReplica`). Everything else, every write, and every
  read inside a transaction uses the primary (`ReplicaRouter`).
- Read-your-writes: after a transaction that changed what users' devices must learn
  commits (accounts.events.publish_on_commit: every sync-log entry and conversation
  change, for both sides of a message), the primary's WAL insert position is stored
  per user in Redis (only ever raised, kept DATABASE_REPLICA_LSN_TTL seconds). A read
  for that user uses a replica only if the replica's `pg_last_wal_replay_lsn()` is at
  or past it; otherwise, or when the position cannot be read, the primary. Each process
  remembers the highest replay position it has seen per replica, so a replica known to
  be past the user's write costs no extra query.
- Failure: a replica that fails (refused, a pooled connection that does not come within
  DATABASE_REPLICA_CONNECT_TIMEOUT seconds, an error mid-read) is skipped by this
  process for DATABASE_REPLICA_RETRY_AFTER seconds and the read runs again on the
  primary: the caller sees no error. An application error (ChatError) raised on a
  replica is also answered from the primary, so "no such user/message" never comes from
  a replica that has not caught up.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, connections, transaction
from django.urls import reverse

from chat_project.errors import ChatError

log = logging.getLogger(__name__)

_reads_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parley_reads_from", default=None)

# Per process: the highest replay position seen per replica, and until when (monotonic
# clock) a failed replica is skipped.
_replayed: dict[str, int] = {}
_down_until: dict[str, float] = {}
_redis_down_until = 0.0

# Raise a user's stored position, never lower it (two processes may record out of order).
_RAISE = """
for i, key in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', key) or '0')
  if tonumber(ARGV[1]) > cur then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return 0
"""


class ReplicaRouter:
    """Installed only when replicas are configured (settings.DATABASE_ROUTERS)."""

    def db_for_read(self, model, **hints):
        alias = _reads_from.get()
        if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data, whichever copy an object was read from

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


# --- Redis: each user's last write position -----------------------------------------

@functools.cache
def _redis() -> tuple[redis.Redis, Callable]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=settings.REDIS_TIMEOUT,
                                  socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT)
    return client, client.register_script(_RAISE)


def _key(user_pk: int) -> str:
    # Read each time: tests give each run its own KEY_PREFIX.
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "") or "parley"
    return f"{prefix}:replica-lsn:{user_pk}"


def _redis_call(what: str, call: Callable):
    """Run a Redis call; None (and skip Redis for REDIS_RETRY_AFTER) when it fails."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        return call()
    except (redis.RedisError, OSError) as exc:
        log.warning("replica read-your-writes: Redis %s failed: %r", what, exc)
        _redis_down_until = time.monotonic() + settings.REDIS_RETRY_AFTER
        return None


def remember_writes(user_pks: Iterable[int]) -> None:
    """After the current transaction commits, store the primary's WAL position as these
    users' last write (at once when no transaction is open)."""
    if not settings.DATABASE_REPLICAS:
        return
    pks = sorted(set(user_pks))
    if pks:
        transaction.on_commit(lambda: _record(pks), robust=True)  # never stops the publish


def _record(pks: list[int]) -> None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            # The insert position is at or past the end of every commit record so far.
            cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
            lsn = int(cursor.fetchone()[0])
    except Error:
        log.exception("replica read-your-writes: the primary's WAL position")
        return
    _, raise_lsn = _redis()
    _redis_call("record", lambda: raise_lsn(keys=[_key(pk) for pk in pks],
                                            args=[lsn, settings.DATABASE_REPLICA_LSN_TTL]))


# --- choosing where a read goes -------------------------------------------------------

_NOTHING = object()


def _written(user_pk: int):
    """The user's last write position; None if none is kept; _NOTHING if Redis failed."""
    client, _ = _redis()
    raw = _redis_call("read", lambda: client.get(_key(user_pk)) or b"")
    if raw is None:
        return _NOTHING
    return int(raw) if raw else None


def _replay_position(alias: str) -> int | None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
        value = cursor.fetchone()[0]
    return None if value is None else int(value)


def _mark_down(alias: str, exc: Exception) -> None:
    if time.monotonic() >= _down_until.get(alias, 0.0):
        log.warning("replica %s skipped for %ss: %r", alias,
                    settings.DATABASE_REPLICA_RETRY_AFTER, exc)
    _down_until[alias] = time.monotonic() + settings.DATABASE_REPLICA_RETRY_AFTER


def replica_for(user_pk: int, *, probe: bool = False) -> str | None:
    """A replica that has replayed every write of this user, or None (the primary).
    `probe`: ask the replica its position even when the user has no write kept (a
    caller that cannot rerun a failed read checks the replica answers first)."""
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None
    now = time.monotonic()
    candidates = [a for a in settings.DATABASE_REPLICAS if now >= _down_until.get(a, 0.0)]
    if not candidates:
        return None
    needed = _written(user_pk)
    if needed is _NOTHING:
        return None  # cannot tell what the user wrote: the primary has it all
    random.shuffle(candidates)
    for alias in candidates:
        if not probe and (needed is None or _replayed.get(alias, -1) >= needed):
            return alias
        try:
            position = _replay_position(alias)
        except Error as exc:
            _mark_down(alias, exc)
            continue
        if position is None:  # not in recovery: not a replica (promoted?), not trusted
            _mark_down(alias, RuntimeError("pg_last_wal_replay_lsn() is NULL"))
            continue
        _replayed[alias] = max(_replayed.get(alias, -1), position)
        if needed is None or position >= needed:
            return alias
    return None


@contextlib.contextmanager
def reads_from(alias: str | None):
    """Route this context's reads (outside transactions) to `alias`; None: the primary."""
    token = _reads_from.set(alias)
    try:
        yield
    finally:
        _reads_from.reset(token)


def history_read(*, user: str) -> Callable:
    """Decorate a selector: it runs on a replica fit for the keyword argument `user`
    (a User) when there is one, else on the primary; a failure on the replica reruns it
    on the primary."""
    def wrap(selector: Callable) -> Callable:
        @functools.wraps(selector)
        def run(*args, **kwargs):
            if not settings.DATABASE_REPLICAS:
                return selector(*args, **kwargs)
            alias = replica_for(kwargs[user].pk)
            if alias is None:
                return selector(*args, **kwargs)
            try:
                with reads_from(alias):
                    return selector(*args, **kwargs)
            except ChatError:
                pass  # answered from the primary, which may know what the replica lacks
            except Error as exc:
                _mark_down(alias, exc)
            with reads_from(None):
                return selector(*args, **kwargs)
        return run
    return wrap


class AdminReadsFromReplica:
    """Django admin: an operator's GET pages read from a replica fit for the operator
    (asked first whether it answers); a POST notes the operator's write position. The
    session and the user are read from the primary first. The admin's change and delete
    pages run in a transaction, so they read from the primary anyway (ReplicaRouter).
    A replica that fails in the middle of a page makes that page an error (Django turns
    it into a response before it gets here) and is skipped from then on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(_admin_prefix()):
            return self.get_response(request)
        operator = request.user
        if not (operator.is_authenticated and operator.is_staff):
            return self.get_response(request)
        if request.method in ("GET", "HEAD"):
            alias = replica_for(operator.pk, probe=True)
            with reads_from(alias):
                return self.get_response(request)
        response = self.get_response(request)
        remember_writes([operator.pk])
        return response

    def process_exception(self, request, exception):
        alias = _reads_from.get()
        if alias is not None and isinstance(exception, Error):
            _mark_down(alias, exception)


@functools.cache
def _admin_prefix() -> str:
    return reverse("admin:index")
