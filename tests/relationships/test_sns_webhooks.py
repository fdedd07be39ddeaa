"""Relationship and profile after-callbacks (tencent-rest.md §14.2: Sns.CallbackFriendAdd,
Sns.CallbackFriendDelete, Sns.CallbackBlackListAdd, Sns.CallbackBlackListDelete,
Profile.CallbackPortraitSet), fired by the services, so the /v4 door and the WebSocket
door both fire them. A real uvicorn server runs Celery tasks eagerly and calls a real
local HTTP receiver (tests/webhook_receiver.py)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from accounts import webhooks
from accounts.models import AllowType, User
from accounts.usersig import gen_usersig
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client
from tests.webhook_receiver import use_webhooks, webhook_receiver  # noqa: F401
from tests.wsclient import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

SRC = "AddSource_Type_Web"
ALL = [webhooks.FRIEND_ADD, webhooks.FRIEND_DELETE, webhooks.BLACKLIST_ADD,
       webhooks.BLACKLIST_DELETE, webhooks.PORTRAIT_SET]


@pytest.fixture(scope="module")
def eager_server(django_db_setup, django_db_blocker):
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1")
    yield url
    stop_server(proc)


@pytest.fixture
def people(make_user):
    made = {name: make_user(name) for name in ("alice", "bob", "carol")}
    User.objects.filter(user_id__in=["alice", "bob"]).update(allow_type=AllowType.ALLOW_ANY)
    return made


def call(receiver, n: int, command: str, platform: str):
    """The n-th call (1-based) the receiver got: it is `command`, from `platform`."""
    got = receiver.wait_for(n)[n - 1]
    assert got.query["CallbackCommand"] == command, got
    assert got.query["OptPlatform"] == platform
    assert got.query["SdkAppid"] == str(settings.CHAT_SDKAPPID)
    assert got.body["CallbackCommand"] == command
    return got.body


def test_v4_commands_fire_the_callbacks(people, eager_server, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, ALL, live=True)
    User.objects.create(user_id="dave", allow_type=AllowType.DENY_ANY)
    v4 = V4Client(eager_server)
    # A batch: one callback with the pairs of every add that went through.
    answer = v4("sns/friend_add", {"From_Account": "alice", "ForceAddFlags": 1,
                                   "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC},
                                                     {"To_Account": "ghost", "AddSource": SRC},
                                                     {"To_Account": "dave", "AddSource": SRC}],
                                   "AddType": "Add_Type_Both"})
    assert [r["ResultCode"] for r in answer["ResultItem"]] == [0, 30003, 0]
    body = call(webhook_receiver, 1, webhooks.FRIEND_ADD, "RESTAPI")
    assert body["PairList"] == [
        {"From_Account": "alice", "To_Account": "bob", "Initiator_Account": "alice"},
        {"From_Account": "bob", "To_Account": "alice", "Initiator_Account": "alice"},
        {"From_Account": "alice", "To_Account": "dave", "Initiator_Account": "alice"},
        {"From_Account": "dave", "To_Account": "alice", "Initiator_Account": "alice"}]
    assert (body["ClientCmd"], body["Admin_Account"], body["ForceFlag"]) == (
        "friend_add", "administrator", 1)

    # An import fires nothing: the next call is the delete's.
    v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "carol", "AddSource": SRC}]})
    v4("sns/friend_delete", {"From_Account": "alice", "To_Account": ["bob"],
                             "DeleteType": "Delete_Type_Both"})
    body = call(webhook_receiver, 2, webhooks.FRIEND_DELETE, "RESTAPI")
    assert len(webhook_receiver.requests) == 2
    assert sorted(map(tuple, (p.values() for p in body["PairList"]))) == [
        ("alice", "bob"), ("bob", "alice")]

    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob", "ghost"]})
    body = call(webhook_receiver, 3, webhooks.BLACKLIST_ADD, "RESTAPI")
    assert body["PairList"] == [{"From_Account": "alice", "To_Account": "bob"}]
    v4("sns/black_list_delete", {"From_Account": "alice", "To_Account": ["bob"]})
    body = call(webhook_receiver, 4, webhooks.BLACKLIST_DELETE, "RESTAPI")
    assert body["PairList"] == [{"From_Account": "alice", "To_Account": "bob"}]

    before = int(time.time() * 1000)
    v4("profile/portrait_set", {"From_Account": "alice", "ProfileItem": [
        {"Tag": "Tag_Profile_IM_Nick", "Value": "Ally"},
        {"Tag": "Tag_Profile_IM_Level", "Value": 4},
        {"Tag": "Tag_Profile_Custom_Mood", "Value": "ok"}]})
    body = call(webhook_receiver, 5, webhooks.PORTRAIT_SET, "RESTAPI")
    assert (body["Operator_Account"], body["From_Account"]) == ("administrator", "alice")
    assert before <= body["EventTime"] <= int(time.time() * 1000)
    assert sorted(body["ProfileItem"], key=lambda i: i["Tag"]) == [
        {"Tag": "Tag_Profile_Custom_Mood", "Value": "ok"},
        {"Tag": "Tag_Profile_IM_Level", "Value": 4},
        {"Tag": "Tag_Profile_IM_Nick", "Value": "Ally"}]
    # A refused change fires nothing.
    v4("profile/portrait_set", {"From_Account": "alice", "ProfileItem": [
        {"Tag": "Tag_Profile_IM_Gender", "Value": "nope"}]})
    v4("sns/black_list_delete", {"From_Account": "alice", "To_Account": ["bob"]})
    time.sleep(0.5)
    assert len(webhook_receiver.requests) == 5


def test_a_reimport_that_changes_the_profile_fires_portrait_set(
        people, eager_server, webhook_receiver):  # noqa: F811
    """/v4 account_import of an account that exists updates its nick and face URL as a
    profile change: the same callback, the admin as Operator_Account."""
    User.objects.filter(user_id="alice").update(password="!")  # imported, no password
    use_webhooks(webhook_receiver, ALL, live=True)
    v4 = V4Client(eager_server)
    v4("im_open_login_svc/account_import", {"UserID": "alice", "Nick": "Alice",
                                            "FaceUrl": "https://x.example/a.png"})
    body = call(webhook_receiver, 1, webhooks.PORTRAIT_SET, "RESTAPI")
    assert (body["Operator_Account"], body["From_Account"]) == ("administrator", "alice")
    # The nick was already "Alice": only the face URL changed.
    assert body["ProfileItem"] == [
        {"Tag": "Tag_Profile_IM_Image", "Value": "https://x.example/a.png"}]
    # The same again, or a new account, fires nothing.
    v4("im_open_login_svc/account_import", {"UserID": "alice", "Nick": "Alice",
                                            "FaceUrl": "https://x.example/a.png"})
    v4("im_open_login_svc/account_import", {"UserID": "zoe", "Nick": "Zoe"})
    time.sleep(0.5)
    assert len(webhook_receiver.requests) == 1


def test_callbacks_off_send_nothing(people, eager_server, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], live=True)
    v4 = V4Client(eager_server)
    v4("sns/friend_add", {"From_Account": "alice",
                          "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}]})
    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob"]})
    time.sleep(0.5)
    assert webhook_receiver.requests == []


def test_websocket_door_fires_them_too(people, eager_server, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, ALL, live=True)
    alice, carol = WsClient(eager_server), WsClient(eager_server)
    try:
        # Each socket's device platform is the OptPlatform of what it does.
        for ws, name, platform in ((alice, "alice", "Mac"), (carol, "carol", "Android")):
            ws.login(name, gen_usersig(name), platform=platform)
            ws.wait_event("SDK_READY")
        # carol needs confirmation: the add is a request, and nothing fires yet.
        assert alice.ok("addFriend", {"to": "carol", "source": SRC})["code"] == 30539
        carol.ok("acceptFriendApplication", {"userID": "alice",
                                             "type": "Response_Action_AgreeAndAdd"})
        body = call(webhook_receiver, 1, webhooks.FRIEND_ADD, "Android")
        assert body["PairList"] == [
            {"From_Account": "alice", "To_Account": "carol", "Initiator_Account": "alice"},
            {"From_Account": "carol", "To_Account": "alice", "Initiator_Account": "alice"}]
        assert (body["ClientCmd"], body["Admin_Account"], body["ForceFlag"]) == (
            "friend_response", "", 0)
        # A block ends the friendship: the block, then the friendship's end.
        carol.ok("addToBlacklist", {"userIDList": ["alice"]})
        body = call(webhook_receiver, 2, webhooks.BLACKLIST_ADD, "Android")
        assert body["PairList"] == [{"From_Account": "carol", "To_Account": "alice"}]
        body = call(webhook_receiver, 3, webhooks.FRIEND_DELETE, "Android")
        assert sorted(map(tuple, (p.values() for p in body["PairList"]))) == [
            ("alice", "carol"), ("carol", "alice")]
        alice.ok("updateMyProfile", {"nick": "Me", "selfSignature": "hi"})
        body = call(webhook_receiver, 4, webhooks.PORTRAIT_SET, "macOS")
        assert (body["Operator_Account"], body["From_Account"]) == ("alice", "alice")
        assert sorted(body["ProfileItem"], key=lambda i: i["Tag"]) == [
            {"Tag": "Tag_Profile_IM_Nick", "Value": "Me"},
            {"Tag": "Tag_Profile_IM_SelfSignature", "Value": "hi"}]
    finally:
        alice.close()
        carol.close()
