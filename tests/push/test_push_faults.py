"""A worker killed while a push request is in flight (SIGKILL: nothing acknowledged,
nothing recorded): after a new worker takes the task again, every device has its push
and the records hold one delivery per device. The one request in flight at the kill
may reach the vendor twice (nobody can know whether the vendor got it); it carries the
same tag (collapse id), so the phone shows one notification."""

from __future__ import annotations

import time

import pytest

from push.models import PushDelivery

from .fake_server import Answer
from .pipeline_helpers import fcm_and_worker, fcm_token, requests_to, send, text, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_killed_mid_send_delivers_each_device(make_user, tmp_path, settings):
    alice, bob = make_user("alice", nick="Alice"), make_user("bob")
    tokens = [fcm_token(bob, f"phone-{i}").token for i in range(3)]
    with fcm_and_worker(tmp_path, "push-kill", CHAT_TASK_VISIBILITY_TIMEOUT="4") \
            as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        # The first request hangs long enough for the kill; the vendor accepts it.
        fake.send_answers.append(Answer.of_json(200, {"name": "projects/p/messages/slow"}))
        fake.send_answers[0].delay = 5.0
        sent = send(alice, "bob", text("survive this"))
        wait_for(lambda: len(fake.send_requests) >= 1, what="the first request")
        time.sleep(0.3)
        worker.kill()
        in_flight = fake.send_requests[0].json()["message"]["token"]
        assert len(fake.send_requests) == 1
        worker.start()
        wait_for(lambda: PushDelivery.objects.filter(state="delivered").count() == 3,
                 timeout=60, what="all three delivered after the restart")
        time.sleep(1)  # anything sent twice more would have arrived by now
        counts = {t: len(requests_to(fake, t)) for t in tokens}
        assert all(n >= 1 for n in counts.values()), counts
        assert all(n == 1 for t, n in counts.items() if t != in_flight), counts
        assert counts[in_flight] <= 2, counts
        tags = {m["android"]["notification"]["tag"] for t in tokens
                for m in requests_to(fake, t)}
        assert tags == {sent["ID"]}
        assert PushDelivery.objects.filter(user=bob).count() == 3
        assert not fake.problems
