"""Receive options over each door: setMessageRemindType (socket op, native REST; the
conversations show messageRemindType in getConversationList and in
CONVERSATION_LIST_UPDATED to the user's devices) and the global option with its quiet
window (setAllReceiveMessageOpt / getAllReceiveMessageOpt, socket and REST). Real
sockets and HTTP against the live server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from accounts.usersig import gen_usersig
from messaging.models import Conversation
from push.models import ReceiveOption

from .pipeline_helpers import send

pytestmark = pytest.mark.django_db(transaction=True)


def rest(url: str, method: str, path: str, user_id: str, data=None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/v1/{path}", method=method,
        data=None if data is None else json.dumps(data).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig {user_id}:{gen_usersig(user_id)}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_remind_type_over_the_socket_shows_on_the_conversation(make_user, connect):
    alice, bob = make_user("alice"), make_user("bob")
    make_user("carol")
    send(bob, "alice")
    phone, web = connect("alice", deviceID="a-phone"), connect("alice", deviceID="a-web")
    assert phone.ok("setMessageRemindType", {"userIDList": ["bob", "carol"],
                                             "messageRemindType": "AcceptNotNotify"}) == {}
    event = web.wait_event("CONVERSATION_LIST_UPDATED")
    assert [(c["conversationID"], c["messageRemindType"]) for c in event["data"]] == \
        [("C2Cbob", "AcceptNotNotify")]  # carol's is not in the list yet (no message)
    convs = web.ok("getConversationList")["conversationList"]
    assert [(c["conversationID"], c["messageRemindType"]) for c in convs] == \
        [("C2Cbob", "AcceptNotNotify")]
    # carol's option holds from her first message.
    assert Conversation.objects.get(owner=alice, peer__user_id="carol").message_remind_type \
        == "AcceptNotNotify"
    send(make_user("dave"), "alice")
    convs = {c["conversationID"]: c for c in web.ok("getConversationList")["conversationList"]}
    assert convs["C2Cdave"]["messageRemindType"] == "AcceptAndNotify"
    assert bob is not None


@pytest.mark.parametrize("data, code", [
    ({"userIDList": ["bob"], "messageRemindType": "Mute"}, 910021),
    ({"userIDList": ["bob"]}, 910021),
    ({"userIDList": [], "messageRemindType": "Discard"}, 910022),
    ({"userIDList": "bob", "messageRemindType": "Discard"}, 910022),
    ({"userIDList": [f"u{i}" for i in range(31)], "messageRemindType": "Discard"}, 910022),
    ({"userIDList": [7], "messageRemindType": "Discard"}, 910022),
    ({"userIDList": ["nobody"], "messageRemindType": "Discard"}, 20003),
])
def test_remind_type_refuses_bad_input(make_user, connect, data, code):
    make_user("alice"), make_user("bob")
    reply = connect("alice").request("setMessageRemindType", data)
    assert not reply["ok"] and reply["code"] == code, reply


def test_remind_type_over_rest(make_user, live_server_url):
    alice = make_user("alice")
    make_user("bob")
    status, body = rest(live_server_url, "POST", "conversations/remind-type/", "alice",
                        {"userIDList": ["bob"], "messageRemindType": "Discard"})
    assert status == 200 and body == {}, body
    assert Conversation.objects.get(owner=alice).message_remind_type == "Discard"
    status, body = rest(live_server_url, "POST", "conversations/remind-type/", "alice",
                        {"userIDList": ["bob"], "messageRemindType": "x"})
    assert status == 400 and body["code"] == 910021


def test_the_global_option_over_the_socket_and_rest(make_user, connect, live_server_url):
    alice = make_user("alice")
    ws = connect("alice")
    assert ws.ok("getAllReceiveMessageOpt") == {
        "allReceiveMessageOpt": "AcceptAndNotify", "startHour": 0, "startMinute": 0,
        "startSecond": 0, "duration": 0}
    got = ws.ok("setAllReceiveMessageOpt", {"opt": 2, "startHour": 22, "startMinute": 30,
                                            "startSecond": 5, "duration": 8 * 3600})
    assert got == {"allReceiveMessageOpt": "AcceptNotNotify", "startHour": 22,
                   "startMinute": 30, "startSecond": 5, "duration": 28800}
    row = ReceiveOption.objects.get(user=alice)
    assert row.quiet_at(23 * 3600) and row.quiet_at(3600) and not row.quiet_at(12 * 3600)
    status, body = rest(live_server_url, "GET", "push/receive-option/", "alice")
    assert status == 200 and body == got
    status, body = rest(live_server_url, "PUT", "push/receive-option/", "alice",
                        {"opt": "AcceptAndNotify"})
    assert status == 200 and body["allReceiveMessageOpt"] == "AcceptAndNotify"
    assert not ReceiveOption.objects.get(user=alice).quiet_at(23 * 3600)
    for bad in ({"opt": 1}, {"opt": True}, {"opt": 2, "startHour": 24},
                {"opt": 2, "duration": 86401}, {"opt": 2, "startMinute": -1},
                {"opt": 2, "startSecond": "5"}):
        reply = ws.request("setAllReceiveMessageOpt", bad)
        assert not reply["ok"] and reply["code"] == 910020, (bad, reply)
        status, body = rest(live_server_url, "PUT", "push/receive-option/", "alice", bad)
        assert status == 400 and body["code"] == 910020, (bad, body)
