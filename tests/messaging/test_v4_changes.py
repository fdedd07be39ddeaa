"""The /v4 commands on stored messages and conversations (tencent-rest.md §3.5-§3.9, §4),
over real HTTP, with the users' devices on real WebSockets where they must learn of it,
and the after-callbacks delivered to a real local receiver."""

from __future__ import annotations

import time

import pytest

from accounts import webhooks
from messaging.models import Conversation, Message
from messaging.tencent_body import message_key
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client
from tests.webhook_receiver import use_webhooks, webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def send(ws, to, s, random):
    return ws.ok("sendMessage", {"to": to, "elements": text(s), "random": random})


def stored(m: dict) -> Message:
    return Message.objects.get(pk=int(m["ID"].split("-")[0]))


def key(m: dict) -> str:
    return message_key(stored(m))


@pytest.fixture
def users(make_user):
    for name in ("alice", "bob", "carol"):
        make_user(name)


@pytest.fixture
def eager_server():
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1")
    yield url
    stop_server(proc)


def code(answer: dict) -> int:
    return answer["ErrorCode"]


def test_admin_msgwithdraw(users, connect, v4):
    alice, bob = connect("alice"), connect("bob")
    m = send(alice, "bob", "secret", 1)
    Message.objects.filter(pk=stored(m).pk).update(time=m["time"] - 3600)  # no time limit
    k = key(m)
    base = {"From_Account": "alice", "To_Account": "bob"}
    assert code(v4("openim/admin_msgwithdraw", {**base, "MsgKey": "nope"})) == 90054
    assert code(v4("openim/admin_msgwithdraw", {**base, "MsgKey": "999999_1_1"})) == 20022
    assert code(v4("openim/admin_msgwithdraw", {"From_Account": "bob", "To_Account": "alice",
                                                 "MsgKey": k})) == 20022
    assert code(v4("openim/admin_msgwithdraw", {"To_Account": "bob", "MsgKey": k})) == 90008
    assert code(v4("openim/admin_msgwithdraw", {**base, "MsgKey": k})) == 0
    assert code(v4("openim/admin_msgwithdraw", {**base, "MsgKey": k})) == 20023
    for ws in (alice, bob):
        ev = ws.wait_event("MESSAGE_REVOKED")
        assert ev["data"][0]["ID"] == stored(m).public_id and ev["data"][0]["isRevoked"]
    assert stored(m).is_revoked and stored(m).elements == []
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0,
                                          "MaxTime": int(time.time()) + 10})
    if roam["ErrorCode"] == 0:  # the history command, where it is there
        assert all(not item.get("MsgBody") for item in roam["MsgList"])


def test_modify_c2c_msg(users, connect, v4):
    alice, bob = connect("alice"), connect("bob")
    m = send(alice, "bob", "helo", 2)
    base = {"From_Account": "alice", "To_Account": "bob", "MsgKey": key(m)}
    assert code(v4("openim/modify_c2c_msg", base)) == 90001
    bad = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]
    assert code(v4("openim/modify_c2c_msg", {**base, "MsgBody": bad})) == 90010
    answer = v4("openim/modify_c2c_msg", {
        **base, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}],
        "CloudCustomData": "edited"})
    assert code(answer) == 0
    ev = bob.wait_event("MESSAGE_MODIFIED")
    assert ev["data"][0]["elements"] == text("hello")
    assert ev["data"][0]["cloudCustomData"] == "edited" and ev["data"][0]["isModified"]
    alice.wait_event("MESSAGE_MODIFIED")
    row = stored(m)
    assert row.is_modified and row.elements == text("hello")


