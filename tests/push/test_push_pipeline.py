"""The offline push pipeline end to end (push/pipeline.py): a message sent in this
process, committed, handed to a real Celery worker, sent by the real FCM client to a
local fake FCM (tests/push/fake_fcm.py) that checks OAuth and the message. Each
decision rule, what is sent, badge, dead tokens, retries with Retry-After, token
removal on logout and kick, withdrawal on read."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, connections

from accounts.devices import user_kick
from chat_project.errors import ChatError
from messaging import changes
from messaging.commands import Origin
from messaging.models import Conversation, Dialog
from messaging.services import message_send
from push.models import PushAttempt, PushDelivery, PushToken
from push.services import receive_option_set
from push.tasks import queue_retry
from relationships.blocklist import block_add
from tests.outbox_helpers import lock_waiter, lock_waiting

from .fake_fcm import fcm_error
from .pipeline_helpers import (
    attempts,
    deliveries,
    fcm_and_worker,
    fcm_token,
    requests_to,
    send,
    settle,
    text,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def pushed(django_db_setup, django_db_blocker, tmp_path_factory):
    """One fake FCM and one worker for the module."""
    with django_db_blocker.unblock():
        with fcm_and_worker(tmp_path_factory.mktemp("push"), "pipeline",
                            CHAT_TASK_RETRY_MAX_COUNTDOWN="5") as (fake, worker):
            yield fake, worker


@pytest.fixture
def fake(pushed, settings):
    fake, worker = pushed
    settings.CHAT_PUSH_QUEUE = worker.queue
    fake.send_answers.clear()
    fake.send_requests.clear()
    fake.problems.clear()
    yield fake
    assert not fake.problems


@pytest.fixture
def people(make_user):
    return make_user("alice", nick="Alice"), make_user("bob", nick="Bob"), \
        make_user("carol", nick="Carol")


def _one(fake, token, timeout=30.0):
    return wait_for(lambda: requests_to(fake, token), timeout, "a push to " + token)[0]


def test_an_offline_device_gets_the_push_title_text_badge_and_records(fake, people):
    alice, bob, _ = people
    token = fcm_token(bob).token
    send(alice, "bob", text("first"))
    sent = send(alice, "bob", text("see you at 8"))
    wait_for(lambda: len(requests_to(fake, token)) == 2, what="two pushes")
    message = requests_to(fake, token)[1]
    assert message["notification"] == {"title": "Alice", "body": "see you at 8"}
    assert message["android"]["notification"]["notification_count"] == 2  # bob's unread
    assert message["android"]["notification"]["tag"] == sent["ID"]
    assert message["data"]["conversationID"] == "C2Calice"
    assert message["data"]["messageID"] == sent["ID"]
    wait_for(lambda: all(d.state == "delivered" for d in deliveries(bob))
             and len(deliveries(bob)) == 2)
    [first, second] = deliveries(bob)
    assert second.message_key == sent["ID"] and second.device_id == "phone"
    assert second.vendor == "fcm" and second.attempts == 1
    attempt = PushAttempt.objects.get(delivery=second)
    assert attempt.outcome == "delivered" and attempt.http_status == 200
    assert attempt.latency_ms >= 0 and attempt.vendor == "fcm"


def test_offline_push_info_from_each_door_and_ignore_badge(fake, people):
    alice, bob, _ = people
    token = fcm_token(bob).token
    send(alice, "bob", text("x"), offline_push_info={
        "title": "Custom", "description": "You have mail", "extension": '{"a":1}',
        "ignoreIOSBadge": True, "options": {"android_channel_id": "chat"}})
    message = _one(fake, token)
    assert message["notification"] == {"title": "Custom", "body": "You have mail"}
    assert message["data"]["extension"] == '{"a":1}'
    assert "notification_count" not in message["android"]["notification"]
    assert message["android"]["notification"]["channel_id"] == "chat"


def test_what_is_not_pushed(fake, people, make_user):
    """onlineUserOnly, disablePush, a custom element with no description, a refused
    send, one's own message (to oneself and to the sender's own devices),
    AcceptNotNotify, Discard, the quiet window: none reaches the vendor."""
    alice, bob, carol = people
    dave = make_user("dave")
    bob_token = fcm_token(bob).token
    alice_token = fcm_token(alice, "alice-phone").token
    send(alice, "bob", online_user_only=True)
    send(alice, "bob", offline_push_info={"disablePush": True})
    send(alice, "bob", [{"type": "TIMCustomElem", "payload": {"data": "x"}}])
    send(alice, "alice", text("note to self"))
    block_add(owner=bob, user_ids=["carol"])
    with pytest.raises(ChatError) as refused:
        send(carol, "bob")
    assert refused.value.code == 20007
    changes.conversation_remind_set(user=bob, user_ids=["dave"], remind_type="AcceptNotNotify")
    send(dave, "bob")
    changes.conversation_remind_set(user=bob, user_ids=["alice"], remind_type="Discard")
    send(alice, "bob", text("discarded"))
    settle(fake, dave, make_user("erin"))
    assert requests_to(fake, bob_token) == []
    assert requests_to(fake, alice_token) == []  # the sender's own devices: nothing
    assert not PushDelivery.objects.filter(user__in=[alice, bob]).exists()
    # Back to AcceptAndNotify: pushed again.
    changes.conversation_remind_set(user=bob, user_ids=["alice"],
                                    remind_type="AcceptAndNotify")
    send(alice, "bob", text("back"))
    assert _one(fake, bob_token)["notification"]["body"] == "back"


def test_the_quiet_window(fake, people, make_user):
    alice, bob, _ = people
    token = fcm_token(bob).token
    now = time.gmtime()
    start = (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec - 600) % 86400
    receive_option_set(user=bob, opt=2, start_hour=start // 3600,
                       start_minute=start % 3600 // 60, start_second=start % 60,
                       duration=1200)
    send(alice, "bob", text("in the window"))
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, token) == []
    # A window that ended ten minutes ago: pushed.
    receive_option_set(user=bob, opt=2, start_hour=start // 3600,
                       start_minute=start % 3600 // 60, start_second=start % 60,
                       duration=60)
    send(alice, "bob", text("after the window"))
    assert _one(fake, token)["notification"]["body"] == "after the window"


def test_a_device_with_a_live_socket_gets_no_push(fake, people, connect, make_user):
    alice, bob, _ = people
    phone = fcm_token(bob, "bob-phone").token
    tablet = fcm_token(bob, "bob-tablet").token
    web = connect("bob", deviceID="bob-phone", platform="Android")
    send(alice, "bob", text("while the phone is online"))
    assert _one(fake, tablet)["notification"]["body"] == "while the phone is online"
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, phone) == []
    web.wait_event("MESSAGE_RECEIVED")


def test_an_unidentified_socket_covers_its_platform(fake, people, connect, make_user):
    """A socket whose deviceID is no token's may be any device of its platform."""
    alice, bob, _ = people
    phone = fcm_token(bob, "bob-phone").token
    connect("bob", deviceID="some-other-id", platform="Android")
    send(alice, "bob")
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, phone) == []


