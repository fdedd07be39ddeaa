"""Celery tasks of push, and the queueing around them: offline push delivery, retries,
withdrawals and the purge of old attempt records.

push/pipeline.py holds the work and never queues a task itself: the send pipeline
(messaging.persist) hands jobs to `queue_on_commit`, and messaging.changes its
withdrawals to `withdraw_on_commit`, `withdraw_message_on_commit` and
`withdraw_deleted_on_commit` here (and a modify's new text to `renote_on_commit`),
and the pipeline's functions that need a later run take the queueing function as an
argument (`on_retry`, `requeue`).

Nothing committed loses its offline push: `queue_on_commit` writes the send batch's
push jobs (those whose receiver has a push token) to the outbox, PushUnqueued, in the
send's transaction (one INSERT for the batch; nothing when no receiver has a token or
push is off), and an on_commit hook queues `push_deliver` with the row's id. The task
deletes its row in the transaction that makes its deliveries (a withdrawal's task: in
the one that marks its withdrawals owed). A row that stays is queued by
`queue_unqueued_pushes` (every 30 s, and as soon as a process's broker breaker sees the
broker back): at once when the broker would not take it after the commit (down, silent
past its timeouts, or failed less than CHAT_BROKER_COOLDOWN_SECONDS ago in this
process, when it is not tried at all: chat_project/broker.py; the hook marks it
`refused`, one UPDATE, only then), and CHAT_PUSH_OUTBOX_GRACE_SECONDS after it was
last queued when its task never started (or never made its deliveries, or marked its
withdrawals):
the process died between the commit and the queuing, the broker lost the task, or the
worker died running it. An offline push whose task never ran has no
delivery row yet, so the sweep of stale deliveries (`requeue_stale_pushes`) could not
find it; the outbox can. A task queued twice (one that was only slow) pushes once.

Withdrawals are kept the same way, in the change's transaction, only where there is
something to withdraw: a read whose conversation has a push not withdrawn (asked in the
statement that locks the conversation, selectors.open_deliveries_sql, after the read
has locked the dialog: a push task making deliveries holds it, so the read sees them
or the task sees the read, messaging/push_now.py), a recall or a
receiver's deletion of messages that have deliveries (one indexed query after their
locks). A process that dies between the change's commit and the queuing leaves the row
for the sweep. The withdrawal's task marks the delivered pushes' withdrawals owed
(`withdraw_wanted`, not `withdrawn`) and deletes its row in one transaction, then calls
the vendors, and marks each withdrawn after its answer (pipeline._withdraw_deliveries):
a worker killed before that commit leaves the row, one killed after leaves the
withdrawals owed, which the stale sweep (`requeue_stale_pushes`) queues again a
visibility timeout later. A withdrawal is sent at least once: twice when a run dies
between the vendor's answer and its commit, which shows nothing (the app, or the
service worker, closes the notification of that message ID, and the second finds none;
Android vendors other than FCM send nothing for a withdrawal).

All acknowledged late and retried on transient database and Redis errors
(chat_project/task_rules.py). Each is idempotent: a delivery is unique per (message,
user, device) and sent by the one run that claimed it (push/pipeline.py send_delivery).
"""

import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from chat_project import broker, outbox
from chat_project.task_rules import RETRY

from . import pipeline
from .models import PushDelivery, PushToken, PushUnqueued
from .pipeline import PushJob
from .providers.base import Notification

log = logging.getLogger(__name__)


# --- the tasks ------------------------------------------------------------------------------

@shared_task(ignore_result=True, **RETRY)
def push_deliver(jobs: list[dict], outbox: int | None = None) -> dict:
    """The offline pushes of one committed send batch (pipeline.PushJob as JSON).
    `outbox`: its PushUnqueued row (tasks queued before the outbox carry none), deleted
    in the transaction that makes the deliveries, not when the task starts: a worker
    killed in between (kill -9, a lost machine) left no row and no delivery, and only
    the broker's redelivery of the unacknowledged task (CELERY_TASK_ACKS_LATE, after
    CHAT_TASK_VISIBILITY_TIMEOUT, while Redis keeps its unacknowledged set) brought the
    push back. A copy of the task run again pushes nothing twice: each delivery is
    unique per (message, user, device) and sent by the run that claims it."""
    counts = pipeline.deliver_jobs(jobs, on_retry=queue_retry, on_busy=queue_recheck,
                                   on_made=lambda: _started(outbox))
    log.info("offline push: %s", counts)
    return counts


@shared_task(ignore_result=True, **RETRY)
def push_retry(delivery_pk: int, note: dict | None = None) -> str:
    """One delivery (or its owed withdrawal) again, after the vendor asked to retry
    (429, 5xx, a timeout), or queued again by the sweep. (`note`: what tasks queued before the note was kept on
    the delivery carried; unused.)"""
    return pipeline.send_delivery(delivery_pk, on_retry=queue_retry, on_busy=queue_recheck,
                                  check_quiet=True)


