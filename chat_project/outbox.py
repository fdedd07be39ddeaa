"""The sweep of an outbox: queue again the tasks whose outbox row is still there.

Two outboxes keep tasks written in the transaction of their change until the task
starts (and deletes its row): after-callbacks (accounts.models.WebhookUnqueued, swept by
accounts/webhook_tasks.queue_unqueued_webhooks) and push tasks (push.models.PushUnqueued,
swept by push/tasks.queue_unqueued_pushes). Both rows have `created_at`, `refused` (the
broker would not take the task) and `queued_at` (when it was last queued by a sweep),
and both sweeps (every 30 s, and in each process whose broker breaker closes:
chat_project/broker.py), and the console's "Queue now" of each, run `sweep` here.

A run takes its rows in batches, oldest first, each in three steps:

1. claim: one short transaction selects the batch (SELECT ... FOR UPDATE SKIP LOCKED:
   rows another run holds are skipped, not waited for), marks it queued now and not
   refused, and commits;
2. publish each row's task, outside any transaction (chat_project/broker.py: up to one
   publish timeout when the broker hangs, at once while its breaker is open), so no
   database connection and no row lock is held while the broker is called;
3. when the broker will not take one, mark it and the rest of the batch refused again
   (one UPDATE) and end the run: the next run takes them at once.

A row claimed whose task never reaches the broker (the process dies in step 2) is due
again when its grace has run out since the claim, as a task the broker lost. Which rows
are due is settled at the run's start: a row a run has claimed is not due again in the
same run (queued since), so a run ends.

No app of the project is imported here (the models and tasks come as arguments).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

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
    `grace`: rows are due when refused, or queued (or, never queued, written) more than
    `grace` seconds ago; None: every row of `rows` (the console's "Queue now")."""
    model = rows.model
    queued = 0
    claimed: list[int] = []  # by this run (a row stays until its task starts)
    if grace is None:
        due_rows = rows
    else:
        stale = timezone.now() - timedelta(seconds=grace)
        due_rows = rows.filter(Q(refused=True) | Q(queued_at__lt=stale)
                               | Q(queued_at__isnull=True, created_at__lt=stale))
    while True:
        due = due_rows.exclude(pk__in=claimed) if grace is None else due_rows
        with transaction.atomic():
            batch = list(due.select_for_update(skip_locked=True).order_by("pk")[:limit])
            if batch:
                model.objects.filter(pk__in=[r.pk for r in batch]).update(
                    queued_at=timezone.now(), refused=False)
        claimed += [r.pk for r in batch]
        dropped: list[int] = []
        refused = False
        for i, row in enumerate(batch):
            try:
                if publish(row):
                    queued += 1
                else:
                    dropped.append(row.pk)
            except broker.BROKER_ERRORS:
                log.warning("the broker still refuses %s; %d queued", what, queued,
                            exc_info=True)
                model.objects.filter(pk__in=[r.pk for r in batch[i:]]).update(refused=True)
                refused = True
                break
        if dropped:
            model.objects.filter(pk__in=dropped).delete()
        if refused or len(batch) < limit:
            return queued
