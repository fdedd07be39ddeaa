"""Celery tasks of messaging: the history purge (hourly), the upload sweep (hourly) and
batchsendmsg's fan-out (push to all's is messaging/push_all.py). (messaging.upload_refs
holds the sweep of the uploads a recall or a deletion has just released, queued by
those changes.)

Tasks are doors: they load what they are handed by id and call a service.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from accounts.models import User
from chat_project import broker
from chat_project.task_rules import RETRY, task_transaction
from push.models import BroadcastTask

from .commands import Origin, SendCommand
from .merged import merged_reconcile, merged_sweep
from .models import BatchChunk
from .persist import batch_receipts_purge
from .push_all import queue_broadcast, run_broadcast
from .selectors import history_cutoff
from .services import history_purge, message_send_many
from .upload_refs import uploads_reconcile, uploads_sweep

log = logging.getLogger(__name__)


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_history() -> int:
    cutoff = history_cutoff()
    deleted = history_purge(before=cutoff)
    merged_sweep()  # the merged lists only purged messages referred to
    batch_receipts_purge(before=cutoff)
    BatchChunk.objects.filter(created_at__lt=cutoff).delete()
    log.info("purged %d messages older than %d days", deleted, settings.CHAT_HISTORY_DAYS)
    return deleted


# Idempotent (each batch checks again what it deletes), so simply tried again.
@shared_task(ignore_result=True, **RETRY)
def purge_uploads() -> int:
    """Delete the files of uploads nothing refers to: never sent within a day, or whose
    messages were purged with history or deleted with an account
    (messaging/upload_refs.py)."""
    uploads_reconcile()
    swept = uploads_sweep()
    merged_reconcile()  # merged lists an account's deletion left without a reference
    merged_sweep()  # and those a purge cut short left behind
    log.info("deleted the files of %d uploads no message refers to", swept)
    return swept


# Acknowledged late and retried on transient errors (chat_project/task_rules.py): a
# chunk is redone after a worker was lost before acknowledging it, or after a database
# or Redis error rolled it back. Each receiver's message is written and published once
# whatever the number of runs: the batch's receipts (persist.claim_batch_receipts) are
# committed with the messages. A chunk older than the history (CHAT_HISTORY_DAYS) is
# not written: its messages would be past retention, and its receipts purged.
@shared_task(ignore_result=True, **RETRY)
def send_to_many(sender_pk: int, to: list[str], options: dict, batch_id: str = "",
                 chunk_id: int | None = None) -> int:
    """One chunk of a batchsendmsg (messaging.batch_send.message_send_to_many): the same
    message from `sender_pk` to each UserID in `to`, committed together, with its
    BatchChunk `chunk_id` marked done. Receivers refused on their own (unknown since,
    disabled) are logged, not retried."""
    if chunk_id is not None and BatchChunk.objects.filter(
            pk=chunk_id, done_at__isnull=False).exists():
        return 0  # a copy of a chunk done already: nothing to look at
    sender = User.objects.filter(pk=sender_pk).first()
    if sender is None:  # deleted since: nothing to send, nothing to queue again
        _chunk_done(chunk_id)
        return 0
    if options.get("time") and options["time"] < history_cutoff().timestamp():
        log.warning("batch %s from %s: %d receivers not sent, the batch is past the history"
                    " of %d days", batch_id, sender.user_id, len(to), settings.CHAT_HISTORY_DAYS)
        _chunk_done(chunk_id)
        return 0
    # A chunk queued before origins existed carries the rules it had as flags; a batch's
    # rules are Origin.BATCH's now.
    options = {k: v for k, v in options.items()
               if k not in ("run_webhooks", "skip_relationship_checks", "check_mute")}
    # A batch of system notices (the console's) is sent as Origin.SYSTEM; any other, or
    # anything unexpected, as a batch.
    origin = Origin.SYSTEM if options.pop("origin", None) == Origin.SYSTEM.value \
        else Origin.BATCH
    commands = [SendCommand(origin=origin, sender=sender, to=user_id,
                            batch_id=batch_id or None, **options) for user_id in to]
    with task_transaction():
        results = message_send_many(commands, contain_errors=False)
        _chunk_done(chunk_id)
    failed = [(u, r.code) for u, r in zip(to, results, strict=True) if not isinstance(r, dict)]
    if failed:
        log.warning("batch %s from %s: %d of %d refused: %s", batch_id, sender.user_id,
                    len(failed), len(to), failed[:10])
    return len(to) - len(failed)


def _chunk_done(chunk_id: int | None) -> None:
    if chunk_id is not None:
        BatchChunk.objects.filter(pk=chunk_id).update(done_at=timezone.now())


def queue_batch_chunk(chunk: BatchChunk) -> None:
    """Queue a chunk (after the commit that kept it). When the broker will not take it
    the chunk stays in BatchChunk, not done, and `requeue_lost_tasks` queues it a
    visibility timeout later: the batch that answered OK is sent all the same."""
    try:
        broker.publish(send_to_many, (chunk.sender_id, chunk.receivers, chunk.options),
                       {"batch_id": str(chunk.batch_id), "chunk_id": chunk.pk})
    except broker.BROKER_ERRORS as exc:
        log.warning("batch %s chunk %s not queued (%s): the sweep of lost tasks queues "
                    "it later", chunk.batch_id, chunk.pk, exc)


# The broker can lose a task outright: kombu's Redis transport takes a task off the
# queue (BRPOP) before it records it as unacknowledged, so a worker killed in between
# loses it (bench/batch_faults.py saw it), and a Redis restarted without persistence
# loses every queued one. What the database says is not done, long after it was queued,
# while the queue is empty (so it is not merely waiting its turn), is queued again.
# A copy that was not lost after all is harmless: both tasks are idempotent.
@shared_task(ignore_result=True, **RETRY)
def requeue_lost_tasks() -> int:
    """Every 30 s (django-celery-beat): batch chunks not done and pushes to all not
    ended, queued more than CHAT_TASK_VISIBILITY_TIMEOUT seconds ago."""
    if _queue_length(send_to_many) or _queue_length(run_broadcast):
        return 0
    before = timezone.now() - timedelta(seconds=settings.CHAT_TASK_VISIBILITY_TIMEOUT)
    requeued = 0
    with transaction.atomic():
        chunks = list(BatchChunk.objects.select_for_update(skip_locked=True).filter(
            done_at__isnull=True, queued_at__lt=before,
            created_at__gte=history_cutoff()).order_by("queued_at")[:1000])
        BatchChunk.objects.filter(pk__in=[c.pk for c in chunks]).update(
            queued_at=timezone.now())
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: queue_batch_chunk(chunk))
        requeued += len(chunks)
        pushes = list(BroadcastTask.objects.filter(
            state__in=(BroadcastTask.State.QUEUED, BroadcastTask.State.RUNNING),
            created__lt=before).values_list("pk", flat=True))
        for pk in pushes:
            transaction.on_commit(lambda pk=pk: queue_broadcast(pk))
        requeued += len(pushes)
    if requeued:
        log.warning("queued again %d batch chunks and %d pushes the broker lost",
                    len(chunks), len(pushes))
    return requeued


def _queue_length(task) -> int:
    """Tasks waiting in the Redis queue `task` goes to (0 where tasks run in process)."""
    app = task.app
    if app.conf.task_always_eager or not app.conf.broker_url.startswith("redis"):
        return 0
    queue = app.amqp.router.route({}, task.name)["queue"].name
    with app.connection_for_read() as conn:
        return conn.default_channel.client.llen(queue)
