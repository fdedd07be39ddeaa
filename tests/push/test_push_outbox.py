"""An offline push survives its process dying between the send's commit and the
queuing (push/tasks.py queue_on_commit): the push job is written to the outbox
(PushUnqueued) in the send's transaction, the task deletes its row when it starts, and
the sweep (queue_unqueued_pushes) queues the rows whose task never started. A second
copy of the task (a slow task the sweep queued again) pushes nothing twice: a delivery
is unique per (message, user, device). A withdrawal (after a read) goes the same way. A
push task deletes its row in the transaction that makes its deliveries, so a worker
killed before they are committed leaves the row for the sweep. A withdrawal task deletes
its row in the transaction that marks its withdrawals owed: a worker killed before that
leaves the row, one killed after (during the vendor's call) leaves them owed for the
stale sweep."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.db import connections

from accounts.usersig import gen_usersig
from chat_project import broker
from messaging.models import Message
from push.models import PushAttempt, PushDelivery, PushUnqueued
from push.tasks import push_deliver, push_withdraw, queue_retry, queue_unqueued_pushes
from tests.outbox_helpers import (
    backend_gone,
    die_before_queuing,
    lock_waiter,
    send_and_die_before_queuing,
)

from .pipeline_helpers import (
    fcm_and_worker,
    fcm_token,
    requests_to,
    send,
    settle,
    text,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL")]


def test_an_offline_push_survives_its_process_dying_between_the_commit_and_the_queuing(
        make_user, tmp_path, settings):
    """The push task is queued by the send's on_commit hook. A process killed after the
    commit and before the task reached the broker lost the push: the old PushUnqueued
    row was written only when the broker refused. A real server whose broker (a Redis
    of its own) is frozen, so its hook hangs in the publish; killed -9 then; a real
    worker (on the shared Redis) and a fake FCM for the sweep's task."""
    make_user("alice"), make_user("carol")
    bob = make_user("bob")
    token = fcm_token(bob).token
    send_and_die_before_queuing()
    msg = Message.objects.get()
    kept = PushUnqueued.objects.all()
    assert len(kept) == 1, "the push was lost: nothing kept for it"
    [kept] = kept
    assert kept.task == push_deliver.name and not kept.refused
    [[job]] = kept.args
    assert (job["message_id"], job["receiver_pk"]) == (msg.pk, bob.pk)

    with fcm_and_worker(tmp_path, "push-outbox") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 3600
        assert queue_unqueued_pushes() == 0  # its task may only be slow: not yet
        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0
        assert queue_unqueued_pushes() == 1
        [pushed] = wait_for(lambda: requests_to(fake, token), what="the kept push")
        wait_for(lambda: not PushUnqueued.objects.exists(),
                 what="the task taking its row when it starts")
        assert pushed["android"]["notification"]["tag"] == job["message_key"]

        # A second copy of the task (the sweep queued it again while the first was
        # only slow) finds the delivery done and pushes nothing.
        push_deliver.apply_async((kept.args[0],), {"outbox": kept.pk}, queue=worker.queue)
        settle(fake, make_user("dave"), make_user("erin"))
        assert len(requests_to(fake, token)) == 1
        ran = [line.split("s: ", 1)[1] for line in worker.log().splitlines()
               if "push.tasks.push_deliver[" in line and " succeeded in " in line]
        assert ran[:2] == ["{'delivered': 1}", "{}"], ran  # the copy ran, pushed nothing
        assert PushDelivery.objects.filter(user=bob, state="delivered").count() == 1
        assert not PushUnqueued.objects.exists()
        assert not fake.problems