def test_a_desktop_socket_does_not_silence_the_phone(fake, people, connect, make_user):
    """A desktop app (Windows, Mac, Linux) has no push token: its socket is no phone,
    and the phone in the user's pocket still gets the push (it was counted as an
    Android device, which silenced every Android token while the desktop app ran)."""
    alice, bob, _ = people
    phone = fcm_token(bob, "bob-phone").token
    pc = connect("bob", deviceID="bob-pc", platform="Windows")
    send(alice, "bob", text("on the desktop and in the pocket"))
    assert _one(fake, phone)["notification"]["body"] == "on the desktop and in the pocket"
    pc.wait_event("MESSAGE_RECEIVED")


def test_discard_is_not_delivered_live_but_kept_in_history(fake, people, connect):
    alice, bob, _ = people
    ws = connect("bob", deviceID="bob-web")
    assert ws.ok("setMessageRemindType", {"userIDList": ["alice"],
                                          "messageRemindType": "Discard"}) == {}
    sent = send(alice, "bob", text("quietly"))
    send(bob, "alice", text("ping"))  # bob's own send reaches his socket after
    event = ws.wait_event("MESSAGE_RECEIVED", where=lambda e: True)
    assert [m["ID"] for m in event["data"]] != [sent["ID"]]
    page = ws.ok("getMessageList", {"conversationID": "C2Calice"})
    assert sent["ID"] in [m["ID"] for m in page["messageList"]]


def test_a_dead_token_is_removed(fake, people):
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                                       error_code="UNREGISTERED"))
    send(alice, "bob")
    wait_for(lambda: not PushToken.objects.filter(user=bob).exists(), what="token removed")
    [delivery] = deliveries(bob)
    assert delivery.state == "dead_token"
    [attempt] = attempts(bob)
    assert attempt.outcome == "dead_token" and attempt.vendor_code == "UNREGISTERED"
    assert len(requests_to(fake, token)) == 1


def test_a_5xx_is_retried_after_retry_after_then_delivered(fake, people):
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "2"}))
    send(alice, "bob", text("eventually"))
    wait_for(lambda: len(requests_to(fake, token)) == 2, what="the retry")
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "delivered")
    outcomes = [a.outcome for a in attempts(bob)]
    assert outcomes == ["retry", "delivered"]
    gap = (attempts(bob)[1].created_at - attempts(bob)[0].created_at).total_seconds()
    assert gap >= 1.9  # Retry-After: 2


