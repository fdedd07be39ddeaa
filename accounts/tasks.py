"""Scheduled work on the sync log: the offline cache keeps entries CHAT_OFFLINE_CACHE_DAYS
(7 by default)."""

import logging

from celery import shared_task
from django.db import OperationalError

from .selectors import offline_cache_cutoff
from .services import sync_log_purge

log = logging.getLogger(__name__)


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60)
def purge_sync_log() -> int:
    cutoff = offline_cache_cutoff()
    deleted = sync_log_purge(before=cutoff)
    log.info("purged %d sync-log entries created before %s", deleted, cutoff.isoformat())
    return deleted
