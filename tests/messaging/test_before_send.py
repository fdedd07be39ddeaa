"""The before-send and after-send webhooks inside the send pipeline (tencent-rest.md
§14.2), and global mute on every door, against a real local HTTP receiver
(tests/webhook_receiver.py)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from accounts import webhooks
from accounts.models import SyncEntry, User, WebhookAttempt
from accounts.usersig import gen_usersig
from accounts.webhook_tasks import deliver_after
from chat_project.errors import ChatError
from messaging import selectors
from messaging.commands import Origin, SendCommand
from messaging.imports import message_import
from messaging.models import Message
from messaging.services import message_send, message_send_many
from messaging.tencent_body import message_by_key, message_key
from tests import webhook_receiver as receiver_module
from tests.webhook_receiver import Reply, use_webhooks

webhook_receiver = receiver_module.webhook_receiver  # the fixture

TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
NEW_BODY = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "h*"}}]


def send(sender, to="bob", random=1, **kw):
    return message_send(origin=Origin.USER, sender=sender, to=to, elements=kw.pop("elements", TEXT),
                        random=random, **kw)


def code_of(fn, *args, **kw) -> ChatError:
    with pytest.raises(ChatError) as err:
        fn(*args, **kw)
    return err.value


@pytest.fixture
def pair(make_user):
    return make_user("alice"), make_user("bob")


# --- before-send, in process -------------------------------------------------------------

@pytest.mark.django_db
def test_allow_sees_the_message_as_it_will_be_stored(webhook_receiver, pair):
    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    view = send(alice, random=5, cloud_custom_data="cc", msg_seq=9, platform="RESTAPI")
    [request] = webhook_receiver.requests
    msg = Message.objects.get()
    assert request.query["CallbackCommand"] == webhooks.BEFORE_SEND
    assert request.query["OptPlatform"] == "RESTAPI"
    assert request.body == {
        "CallbackCommand": webhooks.BEFORE_SEND, "From_Account": "alice", "To_Account": "bob",
        "MsgSeq": 9, "MsgRandom": 5, "MsgTime": msg.time, "MsgKey": message_key(msg),
        "OnlineOnlyFlag": 0, "CloudCustomData": "cc",
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]}
    assert view["time"] == msg.time and view["ID"] == msg.public_id


@pytest.mark.django_db
def test_the_sends_of_one_batch_ask_the_app_at_the_same_time(webhook_receiver, pair,
                                                             make_user):
    """The socket door sends what arrives together as one batch (messaging/batching.py),
    in the thread every socket's database work shares: one call after the other made
    every sender wait for all the batch's calls, and capped a server at one send per
    round trip to the app."""
    alice, _ = pair
    make_user("carol")
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=3000)
    webhook_receiver.answer(Reply(body=Reply.code(0).body, delay=0.5))
    webhook_receiver.script(*[Reply(body=Reply.code(120001 + i, "no").body, delay=0.5)
                              for i in (1, 3)])
    started = time.monotonic()
    results = message_send_many([
        SendCommand(origin=Origin.USER, sender=alice, to=to, elements=TEXT, random=r)
        for r, to in enumerate(["bob", "carol", "bob", "carol"], start=1)])
    assert time.monotonic() - started < 1.2  # 4 calls of 0.5 s: 2 s one after the other
    assert len(webhook_receiver.requests) == 4
    # Each send has its own answer, whichever call ended first.
    refused = {r.body["MsgRandom"] for r in webhook_receiver.requests[:2]}
    assert sorted(isinstance(res, ChatError) for res in results) == [False, False, True, True]
    for random, res in enumerate(results, start=1):
        assert isinstance(res, ChatError) == (random in refused)
    assert sorted(Message.objects.values_list("random", flat=True)) == sorted(
        {1, 2, 3, 4} - refused)
    assert WebhookAttempt.objects.count() == 4


@pytest.mark.django_db
def test_allow_with_a_new_body_replaces_the_message(webhook_receiver, pair):
    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    webhook_receiver.answer(Reply.code(0, MsgBody=NEW_BODY, CloudCustomData="new"))
    view = send(alice)
    assert view["elements"] == [{"type": "TIMTextElem", "payload": {"text": "h*"}}]
    msg = Message.objects.get()
    assert (msg.elements[0]["payload"]["text"], msg.cloud_custom_data) == ("h*", "new")
    # A replacement is checked like any message: a bad one fails the send.
    webhook_receiver.answer(Reply.code(0, MsgBody=[
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]))
    assert code_of(send, alice, random=2).code == 90010
    webhook_receiver.answer(Reply.code(0, CloudCustomData="x" * 12300))
    assert code_of(send, alice, random=3).code == 93000
    assert Message.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("reply, expected, info", [
    (Reply.code(1), 20006, None),
    (Reply.code(120001, "no swearing"), 120001, "no swearing"),
    (Reply.code(130000, "app says no"), 130000, "app says no"),
])
def test_reject_gives_the_sender_the_code(webhook_receiver, pair, reply, expected, info):
    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND, webhooks.AFTER_SEND])
    webhook_receiver.answer(reply)
    err = code_of(send, alice)
    assert err.code == expected
    if info:
        assert err.message == info
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert len(webhook_receiver.requests) == 1  # no after-send for a refused message


@pytest.mark.django_db
def test_drop_looks_sent_but_nothing_is_stored(webhook_receiver, pair):
    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    webhook_receiver.answer(Reply.code(2))
    view = send(alice, random=8)
    assert view["ID"].startswith("0-") and view["random"] == 8 and view["flow"] == "out"
    assert view["elements"] == TEXT
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert selectors.total_unread(bob) == 0


@pytest.mark.django_db
def test_timeout_follows_the_policy(webhook_receiver, pair):
    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=200,
                 before_send_on_timeout="block")
    webhook_receiver.answer(Reply.hang(2))
    started = time.monotonic()
    assert code_of(send, alice).code == 80003
    assert time.monotonic() - started < 1.5
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=200,
                 before_send_on_timeout="deliver")
    started = time.monotonic()
    assert send(alice, random=2)["seq"] == 1
    assert time.monotonic() - started < 1.5
    # Delivered because the call timed out, not because the app was never asked.
    attempts = list(WebhookAttempt.objects.filter(command=webhooks.BEFORE_SEND)
                    .order_by("created_at").values_list("outcome", flat=True))
    assert attempts == ["timeout", "timeout"]


@pytest.mark.django_db
def test_sends_the_app_is_not_asked_about(webhook_receiver, pair, make_user):
    from relationships.models import Block

    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    webhook_receiver.answer(Reply.code(1))  # would refuse every message it sees
    # muted: 20012, the app never hears of it
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=4294967295)
    assert code_of(send, alice).code == 20012
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=0)
    # blocked, unknown receiver, bad body: the pipeline's own answer
    Block.objects.create(owner=bob, blocked=alice, created_at=alice.date_joined)
    assert code_of(send, alice).code == 20007
    assert code_of(send, alice, to="ghost").code == 20003
    assert code_of(send, alice, elements=[]).code == 90010
    assert webhook_receiver.requests == []
    # ForbidBeforeSendMsgCallback, batchsendmsg's and importmsg's sends: stored unasked
    carol = make_user("carol")
    assert send(alice, to="carol", forbid_before_send=True)["seq"] == 1
    [result] = message_send_many([SendCommand(origin=Origin.BATCH, sender=alice, to="carol",
                                              elements=TEXT, random=2)])
    assert result["seq"] == 2
    message_import(sender=carol, to="alice", elements=TEXT, random=3, time=int(time.time()),
                   realtime=True)
    assert webhook_receiver.requests == []
    assert Message.objects.count() == 3


# --- after-send -------------------------------------------------------------------------

@pytest.fixture
def eager():
    app = deliver_after.app
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


@pytest.mark.django_db
def test_after_send_reports_the_stored_message_and_the_unread_total(
        webhook_receiver, pair, eager, django_capture_on_commit_callbacks):
    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, random=1)
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, random=2, platform="Android", msg_seq=77)
    first, second = webhook_receiver.wait_for(2)
    assert first.body["UnreadMsgNum"] == 1 and second.body["UnreadMsgNum"] == 2
    assert second.query["OptPlatform"] == "Android"
    msg = message_by_key(second.body["MsgKey"])
    assert msg.random == 2 and msg.msg_seq == 77
    assert {k: second.body[k] for k in ("From_Account", "To_Account", "MsgSeq", "MsgRandom",
                                        "MsgTime", "OnlineOnlyFlag", "SendMsgResult",
                                        "ErrorInfo", "CloudCustomData")} == {
        "From_Account": "alice", "To_Account": "bob", "MsgSeq": 77, "MsgRandom": 2,
        "MsgTime": msg.time, "OnlineOnlyFlag": 0, "SendMsgResult": 0,
        "ErrorInfo": "send msg succeed", "CloudCustomData": ""}
    assert second.body["MsgBody"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]
    # Not for ForbidAfterSendMsgCallback, not for a retry of a stored message.
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, random=3, forbid_after_send=True)
        send(alice, random=2)
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 2


@pytest.mark.django_db
def test_after_send_carries_the_rewritten_message(
        webhook_receiver, pair, eager, django_capture_on_commit_callbacks):
    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND, webhooks.AFTER_SEND])
    webhook_receiver.script(Reply.code(0, MsgBody=NEW_BODY))
    with django_capture_on_commit_callbacks(execute=True):
        send(alice)
    before, after = webhook_receiver.wait_for(2)
    assert before.query["CallbackCommand"] == webhooks.BEFORE_SEND
    assert after.query["CallbackCommand"] == webhooks.AFTER_SEND
    assert after.body["MsgBody"] == NEW_BODY
    assert after.body["MsgKey"] == before.body["MsgKey"]


@pytest.mark.django_db
def test_webhooks_off_cost_no_query(pair):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice, _ = pair
    send(alice, random=0)
    webhooks.config()
    with CaptureQueriesContext(connection) as ctx:
        send(alice, random=1)
    assert len(ctx.captured_queries) == 8  # a send's (tests/messaging/test_message_send.py)
    assert not [q for q in ctx.captured_queries if "webhook" in q["sql"]]


# --- every door, over the wire -------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_every_door_refuses_a_muted_sender_and_asks_the_app_about_the_others(
        webhook_receiver, make_user, connect, v4, live_server_url):
    make_user("alice"), make_user("bob"), make_user("carol")
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], live=True)
    webhook_receiver.answer(Reply.code(120042, "not today"))
    ws = connect("alice", deviceID="alice-phone", platform="Android")
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]

    def rest(user_id, random):
        request = urllib.request.Request(
            f"{live_server_url}/api/v1/messages/", method="POST",
            data=json.dumps({"to": "bob", "elements": text, "random": random}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"UserSig {user_id}:{gen_usersig(user_id)}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    # The app refuses: every door passes its code and text to the sender.
    reply = ws.request("sendMessage", {"to": "bob", "elements": text, "random": 1})
    assert (reply["ok"], reply["code"], reply["message"]) == (False, 120042, "not today")
    assert rest("alice", 2)[1]["code"] == 120042
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 3, "MsgBody": [
                                       {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
    assert (answer["ErrorCode"], answer["ErrorInfo"]) == (120042, "not today")
    calls = webhook_receiver.wait_for(3)
    assert [c.body["MsgRandom"] for c in calls] == [1, 2, 3]
    # OptPlatform: the socket's device platform; the native REST API and /v4: RESTAPI.
    assert [c.query["OptPlatform"] for c in calls] == ["Android", "RESTAPI", "RESTAPI"]
    # ClientIP: the address of whoever sent, through every door (§14.1).
    assert [c.query["ClientIP"] for c in calls] == ["127.0.0.1"] * 3
    # ForbidBeforeSendMsgCallback: not asked.
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 4, "ForbidCallbackControl": [
                                       "ForbidBeforeSendMsgCallback"], "MsgBody": [
                                       {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
    assert answer["ErrorCode"] == 0
    # Muted (set through /v4, as an operator would): 20012 everywhere, the app not asked.
    assert v4("openconfigsvr/setnospeaking", {"Set_Account": "alice",
                                              "C2CmsgNospeakingTime": 4294967295}
              )["ErrorCode"] == 0
    reply = ws.request("sendMessage", {"to": "bob", "elements": text, "random": 5})
    assert (reply["ok"], reply["code"]) == (False, 20012)
    status, body = rest("alice", 6)
    assert (status, body["code"]) == (400, 20012)
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 7, "MsgBody": [
                                       {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
    assert answer["ErrorCode"] == 20012
    assert len(webhook_receiver.requests) == 3
    # A mute that ended lets the sender through again (to the app, which refuses).
    v4("openconfigsvr/setnospeaking", {"Set_Account": "alice", "C2CmsgNospeakingTime": 0})
    reply = ws.request("sendMessage", {"to": "bob", "elements": text, "random": 8})
    assert reply["code"] == 120042
    assert Message.objects.filter(random=4).count() == 1 and Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_before_send_wait_holds_only_the_sends_it_asks_about(
        webhook_receiver, make_user, connect):
    """The socket door's database work shares one thread per process: a before-send call
    that waited there held every other socket's send and read on the server (measured:
    3.7 s behind a receiver that never answers). Now only the send being asked about
    waits; another user's send, and reads, on the same server answer at once."""
    for user_id in ("alice", "bob", "carol", "dave"):
        make_user(user_id)
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=3000, live=True)
    webhook_receiver.answer_when(lambda r: r.body.get("From_Account") == "alice",
                                 Reply.hang(5))  # past the timeout: "deliver" after 3 s
    alice, carol = connect("alice"), connect("carol")
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    alice.send_raw(json.dumps({"id": "held", "op": "sendMessage",
                               "data": {"to": "bob", "elements": text, "random": 1}}))
    webhook_receiver.wait_for(1)  # alice's call is hanging now
    started = time.monotonic()
    reply = carol.request("sendMessage", {"to": "dave", "elements": text, "random": 2})
    took = time.monotonic() - started
    assert reply["ok"], reply
    assert took < 1.0, f"carol's send waited {took:.2f} s behind alice's callback"
    started = time.monotonic()
    page = carol.ok("getMessageList", {"conversationID": "C2Cdave"})
    assert time.monotonic() - started < 1.0
    assert [m["random"] for m in page["messageList"]] == [2]
    # Alice's send goes when its call times out (the policy "deliver"), no sooner.
    held = alice.reply_to("held", timeout=10)
    assert held["ok"], held
    assert time.monotonic() - started > 1.5
    assert sorted(Message.objects.values_list("random", flat=True)) == [1, 2]