def test_a_retry_that_lands_in_the_quiet_window_is_not_sent(fake, people):
    """The quiet window holds for every attempt, not only the first: a push answered
    503 whose retry comes after the receiver's window began is not sent (as a first
    attempt inside it is not: the window drops pushes, it does not delay them). The
    delivery ends "quiet", with no second request."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "2"}))
    send(alice, "bob", text("before the window"))
    _one(fake, token)  # the first try, answered 503: a retry in 2 s
    now = time.gmtime()
    start = (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec - 60) % 86400
    receive_option_set(user=bob, opt=2, start_hour=start // 3600,
                       start_minute=start % 3600 // 60, start_second=start % 60,
                       duration=1200)
    wait_for(lambda: deliveries(bob)[0].state not in ("pending", "sending"),
             what="the retry's run")
    assert deliveries(bob)[0].state == "quiet"
    assert len(requests_to(fake, token)) == 1
    assert [a.outcome for a in attempts(bob)] == ["retry"]


def test_a_permanent_error_is_not_retried(fake, people, make_user):
    alice, bob, _ = people
    fcm_token(bob)
    fake.send_answers.append(fcm_error(403, "PERMISSION_DENIED", error_code="SENDER_ID_MISMATCH"))
    send(alice, "bob")
    wait_for(lambda: attempts(bob), what="an attempt")
    settle(fake, alice, make_user("erin"))
    assert [a.outcome for a in attempts(bob)] == ["failed"]
    assert deliveries(bob)[0].state == "failed"


def test_a_vendor_without_credentials_is_recorded_not_configured(fake, people, make_user):
    alice, bob, _ = people
    PushToken.objects.create(user=bob, device_id="ipad", vendor="meizu", token="m" * 30)
    send(alice, "bob")
    wait_for(lambda: attempts(bob), what="an attempt")
    [attempt] = attempts(bob)
    assert attempt.outcome == "failed" and "not configured" in attempt.detail
    assert deliveries(bob)[0].state == "failed"


def test_logout_removes_the_token(fake, people, connect):
    _, bob, _ = people
    fcm_token(bob, "bob-phone")
    ws = connect("bob", deviceID="bob-phone", platform="Android")
    ws.ok("logout")
    wait_for(lambda: not PushToken.objects.filter(user=bob).exists(), what="token removed")


def test_a_device_pushed_out_by_another_login_loses_its_token(fake, people, connect):
    _, bob, _ = people
    fcm_token(bob, "bob-phone-1")
    fcm_token(bob, "bob-phone-2")
    connect("bob", deviceID="bob-phone-1", platform="Android")
    connect("bob", deviceID="bob-phone-2", platform="Android")  # per_platform: kicks 1
    wait_for(lambda: list(PushToken.objects.filter(user=bob).values_list(
        "device_id", flat=True)) == ["bob-phone-2"], what="phone 1's token removed")


def test_a_kick_ends_the_tokens_registered_before_it(fake, people, make_user):
    alice, bob, _ = people
    token = fcm_token(bob).token
    time.sleep(1.1)  # kicked_at has a one-second grain
    user_kick(user=bob)
    send(alice, "bob")
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, token) == []
    assert not PushToken.objects.filter(user=bob).exists()


def test_a_read_withdraws_the_push(fake, people):
    alice, bob, _ = people
    token = fcm_token(bob).token
    sent = send(alice, "bob", text("read me"))
    _one(fake, token)
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "delivered")
    changes.conversation_mark_read(user=bob, peer=alice)  # read on another device
    withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                   if m.get("data", {}).get("withdraw")], what="withdrawal")[0]
    assert withdrawal["data"]["withdraw"] == sent["ID"]
    assert "notification" not in withdrawal
    wait_for(lambda: deliveries(bob)[0].withdrawn)
    # The attempt is recorded once the vendor has answered, after the fake logged the
    # request this test saw: waited for, not raced (CI once read it a moment early).
    wait_for(lambda: len(attempts(bob)) == 2, what="the withdrawal's attempt row")
    assert [a.withdraw for a in attempts(bob)] == [False, True]
    # A second read withdraws nothing again.
    changes.conversation_mark_read(user=bob, peer=alice)


def test_no_transaction_is_open_while_the_vendor_answers_and_a_read_then_withdraws(
        fake, people):
    """The delivery is claimed ("sending") and committed before the vendor is called: the
    worker holds no transaction and no row lock while it waits (it did, for up to
    CHAT_PUSH_HTTP_TIMEOUT). A read in that time is not lost: the withdrawal follows."""
    from django.db import connection

    from push import pipeline

    alice, bob, _ = people
    token = fcm_token(bob).token
    entered, release = threading.Event(), threading.Event()

    def hold(request):
        message = request.json()["message"]
        if message.get("token") == token and not (message.get("data") or {}).get("withdraw"):
            entered.set()
            release.wait(10)

    fake.during_send = hold
    try:
        sent = send(alice, "bob", text("while it flies"))
        assert entered.wait(30), "the push did not reach the vendor"
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid() "
                           "AND state LIKE 'idle in transaction%%'")
            in_transaction = cursor.fetchone()[0]
        delivery = deliveries(bob)[0]
        assert delivery.state == "sending"
        # Read on another device while the vendor has not answered: marked, not sent.
        assert pipeline.withdraw(bob.pk, delivery.conversation_id, delivery.dialog_seq,
                                 on_retry=queue_retry) == 0
        assert PushDelivery.objects.get(pk=delivery.pk).withdraw_wanted
    finally:
        release.set()
        fake.during_send = None
    assert in_transaction == 0
    withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                   if m.get("data", {}).get("withdraw")], what="withdrawal")[0]
    assert withdrawal["data"]["withdraw"] == sent["ID"]
    wait_for(lambda: deliveries(bob)[0].state == "delivered" and deliveries(bob)[0].withdrawn)
    wait_for(lambda: len(attempts(bob)) == 2, what="the withdrawal's attempt row")
    assert [a.withdraw for a in attempts(bob)] == [False, True]


def test_batch_send_pushes_each_offline_receiver_once(fake, make_user):
    sender = make_user("admin1", nick="Boss")
    receivers = [make_user(f"r{i}") for i in range(5)]
    tokens = [fcm_token(r).token for r in receivers]
    for r in receivers:
        message_send(origin=Origin.BATCH, sender=sender, to=r.user_id, elements=text("all"),
                     random=7)
    for token in tokens:
        assert _one(fake, token)["notification"] == {"title": "Boss", "body": "all"}
    time.sleep(0.5)
    assert all(len(requests_to(fake, t)) == 1 for t in tokens)
    assert PushDelivery.objects.filter(state="delivered").count() == 5


def test_a_pending_delivery_the_broker_lost_is_queued_again(fake, people):
    from datetime import timedelta

    from django.utils import timezone

    from push.tasks import requeue_stale_pushes

    _, bob, _ = people
    token = fcm_token(bob).token
    old = timezone.now() - timedelta(minutes=5)
    PushDelivery.objects.create(
        message_id=99, message_key="99-1-1", user=bob, device_id="phone", vendor="fcm",
        conversation_id="C2Calice", dialog_seq=1, created_at=old, updated_at=old,
        note={"title": "Alice", "body": "lost and found", "collapse_id": "99-1-1"})
    PushDelivery.objects.create(  # pending, but recent: its task may still come
        message_id=100, message_key="100-1-1", user=bob, device_id="phone", vendor="fcm",
        created_at=timezone.now(), updated_at=timezone.now(), note={"title": "x", "body": "y"})
    assert requeue_stale_pushes() == 1
    assert _one(fake, token)["notification"]["body"] == "lost and found"
    wait_for(lambda: PushDelivery.objects.get(message_id=99).state == "delivered")
    assert PushDelivery.objects.get(message_id=100).state == "pending"


def test_a_recall_stops_the_retry_and_withdraws_the_delivered_push(fake, people, make_user):
    """A recalled message's text must not reach the lock screen afterwards: a retry
    still pending is not sent, a delivered push is withdrawn (it showed the text)."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "3"}))
    pending = send(alice, "bob", text("sent to the wrong person"))
    _one(fake, token)  # the first try, answered 503: a retry in 3 s
    changes.message_revoke(message_pk=changes.message_pk(pending["ID"]), actor=alice)
    delivered = send(alice, "bob", text("also wrong"))
    wait_for(lambda: [m for m in requests_to(fake, token)
                      if m.get("data", {}).get("messageID") == delivered["ID"]], what="push 2")
    wait_for(lambda: PushDelivery.objects.filter(
        message_key=delivered["ID"], state="delivered").exists(), what="push 2 delivered")
    changes.message_revoke(message_pk=changes.message_pk(delivered["ID"]), actor=alice)
    withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                   if m.get("data", {}).get("withdraw")], what="withdrawal")
    assert withdrawal[0]["data"]["withdraw"] == delivered["ID"]
    time.sleep(4)  # past the first message's Retry-After
    settle(fake, alice, make_user("erin"))
    texts = [m["notification"]["body"] for m in requests_to(fake, token)
             if "notification" in m]
    assert texts == ["sent to the wrong person", "also wrong"]  # no retry of the first
    states = {d.message_key: (d.state, d.withdrawn) for d in deliveries(bob)}
    assert states[pending["ID"]][0] == "withdrawn"
    assert states[delivered["ID"]] == ("delivered", True)


