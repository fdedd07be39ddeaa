"""Celery tasks that call the app's server (after-callbacks): see accounts/webhooks.py.

`deliver_after` is queued by `after()` (below) once the transaction that caused the
event commits. It POSTs the callback, records the attempt (WebhookAttempt), and on a
failure (timeout, connection error, non-200, not JSON) retries up to
`WebhookConfig.retries` times, waiting `retry_backoff_seconds * 2**n` seconds before
retry n+1 (n = 0, 1, ...). The configuration is read when the task runs: turning the
callback off in admin stops pending retries.

Where tasks run in process (CELERY_TASK_ALWAYS_EAGER, the embedded default) the
retries follow at once, without the waits: the caller's thread must not sleep. There a
timeout ends the retries: the caller (a send, a login; on a socket, the thread all the
sockets' database work shares) waits at most one `timeout_ms` for a silent receiver.

Nothing committed loses its callback: `after()` writes the callback's row in the
outbox (WebhookUnqueued) in the transaction of the change, one INSERT for all the
callbacks of a transaction's call (`after_many`: a socket's batch of sends), and an
on_commit hook queues the tasks. The task deletes its row when it starts. A row that
stays is queued by `queue_unqueued_webhooks` (every 30 s, and as soon as a process's
broker breaker sees the broker back): at once when the broker
would not take it at the commit (down, silent past its timeouts, or its breaker open
in this process: chat_project/broker.py; the hook marks it `refused`), and
CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS after it was last queued when its task never started:
the process died between the commit and the queuing, or the broker lost the task (a
Redis restarted without persistence). Delivery is at least once. The task is
acknowledged when it ends (chat_project/task_rules.py), so a worker lost during a call
makes it again; the app may get a callback twice and should treat a repeated MsgKey as
one event. A copy of the task that the broker hands out again finds its attempt
recorded and stops, so copies never multiply the retries. A wait longer than
CHAT_TASK_RETRY_MAX_COUNTDOWN (kept under the broker's visibility timeout, past which a
waiting task is handed out a second time) is made of several shorter ones: the task carries the time of its next attempt
(`not_before`) and its attempt count (`retries`) from one to the next.

`purge_webhook_attempts` deletes attempt records older than CHAT_WEBHOOK_ATTEMPT_DAYS
(7 by default); it is idempotent and meant for a periodic schedule.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from chat_project import broker, outbox

from . import webhooks
from .models import WebhookAttempt, WebhookUnqueued

log = logging.getLogger(__name__)

# What queuing a task raises when the broker is down, does not answer, or failed less
# than a cooldown ago (chat_project/broker.py).
BROKER_ERRORS = broker.BROKER_ERRORS


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver_after(self, delivery_id: str, command: str, body: dict, platform: str = "RESTAPI",
                  client_ip: str = "", retries: int | None = None,
                  not_before: float | None = None) -> str:
    if not retries:  # the first run: the outbox's row has done its work
        WebhookUnqueued.objects.filter(delivery_id=delivery_id).delete()
    cfg = webhooks.config()
    if not cfg.on(command):
        log.info("%s webhook %s dropped: the callback is off now", command, delivery_id)
        return "off"

    def attempt(retries: int) -> webhooks.Call:
        return webhooks.call_once(cfg, command, body, platform=platform, client_ip=client_ip,
                                  delivery_id=uuid.UUID(delivery_id), attempt=retries + 1)

    if self.request.is_eager:
        for retries in range(cfg.retries + 1):
            call = attempt(retries)
            if call.ok:
                return "ok"
            if call.outcome == WebhookAttempt.Outcome.TIMEOUT:
                break  # the caller's thread waits for a silent receiver once, not per retry
        return call.outcome

    if retries is None:  # queued before the count was carried along
        retries = self.request.retries
    cap = settings.CHAT_TASK_RETRY_MAX_COUNTDOWN

    def wait_then_retry(retries: int, not_before: float):
        countdown = max(0.0, min(not_before - time.time(), cap))
        return self.retry(countdown=countdown, kwargs={
            "retries": retries, "not_before": not_before})

    if not_before is not None and time.time() < not_before - 0.05:
        raise wait_then_retry(retries, not_before)  # the rest of a long wait
    if WebhookAttempt.objects.filter(delivery_id=delivery_id, attempt=retries + 1).exists():
        log.info("%s webhook %s attempt %d was made already (a copy handed out again)",
                 command, delivery_id, retries + 1)
        return "duplicate"
    call = attempt(retries)
    if call.ok:
        return "ok"
    if retries < cfg.retries:
        countdown = cfg.retry_backoff_seconds * 2 ** retries
        log.info("%s webhook %s attempt %d failed (%s); retry in %ss", command, delivery_id,
                 retries + 1, call.error, countdown)
        raise wait_then_retry(retries + 1, time.time() + countdown)
    log.warning("%s webhook %s failed after %d attempts: %s", command, delivery_id,
                retries + 1, call.error)
    return call.outcome


@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_webhook_attempts() -> int:
    days = getattr(settings, "CHAT_WEBHOOK_ATTEMPT_DAYS", 7)
    deleted = webhooks.attempts_purge(before=timezone.now() - timedelta(days=days))
    log.info("purged %d webhook attempts older than %d days", deleted, days)
    return deleted


def after(command: str, body: dict, *, platform: str = "RESTAPI", client_ip: str = "") -> None:
    """An after-callback (e.g. AFTER_SEND) of the current transaction's change: kept in
    the outbox with it, queued once it commits; a no-op when that callback is off.
    Failed calls are retried by the task."""
    after_many(command, [(body, platform, client_ip)])


def after_many(command: str, calls: list[tuple[dict, str, str]]) -> None:
    """`after` for several callbacks of one command, (body, platform, client_ip) each:
    one INSERT for all of them."""
    if not calls or not webhooks.config().on(command):
        return
    now = timezone.now()
    rows = [WebhookUnqueued(delivery_id=uuid.uuid4(), command=command, body=body,
                            platform=platform, client_ip=client_ip, created_at=now)
            for body, platform, client_ip in calls]
    WebhookUnqueued.objects.bulk_create(rows)
    args = [(str(r.delivery_id), command, r.body, r.platform, r.client_ip) for r in rows]
    # robust: nothing here may turn a committed change into an error.
    transaction.on_commit(lambda: _queue_or_mark(args), robust=True)


def _queue(args: tuple) -> None:
    broker.publish(deliver_after, args, queue=getattr(settings, "CHAT_WEBHOOK_QUEUE", None))


def _queue_or_mark(calls: list[tuple]) -> None:
    """Queue the tasks; when the broker will not take one, mark it and the rest
    refused, for the sweep's next run (one UPDATE, only then)."""
    for i, args in enumerate(calls):
        try:
            _queue(args)
        except BROKER_ERRORS as exc:
            if isinstance(exc, broker.BrokerUnavailable):
                log.info("%s webhook %s: the broker failed a moment ago; kept to queue "
                         "again", args[1], args[0])
            else:
                log.warning("%s webhook %s: the broker would not take it; kept to queue "
                            "again", args[1], args[0], exc_info=True)
            WebhookUnqueued.objects.filter(
                delivery_id__in=[a[0] for a in calls[i:]]).update(refused=True)
            return


