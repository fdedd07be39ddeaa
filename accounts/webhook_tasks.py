"""Celery tasks that call the app's server (after-callbacks): see accounts/webhooks.py.

`deliver_after` is queued by `webhooks.after()` once the transaction that caused the
event commits. It POSTs the callback, records the attempt (WebhookAttempt), and on a
failure (timeout, connection error, non-200, not JSON) retries up to
`WebhookConfig.retries` times, waiting `retry_backoff_seconds * 2**n` seconds before
retry n+1 (n = 0, 1, ...). The configuration is read when the task runs: turning the
callback off in admin stops pending retries.

Where tasks run in process (CELERY_TASK_ALWAYS_EAGER, the embedded default) the
retries follow at once, without the waits: the caller's thread must not sleep.

`purge_webhook_attempts` deletes attempt records older than CHAT_WEBHOOK_ATTEMPT_DAYS
(7 by default); it is idempotent and meant for a periodic schedule.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from . import webhooks

log = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver_after(self, delivery_id: str, command: str, body: dict, platform: str = "RESTAPI",
                  client_ip: str = "") -> str:
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
        return call.outcome

    retries = self.request.retries
    call = attempt(retries)
    if call.ok:
        return "ok"
    if retries < cfg.retries:
        countdown = cfg.retry_backoff_seconds * 2 ** retries
        log.info("%s webhook %s attempt %d failed (%s); retry in %ss", command, delivery_id,
                 retries + 1, call.error, countdown)
        raise self.retry(countdown=countdown)
    log.warning("%s webhook %s failed after %d attempts: %s", command, delivery_id,
                retries + 1, call.error)
    return call.outcome


@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60)
def purge_webhook_attempts() -> int:
    days = getattr(settings, "CHAT_WEBHOOK_ATTEMPT_DAYS", 7)
    deleted = webhooks.attempts_purge(before=timezone.now() - timedelta(days=days))
    log.info("purged %d webhook attempts older than %d days", deleted, days)
    return deleted