@contextmanager
def worker_busy(fake, sender, token):
    """The worker held in a push to `token` (a slow vendor) while the block runs, so the
    pushes of what the block sends wait in the queue; released after it."""
    entered, release = threading.Event(), threading.Event()

    def hold(request):
        if request.json()["message"].get("token") == token:
            entered.set()
            release.wait(10)

    fake.during_send = hold
    try:
        send(sender, "carol", text("keeps the worker busy"))
        assert entered.wait(30), "the first push did not reach the vendor"
        yield
    finally:
        release.set()
        fake.during_send = None


def test_a_recall_before_the_push_task_ran_sends_nothing(fake, people, make_user):
    """The worker is busy (a slow vendor) when a message is sent and recalled: its push
    task runs after the recall and must not send the recalled text."""
    alice, bob, carol = people
    carol_token = fcm_token(carol).token
    bob_token = fcm_token(bob).token
    with worker_busy(fake, alice, carol_token):
        recalled = send(alice, "bob", text("recalled at once"))
        changes.message_revoke(message_pk=changes.message_pk(recalled["ID"]), actor=alice)
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, bob_token) == []
    assert all(d.state == "withdrawn" for d in deliveries(bob))


def test_a_message_changed_before_its_push_task_ran_is_pushed_as_it_is_now(
        fake, people, make_user):
    """The worker is busy (a slow vendor) while messages are sent and then changed: the
    push task, run after the changes, used to push each as it was sent (the job carries
    the send's notification; a modify reached only deliveries already made). Now it
    reads them as they are: the modified one shows its new text (title and extension
    from the stored settings, the badge counted at the send), the one modified into
    nothing a push may say and the one its receiver deleted are not pushed at all."""
    alice, bob, carol = people
    carol_token = fcm_token(carol).token
    bob_token = fcm_token(bob).token
    with worker_busy(fake, alice, carol_token):
        modified = send(alice, "bob", text("meet at 7"), offline_push_info={
            "title": "From Alice", "extension": '{"k":1}'})
        changes.message_modify(message_pk=changes.message_pk(modified["ID"]), actor=alice,
                               elements=text("meet   at\n8"))
        emptied = send(alice, "bob", text("visible"))
        changes.message_modify(message_pk=changes.message_pk(emptied["ID"]), actor=alice,
                               elements=[{"type": "TIMCustomElem", "payload": {"data": "x"}}])
        deleted = send(alice, "bob", text("deleted unread"))
        changes.messages_delete(user=bob, message_ids=[deleted["ID"]])
    settle(fake, alice, make_user("erin"))
    pushed = requests_to(fake, bob_token)
    assert [(m["data"]["messageID"], m["notification"]) for m in pushed] == \
        [(modified["ID"], {"title": "From Alice", "body": "meet at 8"})]
    assert pushed[0]["data"]["extension"] == '{"k":1}'
    assert pushed[0]["android"]["notification"]["notification_count"] == 1
    assert [(d.message_key, d.state, d.note["body"]) for d in deliveries(bob)] == \
        [(modified["ID"], "delivered", "meet at 8")]


