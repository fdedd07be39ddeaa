"""Changes to stored messages and conversations over the WebSocket door (real uvicorn,
real sockets, PostgreSQL): recall, modify, delete, conversation delete/clear/pin/draft,
reads and read receipts."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import SyncEntry, User
from accounts.services import device_login
from messaging.changes import conversation_mark_read, message_revoke
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def send(ws, to, s, random):
    return ws.ok("sendMessage", {"to": to, "elements": text(s), "random": random})


def err(ws, op, data):
    reply = ws.request(op, data)
    assert not reply["ok"], reply
    return reply["code"]


def history(ws, cid):
    return ws.ok("getMessageList", {"conversationID": cid, "count": 100})["messageList"]


def convs(ws):
    return {c["conversationID"]: c for c in ws.ok("getConversationList")["conversationList"]}


@pytest.fixture
def pair(make_user, connect):
    make_user("alice")
    make_user("bob")
    make_user("carol")
    return connect("alice", deviceID="a1"), connect("bob", deviceID="b1")


def test_recall_by_sender_reaches_both_sides_and_empties_the_content(pair, connect):
    alice, bob = pair
    alice2 = connect("alice", deviceID="a2")
    m = send(alice, "bob", "oops", 1)
    bob.wait_event("MESSAGE_RECEIVED")
    assert convs(bob)["C2Calice"]["unreadCount"] == 1

    # Only the sender may recall: for the receiver it is not theirs.
    assert err(bob, "revokeMessage", {"messageID": m["ID"]}) == 20022
    assert err(alice, "revokeMessage", {"messageID": "12345678-1-1"}) == 20022
    assert err(alice, "revokeMessage", {"messageID": 7}) == 910003

    revoked = alice.ok("revokeMessage", {"messageID": m["ID"]})
    assert revoked["ID"] == m["ID"] and revoked["isRevoked"] is True
    assert revoked["elements"] == []
    assert err(alice, "revokeMessage", {"messageID": m["ID"]}) == 20023

    for ws, cid in ((bob, "C2Calice"), (alice2, "C2Cbob")):
        ev = ws.wait_event("MESSAGE_REVOKED")
        assert ev["seq"] > 0 and ev["data"][0]["ID"] == m["ID"]
        assert ev["data"][0]["conversationID"] == cid and ev["data"][0]["elements"] == []
        conv = ws.wait_event("CONVERSATION_LIST_UPDATED",
                             where=lambda e: e["data"][0].get("lastMessage", {}).get("isRevoked"))
        assert conv["data"][0]["conversationID"] == cid
    # The unread recalled message no longer counts.
    bob.wait_event("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED", where=lambda e: e["data"] == 0)
    assert convs(bob)["C2Calice"]["unreadCount"] == 0
    # History keeps the place, not the content; storage too.
    [h] = history(bob, "C2Calice")
    assert h["ID"] == m["ID"] and h["isRevoked"] is True and h["elements"] == []
    stored = Message.objects.get(pk=int(m["ID"].split("-")[0]))
    assert stored.is_revoked and stored.elements == []
    kinds = SyncEntry.objects.filter(kind=SyncEntry.Kind.REVOKE).values_list("user__user_id",
                                                                              flat=True)
    assert sorted(kinds) == ["alice", "bob"]


def test_recall_time_limit(pair):
    alice, _ = pair
    m = send(alice, "bob", "old", 2)
    Message.objects.filter(pk=int(m["ID"].split("-")[0])).update(time=m["time"] - 121)
    assert err(alice, "revokeMessage", {"messageID": m["ID"]}) == 20016
    assert not Message.objects.get(pk=int(m["ID"].split("-")[0])).is_revoked


def test_modify_by_sender_and_the_race_loses_with_20028(pair, connect):
    alice, bob = pair
    alice2 = connect("alice", deviceID="a2")
    m = send(alice, "bob", "helo", 3)
    bob.wait_event("MESSAGE_RECEIVED")
    assert m["version"] == ""
    assert err(bob, "modifyMessage", {"messageID": m["ID"], "elements": text("x")}) == 20022
    assert err(alice, "modifyMessage", {"messageID": m["ID"]}) == 910003
    assert err(alice, "modifyMessage", {"messageID": m["ID"],
                                        "elements": [{"type": "TIMNope", "payload": {}}]}) == 90010
    assert err(alice, "modifyMessage", {"messageID": m["ID"],
                                        "cloudCustomData": "x" * 13000}) == 93000

    # Two devices edit the same version at once: exactly one wins.
    results = {}

    def edit(ws, s):
        results[s] = ws.request("modifyMessage", {"messageID": m["ID"], "elements": text(s),
                                                  "version": ""})

    threads = [threading.Thread(target=edit, args=(ws, s))
               for ws, s in ((alice, "hello"), (alice2, "hallo"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    oks = [s for s, r in results.items() if r["ok"]]
    fails = [r["code"] for r in results.values() if not r["ok"]]
    assert len(oks) == 1 and fails == [20028]
    won = results[oks[0]]["data"]
    assert won["isModified"] is True and won["elements"] == text(oks[0]) and won["version"]

    ev = bob.wait_event("MESSAGE_MODIFIED")
    assert ev["data"][0]["elements"] == text(oks[0]) and ev["data"][0]["flow"] == "in"
    # With the version it read, the next edit goes through; without one, last wins.
    again = alice.ok("modifyMessage", {"messageID": m["ID"], "cloudCustomData": "cc",
                                       "version": won["version"]})
    assert again["cloudCustomData"] == "cc" and again["elements"] == text(oks[0])
    assert again["version"] != won["version"]
    [h] = history(bob, "C2Calice")
    assert h["isModified"] and h["elements"] == text(oks[0]) and h["cloudCustomData"] == "cc"
    assert convs(bob)["C2Calice"]["lastMessage"]["cloudCustomData"] == "cc"
    alice.ok("revokeMessage", {"messageID": m["ID"]})
    assert err(alice, "modifyMessage", {"messageID": m["ID"], "elements": text("z")}) == 20023


def test_delete_messages_hides_them_from_the_caller_only(pair, connect):
    alice, bob = pair
    alice2 = connect("alice", deviceID="a2")
    m1, m2, m3 = (send(alice, "bob", f"m{i}", 10 + i) for i in range(3))
    other = send(alice, "carol", "c", 20)
    assert err(alice, "deleteMessage", {"messageIDList": []}) == 910003
    assert err(alice, "deleteMessage", {"messageIDList": [m1["ID"], other["ID"]]}) == 910003
    assert err(bob, "deleteMessage", {"messageIDList": [other["ID"]]}) == 20022

    out = alice.ok("deleteMessage", {"messageIDList": [m3["ID"], m2["ID"]]})
    assert sorted(out["messageIDList"]) == sorted([m2["ID"], m3["ID"]])
    ev = alice2.wait_event("MESSAGE_DELETED")
    assert ev["seq"] and ev["data"]["conversationID"] == "C2Cbob"
    # The last message was deleted: the conversation shows the newest remaining one.
    conv = alice2.wait_event("CONVERSATION_LIST_UPDATED",
                             where=lambda e: "seq" in e
                             and e["data"][0]["conversationID"] == "C2Cbob"
                             and "lastMessage" in e["data"][0]
                             and e["data"][0]["lastMessage"]["ID"] == m1["ID"])
    assert conv["seq"]
    assert [h["ID"] for h in history(alice, "C2Cbob")] == [m1["ID"]]
    assert [h["ID"] for h in history(bob, "C2Calice")] == [m1["ID"], m2["ID"], m3["ID"]]
    assert convs(alice)["C2Cbob"]["lastMessage"]["ID"] == m1["ID"]
    assert convs(bob)["C2Calice"]["lastMessage"]["ID"] == m3["ID"]
    # The receiver deletes an unread message: it stops counting.
    assert convs(bob)["C2Calice"]["unreadCount"] == 3
    bob.ok("deleteMessage", {"messageIDList": [m1["ID"]]})
    assert convs(bob)["C2Calice"]["unreadCount"] == 2
    assert [h["ID"] for h in history(bob, "C2Calice")] == [m2["ID"], m3["ID"]]


def test_delete_and_clear_conversation(pair, connect):
    alice, bob = pair
    bob2 = connect("bob", deviceID="b2")
    m1 = send(alice, "bob", "one", 30)
    send(carol := connect("carol"), "bob", "from carol", 31)
    assert convs(bob)["C2Calice"]["unreadCount"] == 1
    bob.ok("pinConversation", {"conversationID": "C2Calice", "isPinned": True})
    bob.ok("setConversationDraft", {"conversationID": "C2Calice", "draftText": "unsent"})

    assert bob.ok("deleteConversation", {"conversationID": "C2Calice"}) == {
        "conversationIDList": ["C2Calice"]}
    ev = bob2.wait_event("CONVERSATION_LIST_UPDATED",
                         where=lambda e: e["data"][0].get("isDeleted"))
    assert ev["data"] == [{"conversationID": "C2Calice", "isDeleted": True}] and ev["seq"]
    listed = convs(bob)
    assert "C2Calice" not in listed and "C2Ccarol" in listed
    assert bob.ok("getTotalUnreadMessageCount") == 1
    assert history(bob, "C2Calice") == []
    assert [h["ID"] for h in history(alice, "C2Cbob")] == [m1["ID"]]  # alice keeps hers
    # A new message brings it back, with only the new message in the history, as a new
    # conversation: not pinned, no draft.
    m2 = send(alice, "bob", "two", 32)
    assert [h["ID"] for h in history(bob, "C2Calice")] == [m2["ID"]]
    back = convs(bob)["C2Calice"]
    assert (back["unreadCount"], back["isPinned"], back["draftText"]) == (1, False, ""), back

    # Delete without clearing keeps the history.
    bob.ok("deleteConversation", {"conversationID": "C2Ccarol", "clearHistoryMessage": False})
    assert "C2Ccarol" not in convs(bob)
    assert len(history(bob, "C2Ccarol")) == 1
    # Deleting what does not exist is fine; a bad ID is not.
    assert bob.ok("deleteConversation", {"conversationIDList": ["C2Ccarol"]})
    assert err(bob, "deleteConversation", {"conversationID": "GROUPx"}) == 910003
    assert err(bob, "deleteConversation", {"conversationID": "C2Cnobody"}) == 20003

    # clearHistoryMessage: stays listed, empty.
    bob.ok("clearHistoryMessage", {"conversationID": "C2Calice"})
    c = convs(bob)["C2Calice"]
    assert c["lastMessage"] is None and c["unreadCount"] == 0
    assert history(bob, "C2Calice") == []
    assert len(history(alice, "C2Cbob")) == 2
    carol.close()


def test_pin_and_draft_reach_the_other_devices(pair, connect):
    alice, bob = pair
    alice2 = connect("alice", deviceID="a2")
    send(alice, "bob", "x", 40)
    send(alice, "carol", "y", 41)
    assert err(alice, "pinConversation", {"conversationID": "C2Cbob", "isPinned": 1}) == 910003
    assert err(alice, "pinConversation", {"conversationID": "C2Calice", "isPinned": True}) \
        == 910004
    alice.ok("pinConversation", {"conversationID": "C2Cbob", "isPinned": True})
    ev = alice2.wait_event("CONVERSATION_LIST_UPDATED",
                           where=lambda e: e["data"][0].get("isPinned"))
    assert ev["data"][0]["conversationID"] == "C2Cbob" and ev["seq"]
    assert list(convs(alice))[0] == "C2Cbob"  # pinned first though older
    alice.ok("setConversationDraft", {"conversationID": "C2Ccarol", "draftText": "later"})
    ev = alice2.wait_event("CONVERSATION_LIST_UPDATED",
                           where=lambda e: e["data"][0].get("draftText") == "later")
    assert convs(alice)["C2Ccarol"]["draftText"] == "later"
    alice.ok("pinConversation", {"conversationID": "C2Cbob", "isPinned": False})
    assert not Conversation.objects.get(owner__user_id="alice", peer__user_id="bob").is_pinned


def test_read_receipt_for_messages(pair):
    alice, bob = pair
    m1, m2, m3 = (send(alice, "bob", f"r{i}", 50 + i) for i in range(3))
    # Only messages one received.
    mine = send(bob, "alice", "mine", 60)
    assert err(bob, "sendMessageReadReceipt", {"messageIDList": [mine["ID"]]}) == 20022
    alice.events.clear()
    bob.ok("sendMessageReadReceipt", {"messageIDList": [m2["ID"]]})
    ev = alice.wait_event("MESSAGE_READ_BY_PEER", where=lambda e: e["data"][0].get(
        "messageIDList"))
    assert ev["data"][0]["conversationID"] == "C2Cbob"
    assert ev["data"][0]["messageIDList"] == [m2["ID"]]
    assert ev["data"][0]["peerReadSeq"] == m2["seq"]
    flags = {h["ID"]: h["isPeerRead"] for h in history(alice, "C2Cbob")}
    assert flags[m2["ID"]] and not flags[m3["ID"]]
    assert convs(bob)["C2Calice"]["unreadCount"] == 1  # m3 is still unread
    bob.ok("setMessageRead", {"conversationID": "C2Calice"})
    assert convs(bob)["C2Calice"]["unreadCount"] == 0
    assert all(h["isPeerRead"] for h in history(alice, "C2Cbob") if h["flow"] == "out")
    assert m1["ID"] in {h["ID"] for h in history(alice, "C2Cbob")}


def test_a_read_updates_the_senders_conversation_with_peer_read_time(pair, connect):
    """The sender's devices get MESSAGE_READ_BY_PEER and then their conversation with
    the new peerReadTime (and isPeerRead on its last message), in their chain of seqs;
    a device that was away gets both replayed."""
    alice, bob = pair
    m = send(alice, "bob", "read me", 80)
    bob.wait_event("MESSAGE_RECEIVED")
    head = SyncEntry.objects.filter(user__user_id="alice").order_by("-seq") \
        .values_list("seq", flat=True).first()
    alice.drain(quiet=0.2)
    assert convs(alice)["C2Cbob"]["peerReadTime"] == 0

    bob.ok("setMessageRead", {"conversationID": "C2Calice"})
    receipt = alice.wait_event("MESSAGE_READ_BY_PEER")
    updated = alice.wait_event("CONVERSATION_LIST_UPDATED")
    (conv,) = updated["data"]
    assert conv["conversationID"] == "C2Cbob"
    assert conv["peerReadTime"] == receipt["data"][0]["peerReadTime"] > 0
    assert conv["lastMessage"]["ID"] == m["ID"] and conv["lastMessage"]["isPeerRead"]
    assert receipt["seq"] == head + 1
    assert (updated["prevSeq"], updated["seq"]) == (head + 1, head + 2)  # the chain holds
    assert convs(alice)["C2Cbob"]["peerReadTime"] == conv["peerReadTime"]

    # A read that moves nothing sends nothing to the sender.
    bob.ok("setMessageRead", {"conversationID": "C2Calice"})
    assert not [f for f in alice.drain(quiet=0.3) if f.get("event") in (
        "MESSAGE_READ_BY_PEER", "CONVERSATION_LIST_UPDATED")]

    # A device that was away (it logged in before) replays both, in order.
    device_login(user=User.objects.get(user_id="alice"), device_id="a2", platform="Android")
    later = connect("alice", deviceID="a2", since=head)
    replayed = [f for f in later.drain(quiet=0.3) if f.get("seq", 0) > head]
    assert [(f["event"], f["seq"]) for f in replayed[:2]] == [
        ("MESSAGE_READ_BY_PEER", head + 1), ("CONVERSATION_LIST_UPDATED", head + 2)]
    assert replayed[1]["data"][0]["peerReadTime"] == conv["peerReadTime"]


def test_a_read_does_not_bring_back_the_senders_deleted_conversation(pair):
    alice, bob = pair
    send(alice, "bob", "x", 81)
    bob.wait_event("MESSAGE_RECEIVED")
    alice.ok("deleteConversation", {"conversationID": "C2Cbob", "clearHistoryMessage": False})
    alice.drain(quiet=0.2)
    bob.ok("setMessageRead", {"conversationID": "C2Calice"})
    alice.wait_event("MESSAGE_READ_BY_PEER")
    assert not [f for f in alice.drain(quiet=0.3)
                if f.get("event") == "CONVERSATION_LIST_UPDATED"]
    assert "C2Cbob" not in convs(alice)
    assert Conversation.objects.get(owner__user_id="alice").peer_read_time > 0


# --- the native REST door (/api/v1/), same services -----------------------------------

def rest_client(user_id):
    from rest_framework.test import APIClient

    from accounts.usersig import gen_usersig

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig {user_id}:{gen_usersig(user_id)}")
    return client


def test_rest_door(make_user):
    for name in ("alice", "bob"):
        make_user(name)
    alice, bob = rest_client("alice"), rest_client("bob")

    def post(client, path, body=None):
        return client.post(f"/api/v1/{path}", body or {}, format="json")

    sent = [post(alice, "messages/", {"to": "bob", "elements": text(f"m{i}"), "random": i})
            .json() for i in range(3)]
    r = post(bob, f"messages/{sent[0]['ID']}/revoke/")
    assert r.status_code == 400 and r.json()["code"] == 20022
    r = post(alice, f"messages/{sent[0]['ID']}/revoke/")
    assert r.status_code == 200 and r.json()["isRevoked"] and r.json()["elements"] == []
    r = post(alice, f"messages/{sent[1]['ID']}/modify/", {"elements": text("new"),
                                                          "version": ""})
    assert r.status_code == 200 and r.json()["elements"] == text("new") and r.json()["version"]
    r = post(alice, f"messages/{sent[1]['ID']}/modify/", {"elements": text("newer"),
                                                          "version": ""})
    assert r.json()["code"] == 20028
    r = post(bob, "messages/read-receipts/", {"messageIDList": [sent[1]["ID"]]})
    assert r.status_code == 200
    assert Conversation.objects.get(owner__user_id="alice").peer_read_seq == sent[1]["seq"]
    r = post(bob, "messages/delete/", {"messageIDList": [sent[2]["ID"]]})
    assert r.json() == {"messageIDList": [sent[2]["ID"]]}
    page = bob.get("/api/v1/conversations/C2Calice/messages/").json()["messageList"]
    assert [m["ID"] for m in page] == [sent[0]["ID"], sent[1]["ID"]]
    assert post(bob, "conversations/C2Calice/pin/", {"isPinned": True}).status_code == 200
    assert post(bob, "conversations/C2Calice/draft/", {"draftText": "d"}).status_code == 200
    listed = bob.get("/api/v1/conversations/").json()["conversationList"]
    assert listed[0]["isPinned"] and listed[0]["draftText"] == "d"
    assert post(bob, "conversations/C2Calice/read/").status_code == 200
    assert bob.get("/api/v1/conversations/unread-count/").json() == {"totalUnreadCount": 0}
    assert post(bob, "conversations/C2Calice/clear-history/").json() == {
        "conversationID": "C2Calice"}
    assert bob.get("/api/v1/conversations/C2Calice/messages/").json()["messageList"] == []
    r = post(bob, "conversations/C2Calice/delete/", {"clearHistoryMessage": "yes"})
    assert r.json()["code"] == 910003
    assert post(bob, "conversations/C2Calice/delete/").json() == {"conversationID": "C2Calice"}
    assert bob.get("/api/v1/conversations/").json()["conversationList"] == []
    assert post(bob, "conversations/C2Cghost/pin/", {"isPinned": True}).json()["code"] == 20003


# --- statements per change (capped: a change must not grow a query per row) ----------

# Each one less since a sync-log append is one statement on PostgreSQL (accounts.services
# sync_append: the heads and the entries together).
@pytest.mark.parametrize("change, expected", [  # BEGIN and COMMIT included
    # revoke + 2: the sync log's copies of the content it erases (one read; one update
    # per 500 entries holding a copy), and the message's reactions (one DELETE on the
    # reactions' unique index, messaging/reactions.py); delete_conversation + 1: the files of the history
    # it clears (one index probe); modify + 1: the text of its pushes still to be sent
    # (one UPDATE); delete + 1 (after the commit): the receiver's push tokens, so that
    # the messages it deleted are not pushed
    ("revoke", 14), ("modify", 9), ("delete", 13), ("read", 9), ("pin", 7),
    ("delete_conversation", 8)])
def test_statements_per_change(make_user, change, expected):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts import webhooks
    from messaging import changes
    from messaging.commands import Origin
    from messaging.services import message_send

    alice, bob = make_user("alice"), make_user("bob")
    sent = [message_send(origin=Origin.USER,
                         sender=alice, to="bob", elements=text(f"x{i}"), random=i)
            for i in range(3)]
    pks = [int(m["ID"].split("-")[0]) for m in sent]
    webhooks.is_enabled(webhooks.AFTER_MSG_WITHDRAW)  # the webhook config, cached
    run = {
        "revoke": lambda: changes.message_revoke(message_pk=pks[0], actor=alice),
        "modify": lambda: changes.message_modify(message_pk=pks[1], actor=alice,
                                                 elements=text("y")),
        "delete": lambda: changes.messages_delete(user=bob, message_ids=[sent[2]["ID"]]),
        "read": lambda: changes.conversation_mark_read(user=bob, peer=alice),
        "pin": lambda: changes.conversation_pin(user=bob, peer=alice, is_pinned=True),
        "delete_conversation": lambda: changes.conversation_delete(user=bob, peer=alice),
    }[change]
    with CaptureQueriesContext(connection) as queries:
        run()
    assert len(queries.captured_queries) <= expected, \
        [q["sql"][:80] for q in queries.captured_queries]


def test_a_change_does_not_bring_back_a_deleted_conversation(pair, connect):
    alice, bob = pair
    bob2 = connect("bob", deviceID="b2")
    m = send(alice, "bob", "x", 70)
    bob.ok("deleteConversation", {"conversationID": "C2Calice", "clearHistoryMessage": False})
    deleted = bob2.wait_event("CONVERSATION_LIST_UPDATED",
                              where=lambda e: e["data"][0].get("isDeleted"))
    alice.ok("modifyMessage", {"messageID": m["ID"], "elements": text("y")})
    alice.ok("revokeMessage", {"messageID": m["ID"]})
    bob2.wait_event("MESSAGE_REVOKED")
    frames = bob2.drain(quiet=0.3)
    assert not [f for f in frames if f.get("event") == "CONVERSATION_LIST_UPDATED"
                and f.get("seq", 0) > deleted["seq"]]
    assert "C2Calice" not in convs(bob)
    assert "C2Cbob" in convs(alice)


def test_a_recall_asks_the_database_only_for_the_entries_carrying_the_message(make_user):
    """The recall erases the copies of the message in both users' sync logs; the
    database finds them, not Python: of the entries since the message, only those
    carrying it (the reads while it was the last message) come back. Before, every
    entry of both users since the message did (here 40 reads of his chat with carol),
    each parsed in Python under the recall's locks (bench/recall.py); afterwards none
    holds the text."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")

    def say(sender, to, words):
        message_send(origin=Origin.USER, sender=sender, to=to.user_id, elements=text(words),
                     random=uuid.uuid4().int % 2**31)
        return Message.objects.filter(sender=sender).latest("pk")

    secret = say(alice, bob, "the code is 4711")
    conversation_mark_read(user=bob, peer=alice)
    for n in range(40):  # reads carrying carol's messages, not the secret
        say(carol, bob, f"chat {n}")
        conversation_mark_read(user=bob, peer=carol)
    conversation_mark_read(user=alice, peer=bob)
    with CaptureQueriesContext(connection) as queries:
        message_revoke(message_pk=secret.pk, actor=None)
    # The erase's query (a server-side cursor: DECLARE ... CURSOR FOR SELECT ...).
    [erase] = [q["sql"].split(" FOR ", 1)[1] for q in queries
               if q["sql"].startswith("DECLARE") and "accounts_syncentry" in q["sql"]]
    with connection.cursor() as cursor:  # what that query hands back (same rows now)
        cursor.execute(erase)
        handed = sorted(row[0] for row in cursor.fetchall())
    entries = SyncEntry.objects.filter(user__in=[alice, bob]).exclude(
        kind__in=[SyncEntry.Kind.MESSAGE, SyncEntry.Kind.REVOKE]).order_by("pk")
    carrying = [e.pk for e in entries if secret.public_id in str(e.payload)]
    assert handed == carrying and 0 < len(carrying) < 10  # the reads, peer reads of it
    assert not [e for e in SyncEntry.objects.filter(user__in=[alice, bob])
                if "code is 4711" in str(e.payload)]
