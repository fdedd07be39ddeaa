"""Message reactions over real sockets (messaging/message_ws.py): the four ops, the
event on the peer's device and the actor's other device, replayed at a later login,
and bad input answered with its code."""

from __future__ import annotations

import pytest

from accounts.models import SyncEntry
from accounts.usersig import gen_usersig

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def err(ws, op, data) -> int:
    reply = ws.request(op, data)
    assert not reply["ok"], reply
    return reply["code"]


@pytest.fixture
def trio(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol")


def test_socket_ops_reach_both_people_and_are_replayed(trio, connect):
    alice, bob = connect("alice", deviceID="a1"), connect("bob", deviceID="b1")
    laptop = connect("bob", deviceID="b2", platform="Windows")
    carol = connect("carol", deviceID="c1")
    m = alice.ok("sendMessage", {"to": "bob", "elements": text("lunch?"), "random": 1})
    bob.wait_event("MESSAGE_RECEIVED")
    bob_since = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq").first().seq

    assert bob.ok("addMessageReaction", {"messageID": m["ID"], "reactionID": "👍"}) == {}
    ev = alice.wait_event("MESSAGE_REACTIONS_UPDATED")
    bob_card = {"userID": "bob", "nick": "Bob", "avatar": ""}
    assert ev["data"] == {"messageID": m["ID"], "reactionList": [
        {"reactionID": "👍", "totalUserCount": 1, "partialUserList": [bob_card],
         "reactedByMyself": False}]}
    assert ev["seq"] > 0
    mine = laptop.wait_event("MESSAGE_REACTIONS_UPDATED")  # bob's other device
    assert mine["data"]["reactionList"][0]["reactedByMyself"] is True
    assert err(bob, "addMessageReaction", {"messageID": m["ID"], "reactionID": "👍"}) == 23007

    alice.ok("addMessageReaction", {"messageID": m["ID"], "reactionID": "👍"})
    got = alice.ok("getMessageReactions", {"messageIDList": [m["ID"]],
                                           "maxUserCountPerReaction": 1})
    assert got == {"resultList": [{"messageID": m["ID"], "reactionList": [
        {"reactionID": "👍", "totalUserCount": 2, "partialUserList": [bob_card],
         "reactedByMyself": True}]}]}
    page = bob.ok("getAllUserListOfMessageReaction", {"messageID": m["ID"], "reactionID": "👍",
                                                      "count": 1})
    assert page == {"userList": [bob_card], "nextSeq": 1, "isCompleted": False}
    page = bob.ok("getAllUserListOfMessageReaction", {"messageID": m["ID"], "reactionID": "👍",
                                                      "nextSeq": 1})
    assert [u["userID"] for u in page["userList"]] == ["alice"] and page["isCompleted"]

    assert bob.ok("removeMessageReaction", {"messageID": m["ID"], "reactionID": "👍"}) == {}
    ev = alice.wait_event("MESSAGE_REACTIONS_UPDATED",
                          where=lambda e: e["data"]["reactionList"][0]["totalUserCount"] == 1)
    assert ev["data"]["reactionList"][0]["reactedByMyself"] is True
    assert err(bob, "removeMessageReaction", {"messageID": m["ID"], "reactionID": "👍"}) == 23008

    # carol is neither of the two; bad input gets its code, never a 500.
    assert err(carol, "addMessageReaction", {"messageID": m["ID"], "reactionID": "👍"}) == 23004
    assert err(carol, "getMessageReactions", {"messageIDList": [m["ID"]]}) == 23004
    for bad in ("", "x" * 101, None, 7, ["👍"]):
        assert err(bob, "addMessageReaction", {"messageID": m["ID"], "reactionID": bad}) \
            == 10004, bad
    for data in ({"messageIDList": []}, {"messageIDList": "x"}, {},
                 {"messageIDList": [m["ID"]] * 21},
                 {"messageIDList": [m["ID"]], "maxUserCountPerReaction": 11}):
        assert err(bob, "getMessageReactions", data) == 10004, data
    assert err(bob, "getMessageReactions", {"messageIDList": ["nope"]}) == 910003
    assert err(bob, "getAllUserListOfMessageReaction",
               {"messageID": m["ID"], "reactionID": "👍", "count": 0}) == 10004

    # A recall takes the reactions: a read shows none, a new one is refused.
    alice.ok("revokeMessage", {"messageID": m["ID"]})
    assert err(bob, "addMessageReaction", {"messageID": m["ID"], "reactionID": "🎉"}) == 20023
    got = bob.ok("getMessageReactions", {"messageIDList": [m["ID"]]})
    assert got["resultList"][0]["reactionList"] == []

    # bob's phone was away since before the message: it gets the changes replayed.
    phone = connect()
    phone.login("bob", gen_usersig("bob"), deviceID="b1", platform="Android",
                since=bob_since)
    frames = []
    while (frame := phone.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    replayed = [[(r["reactionID"], r["totalUserCount"], r["reactedByMyself"])
                 for r in f["data"]["reactionList"]]
                for f in frames if f.get("event") == "MESSAGE_REACTIONS_UPDATED"]
    assert replayed == [[("👍", 1, True)], [("👍", 2, True)], [("👍", 1, False)]]
