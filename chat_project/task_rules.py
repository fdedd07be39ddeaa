"""What every Celery task that writes shares (settings: the Celery block of
chat_project/settings.py).

- Acknowledged late (CELERY_TASK_ACKS_LATE): a worker killed mid-task leaves the task
  to be handed out again, so each such task must be idempotent, however late it is
  redone; the tasks say how they are.
- RETRY: a transient error (a lost or refused database or Redis connection, a
  statement or lock timeout, a deadlock) is retried with an exponential, jittered
  backoff capped under the broker's visibility timeout, up to 10 times (about four
  minutes); anything else fails the task, logged with its traceback.
- task_transaction(): a transaction whose statements give up after
  CHAT_TASK_STATEMENT_TIMEOUT seconds, lock waits included, so a stuck task fails
  and is retried instead of being handed out a second time while it still runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

# psycopg's QueryCanceled (statement_timeout), LockNotAvailable and DeadlockDetected
# are OperationalErrors, as Django wraps them.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError)

RETRY = {"autoretry_for": TRANSIENT_ERRORS, "max_retries": 10, "retry_backoff": 2,
         "retry_backoff_max": settings.CHAT_TASK_RETRY_MAX_COUNTDOWN, "retry_jitter": True}


@contextmanager
def task_transaction() -> Iterator[None]:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Local to the transaction: the connection's next user is unaffected.
                cursor.execute("SELECT set_config('statement_timeout', %s, true)",
                               [f"{int(settings.CHAT_TASK_STATEMENT_TIMEOUT * 1000)}ms"])
        yield
