"""Scheduled work on messages: history is kept CHAT_HISTORY_DAYS days."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .selectors import history_cutoff
from .services import history_purge

log = logging.getLogger(__name__)


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60)
def purge_history() -> int:
    deleted = history_purge(before=history_cutoff())
    log.info("purged %d messages older than %d days", deleted, settings.CHAT_HISTORY_DAYS)
    return deleted