def test_a_message_read_before_its_push_task_ran_is_not_pushed(fake, people, make_user):
    """The worker is busy while bob reads alice's message on another device: the push
    task, run after the read, used to push it anyway (there was no delivery yet for the
    read to withdraw), and the phone showed a message already read. Now the task reads
    the receiver's read position with the messages: a message read is not pushed; one
    sent after the read still is."""
    alice, bob, carol = people
    carol_token = fcm_token(carol).token
    bob_token = fcm_token(bob).token
    with worker_busy(fake, alice, carol_token):
        send(alice, "bob", text("read on the laptop"))
        changes.conversation_mark_read(user=bob, peer=alice)
        after = send(alice, "bob", text("sent after the read"))
    settle(fake, alice, make_user("erin"))
    pushed = requests_to(fake, bob_token)
    assert [(m["data"]["messageID"], m["notification"]["body"]) for m in pushed] == \
        [(after["ID"], "sent after the read")]
    assert [d.message_key for d in deliveries(bob)] == [after["ID"]]


def test_a_read_while_the_push_task_makes_the_deliveries_leaves_no_push_shown(
        fake, pushed, people):
    """bob reads alice's message while its push task is making its deliveries. The
    task read the message unread, and the read, which takes no message lock, asked for
    deliveries to withdraw before the task's were committed: none, so no withdrawal,
    and the push went out for a message already read. Now the task makes them holding
    the dialog (FOR KEY SHARE) that the read locks (FOR UPDATE) before it asks: the
    read waits for them and withdraws them, or the task waits for the read and pushes
    nothing. Deterministic: a third connection holds an uncommitted delivery of the
    same (message, user, device), so the task's INSERT waits (after its read of the
    message); the read runs in a thread until it is done or waits for a lock; then the
    third connection rolls back."""
    _, worker = pushed
    alice, bob, carol = people
    carol_token = fcm_token(carol).token
    bob_token = fcm_token(bob).token
    holder = _holder()
    reader, read_done = _reader(bob, alice)
    try:
        with worker_busy(fake, alice, carol_token):
            sent = send(alice, "bob", text("read while its push is made"))
            with holder.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {PushDelivery._meta.db_table} (message_id, message_key,"
                    " user_id, device_id, vendor, conversation_id, dialog_seq, state,"
                    " attempts, withdrawn, withdraw_wanted, note, created_at, updated_at)"
                    " VALUES (%s, %s, %s, 'phone', 'fcm', 'C2Calice', 1, 'pending', 0,"
                    " false, false, '{}', now(), now())",
                    [changes.message_pk(sent["ID"]), sent["ID"], bob.pk])
        # The worker is free: bob's task reads the message (unread) and waits to insert.
        task = lock_waiter(f'INSERT INTO "{PushDelivery._meta.db_table}"', check=worker.check)
        reader.start()
        deadline = time.monotonic() + 30
        while reader.is_alive() and lock_waiting("messaging_dialog") is None:
            assert time.monotonic() < deadline, "the read neither ended nor waited"
            time.sleep(0.02)
        assert lock_waiting(f'INSERT INTO "{PushDelivery._meta.db_table}"') == task
    finally:
        holder.rollback()
        holder.close()
    reader.join(30)
    assert read_done == [{}], read_done
    wait_for(lambda: deliveries(bob) and all(d.state not in ("pending", "sending")
                                             for d in deliveries(bob)), what="the task's end")
    settle(fake, alice, carol)  # the worker runs in order: the read's withdrawal is done
    shown = [m for m in requests_to(fake, bob_token) if "notification" in m]
    withdrawn = [m["data"]["withdraw"] for m in requests_to(fake, bob_token)
                 if m.get("data", {}).get("withdraw")]
    assert [m["data"]["messageID"] for m in shown] == [sent["ID"]]
    assert withdrawn == [sent["ID"]], "the push of a message already read stayed shown"
    assert [(d.state, d.withdrawn) for d in deliveries(bob)] == [("delivered", True)]


def test_a_read_that_locked_the_dialog_first_stops_the_push_its_task_was_making(
        fake, pushed, make_user, people):
    """The other order: bob's read has locked the dialog and waits for its
    conversation (a third connection holds it) when the push task comes to make the
    deliveries. Before, the task read the message unread and pushed it, and the read's
    question, asked in a statement begun before the task's commit, saw no delivery to
    withdraw. Now the task waits for the dialog, and reads the message after the read
    committed: read, not pushed."""
    _, worker = pushed
    alice, bob, carol = people
    carol_token = fcm_token(carol).token
    bob_token = fcm_token(bob).token
    holder = _holder()
    reader, read_done = _reader(bob, alice)
    try:
        with worker_busy(fake, alice, carol_token):
            send(alice, "bob", text("read before its push is made"))
            with holder.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {Conversation._meta.db_table} WHERE"
                               " owner_id = %s AND peer_id = %s FOR UPDATE", [bob.pk, alice.pk])
            reader.start()
            lock_waiter(Conversation._meta.db_table)  # the dialog locked, the read waits
        # The worker is free: bob's task comes to make the deliveries.
        deadline = time.monotonic() + 30
        while not PushDelivery.objects.filter(user=bob).exists() and \
                lock_waiting(Dialog._meta.db_table) is None:
            worker.check(deadline)
            time.sleep(0.02)
    finally:
        holder.rollback()
        holder.close()
    reader.join(30)
    assert read_done == [{}], read_done
    settle(fake, alice, make_user("erin"))
    assert requests_to(fake, bob_token) == [], "pushed a message already read"
    assert deliveries(bob) == []


