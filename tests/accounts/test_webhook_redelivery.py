"""After-callbacks with late acknowledgement (accounts/webhook_tasks.py): a copy of a
delivery that the broker hands out again makes no second call, and a retry wait longer
than the broker's visibility timeout is made of short hops instead of being handed out
twice. Real worker, real broker (a key prefix of the test's own, a 4 s visibility
timeout, so waits over 2 s hop), real HTTP receiver."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings

from accounts import webhooks
from accounts.models import WebhookAttempt
from accounts.webhook_tasks import deliver_after
from tests import webhook_receiver as receiver
from tests.celery_worker import celery_worker
from tests.webhook_receiver import Reply, use_webhooks

webhook_receiver = receiver.webhook_receiver  # the fixture

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")]

BODY = {"From_Account": "alice", "To_Account": "bob", "MsgKey": "k", "SendMsgResult": 0,
        "ErrorInfo": "send msg succeed", "UnreadMsgNum": 1}


def test_a_redelivered_copy_calls_once_and_a_long_wait_is_not_handed_out_twice(
        webhook_receiver, tmp_path):
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND], retries=1,
                 retry_backoff_seconds=6, timeout_ms=500)
    webhook_receiver.script(Reply.http(500))  # the first call fails, the next succeeds
    app = deliver_after.app
    with celery_worker(app, tmp_path, "hook-hops", CHAT_TASK_VISIBILITY_TIMEOUT="4",
                       CELERY_BROKER_KEY_PREFIX=f"parley-test-hooks-{uuid.uuid4().hex[:8]}."
                       ) as worker:
        worker.wait_ready()

        def send(delivery_id: str) -> None:
            with app.connection_for_write(transport_options=worker.transport_options) as conn:
                deliver_after.apply_async((delivery_id, webhooks.AFTER_SEND, BODY),
                                          queue=worker.queue, connection=conn)

        # A wait of 6 s with a 4 s visibility timeout: one retry, not a copy per restore.
        long_wait = str(uuid.uuid4())
        send(long_wait)
        deadline = time.monotonic() + 40
        while not WebhookAttempt.objects.filter(delivery_id=long_wait, outcome="ok").exists():
            worker.check(deadline)
            time.sleep(0.2)
        time.sleep(8)  # a copy restored from the broker would call by now
        assert [(a.attempt, a.outcome) for a in WebhookAttempt.objects.filter(
            delivery_id=long_wait).order_by("attempt")] == [(1, "failed"), (2, "ok")]
        first, second = webhook_receiver.requests
        assert 5.5 <= second.at - first.at < 12, second.at - first.at

        # The same delivery handed out twice (a worker lost after its call, before its
        # acknowledgement): the copy finds the attempt made and calls nobody.
        copied = str(uuid.uuid4())
        send(copied)
        send(copied)
        deadline = time.monotonic() + 30
        while "was made already" not in worker.log():
            worker.check(deadline)
            time.sleep(0.2)
    assert WebhookAttempt.objects.filter(delivery_id=copied).count() == 1
    assert len(webhook_receiver.requests) == 3


def test_an_after_send_the_broker_would_not_take_is_queued_by_the_sweep(
        webhook_receiver, make_user, tmp_path, settings):
    """The after-send task is queued when the send commits. A broker that was down then
    lost it for good (the hook's error was logged, nothing kept). Now the callback is
    kept in WebhookUnqueued, and the sweep queues it once the broker is back. A real
    server whose broker (a Redis of its own) is killed, a real worker for the sweep's
    task on the shared Redis."""
    import json
    import urllib.request

    from accounts.models import WebhookUnqueued
    from accounts.usersig import gen_usersig
    from accounts.webhook_tasks import queue_unqueued_webhooks
    from messaging.models import Message
    from messaging.tencent_body import message_key
    from tests.conftest import start_server, stop_server
    from tests.redis_server import RedisServer

    make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    broker = RedisServer().start()
    proc, base = start_server(REDIS_URL=broker.url)
    try:
        broker.stop()
        request = urllib.request.Request(
            f"{base}/api/v1/messages/", method="POST",
            data=json.dumps({"to": "bob", "random": 5, "elements": [
                {"type": "TIMTextElem", "payload": {"text": "hi"}}]}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"UserSig alice:{gen_usersig('alice')}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 201)
            view = json.loads(response.read())
    finally:
        stop_server(proc)
    msg = Message.objects.get()
    assert view["ID"] == msg.public_id
    [kept] = WebhookUnqueued.objects.all()
    assert kept.command == webhooks.AFTER_SEND and kept.platform == "RESTAPI"
    assert kept.body["MsgKey"] == message_key(msg)
    assert webhook_receiver.requests == []

    with celery_worker(deliver_after.app, tmp_path, "unqueued") as worker:
        settings.CHAT_WEBHOOK_QUEUE = worker.queue
        worker.wait_ready()
        assert queue_unqueued_webhooks() == 1
        [call] = webhook_receiver.wait_for(1, timeout=30)
    assert call.query["CallbackCommand"] == webhooks.AFTER_SEND
    assert call.body["MsgKey"] == message_key(msg) and call.body["MsgRandom"] == 5
    assert not WebhookUnqueued.objects.exists()
    assert WebhookAttempt.objects.filter(delivery_id=kept.delivery_id, outcome="ok").exists()


def test_an_after_send_survives_its_process_dying_between_the_commit_and_the_queuing(
        webhook_receiver, make_user, tmp_path, settings):
    """The callback's task is queued by an on_commit hook. A process killed after the
    send committed and before the task reached the broker lost the callback: nothing
    was written for it (the old WebhookUnqueued row was written only when the broker
    refused). Now every callback has its row in the outbox, written in the send's
    transaction, and the sweep queues the ones whose task never started. A real server
    whose broker (a Redis of its own) is frozen, so its hook hangs in the publish; the
    server killed -9 then; a real worker for the sweep's task on the shared Redis."""
    from accounts.models import WebhookUnqueued
    from accounts.webhook_tasks import queue_unqueued_webhooks
    from messaging.models import Message
    from messaging.tencent_body import message_key
    from tests.outbox_helpers import send_and_die_before_queuing

    make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    send_and_die_before_queuing()
    msg = Message.objects.get()
    [kept] = WebhookUnqueued.objects.all()
    assert kept.command == webhooks.AFTER_SEND and not kept.refused
    assert kept.body["MsgKey"] == message_key(msg)

    with celery_worker(deliver_after.app, tmp_path, "outbox") as worker:
        settings.CHAT_WEBHOOK_QUEUE = worker.queue
        worker.wait_ready()
        settings.CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS = 3600
        assert queue_unqueued_webhooks() == 0  # its task may only be slow: not yet
        settings.CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS = 0
        assert queue_unqueued_webhooks() == 1
        [call] = webhook_receiver.wait_for(1, timeout=30)
        deadline = time.monotonic() + 10
        while WebhookUnqueued.objects.exists():  # the task took its row when it started
            worker.check(deadline)
            time.sleep(0.1)
    assert call.body["MsgKey"] == message_key(msg) and call.body["MsgRandom"] == 7
    assert WebhookAttempt.objects.filter(delivery_id=kept.delivery_id, outcome="ok").exists()


def test_the_outbox_sweep_ends_when_every_row_is_due(settings, tmp_path):
    """A run queues batches of `limit` rows and marks each queued. With no grace, the
    rows of its first batch were due again for its second (queued before "now"), so a
    run with `limit` rows or more never ended. Rows on the shared broker's queue of a
    worker's name; no worker runs, so their tasks never start and the rows stay."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import WebhookUnqueued
    from accounts.webhook_tasks import queue_unqueued_webhooks

    settings.CHAT_WEBHOOK_QUEUE = f"hooks-outbox-{uuid.uuid4().hex[:8]}"
    settings.CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS = 0
    for n in range(5):
        WebhookUnqueued.objects.create(delivery_id=uuid.uuid4(), command=webhooks.AFTER_SEND,
                                       body=dict(BODY, MsgKey=f"k{n}"), platform="Web",
                                       created_at=timezone.now(), refused=n % 2 == 0)
    done = []

    def sweep():  # in a thread, so that a run that never ends fails the test
        try:
            done.append(queue_unqueued_webhooks(limit=2))
        finally:
            connection.close()

    worker = threading.Thread(target=sweep, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done == [5]
    assert WebhookUnqueued.objects.filter(refused=False, queued_at__isnull=False).count() == 5