@shared_task(ignore_result=True, **RETRY)
def requeue_stale_pushes() -> int:
    """Every 30 s (django-celery-beat): deliveries the broker lost, and withdrawals a
    killed run owed, queued again."""
    return pipeline.requeue_stale(requeue=lambda pk: push_retry.apply_async((pk,), **_route()))


@shared_task(ignore_result=True, **RETRY)
def queue_unqueued_pushes(limit: int = 1000, pks: list[int] | None = None) -> int:
    """Every 30 s (django-celery-beat): queue the push tasks of the outbox whose task
    has not started (PushUnqueued): those the broker would not take after their commit,
    and those queued more than CHAT_PUSH_OUTBOX_GRACE_SECONDS ago; oldest first; return
    how many. A row stays until its task starts (a push_deliver's: until it has made its
    deliveries; it may be lost again); when the broker
    refuses again the rest wait for the next run. A task queued twice (a row's task that
    was only slow) pushes once: a delivery is unique per (message, user, device) and
    sent by the run that claims it. `pks`: those rows only, due or not (the console's
    "Queue now"). The rows are claimed in a short transaction and their tasks queued
    after it (chat_project/outbox.py)."""
    rows = PushUnqueued.objects.all() if pks is None else \
        PushUnqueued.objects.filter(pk__in=pks)

    def publish(row: PushUnqueued) -> bool:
        task = _KEPT_TASKS.get(row.task)
        if task is None:
            log.error("offline push: a kept task of unknown name %r dropped", row.task)
            return False
        broker.publish(task, tuple(row.args), {"outbox": row.pk}, **_route())
        return True

    return outbox.sweep(rows, publish, limit=limit, what="push tasks",
                        grace=None if pks is not None
                        else settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS)


# Once the broker answers again, what was kept is queued at once (chat_project/broker.py).
broker.when_back(queue_unqueued_pushes)


@shared_task(ignore_result=True, **RETRY)
def push_withdraw(user_pk: int, conversation_id: str, upto_seq: int,
                  outbox: int | None = None) -> int:
    """Withdraw the pushes of a conversation read up to `upto_seq`. (`outbox`, here and
    in the other withdrawals: its PushUnqueued row, deleted in the transaction that
    marks the deliveries' withdrawals owed, not as the task starts: a worker killed
    before that commit leaves the row for the sweep, one killed after leaves the
    withdrawals owed for the stale sweep, pipeline._withdraw_deliveries.)"""
    return pipeline.withdraw(user_pk, conversation_id, upto_seq, on_retry=queue_retry,
                             on_marked=lambda: _started(outbox))


@shared_task(ignore_result=True, **RETRY)
def push_withdraw_message(message_id: int, outbox: int | None = None) -> int:
    """Withdraw the pushes of a recalled (or deleted) message."""
    return pipeline.withdraw_message(message_id, on_retry=queue_retry,
                                     on_marked=lambda: _started(outbox))


@shared_task(ignore_result=True, **RETRY)
def push_withdraw_messages(message_ids: list[int], outbox: int | None = None) -> int:
    """Withdraw the pushes of messages their receiver deleted."""
    return pipeline.withdraw_messages(message_ids, on_retry=queue_retry,
                                      on_marked=lambda: _started(outbox))


@shared_task(ignore_result=True, **RETRY)
def purge_push_attempts() -> int:
    """Daily (django-celery-beat): attempts and deliveries past CHAT_PUSH_ATTEMPT_DAYS."""
    return pipeline.attempts_purge()


# --- after the send's commit ----------------------------------------------------------------

def queue_on_commit(jobs: list[PushJob], *, with_tokens: set[int] | None = None) -> int:
    """Keep the `jobs` whose receiver has a push token in the outbox (PushUnqueued, one
    row and one INSERT for them all) in the caller's transaction, and hand them to the
    delivery task when it commits; return how many. Push off, or no receiver with a
    token: nothing written, nothing queued. `with_tokens`: which of their receivers have
    a push token, when the caller's transaction has read it already
    (selectors.has_token_sql); None: read here, in the transaction (one query)."""
    if not jobs or not pipeline.enabled():
        return 0
    if with_tokens is None:
        with_tokens = set(PushToken.objects.filter(
            user_id__in={j.receiver_pk for j in jobs}).values_list("user_id", flat=True))
    todo = [j for j in jobs if j.receiver_pk in with_tokens]
    if not todo:
        return 0
    now = time.time()
    for job in todo:
        job.queued_at = job.queued_at or now
    _outbox_on_commit(push_deliver, ([j.as_json() for j in todo],))
    return len(todo)


def queue_retry(delivery_pk: int, countdown: float) -> None:
    """Queue one delivery's next try in `countdown` seconds (never raises: the sweep,
    requeue_stale_pushes, finds a delivery whose retry was not queued)."""
    try:
        broker.publish(push_retry, (delivery_pk,), countdown=countdown, **_route())
    except broker.BrokerUnavailable:
        log.info("offline push: the retry of delivery %s left to the sweep (the broker "
                 "failed a moment ago)", delivery_pk)
    except Exception:
        log.exception("offline push: queuing the retry of delivery %s failed", delivery_pk)


