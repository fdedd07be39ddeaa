"""Once the broker is back, what its breaker kept is queued at once
(chat_project/broker.py: the prober checks the broker every cooldown while the breaker
is open, with or without publishes, and when the broker answers it runs the outboxes'
sweeps in its own thread), not by the next 30-second sweep.

Real servers (uvicorn) whose Celery broker is a redis-server of the test's own, killed
and started again on the same port; no beat, so nothing else sweeps."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import redis
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


def _send(base: str, text: str, random: int) -> None:
    request = urllib.request.Request(
        f"{base}/api/v1/messages/", method="POST",
        data=json.dumps({"to": "bob", "random": random, "elements": [
            {"type": "TIMTextElem", "payload": {"text": text}}]}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig alice:{gen_usersig('alice')}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status in (200, 201)
        response.read()


def _kept():
    from accounts.models import WebhookUnqueued
    from push.models import PushUnqueued
    return WebhookUnqueued.objects, PushUnqueued.objects


def test_a_send_kept_while_the_broker_was_down_arrives_soon_after_it_is_back_with_no_more_sends(
        webhook_receiver, make_user, tmp_path):
    """One send while the broker is down, then nothing: its callback and its push were
    kept (refused) and waited for the 30-second sweep, as the breaker stayed open until
    the process's next publish and closing it queued nothing. Now the server's prober
    sees the broker back within a cooldown (1 s here) and queues them."""
    make_user("alice")
    bob = make_user("bob")
    token = fcm_token(bob).token
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    hooks, pushes = _kept()
    broker = RedisServer().start()
    try:
        with fcm_and_worker(tmp_path, "recovery", CELERY_BROKER_URL=broker.url) as (fake, worker):
            proc, base = start_server(CELERY_BROKER_URL=broker.url,
                                      CELERY_TASK_DEFAULT_QUEUE=worker.queue,
                                      CELERY_TASK_ALWAYS_EAGER="0",
                                      CHAT_BROKER_COOLDOWN_SECONDS="1")
            try:
                broker.stop()
                _send(base, "while the broker is away", 1)
                assert hooks.filter(refused=True).count() == 1
                assert pushes.filter(refused=True).count() == 1
                time.sleep(2.5)  # a probe or two fail meanwhile
                broker.start()  # the same port, empty
                back = time.monotonic()
                wait_for(lambda: not hooks.filter(queued_at__isnull=True).exists()
                         and not pushes.filter(queued_at__isnull=True).exists(),
                         timeout=10, what="the kept tasks queued")
                queued_after = time.monotonic() - back
                print(f"queued {queued_after:.2f}s after the broker came back")
                # The worker reconnects on its own schedule (a few seconds).
                webhook_receiver.wait_for(1, timeout=30)
                wait_for(lambda: len(requests_to(fake, token)) == 1, what="the push")
            finally:
                stop_server(proc)
    finally:
        broker.stop()
    # A cooldown (1 s) until the next probe, then the sweeps in the prober's thread.
    assert queued_after < 1 + 2, queued_after
    assert not hooks.exists() and not pushes.exists()


def test_two_processes_that_see_the_broker_back_queue_each_kept_task_once(
        webhook_receiver, make_user):
    """Two servers keep tasks while the broker is down; both probes see it back at about
    the same time and both run the sweeps. A row is claimed by one run (SKIP LOCKED, then
    marked queued in the claim's transaction), so each task reaches the broker once. No
    worker: the broker's queue is counted."""
    make_user("alice")
    bob = make_user("bob")
    fcm_token(bob)
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    hooks, pushes = _kept()
    broker = RedisServer().start()
    queue = "parley-test-recovery"
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    servers = [start_server(CELERY_BROKER_URL=broker.url, CELERY_TASK_DEFAULT_QUEUE=queue,
                            CELERY_TASK_ALWAYS_EAGER="0", CHAT_BROKER_COOLDOWN_SECONDS="1")
               for _ in range(2)]
    per_server = 4
    try:
        broker.stop()
        for n in range(per_server):
            for i, (_, base) in enumerate(servers):
                _send(base, "while the broker is away", 10 * n + i + 1)
        kept = 2 * per_server
        assert hooks.filter(refused=True).count() == kept
        assert pushes.filter(refused=True).count() == kept
        broker.start()
        queued = redis.Redis.from_url(broker.url, socket_timeout=5)
        wait_for(lambda: queued.llen(prefix + queue) >= 2 * kept, timeout=10,
                 what="the kept tasks queued")
        time.sleep(3)  # a second copy of any would be queued by now
        messages = [json.loads(m) for m in queued.lrange(prefix + queue, 0, -1)]
    finally:
        for proc, _ in servers:
            stop_server(proc)
        broker.stop()
    assert len(messages) == 2 * kept, messages
    ids = [m["headers"]["id"] for m in messages]
    assert len(set(ids)) == len(ids)
    # Each row's task once: the webhooks by delivery id, the pushes by outbox row.
    argsrepr = [m["headers"]["argsrepr"] + m["headers"]["kwargsrepr"] for m in messages]
    for row in hooks.all():
        assert sum(str(row.delivery_id) in a for a in argsrepr) == 1, (row, argsrepr)
    for row in pushes.all():
        assert sum(f"'outbox': {row.pk}}}" in a for a in argsrepr) == 1, (row, argsrepr)
    assert not hooks.filter(refused=True).exists() and not pushes.filter(refused=True).exists()
