"""Celery tasks of push: offline push delivery, retries, withdrawals and the purge of
old attempt records (push/pipeline.py holds the work; tasks are doors).

All acknowledged late and retried on transient database and Redis errors
(chat_project/task_rules.py). Each is idempotent: a delivery is unique per (message,
user, device) and sent only while pending, under its row lock.
"""

import logging

from celery import shared_task

from chat_project.task_rules import RETRY

from . import pipeline

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, **RETRY)
def push_deliver(jobs: list[dict]) -> dict:
    """The offline pushes of one committed send batch (pipeline.PushJob as JSON)."""
    counts = pipeline.deliver_jobs(jobs)
    log.info("offline push: %s", counts)
    return counts


@shared_task(ignore_result=True, **RETRY)
def push_retry(delivery_pk: int, note: dict) -> str:
    """One delivery again, after the vendor asked to retry (429, 5xx, a timeout)."""
    return pipeline.send_delivery(delivery_pk, note)


@shared_task(ignore_result=True, **RETRY)
def push_withdraw(user_pk: int, conversation_id: str, upto_seq: int) -> int:
    """Withdraw the pushes of a conversation read up to `upto_seq`."""
    return pipeline.withdraw(user_pk, conversation_id, upto_seq)


@shared_task(ignore_result=True, **RETRY)
def purge_push_attempts() -> int:
    """Daily (django-celery-beat): attempts and deliveries past CHAT_PUSH_ATTEMPT_DAYS."""
    return pipeline.attempts_purge()