@pytest.mark.django_db(transaction=True)
def test_a_retry_of_a_stored_message_does_not_ask_the_app_again(
        webhook_receiver, make_user, connect, live_server_url):
    """A client's retry (same receiver and random, within CHAT_DEDUP_SECONDS) gets the
    message already stored. It used to be shown to the app first, with a newly reserved
    pk: a second, different MsgKey for one message, which the app could refuse."""
    make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], live=True)
    alice = connect("alice")
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    first = alice.ok("sendMessage", {"to": "bob", "elements": text, "random": 7})
    [call] = webhook_receiver.wait_for(1)
    webhook_receiver.answer(Reply.code(1))  # the app would refuse whatever it sees now
    again = alice.ok("sendMessage", {"to": "bob", "elements": text, "random": 7})
    request = urllib.request.Request(
        f"{live_server_url}/api/v1/messages/", method="POST",
        data=json.dumps({"to": "bob", "elements": text, "random": 7}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig alice:{gen_usersig('alice')}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        by_rest = json.loads(response.read())
    assert again["ID"] == first["ID"] == by_rest["ID"]
    assert call.body["MsgKey"] == message_key(Message.objects.get())
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 1
    # Another random is a new message, and an online-only one is never a repeat (it is
    # not stored): asked (and refused).
    reply = alice.request("sendMessage", {"to": "bob", "elements": text, "random": 8})
    assert (reply["ok"], reply["code"]) == (False, 20006)
    reply = alice.request("sendMessage", {"to": "bob", "elements": text, "random": 7,
                                          "onlineUserOnly": True})
    assert (reply["ok"], reply["code"]) == (False, 20006)
    assert len(webhook_receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("verdict", ["allow", "refuse"])
def test_a_retry_sent_while_the_app_is_asked_waits_for_that_answer(
        webhook_receiver, make_user, connect, verdict):
    """A client that hears nothing sends again with the same random (here from a second
    socket of the same user, on the same server). The retry arrived while the original
    still waited for the app, found nothing stored and was shown to the app as well:
    the app saw one message twice, under two MsgKeys. Now it waits for the original's
    answer and gets the same one: the stored message, or the same refusal."""
    make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=5000, live=True)
    answer = Reply.code(0) if verdict == "allow" else Reply.code(120042, "not today")
    webhook_receiver.answer(Reply(body=answer.body, delay=1.0))  # a slow app
    first, second = connect("alice"), connect("alice")
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    frame = {"op": "sendMessage", "data": {"to": "bob", "elements": text, "random": 7}}
    first.send_raw(json.dumps({"id": "x", **frame}))
    webhook_receiver.wait_for(1)  # the original is being asked about now
    second.send_raw(json.dumps({"id": "retry", **frame}))
    original, retry = first.reply_to("x"), second.reply_to("retry")
    time.sleep(0.3)
    assert len(webhook_receiver.requests) == 1, [r.body["MsgKey"]
                                                 for r in webhook_receiver.requests]
    if verdict == "allow":
        assert original["ok"] and retry["ok"], (original, retry)
        assert retry["data"]["ID"] == original["data"]["ID"] == Message.objects.get().public_id
    else:
        assert (original["ok"], original["code"], original["message"]) \
            == (retry["ok"], retry["code"], retry["message"]) == (False, 120042, "not today")
        assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rest_retry_sent_while_the_app_is_asked_waits_for_that_answer(
        webhook_receiver, pair):
    """The same for the doors that send in the request's thread (the native REST send,
    /v4 sendmsg: message_send): a second thread's retry waits for the first's answer."""
    import threading

    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=5000)
    webhook_receiver.answer(Reply(body=Reply.code(0).body, delay=1.0))
    views = {}

    def in_thread(name):
        from django.db import connection

        try:
            views[name] = send(alice, random=9)
        finally:
            connection.close()

    original = threading.Thread(target=in_thread, args=("original",))
    original.start()
    webhook_receiver.wait_for(1)
    retry = threading.Thread(target=in_thread, args=("retry",))
    retry.start()
    original.join(10), retry.join(10)
    assert len(webhook_receiver.requests) == 1
    assert views["retry"]["ID"] == views["original"]["ID"] == Message.objects.get().public_id


@pytest.mark.django_db(transaction=True)
def test_a_retry_on_another_server_waits_for_that_answer(webhook_receiver, make_user,
                                                         connect):
    """A client whose socket dropped reconnects, maybe to another server process, and
    sends again: that process waits for the first one's answer too (the claim and the
    outcome are kept in Redis, messaging/asking.py)."""
    from tests.conftest import start_server, stop_server
    from tests.wsclient import WsClient

    make_user("alice"), make_user("bob")
    proc, url = start_server()
    other = None
    try:
        use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=5000, live=True)
        webhook_receiver.answer(Reply(body=Reply.code(0).body, delay=1.0))
        first = connect("alice")
        other = WsClient(url)
        other.login("alice", gen_usersig("alice"))
        other.wait_event("SDK_READY")
        text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
        frame = {"op": "sendMessage", "data": {"to": "bob", "elements": text, "random": 11}}
        first.send_raw(json.dumps({"id": "x", **frame}))
        webhook_receiver.wait_for(1)
        other.send_raw(json.dumps({"id": "retry", **frame}))
        original, retry = first.reply_to("x"), other.reply_to("retry")
        time.sleep(0.3)
        assert len(webhook_receiver.requests) == 1
        assert original["ok"] and retry["ok"], (original, retry)
        assert retry["data"]["ID"] == original["data"]["ID"] == Message.objects.get().public_id
        # Refused: the other server's retry is refused alike, with the app's code.
        webhook_receiver.answer(Reply(body=Reply.code(120042, "not today").body, delay=1.0))
        frame["data"]["random"] = 12
        first.send_raw(json.dumps({"id": "y", **frame}))
        webhook_receiver.wait_for(2)
        other.send_raw(json.dumps({"id": "retry2", **frame}))
        original, retry = first.reply_to("y"), other.reply_to("retry2")
        time.sleep(0.3)
        assert len(webhook_receiver.requests) == 2
        assert (retry["ok"], retry["code"], retry["message"]) \
            == (original["ok"], original["code"], original["message"]) \
            == (False, 120042, "not today")
    finally:
        if other is not None:
            other.close()
        stop_server(proc)


