"""The /v4 account commands (tencent-rest.md §5) beyond import and check: account_delete,
kick, query_online_status and the legacy querystate, through a real HTTP server."""

from __future__ import annotations

import pytest

from accounts import presence
from accounts.models import Device, SyncEntry, User
from accounts.services import device_login
from accounts.usersig import gen_usersig
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send
from relationships.models import Block, Friendship
from relationships.services import block_add, friend_import
from tests.accounts.test_devices import alive, kicked, past_the_kick

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]


def test_kick_closes_the_users_sockets(v4, connect, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    phone = connect("alice", deviceID="p", platform="Android")
    bob = connect("bob")
    assert v4("im_open_login_svc/kick", {"UserID": "alice"}) == {
        "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert kicked(phone, "REST_API_Kick")
    assert alive(bob)
    past_the_kick(alice)
    assert alive(connect("alice", deviceID="p", platform="Android"))  # a new login works
    answer = v4("im_open_login_svc/kick", {"UserID": "ghost"})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 70107)
    assert v4("im_open_login_svc/kick", {})["ErrorCode"] == 70402
    assert v4("im_open_login_svc/kick", {"UserID": 7})["ErrorCode"] == 70402


def test_account_delete_removes_the_account_and_its_relationships(v4, connect, make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    friend_import(user=alice, items=[{"to": "bob", "source": "AddSource_Type_Test"}])
    friend_import(user=bob, items=[{"to": "alice", "source": "AddSource_Type_Test"}])
    block_add(owner=carol, user_ids=["alice"])
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1)
    message_send(origin=Origin.USER, sender=bob, to="alice", elements=TEXT, random=2)
    message_send(origin=Origin.USER, sender=bob, to="carol", elements=TEXT, random=3)
    phone = connect("alice", deviceID="p", platform="Android")
    bob_ws = connect("bob")

    answer = v4("im_open_login_svc/account_delete",
                {"DeleteItem": [{"UserID": "alice"}, {"UserID": "ghost"}]})
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0
    assert answer["ResultItem"] == [
        {"ResultCode": 0, "ResultInfo": "", "UserID": "alice"},
        {"ResultCode": 70107, "ResultInfo": "Err_TLS_PT_Open_Login_Account_Not_Exist",
         "UserID": "ghost"}]
    assert kicked(phone, "REST_API_Kick")
    assert not User.objects.filter(user_id="alice").exists()
    assert not Device.objects.filter(user_id=alice.pk).exists()
    assert not SyncEntry.objects.filter(user_id=alice.pk).exists()
    assert not Friendship.objects.filter(friend_id=alice.pk).exists()
    assert not Block.objects.filter(blocked_id=alice.pk).exists()
    # The dialog goes with the account: bob keeps his conversation with carol only.
    assert list(Conversation.objects.filter(owner=bob).values_list("peer__user_id", flat=True)) \
        == ["carol"]
    assert Message.objects.count() == 1
    # Bob's socket and his replay are fine without the deleted messages.
    assert [c["conversationID"] for c in bob_ws.ok("getConversationList")["conversationList"]] \
        == ["C2Ccarol"]
    assert connect("bob", since=0)
    # The UserID is free: importing it makes a new, empty account.
    assert v4("im_open_login_svc/account_import", {"UserID": "alice"})["ErrorCode"] == 0
    assert User.objects.get(user_id="alice").pk != alice.pk
    assert v4("im_open_login_svc/account_delete", {"DeleteItem": [{"UserID": f"u{i}"}
                                                                  for i in range(101)]}
              )["ErrorCode"] == 70206
    assert v4("im_open_login_svc/account_delete", {"DeleteItem": [{}]})["ErrorCode"] == 70402


def test_account_delete_refuses_the_app_admins_account(v4, make_user):
    """The app admin's dialogs hold what was sent as the app to everyone: deleting its
    account would take those messages out of every user's history. It is refused (per
    item, 70402), the other accounts of the call are deleted."""
    admin, bob = make_user("administrator", password=None), make_user("bob")
    make_user("alice")
    message_send(origin=Origin.APP_ADMIN, sender=admin, to="bob", elements=TEXT, random=1)

    answer = v4("im_open_login_svc/account_delete",
                {"DeleteItem": [{"UserID": "administrator"}, {"UserID": "alice"}]})
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0
    refused, deleted = answer["ResultItem"]
    assert refused["UserID"] == "administrator" and refused["ResultCode"] == 70402
    assert "app admin" in refused["ResultInfo"]
    assert deleted == {"ResultCode": 0, "ResultInfo": "", "UserID": "alice"}
    assert User.objects.filter(pk=admin.pk).exists()
    assert not User.objects.filter(user_id="alice").exists()
    assert Conversation.objects.filter(owner=bob, peer=admin).exists()
    assert Message.objects.filter(sender=admin).count() == 1


@pytest.mark.parametrize("command", ["openim/query_online_status", "openim/querystate"])
def test_query_online_status(v4, connect, make_user, command):
    make_user("alice"), make_user("bob"), make_user("carol")
    connect("alice", deviceID="p", platform="iOS")
    connect("alice", deviceID="t", platform="Web")
    presence.set_push_reachable(User.objects.get(user_id="bob").pk, "Android")

    answer = v4(command, {"To_Account": ["alice", "bob", "carol", "ghost"]})
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0
    assert answer["QueryResult"] == [
        {"To_Account": "alice", "Status": "Online", "State": "Online"},
        {"To_Account": "bob", "Status": "PushOnline", "State": "PushOnline"},
        {"To_Account": "carol", "Status": "Offline", "State": "Offline"}]
    assert answer["ErrorList"] == [{"To_Account": "ghost", "ErrorCode": 70107}]

    detailed = v4(command, {"To_Account": ["alice", "bob"], "IsNeedDetail": 1})
    assert detailed["QueryResult"][0]["Detail"] == [{"Platform": "iPhone", "Status": "Online"},
                                                    {"Platform": "Web", "Status": "Online"}]
    assert detailed["QueryResult"][1]["Detail"] == [{"Platform": "Android",
                                                     "Status": "PushOnline"}]
    assert "ErrorList" not in detailed

    failed = v4(command, {"To_Account": ["ghost"]})
    assert (failed["ActionStatus"], failed["ErrorCode"]) == ("FAIL", 70107)
    assert failed["ErrorList"] == [{"To_Account": "ghost", "ErrorCode": 70107}]
    assert v4(command, {"To_Account": [f"u{i}" for i in range(501)]})["ErrorCode"] == 90011
    assert v4(command, {})["ErrorCode"] == 90003
    assert v4(command, {"To_Account": "alice"})["ErrorCode"] == 90003
    assert v4(command, {"To_Account": []})["ErrorCode"] == 90003
    assert v4(command, {"To_Account": ["alice"], "IsNeedDetail": 2})["ErrorCode"] == 90001


def test_a_signed_out_device_cannot_send_when_its_kick_was_lost(connect, make_user):
    """The kick's layer message is what closes the sockets, and Redis can lose it. A
    send checks the account and session epoch its socket logged in with, in the send
    transaction: a device kicked since (here: the epoch bumped as user_kick does, with
    no layer message), or whose account was deleted and its UserID registered again,
    gets 70002 and writes nothing."""
    from django.db.models import F

    alice, _ = make_user("alice"), make_user("bob")
    phone = connect("alice", deviceID="p", platform="Android")
    assert phone.ok("sendMessage", {"to": "bob", "random": 1, "elements": TEXT})["seq"]
    User.objects.filter(pk=alice.pk).update(session_epoch=F("session_epoch") + 1)
    refused = phone.request("sendMessage", {"to": "bob", "random": 2, "elements": TEXT})
    assert (refused["ok"], refused["code"]) == (False, 70002), refused
    assert Message.objects.filter(sender__user_id="alice").count() == 1

    fresh = connect("alice", deviceID="t", platform="Android")  # a new login sends
    assert fresh.ok("sendMessage", {"to": "bob", "random": 3, "elements": TEXT})["seq"]
    User.objects.filter(pk=alice.pk).delete()  # a deletion whose kick never arrived
    again = make_user("alice")  # the same UserID, another account, at the same epoch
    User.objects.filter(pk=again.pk).update(session_epoch=1)  # as `fresh` logged in at
    refused = fresh.request("sendMessage", {"to": "bob", "random": 4, "elements": TEXT})
    assert (refused["ok"], refused["code"]) == (False, 70002), refused
    assert not Message.objects.filter(sender=again).exists()


def test_account_delete_tells_the_peers_devices(v4, connect, make_user):
    """The peers' conversations, friend lists, blocklists and requests lose the deleted
    account on the server; their online devices are told (the conversation is
    isDeleted, the unread total drops, the friend and the block go, the request goes),
    and a device that comes back later replays the same from the sync log."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    friend_import(user=alice, items=[{"to": "bob", "source": "AddSource_Type_Test"}])
    friend_import(user=bob, items=[{"to": "alice", "source": "AddSource_Type_Test"}])
    block_add(owner=carol, user_ids=["alice"])
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1)
    message_send(origin=Origin.USER, sender=bob, to="carol", elements=TEXT, random=3)
    message_send(origin=Origin.USER, sender=alice, to="alice", elements=TEXT, random=4)
    make_user("dave")
    assert connect("alice").ok("addFriend", {"to": "dave", "source": "AddSource_Type_Web"})
    bob_seq = SyncEntry.objects.filter(user=bob).order_by("-seq").first().seq
    bob_phone = connect("bob", deviceID="bp", platform="Android")
    bob_desk = connect("bob", deviceID="bd", platform="Windows")
    carol_ws = connect("carol")
    dave_ws = connect("dave")
    assert bob_phone.ok("getTotalUnreadMessageCount") == 1

    assert v4("im_open_login_svc/account_delete",
              {"DeleteItem": [{"UserID": "alice"}]})["ErrorCode"] == 0

    for device in (bob_phone, bob_desk):
        deleted = device.wait_event(
            "CONVERSATION_LIST_UPDATED",
            where=lambda e: e["data"] and e["data"][0].get("isDeleted"))
        assert deleted["data"] == [{"conversationID": "C2Calice", "isDeleted": True}]
        assert "seq" in deleted
        assert device.wait_event("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED")["data"] == 0
        friends = device.wait_event("FRIEND_LIST_UPDATED")
        assert friends["data"] == {"added": [], "updated": [], "deleted": ["alice"]}
    assert carol_ws.wait_event("BLACKLIST_UPDATED")["data"] == []
    assert dave_ws.wait_event("FRIEND_APPLICATION_LIST_UPDATED")["data"][
        "friendApplicationList"] == []
    # A device of bob's that was away (it logged in before) replays the same.
    device_login(user=User.objects.get(user_id="bob"), device_id="bl", platform="iPad")
    late = connect()
    late.login("bob", gen_usersig("bob"), deviceID="bl", platform="iPad", since=bob_seq)
    replay = []
    while (frame := late.next_frame())["event"] != "SDK_READY":
        replay.append(frame)
    assert {"conversationID": "C2Calice", "isDeleted": True} in [
        c for f in replay if f["event"] == "CONVERSATION_LIST_UPDATED" for c in f["data"]]
    assert ["alice"] in [f["data"]["deleted"] for f in replay
                         if f["event"] == "FRIEND_LIST_UPDATED"]