def _holder():
    """A third connection, in a transaction, to hold a row while others wait for it."""
    holder = connections.create_connection("default")
    holder.ensure_connection()
    holder.set_autocommit(False)
    return holder


def _reader(user, peer) -> tuple[threading.Thread, list]:
    """A thread (not started) in which `user` reads the conversation with `peer`, with
    a connection of its own; the list gets what the read returned, or raised."""
    done: list = []

    def read():
        try:
            done.append(changes.conversation_mark_read(user=user, peer=peer))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            done.append(exc)
        finally:
            connection.close()  # this thread's own

    return threading.Thread(target=read), done


def test_a_delivery_left_sending_and_then_read_is_withdrawn_not_sent_again(fake, people):
    """A worker killed while the vendor was called leaves the delivery "sending"; a read
    then marks it withdraw_wanted. The run that takes it up again (the task redone, or
    the sweep) must not show the read message again: it sends the withdrawal only (the
    killed run's request may have shown it)."""
    from datetime import timedelta

    from django.utils import timezone

    from push.tasks import requeue_stale_pushes

    alice, bob, _ = people
    token = fcm_token(bob).token
    sent = send(alice, "bob", text("read elsewhere"))
    _one(fake, token)
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "delivered")
    # As a killed run leaves it, and as a read meanwhile marks it.
    PushDelivery.objects.filter(user=bob).update(
        state="sending", withdraw_wanted=True,
        updated_at=timezone.now() - timedelta(hours=2))
    requeue_stale_pushes.apply()
    withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                   if m.get("data", {}).get("withdraw")], what="withdrawal")
    assert withdrawal[0]["data"]["withdraw"] == sent["ID"]
    wait_for(lambda: deliveries(bob)[0].withdrawn, what="marked withdrawn")
    assert len([m for m in requests_to(fake, token) if "notification" in m]) == 1


def test_a_recall_blanks_the_text_kept_on_finished_deliveries(fake, people, make_user):
    """The recalled text is erased from the message; the copy a delivery keeps (shown to
    operators) goes too, also when the push had failed for good."""
    alice, bob, _ = people
    fcm_token(bob)
    fake.send_answers.append(fcm_error(403, "PERMISSION_DENIED", error_code="SENDER_ID_MISMATCH"))
    sent = send(alice, "bob", text("never meant to send this"))
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "failed", what="failed")
    changes.message_revoke(message_pk=changes.message_pk(sent["ID"]), actor=alice)
    wait_for(lambda: deliveries(bob)[0].note.get("body") == "", what="the text blanked")


def test_a_retry_after_a_modify_sends_the_message_as_it_is_now(fake, people, make_user):
    """A push answered 503 waits for its retry; the sender modifies the message
    meanwhile (/v4 modify_c2c_msg's service): the retry shows the new text, rendered as
    a first push would be, with the sender's stored offline-push settings (the title
    and extension kept, the badge counted at the send)."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "2"}))
    sent = send(alice, "bob", text("meet at 7"), offline_push_info={
        "title": "From Alice", "extension": '{"k":1}'})
    first = _one(fake, token)  # answered 503: a retry in 2 s
    assert first["notification"]["body"] == "meet at 7"
    changes.message_modify(message_pk=changes.message_pk(sent["ID"]), actor=None,
                           elements=text("meet   at\n8"), expect_from="alice", expect_to="bob")
    wait_for(lambda: len(requests_to(fake, token)) == 2, what="the retry")
    retry = requests_to(fake, token)[1]
    assert retry["notification"] == {"title": "From Alice", "body": "meet at 8"}
    assert retry["data"]["extension"] == '{"k":1}'
    assert retry["android"]["notification"]["notification_count"] == \
        first["android"]["notification"]["notification_count"]
    wait_for(lambda: deliveries(bob)[0].state == "delivered", what="delivered")
    assert deliveries(bob)[0].note["body"] == "meet at 8"


def test_a_retry_of_a_message_modified_into_nothing_to_push_is_not_sent(
        fake, people, make_user):
    """Modified into a custom element with no description (nothing a push may say):
    the retry waiting is not sent."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "2"}))
    sent = send(alice, "bob", text("visible"))
    _one(fake, token)
    changes.message_modify(message_pk=changes.message_pk(sent["ID"]), actor=alice,
                           elements=[{"type": "TIMCustomElem", "payload": {"data": "x"}}])
    time.sleep(3)  # past the Retry-After
    settle(fake, alice, make_user("erin"))
    assert len(requests_to(fake, token)) == 1
    assert deliveries(bob)[0].state == "withdrawn"


