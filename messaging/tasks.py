"""Celery tasks of messaging: the history purge (hourly) and batchsendmsg's fan-out
(push to all's is messaging/push_all.py).

Tasks are doors: they load what they are handed by id and call a service.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from accounts.models import User
from chat_project.task_rules import RETRY, task_transaction

from .persist import batch_receipts_purge
from .selectors import history_cutoff
from .services import SendCommand, history_purge, message_send_many

log = logging.getLogger(__name__)


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_history() -> int:
    cutoff = history_cutoff()
    deleted = history_purge(before=cutoff)
    batch_receipts_purge(before=cutoff)
    log.info("purged %d messages older than %d days", deleted, settings.CHAT_HISTORY_DAYS)
    return deleted


# Acknowledged late and retried on transient errors (chat_project/task_rules.py): a
# chunk is redone after a worker was lost before acknowledging it, or after a database
# or Redis error rolled it back. Each receiver's message is written and published once
# whatever the number of runs: the batch's receipts (persist.claim_batch_receipts) are
# committed with the messages. A chunk older than the history (CHAT_HISTORY_DAYS) is
# not written: its messages would be past retention, and its receipts purged.
@shared_task(ignore_result=True, **RETRY)
def send_to_many(sender_pk: int, to: list[str], options: dict, batch_id: str = "") -> int:
    """One chunk of a batchsendmsg (messaging.services.message_send_to_many): the same
    message from `sender_pk` to each UserID in `to`, committed together. Receivers
    refused on their own (unknown since, disabled) are logged, not retried."""
    sender = User.objects.filter(pk=sender_pk).first()
    if sender is None:
        return 0
    if options.get("time") and options["time"] < history_cutoff().timestamp():
        log.warning("batch %s from %s: %d receivers not sent, the batch is past the history"
                    " of %d days", batch_id, sender.user_id, len(to), settings.CHAT_HISTORY_DAYS)
        return 0
    commands = [SendCommand(sender=sender, to=user_id, batch_id=batch_id or None, **options)
                for user_id in to]
    with task_transaction():
        results = message_send_many(commands, contain_errors=False)
    failed = [(u, r.code) for u, r in zip(to, results, strict=True) if not isinstance(r, dict)]
    if failed:
        log.warning("batch %s from %s: %d of %d refused: %s", batch_id, sender.user_id,
                    len(failed), len(to), failed[:10])
    return len(to) - len(failed)
