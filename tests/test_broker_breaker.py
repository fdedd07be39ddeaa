"""A frozen broker does not stall every send (chat_project/broker.py): the first task
that the broker will not take opens a breaker, and until it has cooled down tasks go
straight to their fallbacks (WebhookUnqueued, PushUnqueued) without waiting out the
broker's timeouts in the send's thread, which is every send's thread in the process.
Once the broker is back the sweeps queue what was kept: every callback and every push
arrives once.

A real server (uvicorn) whose Celery broker is a Redis of the test's own, frozen with
SIGSTOP (connections hang rather than being refused) and resumed with SIGCONT; a real
worker on that broker, calling a local HTTP receiver (the app's webhook) and a fake FCM."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import urllib.request

import pytest
from django.conf import settings

from accounts import webhooks
from accounts.usersig import gen_usersig
from tests import webhook_receiver as receiver
from tests.conftest import start_server, stop_server
from tests.push.pipeline_helpers import fcm_and_worker, fcm_token, requests_to, wait_for
from tests.redis_server import RedisServer
from tests.webhook_receiver import use_webhooks

webhook_receiver = receiver.webhook_receiver  # the fixture

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")]

SENDS = 5


def _send(base: str, text: str, random: int) -> float:
    request = urllib.request.Request(
        f"{base}/api/v1/messages/", method="POST",
        data=json.dumps({"to": "bob", "random": random, "elements": [
            {"type": "TIMTextElem", "payload": {"text": text}}]}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig alice:{gen_usersig('alice')}"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status in (200, 201)
        response.read()
    return time.monotonic() - started


def test_a_frozen_broker_costs_one_publish_timeout_then_sends_go_fast_and_nothing_is_lost(
        webhook_receiver, make_user, tmp_path):
    from accounts.models import WebhookUnqueued
    from accounts.webhook_tasks import deliver_after, queue_unqueued_webhooks

    make_user("alice")
    bob = make_user("bob")
    token = fcm_token(bob).token
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    broker = RedisServer().start()
    app = deliver_after.app
    try:
        with fcm_and_worker(tmp_path, "breaker", CELERY_BROKER_URL=broker.url) as (fake, worker):
            proc, base = start_server(CELERY_BROKER_URL=broker.url,
                                      CELERY_TASK_DEFAULT_QUEUE=worker.queue,
                                      CELERY_TASK_ALWAYS_EAGER="0")
            try:
                # The broker up: the callback and the push go through it.
                _send(base, "before", 1)
                webhook_receiver.wait_for(1, timeout=30)
                wait_for(lambda: len(requests_to(fake, token)) == 1, what="the first push")

                os.kill(broker.proc.pid, signal.SIGSTOP)
                try:
                    took = [_send(base, f"frozen {n}", 2 + n) for n in range(SENDS)]
                finally:
                    os.kill(broker.proc.pid, signal.SIGCONT)
                print("seconds per send with the broker frozen:",
                      [round(t, 2) for t in took])
            finally:
                stop_server(proc)
            # The first send waits out one publish (one REDIS_TIMEOUT of 2 s, no
            # retries); the rest do not touch the broker.
            assert took[0] < 3, took
            assert all(t < 0.5 for t in took[1:]), took

            from push.models import PushUnqueued
            from push.tasks import queue_unqueued_pushes
            assert WebhookUnqueued.objects.count() == SENDS
            # Each push's outbox row, marked refused by its hook. The first frozen
            # send's publish timed out in the server, but its command was already in
            # the broker's socket: the thawed broker queued it and the worker may have
            # started the task, which took its row (the push arrives once all the same).
            assert PushUnqueued.objects.filter(refused=True).count() in (SENDS - 1, SENDS)
            assert not PushUnqueued.objects.filter(refused=False).exists()
            # The sweeps (beat runs them every 30 s) on a worker of the thawed broker.
            worker.check(time.monotonic() + 1)
            with app.connection_for_write(broker.url) as conn:
                queue_unqueued_webhooks.apply_async(queue=worker.queue, connection=conn)
                queue_unqueued_pushes.apply_async(queue=worker.queue, connection=conn)
            calls = webhook_receiver.wait_for(1 + SENDS, timeout=60)
            wait_for(lambda: len(requests_to(fake, token)) >= 1 + SENDS, timeout=60,
                     what="the kept pushes")
            time.sleep(3)  # a second copy of any would arrive by now
    finally:
        broker.stop()
    keys = [c.body["MsgKey"] for c in webhook_receiver.requests]
    assert len(keys) == len(set(keys)) == 1 + SENDS, calls
    pushed = requests_to(fake, token)
    assert len(pushed) == 1 + SENDS, pushed
    assert not WebhookUnqueued.objects.exists() and not PushUnqueued.objects.exists()


def test_with_the_broker_frozen_no_send_pays_a_probe_and_queuing_resumes_once_it_is_back(
        webhook_receiver, make_user):
    """After each cooldown the breaker checked the broker with the next caller's
    publish: with the broker frozen, one send per cooldown waited a publish timeout
    (2 s), in the thread every send of the process shares. Now a thread of the process
    checks it and every send fails fast; once the broker answers, sends queue again.
    Cooldown 1 s; no worker: the tasks stay in the broker's queue, the rows in the outbox
    (refused when the breaker was open, not when the task was queued)."""
    import redis

    from accounts.models import WebhookUnqueued

    make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    broker = RedisServer().start()
    queue = "parley-test-probe"
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    queued = redis.Redis.from_url(broker.url, socket_timeout=5)
    try:
        proc, base = start_server(CELERY_BROKER_URL=broker.url, CELERY_TASK_DEFAULT_QUEUE=queue,
                                  CELERY_TASK_ALWAYS_EAGER="0",
                                  CHAT_BROKER_COOLDOWN_SECONDS="1")
        try:
            _send(base, "before", 1)
            assert queued.llen(prefix + queue) == 1
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                took = []
                started = time.monotonic()
                while time.monotonic() - started < 7:  # the first send, then two probes
                    took.append(_send(base, "frozen", 2 + len(took)))
                    time.sleep(0.1)
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            print("seconds per send with the broker frozen:", [round(t, 2) for t in took])
            assert took[0] < 3, took  # the publish that opened the breaker
            assert all(t < 1 for t in took[1:]), took
            assert WebhookUnqueued.objects.filter(refused=True).count() == len(took)

            # Thawed: within a cooldown and a probe, a send's task is queued again.
            # (A random of its own each time: the same one again would be a retry,
            # answered with the first message and no new row.)
            deadline = time.monotonic() + 1 + 3 + 2
            for attempt in itertools.count(100):
                _send(base, "thawed", attempt)
                row = WebhookUnqueued.objects.order_by("-pk").first()
                if not row.refused:
                    break
                assert time.monotonic() < deadline, "queuing never resumed"
                time.sleep(0.2)
        finally:
            stop_server(proc)
        keys = [json.loads(m) for m in queued.lrange(prefix + queue, 0, -1)]
        assert row.body["MsgKey"] in json.dumps(keys[0]) or any(
            str(row.delivery_id) in json.dumps(k) for k in keys), keys
    finally:
        broker.stop()