def test_a_message_its_receiver_deleted_is_not_pushed_again(fake, people, make_user):
    """Deleted from both sides (the sender first, then the receiver) while its retry
    waits: the retry is not sent; a shown push of another deleted message is
    withdrawn."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    shown = send(alice, "bob", text("shown, then deleted"))
    _one(fake, token)
    wait_for(lambda: deliveries(bob)[0].state == "delivered", what="delivered")
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "3"}))
    waiting = send(alice, "bob", text("deleted while its retry waits"))
    wait_for(lambda: len(requests_to(fake, token)) == 2, what="the 503")
    changes.messages_delete(user=alice, message_ids=[waiting["ID"]])
    changes.messages_delete(user=bob, message_ids=[waiting["ID"], shown["ID"]])
    withdrawal = wait_for(lambda: [m for m in requests_to(fake, token)
                                   if m.get("data", {}).get("withdraw")], what="withdrawal")
    assert withdrawal[0]["data"]["withdraw"] == shown["ID"]
    time.sleep(4)  # past the Retry-After
    settle(fake, alice, make_user("erin"))
    bodies = [m["notification"]["body"] for m in requests_to(fake, token)
              if "notification" in m]
    assert bodies == ["shown, then deleted", "deleted while its retry waits"]
    states = {d.message_key: d.state for d in deliveries(bob)}
    assert states[waiting["ID"]] == "withdrawn"


def _modify_while_the_push_is_recorded(fake, worker, settings, alice, bob, modify,
                                       withdrawal_answer=None):
    """The race of a modify (into nothing to push) with the run sending its push: the
    modify finds the delivery "sending" and, by the time it has its lock, the run has
    recorded it delivered (a third connection holds the delivery's row while the run's
    record waits for it, then the modify's lock waits behind the run's). So the modify
    owes a withdrawal. `modify(pk)` runs in a thread (its own connection); this
    process's FCM client is the fake's too. Returns (the message, the thread, what
    `modify` returned or raised). `withdrawal_answer`: the fake's answer to the next
    request (the withdrawal)."""
    from push.providers import transport

    settings.CHAT_PUSH_FCM_CREDENTIALS = fake.service_account_json()
    settings.CHAT_PUSH_FCM_BASE_URL = fake.server.url
    settings.CHAT_PUSH_FCM_PROJECT_ID = settings.CHAT_PUSH_FCM_TOKEN_URL = ""
    transport.close_all()
    token = fcm_token(bob).token
    entered, release = threading.Event(), threading.Event()

    def hold(request):
        message = request.json()["message"]
        if message.get("token") == token and not (message.get("data") or {}).get("withdraw"):
            entered.set()
            release.wait(10)

    fake.during_send = hold
    holder = _holder()
    done: list = []

    def run():
        try:
            done.append(modify(changes.message_pk(sent["ID"])))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            done.append(exc)
        finally:
            connection.close()  # this thread's own

    modifier = threading.Thread(target=run)
    table = PushDelivery._meta.db_table
    try:
        sent = send(alice, "bob", text("visible, then modified away"))
        assert entered.wait(30), "the push did not reach the vendor"
        [delivery] = deliveries(bob)
        assert delivery.state == "sending"
        with holder.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [delivery.pk])
        release.set()  # answered 200; the run's record waits for the holder
        lock_waiter(f'SELECT "{table}"."withdraw_wanted"', check=worker.check)
        if withdrawal_answer is not None:
            fake.send_answers.append(withdrawal_answer)
        modifier.start()
        lock_waiter(f'SELECT "{table}"."id"')  # listed it "sending"; waits behind the run
    finally:
        release.set()
        fake.during_send = None
        holder.rollback()
        holder.close()
    return sent, modifier, done


def _withdrawals(fake, token) -> list[str]:
    return [m["data"]["withdraw"] for m in requests_to(fake, token)
            if m.get("data", {}).get("withdraw")]


def test_a_modify_sends_no_withdrawal_inside_its_transaction(
        fake, pushed, settings, people, make_user):
    """A modify into nothing to push that finds its push delivered by the time it holds
    the delivery's lock owes its withdrawal. It was sent from the modify's transaction:
    the message's lock (and a pooled connection) held while the vendor took its time
    (up to CHAT_PUSH_HTTP_TIMEOUT). Now it is sent after the commit, by the delivery's
    task, once: while the vendor answers, the message can be locked by others."""
    import dataclasses

    from django.db import OperationalError, transaction

    from messaging.models import Message

    from .fake_server import Answer

    _, worker = pushed
    alice, bob, _ = people
    slow = dataclasses.replace(Answer.of_json(200, {"name": "projects/x/messages/1"}),
                               delay=3.0)
    sent, modifier, done = _modify_while_the_push_is_recorded(
        fake, worker, settings, alice, bob, lambda pk: changes.message_modify(
            message_pk=pk, actor=alice,
            elements=[{"type": "TIMCustomElem", "payload": {"data": "x"}}]),
        withdrawal_answer=slow)
    token = fcm_token(bob).token
    wait_for(lambda: _withdrawals(fake, token), what="the withdrawal")
    try:  # the vendor has not answered yet (3 s)
        with transaction.atomic():
            list(Message.objects.select_for_update(nowait=True).filter(
                pk=changes.message_pk(sent["ID"])).values_list("pk"))
        message_locked = False
    except OperationalError:
        message_locked = True
    modifier.join(30)
    assert not modifier.is_alive() and isinstance(done[0], dict), done
    assert not message_locked, "the modify held the message's lock while the vendor answered"
    wait_for(lambda: deliveries(bob)[0].withdrawn, what="marked withdrawn")
    settle(fake, alice, make_user("erin"))
    assert _withdrawals(fake, token) == [sent["ID"]]
    assert [(d.state, d.withdrawn) for d in deliveries(bob)] == [("delivered", True)]
    assert [a.withdraw for a in attempts(bob)] == [False, True]


def test_a_modify_rolled_back_sends_no_withdrawal(fake, pushed, settings, people, make_user):
    """The same race, in a transaction of the caller's that rolls back after the
    modify: nothing was withdrawn, so nothing is sent (it was: the vendor was called
    in the transaction, and its answer's record rolled back with it)."""
    from django.db import transaction

    _, worker = pushed
    alice, bob, _ = people

    class Undone(Exception):
        pass

    def modify_then_roll_back(pk):
        with transaction.atomic():
            changes.message_modify(message_pk=pk, actor=alice, elements=[
                {"type": "TIMCustomElem", "payload": {"data": "x"}}])
            raise Undone

    sent, modifier, done = _modify_while_the_push_is_recorded(
        fake, worker, settings, alice, bob, modify_then_roll_back)
    modifier.join(30)
    assert not modifier.is_alive() and isinstance(done[0], Undone), done
    settle(fake, alice, make_user("erin"))
    token = fcm_token(bob).token
    assert _withdrawals(fake, token) == []
    [delivery] = deliveries(bob)
    assert (delivery.state, delivery.withdraw_wanted, delivery.withdrawn) == \
        ("delivered", False, False)
    assert [a.withdraw for a in attempts(bob)] == [False]


def test_no_vendor_is_called_inside_a_transaction(fake, settings, people):
    """The guard: a vendor call inside an open transaction (locks held across the
    network) is a caller's bug; it raises, and nothing reaches the vendor."""
    from django.db import transaction
    from django.utils import timezone

    from push import pipeline
    from push.providers import transport

    settings.CHAT_PUSH_FCM_CREDENTIALS = fake.service_account_json()
    settings.CHAT_PUSH_FCM_BASE_URL = fake.server.url
    settings.CHAT_PUSH_FCM_PROJECT_ID = settings.CHAT_PUSH_FCM_TOKEN_URL = ""
    transport.close_all()
    _, bob, _ = people
    token = fcm_token(bob).token
    now = timezone.now()
    PushDelivery.objects.create(
        message_id=7, message_key="7-1-1", user=bob, device_id="phone", vendor="fcm",
        conversation_id="C2Calice", dialog_seq=1, state="delivered", created_at=now,
        updated_at=now, note={"title": "Alice", "body": "hi"})
    with pytest.raises(RuntimeError, match="inside a transaction"):
        with transaction.atomic():
            pipeline.withdraw(bob.pk, "C2Calice", 1, on_retry=queue_retry)
    assert requests_to(fake, token) == []
    assert not PushDelivery.objects.get(message_id=7).withdraw_wanted  # rolled back
    assert pipeline.withdraw(bob.pk, "C2Calice", 1, on_retry=queue_retry) == 1  # sent
    assert _withdrawals(fake, token) == ["7-1-1"]



def test_a_withdrawal_the_vendor_asked_to_retry_is_sent_again(fake, people, make_user):
    """The read message's notification must go from the lock screen: a withdrawal
    answered 503 (or 429, or a timeout) is tried again after the vendor's Retry-After,
    as a push is, until it is answered (it was tried once: the read or recalled text
    stayed shown)."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    sent = send(alice, "bob", text("read me"))
    _one(fake, token)
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "delivered")
    fake.send_answers.append(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "1"}))
    changes.conversation_mark_read(user=bob, peer=alice)
    wait_for(lambda: len(_withdrawals(fake, token)) == 2, what="the withdrawal again")
    wait_for(lambda: len(attempts(bob)) == 3, what="its attempt row")
    assert [(a.withdraw, a.outcome) for a in attempts(bob)] == [
        (False, "delivered"), (True, "retry"), (True, "delivered")]
    assert [(d.state, d.withdrawn) for d in deliveries(bob)] == [("delivered", True)]
    settle(fake, alice, make_user("erin"))
    assert _withdrawals(fake, token) == [sent["ID"], sent["ID"]]


def test_a_withdrawal_is_tried_at_most_the_attempts_a_push_is(fake, people, make_user):
    """Bounded as a push is (CHAT_PUSH_MAX_ATTEMPTS, 5 here): answered 503 every time,
    the fifth answer ends it, marked withdrawn (no more to try)."""
    alice, bob, _ = people
    token = fcm_token(bob).token
    send(alice, "bob", text("recalled later"))
    _one(fake, token)
    wait_for(lambda: deliveries(bob) and deliveries(bob)[0].state == "delivered")
    fake.send_answers.extend(fcm_error(503, "UNAVAILABLE", headers={"retry-after": "0"})
                             for _ in range(6))
    changes.message_revoke(message_pk=deliveries(bob)[0].message_id, actor=alice)
    wait_for(lambda: deliveries(bob)[0].withdrawn, 60, what="the end of the withdrawal")
    settle(fake, alice, make_user("erin"))
    assert len(_withdrawals(fake, token)) == 5
    assert [(a.withdraw, a.outcome) for a in attempts(bob)] == \
        [(False, "delivered")] + [(True, "retry")] * 5
    fake.send_answers.clear()
