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

No caller's publish ever checks the broker: while the breaker is open a daemon thread
of the process (the prober, started by the publish that opened it) checks it after each
cooldown, one connection within the publish's own time limits (on Redis a PING, up to
one REDIS_TIMEOUT), with or without publishes meanwhile: an answer closes the breaker,
silence keeps it open for another cooldown. So with the broker frozen a process pays one
publish's worst case (CELERY_TASK_PUBLISH_RETRY_POLICY, see settings) once, for the
publish that opened the breaker, not one per task nor one per cooldown: the send path (a
socket's single database thread) never waits for a check. The prober checks the broker
the failed publish used (its `connection`'s URL, or the app's).

When the breaker closes, the prober runs the outboxes' sweeps registered with
`when_back` (queue_unqueued_webhooks, queue_unqueued_pushes) in its own thread, so what
was kept while it was open is queued within a cooldown of the broker's return, not by
the next 30-second sweep, also in a process that has nothing more to send. The sweeps'
own rules hold (chat_project/outbox.py): the rows are claimed in a short transaction
(SKIP LOCKED) and marked claimed there, and the broker is called after it, with no
transaction open and no row locked. Every process that sees the broker back sweeps at
about the same time, and the beat's sweep may run too: a row is claimed by one of them,
and claimed again only when the broker refuses its task again, its claim is never
confirmed (the run died; CHAT_OUTBOX_CLAIM_SECONDS) or its grace
(CHAT_*_OUTBOX_GRACE_SECONDS) runs out with its task not started, so this adds no copy
of a task to those a sweep can make (a task slow to start past its grace, a publish
that timed out after the broker had it); each task is idempotent for those.

The state is per process (each has its own connections; a forked process starts its
own prober at its first publish: its breaker, open at the fork, waits for one) and
guarded by a lock: several threads may queue at once. Where tasks run in
process (CELERY_TASK_ALWAYS_EAGER) there is no broker and no breaker: an error there is
the task's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
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
        self._when_back: list[Callable[[], object]] = []

    def when_back(self, sweep: Callable[[], object]) -> Callable[[], object]:
        """Run `sweep()` (an outbox's sweep) each time the breaker closes, in a thread
        of the process, so that what was kept while it was open is queued at once.
        Returns `sweep` (usable as a decorator)."""
        with self._lock:
            if sweep not in self._when_back:
                self._when_back.append(sweep)
        return sweep

    def allow(self) -> bool:
        """May this publish go to the broker? Closed: yes. Open: no, and never one
        caller's publish as a probe: a thread of the process checks the broker
        (`_watch`) while callers fail fast."""
        with self._lock:
            if self._open_until is None:
                return True
            self._watched()  # a process forked from one whose prober ran has none
            return False

    def succeeded(self) -> None:
        with self._lock:
            was_open = self._open_until is not None
            self._open_until = None
            self._closings += was_open
        if was_open:  # a publish let through just before another's failure opened it
            log.warning("the broker takes tasks again: queuing resumes")
            threading.Thread(target=self._back, daemon=True,
                             name="parley-broker-back").start()

    def failed(self, app=None, url: str | None = None) -> None:
        """A publish failed: open, or keep open, for a cooldown, and have the prober
        check the broker after it. `app`, `url`: the Celery app and the broker it tried
        (None: the app's own)."""
        cooldown = settings.CHAT_BROKER_COOLDOWN_SECONDS
        with self._lock:
            was_open = self._open_until is not None
            self._open_until = time.monotonic() + cooldown
            if app is not None:
                self._target = (app, url)
            self._watched()
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

    def _watched(self) -> None:
        """(Lock held.) Start the prober unless it runs."""
        if not (self._prober and self._prober.is_alive()):
            self._prober = threading.Thread(target=self._watch, daemon=True,
                                            name="parley-broker-probe")
            self._prober.start()

    def _watch(self) -> None:
        """The prober, a thread of the process while the breaker is open: after each
        cooldown, check the broker (`_check`); when it answers, close the breaker and
        run the sweeps (`_back`); when it does not, wait another cooldown. It needs no
        publish to go on: an idle process's breaker closes, and what it kept is queued,
        within a cooldown of the broker's return."""
        while True:
            with self._lock:
                if self._open_until is None:
                    self._prober = None
                    return
                wait = self._open_until - time.monotonic()
                target, closings = self._target, self._closings
            if wait > 0:
                time.sleep(min(wait, 1.0))  # a reset() or a closing is seen within 1 s
                continue
            answered = self._check(target)
            with self._lock:
                if self._open_until is None:
                    self._prober = None
                    return  # closed meanwhile (reset, or a publish went through)
                if not answered:
                    self._open_until = max(
                        self._open_until,
                        time.monotonic() + settings.CHAT_BROKER_COOLDOWN_SECONDS)
                    continue
                if closings != self._closings:
                    continue  # closed and opened again since the check began: check again
                self._open_until = None
                self._closings += 1
                self._prober = None
            log.warning("the broker answers again: queuing resumes")
            self._back()
            return

    @staticmethod
    def _check(target: tuple | None) -> bool:
        """Connect to the broker that failed, within the publish's own time limits (the
        broker's transport options): does it answer?"""
        if target is None:  # opened without a publish (failed() called as is)
            from .celery import app
            url = None
        else:
            app, url = target
        try:
            with app.connection_for_write(url) as conn:
                conn.ensure_connection(max_retries=0)  # one try (Redis: a PING)
        except Exception:
            log.info("the broker still does not answer; tried again in %ss",
                     settings.CHAT_BROKER_COOLDOWN_SECONDS, exc_info=True)
            return False
        return True

    def _back(self) -> None:
        """The broker answers again: run the outboxes' sweeps (`when_back`), here, in a
        thread of the breaker's, never in a caller's. Each claims its rows in a short
        transaction (SKIP LOCKED) and queues them after it (chat_project/outbox.py), so
        the processes that see the broker back at once share the rows: each is queued
        once, as by one sweep."""
        with self._lock:
            sweeps = list(self._when_back)
        try:
            for sweep in sweeps:
                try:
                    sweep()
                except Exception:  # the next 30-second sweep takes what this one left
                    log.exception("the broker is back; %s failed", sweep)
        finally:
            connections.close_all()  # this thread's own


breaker = Breaker()
when_back = breaker.when_back


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