def test_a_withdrawal_survives_its_process_dying_between_the_commit_and_the_queuing(
        make_user, tmp_path, settings):
    """A read's withdrawal was decided and queued by an on_commit hook, and kept
    (PushUnqueued) only when the broker refused it: a process killed after the read's
    commit and before the publish lost it, and the read message's notification stayed
    on the phone. Now its row is written in the read's transaction (the conversation
    has a push not withdrawn). A push delivered by a real worker to a fake FCM; then a
    real server whose broker is frozen takes bob's read and is killed -9 in its hook;
    the sweep queues the withdrawal, and the worker sends it."""
    from messaging.models import Conversation

    alice, bob = make_user("alice"), make_user("bob")
    token = fcm_token(bob).token
    with fcm_and_worker(tmp_path, "push-withdraw-outbox") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        sent = send(alice, "bob", text("read on the laptop"))
        wait_for(lambda: PushDelivery.objects.filter(user=bob, state="delivered").exists(),
                 what="the push delivered")
        wait_for(lambda: not PushUnqueued.objects.exists(), what="the push's row taken")
        seq = Message.objects.get().seq

        def read(base: str) -> urllib.request.Request:
            return urllib.request.Request(
                f"{base}/api/v1/conversations/C2Calice/read/", method="POST",
                headers={"Authorization": f"UserSig bob:{gen_usersig('bob')}"})

        die_before_queuing(read, Conversation.objects.filter(
            owner=bob, peer=alice, read_seq__gte=seq).exists)
        kept = PushUnqueued.objects.all()
        assert len(kept) == 1, "the withdrawal was lost: nothing kept for it"
        [kept] = kept
        assert kept.task == push_withdraw.name and not kept.refused
        assert kept.args == [bob.pk, "C2Calice", seq]
        assert not PushDelivery.objects.get(user=bob).withdrawn

        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0
        assert queue_unqueued_pushes() == 1
        withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                       if m.get("data", {}).get("withdraw")],
                              what="the kept withdrawal")
        assert withdrawal[0]["data"]["withdraw"] == sent["ID"]
        wait_for(lambda: not PushUnqueued.objects.exists(),
                 what="the task taking its row when it starts")
        assert PushDelivery.objects.get(user=bob).withdrawn
        assert not fake.problems


def test_an_offline_push_survives_its_worker_killed_before_it_made_its_deliveries(
        make_user, tmp_path, settings):
    """push_deliver deleted its outbox row as it started: a worker killed -9 after that
    and before the deliveries were committed left neither the row nor a delivery, and
    only the broker's redelivery of the unacknowledged task (after the visibility
    timeout, if Redis still had it) could bring the push back; the sweep found nothing.
    Now the row goes in the transaction that makes the deliveries. Deterministic: a
    third connection holds the message's lock (as a recall does), the task waits for
    it (in its deliveries' transaction), and the worker is killed while it waits; its
    backend is gone before the sweep runs. A new worker then takes the swept task and
    the fake FCM gets the push once."""
    alice, bob = make_user("alice"), make_user("bob")
    token = fcm_token(bob).token
    with fcm_and_worker(tmp_path, "push-killed") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        broker.breaker.failed()  # the broker would not take the send's task: kept
        try:
            sent = send(alice, "bob", text("survives a killed worker"))
        finally:
            broker.breaker.reset()
        [kept] = PushUnqueued.objects.all()
        assert kept.refused and kept.task == push_deliver.name
        msg = Message.objects.get()

        holder = connections.create_connection("default")
        holder.ensure_connection()
        holder.set_autocommit(False)
        try:
            with holder.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {Message._meta.db_table} WHERE id = %s"
                               " FOR UPDATE", [msg.pk])
            assert queue_unqueued_pushes() == 1  # refused: due at once
            waiting = lock_waiter("FOR KEY SHARE", check=worker.check)
            worker.kill()
        finally:
            holder.rollback()
            holder.close()
        backend_gone(waiting)  # its transaction rolled back

        assert PushUnqueued.objects.filter(pk=kept.pk).exists(), \
            "the push was lost with its worker: its row was deleted as the task started"
        assert not PushDelivery.objects.exists()
        worker.start()
        worker.wait_ready()
        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0  # queued a moment ago
        assert queue_unqueued_pushes() == 1
        [pushed] = wait_for(lambda: requests_to(fake, token), what="the swept push")
        assert pushed["android"]["notification"]["tag"] == sent["ID"]
        wait_for(lambda: not PushUnqueued.objects.exists(), what="the row taken")
        settle(fake, make_user("dave"), make_user("erin"))
        assert len(requests_to(fake, token)) == 1
        assert [d.state for d in PushDelivery.objects.filter(user=bob)] == ["delivered"]
        assert not fake.problems