@shared_task(ignore_result=True)
def queue_unqueued_webhooks(limit: int = 1000, pks: list[int] | None = None) -> int:
    """Every 30 s (django-celery-beat): queue the after-callbacks of the outbox whose
    task has not started (WebhookUnqueued): those the broker would not take at their
    commit, and those queued more than CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS ago; oldest
    first; return how many. A row stays until its task starts (it may be lost again);
    when the broker refuses again the rest wait for the next run. A task queued twice
    (a row's task that was only slow) calls once: its copy finds the attempt recorded
    (deliver_after). `pks`: those rows only, due or not (the console's "Queue now");
    rows another run holds are skipped, not waited for. The rows are claimed in a short
    transaction and their tasks queued after it (chat_project/outbox.py)."""
    rows = WebhookUnqueued.objects.all() if pks is None else \
        WebhookUnqueued.objects.filter(pk__in=pks)

    def publish(row: WebhookUnqueued) -> bool:
        _queue((str(row.delivery_id), row.command, row.body, row.platform, row.client_ip))
        return True

    return outbox.sweep(rows, publish, limit=limit, what="webhook tasks",
                        grace=None if pks is not None
                        else settings.CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS)


# Once the broker answers again, what was kept is queued at once (chat_project/broker.py).
broker.when_back(queue_unqueued_webhooks)
