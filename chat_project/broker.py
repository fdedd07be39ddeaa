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

After the cooldown the next publish goes to the broker (half-open; other callers still
fail fast while it is under way): success closes the breaker, failure opens it for
another cooldown. So with the broker frozen a process pays one publish's worst case
(CELERY_TASK_PUBLISH_RETRY_POLICY, see settings) per cooldown, not per task.

The state is per process (each has its own connections) and guarded by a lock: several
threads may queue at once. Where tasks run in process (CELERY_TASK_ALWAYS_EAGER) there
is no broker and no breaker: an error there is the task's own.
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
        self._probing = False  # half-open: one publish is under way

    def allow(self) -> bool:
        """May this publish go to the broker? Closed: yes. Open: no until the cooldown
        has passed, then yes for one caller at a time."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._probing or time.monotonic() < self._open_until:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            was_open = self._open_until is not None
            self._open_until, self._probing = None, False
        if was_open:
            log.warning("the broker takes tasks again: queuing resumes")

    def failed(self) -> None:
        cooldown = settings.CHAT_BROKER_COOLDOWN_SECONDS
        with self._lock:
            was_open = self._open_until is not None
            self._open_until, self._probing = time.monotonic() + cooldown, False
        if not was_open:
            log.warning("the broker would not take a task: for %ss tasks are kept for "
                        "their sweeps without trying it", cooldown)

    def abandoned(self) -> None:
        """The publish ended in an error that says nothing about the broker."""
        with self._lock:
            self._probing = False

    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def reset(self) -> None:
        with self._lock:
            self._open_until, self._probing = None, False


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
        breaker.failed()
        raise
    except BaseException:
        breaker.abandoned()
        raise
    breaker.succeeded()
    return result
