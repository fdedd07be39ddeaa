"""The sweep of an outbox: queue again the tasks whose outbox row is still there.

Two outboxes keep tasks written in the transaction of their change until the task
starts (and deletes its row): after-callbacks (accounts.models.WebhookUnqueued, swept by
accounts/webhook_tasks.queue_unqueued_webhooks) and push tasks (push.models.PushUnqueued,
swept by push/tasks.queue_unqueued_pushes). Both rows have `created_at`, `refused` (the
broker would not take the task) and `queued_at` (when it was last queued by a sweep),
and both sweeps (every 30 s, and in each process whose broker breaker closes:
chat_project/broker.py), and the console's "Queue now" of each, run `sweep` here.

A run takes its rows in batches, oldest first, each in four steps:

1. claim: one short transaction selects the batch (SELECT ... FOR UPDATE SKIP LOCKED:
   rows another run holds are skipped, not waited for), marks it claimed (queued_at
   now, and `refused` still set, which a claim younger than CHAT_OUTBOX_CLAIM_SECONDS
   does not make due), and commits;
2. publish each row's task, outside any transaction (chat_project/broker.py: up to one
   publish timeout when the broker hangs, at once while its breaker is open), so no
   database connection and no row lock is held while the broker is called;
3. confirm: the rows whose task the broker took are marked not refused (one UPDATE):
   queued, due again only when their grace has run out with their task not started;
4. when the broker will not take one, mark it and the rest of the batch refused and not
   queued (one UPDATE) and end the run: the next run takes them at once.

A row claimed whose task never reaches the broker (the process dies in step 2) is due
again once its claim is CHAT_OUTBOX_CLAIM_SECONDS (30) old, not after the grace (300 s):
a claim not confirmed is a run that died, since a run stops publishing a batch once half
of that time has gone (a broker slow to answer) and hands the rest back (refused and
not queued: due at once). So a row is queued twice only when its task is slower to
start than its grace, or a run's confirmation is lost (the database failed just then).
Which rows are due is settled at the run's start: a row a run has claimed is not due
again in the same run (claimed or queued since), so a run ends (a batch handed back
after a slow publish is claimed again, but each batch publishes one task at least).

No app of the project is imported here (the models and tasks come as arguments).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from . import broker

log = logging.getLogger(__name__)


def sweep(rows: QuerySet, publish: Callable[[Model], bool], *, grace: float | None,
          limit: int = 1000, what: str = "tasks") -> int:
    """Queue the tasks of the due outbox rows among `rows`; return how many were queued.

    `publish(row)` queues the row's task through chat_project.broker.publish (raising
    one of broker.BROKER_ERRORS when the broker will not take it) and returns True, or
    returns False for a row that names no task it knows: the row is deleted.
    `grace`: rows are due when refused (unless a run claimed them less than
    CHAT_OUTBOX_CLAIM_SECONDS ago), or queued (or, never queued, written) more than
    `grace` seconds ago; None: every row of `rows` (the console's "Queue now")."""
    model = rows.model
    queued = 0
    handled: list[int] = []  # by this run (a row stays until its task starts)
    now = timezone.now()
    claim = settings.CHAT_OUTBOX_CLAIM_SECONDS
    if grace is None:
        due_rows = rows
    else:
        stale = now - timedelta(seconds=grace)
        due_rows = rows.filter(
            Q(refused=True, queued_at__isnull=True)
            | Q(refused=True, queued_at__lt=now - timedelta(seconds=claim))  # run died
            | Q(refused=False, queued_at__lt=stale)
            | Q(queued_at__isnull=True, created_at__lt=stale))
    while True:
        due = due_rows.exclude(pk__in=handled) if grace is None else due_rows
        with transaction.atomic():
            batch = list(due.select_for_update(skip_locked=True).order_by("pk")[:limit])
            if batch:
                model.objects.filter(pk__in=[r.pk for r in batch]).update(
                    queued_at=timezone.now(), refused=True)
        claimed_at = time.monotonic()
        published: list[int] = []
        dropped: list[int] = []
        refused = False
        back: list[int] = []  # handed back: the claim would soon look like a dead run's
        for i, row in enumerate(batch):
            if published and time.monotonic() - claimed_at > claim / 2:
                back = [r.pk for r in batch[i:]]
                log.warning("the broker is slow: %d %s handed back to the next run",
                            len(back), what)
                break
            try:
                if publish(row):
                    published.append(row.pk)
                else:
                    dropped.append(row.pk)
            except broker.BROKER_ERRORS:
                log.warning("the broker still refuses %s; %d queued", what,
                            queued + len(published), exc_info=True)
                back = [r.pk for r in batch[i:]]
                refused = True
                break
        if published:
            model.objects.filter(pk__in=published).update(refused=False)
            queued += len(published)
        if back:
            model.objects.filter(pk__in=back).update(refused=True, queued_at=None)
        if dropped:
            model.objects.filter(pk__in=dropped).delete()
        handled += published + dropped + (back if refused else [])
        if refused or (len(batch) < limit and not back):
            return queued