def test_admin_set_msg_read_and_unread_numbers(users, connect, v4):
    alice, carol = connect("alice"), connect("carol")
    early = [send(alice, "bob", f"e{i}", 10 + i) for i in range(2)]
    Message.objects.filter(pk__in=[stored(m).pk for m in early]).update(
        time=int(time.time()) - 100)
    send(alice, "bob", "late", 20)
    send(carol, "bob", "c", 21)
    answer = v4("openim/get_c2c_unread_msg_num", {"To_Account": "bob"})
    assert answer["AllC2CUnreadMsgNum"] == 4
    answer = v4("openim/get_c2c_unread_msg_num",
                {"To_Account": "bob", "Peer_Account": ["alice", "carol", "ghost"]})
    assert answer["C2CUnreadMsgNumList"] == [{"Peer_Account": "alice", "C2CUnreadMsgNum": 3},
                                             {"Peer_Account": "carol", "C2CUnreadMsgNum": 1}]
    assert answer["ErrorList"] == [{"Peer_Account": "ghost", "ErrorCode": 70107}]
    assert code(v4("openim/get_c2c_unread_msg_num",
                   {"To_Account": "bob", "Peer_Account": [f"u{i}" for i in range(11)]})) != 0
    assert code(v4("openim/get_c2c_unread_msg_num", {"To_Account": "ghost"})) == 90008

    # Read up to a time (a string, as documented): the two early ones are read.
    answer = v4("openim/admin_set_msg_read", {"Report_Account": "bob", "Peer_Account": "alice",
                                              "MsgReadTime": str(int(time.time()) - 50)})
    assert code(answer) == 0
    assert Conversation.objects.get(owner__user_id="bob", peer__user_id="alice") \
        .unread_count == 1
    ev = alice.wait_event("MESSAGE_READ_BY_PEER")
    assert ev["data"][0]["peerReadSeq"] == early[-1]["seq"]
    # Then everything (no time: now); an integer time works too.
    assert code(v4("openim/admin_set_msg_read", {"Report_Account": "bob",
                                                 "Peer_Account": "carol",
                                                 "MsgReadTime": int(time.time())})) == 0
    assert code(v4("openim/admin_set_msg_read", {"Report_Account": "bob",
                                                 "Peer_Account": "alice"})) == 0
    assert v4("openim/get_c2c_unread_msg_num", {"To_Account": "bob"})["AllC2CUnreadMsgNum"] == 0
    assert code(v4("openim/admin_set_msg_read", {"Report_Account": "bob",
                                                 "Peer_Account": "alice",
                                                 "MsgReadTime": "soon"})) == 90001
    assert code(v4("openim/admin_set_msg_read", {"Report_Account": "ghost",
                                                 "Peer_Account": "alice"})) == 90008


def test_c2c_msg_read_receipt(users, connect, v4):
    alice = connect("alice")
    m1, m2 = send(alice, "bob", "a", 30), send(alice, "bob", "b", 31)
    info = [{"From_Account": "alice", "To_Account": "bob", "MsgKey": key(m1)}]
    body = {"Operator_Account": "bob", "Peer_Account": "alice", "C2CMsgInfo": info}
    assert code(v4("openim/c2c_msg_read_receipt", dict(body, Operator_Account="carol",
                                                       C2CMsgInfo=[dict(info[0])]))) == 20022
    assert code(v4("openim/c2c_msg_read_receipt", body)) == 0
    ev = alice.wait_event("MESSAGE_READ_BY_PEER")
    assert ev["data"][0]["messageIDList"] == [m1["ID"]]
    flags = {h["ID"]: h["isPeerRead"] for h in alice.ok(
        "getMessageList", {"conversationID": "C2Cbob"})["messageList"]}
    assert flags == {m1["ID"]: True, m2["ID"]: False}


def test_recentcontact_get_list_pages_and_pins(users, make_user, connect, v4):
    alice = connect("alice")
    peers = [f"p{i:02d}" for i in range(5)]
    for p in peers:
        make_user(p)
    for i, p in enumerate(peers):
        send(alice, p, "hi", 100 + i)
    # Distinct times, oldest p00, newest p04; p01 shares p02's time (a tie).
    now = int(time.time())
    times = {"p00": now - 50, "p01": now - 30, "p02": now - 30, "p03": now - 20, "p04": now - 10}
    for p, t in times.items():
        Message.objects.filter(sender__user_id="alice", receiver__user_id=p).update(time=t)
    alice.ok("pinConversation", {"conversationID": "C2Cp00", "isPinned": True})

    def page(**cursors):
        body = {"From_Account": "alice", "TimeStamp": 0, "StartIndex": 0, "TopTimeStamp": 0,
                "TopStartIndex": 0, "AssistFlags": 7, **cursors}
        return v4("recentcontact/get_list", body)

    first = page()
    assert first["ActionStatus"] == "OK" and first["ErrorDisplay"] == ""
    items = first["SessionItem"]
    assert [(i["To_Account"], i["TopFlag"]) for i in items] == [
        ("p00", 1), ("p04", 0), ("p03", 0), ("p01", 0), ("p02", 0)]
    assert items[1]["MsgTime"] == times["p04"] and items[1]["Type"] == 1
    assert first["CompleteFlag"] == 1
    # Without bit 0 a pinned conversation is like any other.
    flat = v4("recentcontact/get_list", {"From_Account": "alice", "TimeStamp": 0,
                                         "StartIndex": 0, "TopTimeStamp": 0,
                                         "TopStartIndex": 0, "AssistFlags": 0})
    assert [i["To_Account"] for i in flat["SessionItem"]] == ["p04", "p03", "p01", "p02", "p00"]
    assert {i["TopFlag"] for i in flat["SessionItem"]} == {0}

    # Pages of two follow the cursors: no repeat, no gap, through the tie.
    from accounts.models import User
    from messaging import selectors
    user = User.objects.get(user_id="alice")
    seen, cursor = [], {}
    for _ in range(5):
        got = selectors.recent_contacts(user=user, assist_flags=0, page=2, **cursor)
        seen += [i["To_Account"] for i in got["SessionItem"]]
        if got["CompleteFlag"]:
            break
        cursor = {"timestamp": got["TimeStamp"], "start_index": got["StartIndex"]}
    assert seen == ["p04", "p03", "p01", "p02", "p00"]

    assert code(v4("recentcontact/get_list", {"From_Account": "ghost"})) == 50001
    assert code(v4("recentcontact/get_list", {"From_Account": "alice",
                                              "TimeStamp": "x"})) == 50002