def test_a_withdrawal_survives_its_worker_killed_while_it_called_the_vendor(
        make_user, tmp_path, settings):
    """A withdrawal task deleted its outbox row as it started and marked the delivery
    withdrawn before it called the vendor: a worker killed -9 in between (here: while
    the fake FCM holds the withdrawal's request unanswered) left neither the row nor a
    delivery to withdraw, and the read message's notification stayed on the phone. Now
    the delivery is marked owed ("delivered", withdraw_wanted, not withdrawn) in the
    transaction that deletes the row, and withdrawn once the vendor has answered: the
    stale sweep (requeue_stale_pushes) finds it owed and a new worker sends it."""
    from messaging import changes
    from push.tasks import requeue_stale_pushes

    alice, bob = make_user("alice"), make_user("bob")
    token = fcm_token(bob).token

    def withdrawals() -> list[dict]:
        return [m for m in requests_to(fake, token) if m.get("data", {}).get("withdraw")]

    with fcm_and_worker(tmp_path, "withdraw-killed") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        sent = send(alice, "bob", text("read on the laptop"))
        wait_for(lambda: PushDelivery.objects.filter(user=bob, state="delivered").exists(),
                 what="the push delivered")
        wait_for(lambda: not PushUnqueued.objects.exists(), what="the push's row taken")

        entered, release = threading.Event(), threading.Event()

        def hold(request) -> None:
            if request.json()["message"].get("data", {}).get("withdraw") \
                    and not entered.is_set():
                entered.set()
                release.wait(30)  # never answered: the worker dies first

        fake.during_send = hold
        try:
            changes.conversation_mark_read(user=bob, peer=alice)  # queues push_withdraw
            assert entered.wait(30), worker.log()
            worker.kill()
        finally:
            release.set()
            fake.during_send = None
        assert len(withdrawals()) == 1  # the killed run's, unanswered

        worker.start()
        worker.wait_ready()
        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0
        settings.CHAT_TASK_VISIBILITY_TIMEOUT = 0  # the killed run's marks are stale now
        swept = queue_unqueued_pushes() + requeue_stale_pushes()
        assert swept == 1, "the withdrawal was lost with its worker: nothing left to sweep"
        wait_for(lambda: len(withdrawals()) == 2, what="the swept withdrawal")
        assert withdrawals()[1]["data"]["withdraw"] == sent["ID"]
        wait_for(lambda: PushDelivery.objects.get(user=bob).withdrawn,
                 what="the delivery withdrawn")
        settle(fake, make_user("dave"), make_user("erin"))
        assert len(withdrawals()) == 2
        [delivery] = PushDelivery.objects.filter(user=bob)
        assert (delivery.state, delivery.withdrawn) == ("delivered", True)
        assert [(a.withdraw, a.outcome) for a in PushAttempt.objects.filter(user=bob)
                .order_by("pk")] == [(False, "delivered"), (True, "delivered")]
        assert not PushUnqueued.objects.exists()
        assert not fake.problems


def test_a_withdrawal_survives_its_worker_killed_before_it_marked_its_withdrawals(
        make_user, tmp_path, settings):
    """The other side of the marks' commit: a worker killed while its withdrawal waits
    for the delivery's lock (a third connection holds it) had deleted the outbox row as
    the task started, and nothing was left to sweep. Now the row goes in the transaction
    of the marks, which rolls back with the killed worker's backend: the outbox's sweep
    queues the task again and a new worker sends the withdrawal once."""
    from messaging import changes

    alice, bob = make_user("alice"), make_user("bob")
    token = fcm_token(bob).token

    def withdrawals() -> list[dict]:
        return [m for m in requests_to(fake, token) if m.get("data", {}).get("withdraw")]

    with fcm_and_worker(tmp_path, "withdraw-killed-early") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        sent = send(alice, "bob", text("read on the laptop"))
        wait_for(lambda: PushDelivery.objects.filter(user=bob, state="delivered").exists(),
                 what="the push delivered")
        wait_for(lambda: not PushUnqueued.objects.exists(), what="the push's row taken")
        delivery = PushDelivery.objects.get(user=bob)

        holder = connections.create_connection("default")
        holder.ensure_connection()
        holder.set_autocommit(False)
        try:
            with holder.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {PushDelivery._meta.db_table} WHERE id = %s"
                               " FOR UPDATE", [delivery.pk])
            changes.conversation_mark_read(user=bob, peer=alice)  # queues push_withdraw
            waiting = lock_waiter("FOR UPDATE", check=worker.check)
            worker.kill()
        finally:
            holder.rollback()
            holder.close()
        backend_gone(waiting)  # its transaction rolled back

        [kept] = PushUnqueued.objects.all() or [None]
        assert kept is not None, \
            "the withdrawal was lost with its worker: its row was deleted as the task started"
        assert kept.task == push_withdraw.name
        assert not withdrawals()
        worker.start()
        worker.wait_ready()
        settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0  # queued a moment ago
        assert queue_unqueued_pushes() == 1
        [withdrawal] = wait_for(withdrawals, what="the swept withdrawal")
        assert withdrawal["data"]["withdraw"] == sent["ID"]
        wait_for(lambda: not PushUnqueued.objects.exists(), what="the row taken")
        wait_for(lambda: PushDelivery.objects.get(pk=delivery.pk).withdrawn,
                 what="the delivery withdrawn")
        settle(fake, make_user("dave"), make_user("erin"))
        assert len(withdrawals()) == 1
        assert not fake.problems


