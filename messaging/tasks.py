"""Celery tasks of messaging: the history purge (hourly), the upload sweep (hourly) and
batchsendmsg's fan-out. (messaging.upload_refs holds the sweep of the uploads a recall
or a deletion has just released, queued by those changes.)

Tasks are doors: they load what they are handed by id and call a service.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .selectors import history_cutoff
from .services import history_purge
from .upload_refs import uploads_reconcile, uploads_sweep

log = logging.getLogger(__name__)


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60)
def purge_history() -> int:
    deleted = history_purge(before=history_cutoff())
    log.info("purged %d messages older than %d days", deleted, settings.CHAT_HISTORY_DAYS)
    return deleted


# Idempotent (each batch checks again what it deletes), so simply tried again.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60)
def purge_uploads() -> int:
    """Delete the files of uploads nothing refers to: never sent within a day, or whose
    messages were purged with history or deleted with an account
    (messaging/upload_refs.py)."""
    uploads_reconcile()
    swept = uploads_sweep()
    log.info("deleted the files of %d uploads no message refers to", swept)
    return swept


# A retry is safe: the messages carry the batch's random, so one already written comes
# back as the stored message instead of a second copy (the pipeline's retry rule).
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=5)
def send_to_many(sender_pk: int, to: list[str], options: dict) -> int:
    """One chunk of a batchsendmsg (messaging.services.message_send_to_many): the same
    message from `sender_pk` to each UserID in `to`, committed together."""
    from accounts.models import User

    from .services import SendCommand, message_send_many

    sender = User.objects.filter(pk=sender_pk).first()
    if sender is None:
        return 0
    results = message_send_many([SendCommand(sender=sender, to=user_id, **options)
                                 for user_id in to])
    failed = [(u, r.code) for u, r in zip(to, results, strict=True) if not isinstance(r, dict)]
    if failed:
        log.warning("batch send from %s: %d of %d failed: %s", sender.user_id, len(failed),
                    len(to), failed[:10])
    return len(to) - len(failed)