def queue_recheck(delivery_pk: int, countdown: float) -> None:
    """A delivery claimed by another run (perhaps a killed one): look again when the
    claim runs out. Not where tasks run in process: no run there outlives its caller."""
    if not push_retry.app.conf.task_always_eager:
        queue_retry(delivery_pk, min(countdown, settings.CHAT_TASK_RETRY_MAX_COUNTDOWN))


def withdraw_on_commit(*, user_pk: int, conversation_id: str, upto_seq: int) -> None:
    """In the read's transaction, when its conversation has pushes not withdrawn (the
    read's conversation statement says: selectors.open_deliveries_sql): withdraw
    those up to `upto_seq` after the commit (an outbox row, one INSERT)."""
    if pipeline.enabled():
        _outbox_on_commit(push_withdraw, (user_pk, conversation_id, upto_seq))


def withdraw_message_on_commit(*, message_id: int) -> None:
    """In a recall's transaction (or a deletion from both sides), after the message's
    lock: when it has deliveries (one indexed query), withdraw them after the commit (a
    retry still to be sent is not sent, a delivered one is withdrawn, the text they keep
    is blanked; an outbox row, one INSERT). A push task that has not made them yet
    waits for the recall's lock, then reads the message recalled and makes none."""
    if pipeline.enabled() and PushDelivery.objects.filter(message_id=message_id).exists():
        _outbox_on_commit(push_withdraw_message, (message_id,))


def renote_on_commit(*, message_id: int, note: Notification | None) -> None:
    """In a modify's transaction, after the message's lock: its deliveries still to be
    sent show `note` (pipeline.message_renote; None: withdrawn). A withdrawal that
    leaves owed (a push delivered while the modify took its lock) is sent after the
    commit by its delivery's task (push_retry: send_delivery sends a delivered one's
    owed withdrawal), never in the modify's transaction; a process that dies before
    queuing it, or a broker that will not take it, leaves it to the stale sweep
    (requeue_stale_pushes). A modify rolled back withdrew nothing and sends nothing."""
    for pk in pipeline.message_renote(message_id=message_id, note=note):
        transaction.on_commit(lambda pk=pk: _queue_owed(pk), robust=True)


def _queue_owed(delivery_pk: int) -> None:
    if push_retry.app.conf.task_always_eager:  # not in the modify's request
        _in_thread(push_retry, (delivery_pk,))
    else:
        queue_retry(delivery_pk, 0)


def withdraw_deleted_on_commit(*, message_ids: list[int]) -> None:
    """In the receiver's deletion of messages from its history (deleteMessage, or the
    operator's deletion from both sides), after their locks: as a recall, for them all
    (one query, and one row when any has deliveries)."""
    if pipeline.enabled() and message_ids and \
            PushDelivery.objects.filter(message_id__in=message_ids).exists():
        _outbox_on_commit(push_withdraw_messages, (list(message_ids),))


def _outbox_on_commit(task, args: tuple) -> PushUnqueued:
    """Keep `task` with `args` in the outbox in the caller's transaction, and queue it
    with the row's id when the transaction commits."""
    row = PushUnqueued.objects.create(task=task.name, args=list(args),
                                      created_at=timezone.now())
    # robust: nothing here may turn a committed change into an error.
    transaction.on_commit(lambda: _queue_or_mark(task, args, row.pk), robust=True)
    return row


def _queue_or_mark(task, args: tuple, outbox: int) -> None:
    """Queue the task of the outbox row `outbox`; when the broker will not take it, mark
    the row refused, for the sweep's next run (one UPDATE, only then)."""
    if task.app.conf.task_always_eager:
        # Embedded mode runs tasks in process: not in the sender's request, whose
        # answer would wait for the vendor.
        _in_thread(task, args, {"outbox": outbox})
        return
    try:
        broker.publish(task, args, {"outbox": outbox}, **_route())
    except broker.BROKER_ERRORS as exc:
        if isinstance(exc, broker.BrokerUnavailable):
            log.info("offline push: %s kept to queue again (the broker failed a moment "
                     "ago)", task.name)
        else:
            log.warning("offline push: the broker would not take %s; kept to queue again",
                        task.name, exc_info=True)
        PushUnqueued.objects.filter(pk=outbox).update(refused=True)


def _started(outbox: int | None) -> None:
    """A task queued from the outbox starts: its row has done its work."""
    if outbox is not None:
        PushUnqueued.objects.filter(pk=outbox).delete()


def _in_thread(task, args: tuple, kwargs: dict | None = None) -> None:
    def run():
        try:
            task.apply(args, kwargs)
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, daemon=True, name="parley-push").start()


# What queue_unqueued_pushes may queue (the tasks the outbox keeps), by name.
_KEPT_TASKS = {t.name: t for t in (push_deliver, push_withdraw, push_withdraw_message,
                                   push_withdraw_messages)}


def _route() -> dict:
    queue = getattr(settings, "CHAT_PUSH_QUEUE", "")
    return {"queue": queue} if queue else {}