@pytest.mark.django_db(transaction=True)
def test_a_retry_whose_original_elsewhere_is_gone_is_sent_afresh(webhook_receiver, pair):
    """Another process claimed the message (messaging/asking.py) and died before its
    answer: the retry waits while the claim lasts, then is sent afresh (asked, stored),
    never lost."""
    import threading

    from django.core.cache import cache

    alice, bob = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=5000)
    claim = f"asking:{alice.pk}:{bob.pk}:21"
    cache.set(claim, {"token": "dead", "time": int(time.time())}, 30)
    threading.Timer(0.5, cache.delete, [claim]).start()  # its claim goes, no outcome
    started = time.monotonic()
    view = send(alice, random=21)
    assert 0.4 < time.monotonic() - started < 5
    [call] = webhook_receiver.requests
    assert view["ID"] == Message.objects.get().public_id
    assert call.body["MsgKey"] == message_key(Message.objects.get())


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_a_retry_in_the_process_still_waits(webhook_receiver, pair,
                                                            settings):
    """The claim in Redis is only for other processes: with Redis unreachable a send is
    asked about as before, and a retry in the same process still waits for it."""
    import socket
    import threading

    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=5000)
    webhook_receiver.answer(Reply(body=Reply.code(0).body, delay=1.0))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caches = settings.CACHES
    settings.CACHES = {"default": dict(caches["default"],
                                       LOCATION=f"redis://127.0.0.1:{port}/0")}
    views = {}

    def in_thread(name):
        from django.db import connection

        try:
            views[name] = send(alice, random=13)
        finally:
            connection.close()

    try:
        original = threading.Thread(target=in_thread, args=("original",))
        original.start()
        webhook_receiver.wait_for(1)
        retry = threading.Thread(target=in_thread, args=("retry",))
        retry.start()
        original.join(10), retry.join(10)
    finally:
        settings.CACHES = caches
    assert len(webhook_receiver.requests) == 1
    assert views["retry"]["ID"] == views["original"]["ID"] == Message.objects.get().public_id


@pytest.mark.django_db
def test_a_rest_api_repeat_is_not_asked_about_only_in_its_second(webhook_receiver, pair):
    """The REST API's sends repeat a message only with the same MsgRandom in the same
    second (Dedupe.SAME_SECOND): that repeat is not shown to the app, a later second's
    send with the same random is a new message, and is."""
    alice, _ = pair
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    t = int(time.time())
    first = message_send(origin=Origin.APP_ADMIN, sender=alice, to="bob", elements=TEXT,
                         random=3, time=t)
    again = message_send(origin=Origin.APP_ADMIN, sender=alice, to="bob", elements=TEXT,
                         random=3, time=t)
    assert again["ID"] == first["ID"] and len(webhook_receiver.requests) == 1
    later = message_send(origin=Origin.APP_ADMIN, sender=alice, to="bob", elements=TEXT,
                         random=3, time=t + 1)
    assert later["ID"] != first["ID"] and len(webhook_receiver.requests) == 2
    assert Message.objects.count() == 2