def test_recentcontact_delete(users, connect, v4):
    alice, bob = connect("alice"), connect("bob", deviceID="b1")
    send(alice, "bob", "one", 200)
    send(connect("carol"), "bob", "two", 201)
    body = {"From_Account": "bob", "Type": 1, "To_Account": "alice"}
    assert code(v4("recentcontact/delete", {**body, "Type": 2})) == 50002
    assert code(v4("recentcontact/delete", {**body, "To_Account": "ghost"})) == 50001
    assert code(v4("recentcontact/delete", {**body, "ClearRamble": 1})) == 0
    ev = bob.wait_event("CONVERSATION_LIST_UPDATED", where=lambda e: e["data"][0].get(
        "isDeleted"))
    assert ev["data"][0]["conversationID"] == "C2Calice"
    listed = v4("recentcontact/get_list", {"From_Account": "bob", "AssistFlags": 7})
    assert [i["To_Account"] for i in listed["SessionItem"]] == ["carol"]
    assert bob.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"] == []
    assert len(alice.ok("getMessageList", {"conversationID": "C2Cbob"})["messageList"]) == 1
    # Without ClearRamble the history stays.
    assert code(v4("recentcontact/delete", {"From_Account": "bob", "Type": 1,
                                            "To_Account": "carol"})) == 0
    assert len(bob.ok("getMessageList", {"conversationID": "C2Ccarol"})["messageList"]) == 1


def test_recall_and_read_fire_the_after_callbacks(users, eager_server, webhook_receiver):  # noqa: F811
    from accounts.usersig import gen_usersig
    from tests.wsclient import WsClient

    use_webhooks(webhook_receiver, [webhooks.AFTER_MSG_WITHDRAW, webhooks.AFTER_MSG_REPORT],
                 live=True)
    alice, bob = WsClient(eager_server), WsClient(eager_server)
    try:
        for ws, name in ((alice, "alice"), (bob, "bob")):
            ws.login(name, gen_usersig(name))
            ws.wait_event("SDK_READY")
        m1 = send(alice, "bob", "x", 300)
        send(alice, "bob", "y", 301)
        alice.ok("revokeMessage", {"messageID": m1["ID"]})
        [withdraw] = webhook_receiver.wait_for(1)
        assert withdraw.query["CallbackCommand"] == webhooks.AFTER_MSG_WITHDRAW
        assert withdraw.body["From_Account"] == "alice" and withdraw.body["To_Account"] == "bob"
        assert withdraw.body["MsgKey"] == key(m1)
        assert withdraw.body["UnreadMsgNum"] == 1  # the recalled one no longer counts
        bob.ok("setMessageRead", {"conversationID": "C2Calice"})
        report = webhook_receiver.wait_for(2)[1]
        assert report.query["CallbackCommand"] == webhooks.AFTER_MSG_REPORT
        assert report.body["Report_Account"] == "bob" and report.body["Peer_Account"] == "alice"
        assert report.body["UnreadMsgNum"] == 0 and report.body["LastReadTime"] > 0
        V4Client(eager_server)("openim/admin_set_msg_read",
                               {"Report_Account": "bob", "Peer_Account": "alice"})
        third = webhook_receiver.wait_for(3)[2]
        assert third.query["CallbackCommand"] == webhooks.AFTER_MSG_REPORT
        assert third.query["OptPlatform"] == "RESTAPI"
    finally:
        alice.close()
        bob.close()
