"""Celery tasks of push, and the queueing around them: offline push delivery, retries,
withdrawals and the purge of old attempt records.

push/pipeline.py holds the work and never queues a task itself: the send pipeline
(messaging.persist, messaging.changes) hands jobs to `queue_on_commit` and
`withdraw_on_commit` here, and the pipeline's functions that need a later run take the
queueing function as an argument (`on_retry`, `requeue`).

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

from chat_project.task_rules import RETRY

from . import pipeline
from .models import PushToken
from .pipeline import PushJob

log = logging.getLogger(__name__)


# --- the tasks ------------------------------------------------------------------------------

@shared_task(ignore_result=True, **RETRY)
def push_deliver(jobs: list[dict]) -> dict:
    """The offline pushes of one committed send batch (pipeline.PushJob as JSON)."""
    counts = pipeline.deliver_jobs(jobs, on_retry=queue_retry, on_busy=queue_recheck)
    log.info("offline push: %s", counts)
    return counts


@shared_task(ignore_result=True, **RETRY)
def push_retry(delivery_pk: int, note: dict | None = None) -> str:
    """One delivery again, after the vendor asked to retry (429, 5xx, a timeout), or
    queued again by the sweep. (`note`: what tasks queued before the note was kept on
    the delivery carried; unused.)"""
    return pipeline.send_delivery(delivery_pk, on_retry=queue_retry, on_busy=queue_recheck,
                                  check_quiet=True)


@shared_task(ignore_result=True, **RETRY)
def requeue_stale_pushes() -> int:
    """Every 30 s (django-celery-beat): deliveries the broker lost, queued again."""
    return pipeline.requeue_stale(requeue=lambda pk: push_retry.apply_async((pk,), **_route()))


@shared_task(ignore_result=True, **RETRY)
def push_withdraw(user_pk: int, conversation_id: str, upto_seq: int) -> int:
    """Withdraw the pushes of a conversation read up to `upto_seq`."""
    return pipeline.withdraw(user_pk, conversation_id, upto_seq)


@shared_task(ignore_result=True, **RETRY)
def push_withdraw_message(message_id: int) -> int:
    """Withdraw the pushes of a recalled (or deleted) message."""
    return pipeline.withdraw_message(message_id)


@shared_task(ignore_result=True, **RETRY)
def push_withdraw_messages(message_ids: list[int]) -> int:
    """Withdraw the pushes of messages their receiver deleted."""
    return pipeline.withdraw_messages(message_ids)


@shared_task(ignore_result=True, **RETRY)
def purge_push_attempts() -> int:
    """Daily (django-celery-beat): attempts and deliveries past CHAT_PUSH_ATTEMPT_DAYS."""
    return pipeline.attempts_purge()


# --- after the send's commit ----------------------------------------------------------------

def queue_on_commit(jobs: list[PushJob], *, with_tokens: set[int] | None = None) -> None:
    """Hand `jobs` to the delivery task after the caller's transaction commits.
    `with_tokens`: which of their receivers have a push token, when the caller's
    transaction has read it already (selectors.has_token_sql); None: read after the commit."""
    if jobs and pipeline.enabled():
        transaction.on_commit(lambda: queue_now(jobs, with_tokens=with_tokens))


def queue_now(jobs: list[PushJob], *, with_tokens: set[int] | None = None) -> int:
    """Queue the jobs whose receiver has a push token (`with_tokens` when given, else one
    query); return how many. Never raises: a failure here must not fail a send that has
    committed (it is logged)."""
    try:
        if with_tokens is None:
            with_tokens = set(PushToken.objects.filter(
                user_id__in={j.receiver_pk for j in jobs}).values_list("user_id", flat=True))
        todo = [j for j in jobs if j.receiver_pk in with_tokens]
        if not todo:
            return 0
        now = time.time()
        for job in todo:
            job.queued_at = job.queued_at or now
        _queue(push_deliver, ([j.as_json() for j in todo],))
        return len(todo)
    except Exception:
        log.exception("offline push: queuing %d jobs failed", len(jobs))
        return 0


def queue_retry(delivery_pk: int, countdown: float) -> None:
    """Queue one delivery's next try in `countdown` seconds (never raises: the sweep,
    requeue_stale_pushes, finds a delivery whose retry was not queued)."""
    try:
        push_retry.apply_async((delivery_pk,), countdown=countdown, **_route())
    except Exception:
        log.exception("offline push: queuing the retry of delivery %s failed", delivery_pk)


def queue_recheck(delivery_pk: int, countdown: float) -> None:
    """A delivery claimed by another run (perhaps a killed one): look again when the
    claim runs out. Not where tasks run in process: no run there outlives its caller."""
    if not push_retry.app.conf.task_always_eager:
        queue_retry(delivery_pk, min(countdown, settings.CHAT_TASK_RETRY_MAX_COUNTDOWN))


def withdraw_on_commit(*, user_pk: int, conversation_id: str, upto_seq: int) -> None:
    """After the read commits: withdraw the pushes of the conversation up to `upto_seq`."""
    if pipeline.enabled():
        transaction.on_commit(lambda: _withdraw_queue(user_pk, conversation_id, upto_seq))


def withdraw_message_on_commit(*, message_id: int, message_key: str, receiver_pk: int,
                               conversation_id: str, dialog_seq: int) -> None:
    """After a recall (or a deletion from both sides) commits: withdraw the message's
    pushes (those still to be retried are not sent, delivered ones are withdrawn), and
    a push task of the message that has not run yet finds them withdrawn."""
    if pipeline.enabled():
        transaction.on_commit(lambda: _withdraw_message_queue(
            message_id, message_key, receiver_pk, conversation_id, dialog_seq))


def withdraw_deleted_on_commit(*, receiver_pk: int, conversation_id: str,
                               messages: list[tuple[int, str, int]]) -> None:
    """After the receiver deleted messages (id, key, dialog seq) of one conversation from
    its history commits (deleteMessage, or the operator's deletion from both sides):
    none is pushed any more, as after a recall (a retry waiting is not sent, a shown
    notification is withdrawn, a push task that has not run finds them withdrawn)."""
    if pipeline.enabled() and messages:
        transaction.on_commit(lambda: _withdraw_deleted_queue(
            receiver_pk, conversation_id, messages))


def _withdraw_deleted_queue(receiver_pk: int, conversation_id: str,
                            messages: list[tuple[int, str, int]]) -> None:
    try:
        if pipeline.withdraw_unsent_many(receiver_pk=receiver_pk,
                                         conversation_id=conversation_id, messages=messages):
            _queue(push_withdraw_messages, ([m[0] for m in messages],))
    except Exception:
        log.exception("offline push: queuing a withdrawal failed")


def _withdraw_message_queue(message_id: int, message_key: str, receiver_pk: int,
                            conversation_id: str, dialog_seq: int) -> None:
    try:
        tokens = pipeline.withdraw_unsent(
            message_id=message_id, message_key=message_key, receiver_pk=receiver_pk,
            conversation_id=conversation_id, dialog_seq=dialog_seq)
        if tokens:  # deliveries to withdraw, or at least a kept text to blank
            _queue(push_withdraw_message, (message_id,))
    except Exception:
        log.exception("offline push: queuing a withdrawal failed")


def _withdraw_queue(user_pk: int, conversation_id: str, upto_seq: int) -> None:
    try:
        if pipeline.open_deliveries(user_pk, conversation_id, upto_seq).exists():
            _queue(push_withdraw, (user_pk, conversation_id, upto_seq))
    except Exception:
        log.exception("offline push: queuing a withdrawal failed")


def _queue(task, args: tuple) -> None:
    if task.app.conf.task_always_eager:
        # Embedded mode runs tasks in process: not in the sender's request, whose
        # answer would wait for the vendor.
        _in_thread(task, args)
    else:
        task.apply_async(args, **_route())


def _in_thread(task, args: tuple) -> None:
    def run():
        try:
            task.apply(args)
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, daemon=True, name="parley-push").start()


def _route() -> dict:
    queue = getattr(settings, "CHAT_PUSH_QUEUE", "")
    return {"queue": queue} if queue else {}