def test_a_withdrawal_that_follows_its_delivery_survives_its_worker_killed(
        make_user, tmp_path, settings):
    """A read while the vendor was being called marks the delivery (withdraw_wanted)
    and the task that sends it withdraws it once delivered. It marked it withdrawn
    before it called the vendor: a worker killed in that call left the delivery
    withdrawn, with no withdrawal sent and nothing for any sweep. Now the delivery stays
    owed until the vendor has answered, and the stale sweep has a new worker send it."""
    from push import pipeline
    from push.tasks import requeue_stale_pushes

    alice, bob = make_user("alice"), make_user("bob")
    token = fcm_token(bob).token

    def withdrawals() -> list[dict]:
        return [m for m in requests_to(fake, token) if m.get("data", {}).get("withdraw")]

    with fcm_and_worker(tmp_path, "withdraw-follows") as (fake, worker):
        settings.CHAT_PUSH_QUEUE = worker.queue
        pushing, withdrawing = threading.Event(), threading.Event()
        answer_push, release = threading.Event(), threading.Event()

        def hold(request) -> None:
            message = request.json()["message"]
            if message.get("token") != token:
                return
            if not message.get("data", {}).get("withdraw"):
                pushing.set()
                answer_push.wait(30)  # the push: answered once the read has marked it
            elif not withdrawing.is_set():
                withdrawing.set()
                release.wait(30)  # the withdrawal: never answered, the worker dies

        fake.during_send = hold
        try:
            sent = send(alice, "bob", text("read while it flies"))
            assert pushing.wait(30), worker.log()
            delivery = PushDelivery.objects.get(user=bob)
            assert delivery.state == "sending"
            # Read on another device while the vendor has not answered: marked.
            assert pipeline.withdraw(bob.pk, delivery.conversation_id,
                                     delivery.dialog_seq, on_retry=queue_retry) == 0
            answer_push.set()
            assert withdrawing.wait(30), worker.log()
            worker.kill()
        finally:
            answer_push.set()
            release.set()
            fake.during_send = None
        assert len(withdrawals()) == 1  # the killed run's, unanswered

        worker.start()
        worker.wait_ready()
        settings.CHAT_TASK_VISIBILITY_TIMEOUT = 0  # the killed run's marks are stale now
        assert requeue_stale_pushes() == 1, \
            "the withdrawal was lost with its worker: nothing left to sweep"
        wait_for(lambda: len(withdrawals()) == 2, what="the swept withdrawal")
        assert withdrawals()[1]["data"]["withdraw"] == sent["ID"]
        wait_for(lambda: PushDelivery.objects.get(pk=delivery.pk).withdrawn,
                 what="the delivery withdrawn")
        settle(fake, make_user("dave"), make_user("erin"))
        assert len(withdrawals()) == 2
        assert PushDelivery.objects.get(pk=delivery.pk).state == "delivered"
        assert [(a.withdraw, a.outcome) for a in PushAttempt.objects.filter(user=bob)
                .order_by("pk")] == [(False, "delivered"), (True, "delivered")]
        assert not fake.problems
