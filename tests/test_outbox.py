"""The outbox sweeps (chat_project/outbox.py: accounts' queue_unqueued_webhooks, push's
queue_unqueued_pushes and the console's "Queue now" of each) call the broker with no
transaction open and no row locked: a broker that hangs (up to a publish timeout) holds
neither a database connection's transaction nor the rows' locks. The rows are claimed in
a short transaction first, and confirmed (or, those the broker would not take, marked
refused) after. The real broker (the tests' Redis, a queue of the test's own that no worker
reads); Celery's own before_task_publish signal looks at the database while the task is
being sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from accounts import webhooks
from accounts.models import WebhookUnqueued
from accounts.webhook_tasks import deliver_after, queue_unqueued_webhooks
from push.models import PushUnqueued
from push.tasks import push_deliver, queue_unqueued_pushes
from tests.conftest import ROOT, server_env
from tests.outbox_helpers import own_broker
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")]


def _webhook_rows(n: int) -> list[WebhookUnqueued]:
    return [WebhookUnqueued.objects.create(
        delivery_id=uuid.uuid4(), command=webhooks.AFTER_SEND, platform="Web",
        body={"MsgKey": f"k{i}"}, created_at=timezone.now(), refused=True)
        for i in range(n)]


def _push_rows(n: int) -> list[PushUnqueued]:
    return [PushUnqueued.objects.create(task=push_deliver.name, args=[[{"message_id": i}]],
                                        created_at=timezone.now(), refused=True)
            for i in range(n)]


SWEEPS = {
    "webhooks": (WebhookUnqueued, _webhook_rows, queue_unqueued_webhooks,
                 "CHAT_WEBHOOK_QUEUE"),
    "pushes": (PushUnqueued, _push_rows, queue_unqueued_pushes, "CHAT_PUSH_QUEUE"),
}


def _locked_elsewhere(model, pk: int) -> bool:
    """Whether another connection finds the row locked (FOR UPDATE NOWAIT fails)."""
    found = []

    def look():
        try:
            with transaction.atomic():
                list(model.objects.select_for_update(nowait=True).filter(pk=pk))
            found.append(False)
        except DatabaseError:
            found.append(True)
        finally:
            connections.close_all()  # this thread's own

    t = threading.Thread(target=look)
    t.start()
    t.join(timeout=30)
    return found[0]


@pytest.mark.parametrize("name", SWEEPS)
@pytest.mark.parametrize("console", [False, True], ids=["sweep", "queue-now"])
def test_the_broker_is_called_with_no_transaction_open_and_no_row_locked(
        name, console, settings):
    model, make_rows, sweep, queue_setting = SWEEPS[name]
    queue = f"outbox-test-{uuid.uuid4().hex[:8]}"
    setattr(settings, queue_setting, queue)
    rows = make_rows(3)
    seen = []

    def during_publish(sender=None, headers=None, **kwargs):
        pk = kwargs["body"][1]["outbox"] if name == "pushes" else \
            model.objects.get(delivery_id=kwargs["body"][0][0]).pk
        seen.append((pk, connection.in_atomic_block, _locked_elsewhere(model, pk)))

    before_task_publish.connect(during_publish, weak=False)
    try:
        queued = sweep(limit=2, pks=[r.pk for r in rows] if console else None)
    finally:
        before_task_publish.disconnect(during_publish)
        app = deliver_after.app
        prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(prefix + queue)
    assert queued == 3
    assert seen == [(r.pk, False, False) for r in rows]
    # Claimed before the broker was called, confirmed after: queued, no longer refused.
    assert model.objects.filter(refused=False, queued_at__isnull=False).count() == 3


@pytest.mark.parametrize("name", SWEEPS)
def test_rows_a_dead_sweep_claimed_are_queued_again_after_the_claim_not_the_grace(
        name, settings):
    """A sweep's process killed -9 while it publishes (its broker frozen: the first
    publish hangs) after it claimed its rows: they waited for their grace (300 s) before,
    marked queued as if the broker had their tasks. Now a claim not confirmed is due
    again CHAT_OUTBOX_CLAIM_SECONDS (3 s here) after it was made, and not before (the run
    might be alive and slow)."""
    model, make_rows, sweep, queue_setting = SWEEPS[name]
    settings.CHAT_OUTBOX_CLAIM_SECONDS = 3
    rows = make_rows(3)
    frozen = RedisServer().start()
    os.kill(frozen.proc.pid, signal.SIGSTOP)
    code = ("import django; django.setup(); "
            f"from {sweep.__module__} import {sweep.__name__} as sweep; sweep()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=server_env(
        CELERY_BROKER_URL=frozen.url, CELERY_TASK_ALWAYS_EAGER="0",
        CHAT_OUTBOX_CLAIM_SECONDS="3", DJANGO_SETTINGS_MODULE="chat_project.settings"))
    try:
        deadline = time.monotonic() + 30
        while model.objects.filter(queued_at__isnull=True).exists():
            assert time.monotonic() < deadline and proc.poll() is None, "never claimed"
            time.sleep(0.01)
        claimed = time.monotonic()
        proc.kill()  # in its first publish (up to REDIS_TIMEOUT, 2 s)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.kill(frozen.proc.pid, signal.SIGCONT)
        frozen.stop()
    with own_broker(settings, queue_setting) as (_, client, queue):
        assert sweep() == 0  # claimed a moment ago: not yet
        time.sleep(max(0.0, claimed + 3.2 - time.monotonic()))
        assert sweep() == 3  # the claim is 3 s old and was never confirmed
        assert client.llen(queue) == 3
    assert model.objects.filter(refused=False).count() == 3
    assert {r.pk for r in model.objects.all()} == {r.pk for r in rows}


@pytest.mark.parametrize("name", SWEEPS)
def test_a_slow_broker_makes_a_run_hand_back_rows_before_its_claim_runs_out(name, settings):
    """A run stops publishing a batch once half of CHAT_OUTBOX_CLAIM_SECONDS has gone and
    hands the rest back, so no other run takes rows it still means to publish as a dead
    run's: each task reaches the broker once. Each publish made slow (0.15 s) in Celery's
    before_task_publish signal; a claim of 0.4 s."""
    model, make_rows, sweep, queue_setting = SWEEPS[name]
    settings.CHAT_OUTBOX_CLAIM_SECONDS = 0.4
    make_rows(5)

    def slow(**kwargs):
        time.sleep(0.15)

    before_task_publish.connect(slow, weak=False)
    try:
        with own_broker(settings, queue_setting) as (_, client, queue):
            assert sweep() == 5
            assert client.llen(queue) == 5
    finally:
        before_task_publish.disconnect(slow)
    assert model.objects.filter(refused=False, queued_at__isnull=False).count() == 5
