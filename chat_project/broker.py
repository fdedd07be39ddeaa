"""Queuing a Celery task without letting a frozen or dead broker stall the process: a
circuit breaker around `apply_async`.

Why: tasks are queued by on_commit hooks of sends (after-send webhooks, offline pushes,
upload cleanup, batch chunks). On the realtime door every database call of a process,
those hooks included, runs in one thread (Channels' database_sync_to_async), and the
REST door's sync views share one thread too. A broker that hangs instead of refusing
(a frozen Redis, a black-holed network) held each publish for its timeouts times its
retries (about 8.5 s with the defaults before this module); every other send of the
process waited behind it, so the server did one send per 8.5 s.

How: the first publish that fails (a broker error or a timeout) opens the breaker for
CHAT_BROKER_COOLDOWN_SECONDS (10 s). While it is open, `publish` raises
BrokerUnavailable at once, without touching the broker, and the caller takes the
fallback it already has for a broker that refuses:

- after-callbacks: their outbox rows (WebhookUnqueued, written with the change) are
  marked refused, queued by `queue_unqueued_webhooks` (30 s);
- offline pushes: their outbox rows (PushUnqueued, written with the send) are marked
  refused; withdrawals: kept in PushUnqueued (written then); both queued by
  `queue_unqueued_pushes` (30 s); a push retry's delivery row is found by
  `requeue_stale_pushes`;
- batch chunks and pushes to all: their BatchChunk / BroadcastTask rows are queued
  again by `requeue_lost_tasks` (30 s, a visibility timeout after they were queued);
- upload cleanup: the upload's delete_after is set, the hourly sweep deletes it.

After the cooldown no caller's publish tries the broker: callers still fail fast, and
the first of them starts a daemon thread of the process (the prober) that checks it, one
connection within the publish's own time limits (on Redis a PING, up to one
REDIS_TIMEOUT): an answer closes the breaker, silence opens it for another cooldown
(the next caller after that starts the next check). So with the broker frozen a process
pays one publish's worst case (CELERY_TASK_PUBLISH_RETRY_POLICY, see settings) once,
for the publish that opened the breaker, not one per task nor one per cooldown: the
send path (a socket's single database thread) never waits for a check. The prober
checks the broker the failed publish used (its `connection`'s URL, or the app's).
A task refused once the broker is back (before the check closes the breaker) goes to
its fallback like the others.

The state is per process (each has its own connections; a forked process starts its
own prober) and guarded by a lock: several threads may queue at once. Where tasks run in
process (CELERY_TASK_ALWAYS_EAGER) there is no broker and no breaker: an error there is
the task's own.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What queuing a task raises when the broker is down or does not answer in time.
BROKER_ERRORS = (OperationalError, ConnectionError, OSError, RedisConnectionError,
                 RedisTimeoutError)


class BrokerUnavailable(OperationalError):
    """Not queued: the breaker is open (a publish failed less than a cooldown ago).
    An OperationalError, so every `except BROKER_ERRORS` takes its fallback."""


class Breaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._prober: threading.Thread | None = None
        self._target: tuple | None = None  # (app, broker URL or None): what to probe
        self._closings = 0  # how many times it closed: a probe of an earlier opening is moot

    def allow(self) -> bool:
        """May this publish go to the broker? Closed: yes. Open: no, and never one
        caller's publish as a probe: once the cooldown has passed, a thread of the
        process checks the broker (`_probe`) while callers still fail fast."""
        with self._lock:
            if self._open_until is None:
                return True
            if time.monotonic() >= self._open_until and not (
                    self._prober and self._prober.is_alive()):
                # (also in a process forked from one whose prober ran: not its thread)
                self._prober = threading.Thread(
                    target=self._probe, args=(self._target, self._closings), daemon=True,
                    name="parley-broker-probe")
                self._prober.start()
            return False

    def succeeded(self) -> None:
        with self._lock:
            was_open = self._open_until is not None
            self._open_until = None
            self._closings += was_open
        if was_open:
            log.warning("the broker takes tasks again: queuing resumes")

    def failed(self, app=None, url: str | None = None) -> None:
        """A publish (or a probe) failed: open, or keep open, for a cooldown. `app`,
        `url`: the Celery app and the broker it tried (None: the app's own)."""
        cooldown = settings.CHAT_BROKER_COOLDOWN_SECONDS
        with self._lock:
            was_open = self._open_until is not None
            self._open_until = time.monotonic() + cooldown
            if app is not None:
                self._target = (app, url)
        if not was_open:
            log.warning("the broker would not take a task: for %ss tasks are kept for "
                        "their sweeps without trying it", cooldown)

    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def reset(self) -> None:
        with self._lock:
            self._open_until = None
            self._closings += 1

    def _probe(self, target: tuple | None, closings: int) -> None:
        """In the prober thread: connect to the broker that failed, within the publish's
        own time limits (the broker's transport options); close the breaker when it
        answers, open it for another cooldown when it does not."""
        if target is None:  # opened without a publish (failed() called as is)
            from .celery import app
            url = None
        else:
            app, url = target
        try:
            with app.connection_for_write(url) as conn:
                conn.ensure_connection(max_retries=0)  # one try (Redis: a PING)
        except Exception:
            with self._lock:
                if closings != self._closings:
                    return  # closed meanwhile (a publish went through): nothing to say
                self._open_until = time.monotonic() + settings.CHAT_BROKER_COOLDOWN_SECONDS
            log.info("the broker still does not answer; tried again in %ss",
                     settings.CHAT_BROKER_COOLDOWN_SECONDS, exc_info=True)
            return
        with self._lock:
            if closings != self._closings or self._open_until is None:
                return  # closed meanwhile
            self._open_until = None
            self._closings += 1
        log.warning("the broker answers again: queuing resumes")


breaker = Breaker()


def publish(task, args: tuple | list = (), kwargs: dict | None = None, **options):
    """`task.apply_async(args, kwargs, **options)` behind the breaker. Raises
    BrokerUnavailable (at once) while the breaker is open, and the broker's own error
    (after its timeouts and retries) when the publish fails; both are in BROKER_ERRORS."""
    if task.app.conf.task_always_eager:
        return task.apply_async(args, kwargs, **options)
    if not breaker.allow():
        raise BrokerUnavailable(f"{task.name} not queued: the broker failed less than "
                                f"{settings.CHAT_BROKER_COOLDOWN_SECONDS}s ago")
    try:
        result = task.apply_async(args, kwargs, **options)
    except BROKER_ERRORS:
        conn = options.get("connection")
        breaker.failed(task.app, conn.as_uri(include_password=True) if conn else None)
        raise
    breaker.succeeded()
    return result
