"""Friends through the doors: every rule and code over the WebSocket (a real uvicorn
process, real sockets) and over native REST (DRF's APIClient with a UserSig header,
each answer checked against the OpenAPI schema); events reaching both users' devices;
a device that was offline catching up with `since`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.drainage import reset_generator_stats
from rest_framework.test import APIClient

from accounts.models import AllowType, User
from accounts.usersig import gen_usersig
from relationships import friends as fr
from relationships.models import Block, FriendGroup, FriendRequest, Friendship
from tests.test_openapi import check, response_schema
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WEB = "AddSource_Type_Web"

# op -> (method, path) of the REST door
REST = {
    "addFriend": ("post", "/api/v1/friends/"),
    "getFriendList": ("get", "/api/v1/friends/"),
    "updateFriend": ("patch", "/api/v1/friends/"),
    "deleteFriend": ("post", "/api/v1/friends/delete/"),
    "deleteAllFriends": ("post", "/api/v1/friends/delete-all/"),
    "checkFriend": ("post", "/api/v1/friends/check/"),
    "getFriendProfile": ("post", "/api/v1/friends/profiles/"),
    "getFriendApplicationList": ("get", "/api/v1/friend-requests/"),
    "acceptFriendApplication": ("post", "/api/v1/friend-requests/accept/"),
    "refuseFriendApplication": ("post", "/api/v1/friend-requests/refuse/"),
    "deleteFriendApplication": ("post", "/api/v1/friend-requests/delete/"),
    "setFriendApplicationRead": ("post", "/api/v1/friend-requests/read/"),
    "getFriendGroupList": ("get", "/api/v1/friend-groups/"),
    "createFriendGroup": ("post", "/api/v1/friend-groups/"),
    "deleteFriendGroup": ("post", "/api/v1/friend-groups/delete/"),
    "renameFriendGroup": ("post", "/api/v1/friend-groups/rename/"),
    "addToFriendGroup": ("post", "/api/v1/friend-groups/add-members/"),
    "removeFromFriendGroup": ("post", "/api/v1/friend-groups/remove-members/"),
}


@dataclass
class Answer:
    ok: bool
    data: object = None
    code: int | None = None


class WsDoor:
    name = "ws"

    def __init__(self, url: str):
        self.url = url
        self.sockets: dict[str, WsClient] = {}

    def call(self, user_id: str, op: str, data: dict | None = None) -> Answer:
        ws = self.sockets.get(user_id)
        if ws is None:
            ws = self.sockets[user_id] = WsClient(self.url)
            ws.login(user_id, gen_usersig(user_id))
            ws.wait_event("SDK_READY")
        reply = ws.request(op, data if data is not None else {})
        if reply["ok"]:
            return Answer(True, reply["data"])
        assert isinstance(reply["message"], str) and reply["message"]
        return Answer(False, code=reply["code"])

    def close(self):
        for ws in self.sockets.values():
            ws.close()


class RestDoor:
    name = "rest"

    def __init__(self, schema: dict):
        self.schema = schema
        self.clients: dict[str, APIClient] = {}

    def call(self, user_id: str, op: str, data: dict | None = None) -> Answer:
        client = self.clients.get(user_id)
        if client is None:
            client = self.clients[user_id] = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"UserSig {user_id}:{gen_usersig(user_id)}")
        method, path = REST[op]
        if method == "get":
            response = client.get(path, data or {})
        else:
            response = getattr(client, method)(path, data if data is not None else {},
                                               format="json")
        body = response.json()
        assert response.status_code in (200, 400), (response.status_code, body)
        check(self.schema, body, response_schema(self.schema, path, method,
                                                 response.status_code))
        if response.status_code == 400:
            return Answer(False, code=body["code"])
        if op == "getFriendGroupList":  # REST wraps the list the WebSocket returns bare
            body = body["friendGroupList"]
        return Answer(True, body)

    def close(self):
        pass


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("openapi") / "schema.json"
    reset_generator_stats()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 "--file", str(out))
    return json.loads(out.read_text())


@pytest.fixture(params=["ws", "rest"])
def door(request, schema):
    if request.param == "ws":
        d = WsDoor(request.getfixturevalue("live_server_url"))
    else:
        d = RestDoor(schema)
    yield d
    d.close()


@pytest.fixture
def users(make_user):
    """alice and carol need to confirm (the default), bob allows anyone, dave nobody."""
    made = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    User.objects.filter(user_id="bob").update(allow_type=AllowType.ALLOW_ANY)
    User.objects.filter(user_id="dave").update(allow_type=AllowType.DENY_ANY)
    for user in made.values():
        user.refresh_from_db()
    return made


def ok(door, user_id, op, data=None):
    answer = door.call(user_id, op, data)
    assert answer.ok, (op, data, answer)
    return answer.data


def err(door, user_id, op, data=None) -> int:
    answer = door.call(user_id, op, data)
    assert not answer.ok, (op, data, answer)
    return answer.code


def has(a: str, b: str) -> bool:
    return Friendship.objects.filter(owner__user_id=a, friend__user_id=b).exists()


# --- adding --------------------------------------------------------------------------

def test_add_follows_the_allow_type(door, users):
    assert ok(door, "alice", "addFriend", {"to": "bob", "source": WEB, "remark": "B",
                                           "groupName": "work", "wording": "hi"}) == {
        "userID": "bob", "code": 0, "message": ""}
    assert has("alice", "bob") and has("bob", "alice")
    pending = ok(door, "alice", "addFriend", {"to": "carol", "source": WEB,
                                              "type": "Add_Type_Single"})
    assert (pending["userID"], pending["code"]) == ("carol", 30539)
    assert FriendRequest.objects.filter(requester__user_id="alice",
                                        target__user_id="carol").exists()
    assert err(door, "alice", "addFriend", {"to": "dave", "source": WEB}) == 30516
    single = ok(door, "carol", "addFriend", {"to": "bob", "source": WEB,
                                             "type": "Add_Type_Single"})
    assert single["code"] == 0 and has("carol", "bob") and not has("bob", "carol")

    page = ok(door, "alice", "getFriendList")
    assert page["friendNum"] == 1 and page["isCompleted"]
    [friend] = page["friendList"]
    assert (friend["userID"], friend["remark"], friend["groupList"], friend["source"],
            friend["wording"]) == ("bob", "B", ["work"], WEB, "hi")
    assert friend["profile"]["allowType"] == AllowType.ALLOW_ANY


def test_bad_adds(door, users):
    cases = [
        ({"to": "alice", "source": WEB}, 30001),
        ({"to": "ghost", "source": WEB}, 30003),
        ({"to": "bob", "source": "Web"}, 30001),
        ({"to": "bob", "source": "AddSource_Type_NineChars"}, 30001),
        ({"to": "bob", "source": WEB, "type": "Add_Type_Never"}, 30001),
        ({"to": "bob", "source": WEB, "remark": "r" * 97}, 30001),
        ({"to": "bob", "source": WEB, "wording": "w" * 257}, 30001),
        ({"to": "bob", "source": WEB, "groupName": "g" * 31}, 30001),
        ({"source": WEB}, 910003),
        ({"to": "bob"}, 910003),
        ({"to": 5, "source": WEB}, 910003),
        ({"to": "bob", "source": WEB, "remark": 5}, 910003),
        ({"to": "bob", "source": WEB, "remak": "typo"}, 910003),
    ]
    for data, expected in cases:
        assert err(door, "alice", "addFriend", data) == expected, data
    assert not Friendship.objects.exists()
    ok(door, "alice", "addFriend", {"to": "bob", "source": WEB})
    assert err(door, "alice", "addFriend", {"to": "bob", "source": WEB}) == 30001


def test_blocks_stop_friend_requests_both_ways(door, users):
    now = timezone.now()
    Block.objects.create(owner=users["alice"], blocked=users["bob"], created_at=now)
    assert err(door, "alice", "addFriend", {"to": "bob", "source": WEB}) == 30515
    User.objects.filter(user_id="alice").update(allow_type=AllowType.ALLOW_ANY)
    assert err(door, "bob", "addFriend", {"to": "alice", "source": WEB}) == 30525
    ok(door, "bob", "addFriend", {"to": "carol", "source": WEB})
    Block.objects.create(owner=users["carol"], blocked=users["bob"], created_at=now)
    assert err(door, "carol", "acceptFriendApplication",
               {"userID": "bob", "type": "Response_Action_Agree"}) == 30515
    assert not Friendship.objects.exists()


def test_limits(door, users):
    now = timezone.now()
    fillers = User.objects.bulk_create([User(user_id=f"f{i}", password="!")
                                        for i in range(fr.MAX_FRIENDS)])
    Friendship.objects.bulk_create([Friendship(owner=users["bob"], friend=u, add_time=now)
                                    for u in fillers])
    assert err(door, "carol", "addFriend", {"to": "bob", "source": WEB}) == 30014
    assert err(door, "bob", "addFriend", {"to": "carol", "source": WEB}) == 30010
    for i in range(fr.MAX_FRIEND_GROUPS):
        FriendGroup.objects.create(owner=users["carol"], name=f"g{i}")
    assert err(door, "carol", "createFriendGroup", {"name": "more"}) == 30011
    assert err(door, "carol", "addFriend", {"to": "alice", "source": WEB,
                                            "groupName": "more"}) == 30011
    FriendRequest.objects.bulk_create([FriendRequest(requester=users["alice"], target=u,
                                                     created_at=now)
                                       for u in fillers[:fr.MAX_PENDING_SENT]])
    assert err(door, "alice", "addFriend", {"to": "carol", "source": WEB}) == 30012


# --- requests ------------------------------------------------------------------------

def test_requests_accept_refuse_delete_read(door, users):
    ok(door, "alice", "addFriend", {"to": "carol", "source": WEB, "wording": "hi"})
    ok(door, "dave", "addFriend", {"to": "carol", "source": WEB})

    listed = ok(door, "carol", "getFriendApplicationList")
    assert listed["unreadCount"] == 2
    assert [(a["userID"], a["type"]) for a in listed["friendApplicationList"]] == [
        ("dave", "Pendency_Type_ComeIn"), ("alice", "Pendency_Type_ComeIn")]
    assert listed["friendApplicationList"][1]["wording"] == "hi"
    sent = ok(door, "alice", "getFriendApplicationList", {"type": "Pendency_Type_SendOut"})
    assert [a["userID"] for a in sent["friendApplicationList"]] == ["carol"]
    assert err(door, "alice", "getFriendApplicationList", {"type": "Pendency_Type_No"}) == 30001

    assert ok(door, "carol", "setFriendApplicationRead") == {}
    assert ok(door, "carol", "getFriendApplicationList")["unreadCount"] == 0

    accept = {"userID": "alice", "type": "Response_Action_AgreeAndAdd", "remark": "Al"}
    assert err(door, "carol", "acceptFriendApplication", {**accept, "type": "Yes"}) == 30001
    assert err(door, "carol", "acceptFriendApplication", {"userID": "alice"}) == 910003
    assert err(door, "carol", "acceptFriendApplication", {**accept, "userID": "ghost"}) == 30003
    assert err(door, "carol", "acceptFriendApplication", {**accept, "userID": "bob"}) == 30614
    assert ok(door, "carol", "acceptFriendApplication", accept) == {"userID": "alice"}
    assert has("alice", "carol") and has("carol", "alice")
    assert Friendship.objects.get(owner__user_id="carol", friend__user_id="alice").remark == "Al"

    assert ok(door, "carol", "refuseFriendApplication", {"userID": "dave"}) == {"userID": "dave"}
    assert err(door, "carol", "refuseFriendApplication", {"userID": "dave"}) == 30614
    assert not FriendRequest.objects.filter(requester__user_id="dave").exists()

    ok(door, "dave", "addFriend", {"to": "alice", "source": WEB})
    assert ok(door, "alice", "acceptFriendApplication",
              {"userID": "dave", "type": "Response_Action_Agree"}) == {"userID": "dave"}
    assert has("dave", "alice") and not has("alice", "dave")

    User.objects.filter(user_id="bob").update(allow_type=AllowType.NEED_CONFIRM)
    assert ok(door, "alice", "addFriend", {"to": "bob", "source": WEB})["code"] == 30539
    assert err(door, "alice", "deleteFriendApplication",
               {"userID": "bob", "type": "Pendency_Type_ComeIn"}) == 30614
    assert ok(door, "alice", "deleteFriendApplication",
              {"userID": "bob", "type": "Pendency_Type_SendOut"}) == {"userID": "bob"}
    assert err(door, "alice", "deleteFriendApplication", {"userID": "bob"}) == 910003
    assert not FriendRequest.objects.filter(requester__user_id="alice").exists()


# --- deleting, checking, reading -----------------------------------------------------

def test_delete_check_profiles_and_pages(door, users):
    User.objects.filter(user_id__in=["alice", "carol"]).update(allow_type=AllowType.ALLOW_ANY)
    for peer in ("bob", "carol"):
        ok(door, "alice", "addFriend", {"to": peer, "source": WEB})
    ok(door, "bob", "deleteFriend", {"userIDList": ["alice"], "type": "Delete_Type_Single"})

    checked = ok(door, "alice", "checkFriend", {"userIDList": ["bob", "carol", "dave", "ghost"]})
    assert [(c["userID"], c["relation"]) for c in checked["successUserIDList"]] == [
        ("bob", "CheckResult_Type_AWithB"), ("carol", "CheckResult_Type_BothWay"),
        ("dave", "CheckResult_Type_NoRelation")]
    assert [(f["userID"], f["code"]) for f in checked["failureUserIDList"]] == [("ghost", 30003)]
    single = ok(door, "bob", "checkFriend", {"userIDList": ["alice"],
                                             "type": "CheckResult_Type_Single"})
    assert single["successUserIDList"][0]["relation"] == "CheckResult_Type_NoRelation"
    assert ok(door, "bob", "checkFriend", {"userIDList": ["alice"]})[
        "successUserIDList"][0]["relation"] == "CheckResult_Type_BWithA"
    assert err(door, "alice", "checkFriend", {"userIDList": []}) == 30001
    assert err(door, "alice", "checkFriend", {"userIDList": "bob"}) == 910003
    assert err(door, "alice", "checkFriend", {"userIDList": ["bob"], "type": "X"}) == 30001

    profiles = ok(door, "alice", "getFriendProfile", {"userIDList": ["carol", "dave"]})
    assert [f["userID"] for f in profiles["friendList"]] == ["carol"]
    assert [(f["userID"], f["code"]) for f in profiles["failureUserIDList"]] == [("dave", 30001)]
    assert err(door, "alice", "getFriendProfile",
               {"userIDList": [f"u{i}" for i in range(101)]}) == 30001

    first = ok(door, "alice", "getFriendList", {"count": 1})
    assert [f["userID"] for f in first["friendList"]] == ["bob"] and not first["isCompleted"]
    second = ok(door, "alice", "getFriendList", {"startIndex": 1, "count": 1})
    assert [f["userID"] for f in second["friendList"]] == ["carol"] and second["isCompleted"]
    assert err(door, "alice", "getFriendList", {"count": 0}) == 30001
    assert err(door, "alice", "getFriendList", {"startIndex": -1}) == 30001
    assert err(door, "alice", "getFriendList", {"count": "many"}) == 910003

    deleted = ok(door, "alice", "deleteFriend", {"userIDList": ["bob", "dave", "alice"],
                                                 "type": "Delete_Type_Single"})
    assert deleted["successUserIDList"] == [{"userID": "bob"}]
    assert [(f["userID"], f["code"]) for f in deleted["failureUserIDList"]] == [
        ("dave", 31704), ("alice", 30001)]
    assert err(door, "alice", "deleteFriend", {"userIDList": ["carol"], "type": "X"}) == 30001
    assert ok(door, "alice", "deleteAllFriends", {"type": "Delete_Type_Both"}) == {
        "successUserIDList": [{"userID": "carol"}]}
    assert not Friendship.objects.exists()
    assert err(door, "alice", "deleteAllFriends", {"type": "Delete_Type_None"}) == 30001


def test_update_friend(door, users):
    ok(door, "alice", "addFriend", {"to": "bob", "source": WEB})
    friend = ok(door, "alice", "updateFriend", {
        "userID": "bob", "remark": "Bobby",
        "friendCustomField": [{"key": "Tag_SNS_Custom_Team", "value": "red"}]})
    assert friend["remark"] == "Bobby"
    assert friend["friendCustomField"] == [{"key": "Tag_SNS_Custom_Team", "value": "red"}]
    row = Friendship.objects.get(owner__user_id="alice", friend__user_id="bob")
    assert (row.remark, row.custom) == ("Bobby", {"Tag_SNS_Custom_Team": "red"})
    cases = [
        ({"userID": "bob", "remark": "r" * 97}, 30001),
        ({"userID": "bob", "friendCustomField": [{"key": "Team", "value": "x"}]}, 30001),
        ({"userID": "bob", "friendCustomField": [{"key": "Tag_SNS_Custom_Team",
                                                  "value": "v" * 501}]}, 30001),
        ({"userID": "bob", "friendCustomField": "Team=red"}, 910003),
        ({"userID": "bob"}, 910003),
        ({"userID": "carol", "remark": "C"}, 30001),  # not my friend
        ({"userID": "ghost", "remark": "G"}, 30003),
        ({"userID": "bob", "nick": "B"}, 910003),
    ]
    for data, expected in cases:
        assert err(door, "alice", "updateFriend", data) == expected, data
    row.refresh_from_db()
    assert (row.remark, row.custom) == ("Bobby", {"Tag_SNS_Custom_Team": "red"})


def test_friend_groups(door, users):
    User.objects.filter(user_id="carol").update(allow_type=AllowType.ALLOW_ANY)
    for peer in ("bob", "carol"):
        ok(door, "alice", "addFriend", {"to": peer, "source": WEB})
    created = ok(door, "alice", "createFriendGroup", {"name": "close",
                                                      "userIDList": ["bob", "dave", "ghost"]})
    assert created["friendGroup"] == {"name": "close", "userIDList": ["bob"], "count": 1}
    assert [(f["userID"], f["code"]) for f in created["failureUserIDList"]] == [
        ("dave", 32216), ("ghost", 30003)]
    assert err(door, "alice", "createFriendGroup", {"name": "close"}) == 30001
    assert err(door, "alice", "createFriendGroup", {"name": "x" * 31}) == 30001
    assert err(door, "alice", "createFriendGroup", {}) == 910003

    added = ok(door, "alice", "addToFriendGroup", {"name": "close",
                                                   "userIDList": ["carol", "dave"]})
    assert added["friendGroup"]["userIDList"] == ["bob", "carol"]
    assert [(f["userID"], f["code"]) for f in added["failureUserIDList"]] == [("dave", 32216)]
    removed = ok(door, "alice", "removeFromFriendGroup", {"name": "close",
                                                          "userIDList": ["bob"]})
    assert removed["friendGroup"]["userIDList"] == ["carol"]
    again = ok(door, "alice", "removeFromFriendGroup", {"name": "close", "userIDList": ["bob"]})
    assert [(f["userID"], f["code"]) for f in again["failureUserIDList"]] == [("bob", 30001)]
    assert err(door, "alice", "addToFriendGroup", {"name": "nope",
                                                   "userIDList": ["bob"]}) == 30001

    assert ok(door, "alice", "renameFriendGroup", {"oldName": "close", "newName": "best"}) == {
        "friendGroup": {"name": "best", "userIDList": ["carol"], "count": 1}}
    assert err(door, "alice", "renameFriendGroup", {"oldName": "close", "newName": "x"}) == 30001
    assert ok(door, "alice", "getFriendList")["friendList"][1]["groupList"] == ["best"]
    assert ok(door, "alice", "getFriendGroupList") == [
        {"name": "best", "userIDList": ["carol"], "count": 1}]
    assert ok(door, "alice", "deleteFriendGroup", {"name": "best"})["friendGroup"]["name"] \
        == "best"
    assert err(door, "alice", "deleteFriendGroup", {"name": "best"}) == 30001
    assert ok(door, "alice", "getFriendGroupList") == []
    assert has("alice", "carol")


# --- REST only -----------------------------------------------------------------------

def test_rest_refuses_what_is_not_an_object_and_strangers(users, schema):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice')}")
    response = client.post("/api/v1/friends/", [{"to": "bob"}], format="json")
    assert (response.status_code, response.json()["code"]) == (400, 910003)
    for method, path in set(REST.values()):
        response = getattr(APIClient(), method)(path)
        assert response.status_code == 401, path
        check(schema, response.json(), response_schema(schema, path, method, 401))


# --- events --------------------------------------------------------------------------

@pytest.fixture
def device(connect):
    def make(user_id: str, device_id: str, **login) -> WsClient:
        return connect(user_id, deviceID=device_id, platform="Web", **login)

    return make


def test_every_device_of_both_users_learns_each_change(device, users):
    alice = [device("alice", "a1"), device("alice", "a2")]
    carol = [device("carol", "c1"), device("carol", "c2")]

    alice[0].ok("addFriend", {"to": "carol", "source": WEB, "groupName": "uni"})
    for ws in alice:
        ev = ws.wait_event("FRIEND_APPLICATION_LIST_UPDATED")
        assert ev["data"]["friendApplicationList"][0]["type"] == "Pendency_Type_SendOut"
        assert isinstance(ev["seq"], int)
    for ws in carol:
        ev = ws.wait_event("FRIEND_APPLICATION_LIST_UPDATED")
        assert ev["data"]["unreadCount"] == 1
        assert ev["data"]["friendApplicationList"][0]["userID"] == "alice"

    carol[1].ok("acceptFriendApplication", {"userID": "alice",
                                            "type": "Response_Action_AgreeAndAdd"})
    for ws in alice:
        added = ws.wait_event("FRIEND_LIST_UPDATED")["data"]["added"]
        assert [(f["userID"], f["groupList"]) for f in added] == [("carol", ["uni"])]
        assert ws.wait_event("FRIEND_GROUP_LIST_UPDATED")["data"]["added"] == [
            {"name": "uni", "userIDList": ["carol"], "count": 1}]
        assert ws.wait_event("FRIEND_APPLICATION_LIST_UPDATED")["data"] == {
            "friendApplicationList": [], "unreadCount": 0}
    for ws in carol:
        added = ws.wait_event("FRIEND_LIST_UPDATED")["data"]["added"]
        assert [f["userID"] for f in added] == ["alice"]
        assert ws.wait_event("FRIEND_APPLICATION_LIST_UPDATED")["data"]["unreadCount"] == 0

    # a change made over REST reaches the sockets too
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice')}")
    assert client.post("/api/v1/friends/delete/", {"userIDList": ["carol"]},
                       format="json").status_code == 200
    for ws in alice:
        assert ws.wait_event("FRIEND_LIST_UPDATED")["data"]["deleted"] == ["carol"]
        assert ws.wait_event("FRIEND_GROUP_LIST_UPDATED")["data"]["updated"] == [
            {"name": "uni", "userIDList": [], "count": 0}]
    for ws in carol:
        assert ws.wait_event("FRIEND_LIST_UPDATED")["data"] == {
            "added": [], "updated": [], "deleted": ["alice"]}

    alice[0].ok("renameFriendGroup", {"oldName": "uni", "newName": "school"})
    for ws in alice:
        data = ws.wait_event("FRIEND_GROUP_LIST_UPDATED")["data"]
        assert (data["deleted"], [g["name"] for g in data["added"]]) == (["uni"], ["school"])
    for ws in carol:  # carol's lists did not change: nothing for her
        assert not [f for f in ws.drain() if f.get("event", "").startswith("FRIEND")]


def test_an_offline_device_catches_up_with_since(device, users, live_server_url):
    phone = WsClient(live_server_url)
    seen = phone.login("carol", gen_usersig("carol"), deviceID="carol-phone",
                       platform="Android", since=0)["seq"]
    assert phone.wait_event("SDK_READY")["data"]["seq"] == seen
    phone.close()

    alice = device("alice", "a1")
    alice.ok("addFriend", {"to": "carol", "source": WEB, "wording": "hello"})
    laptop = device("carol", "carol-web")
    laptop.ok("acceptFriendApplication", {"userID": "alice",
                                          "type": "Response_Action_AgreeAndAdd"})
    laptop.ok("createFriendGroup", {"name": "mates", "userIDList": ["alice"]})
    alice.ok("createFriendGroup", {"name": "ours", "userIDList": ["carol"]})  # alice's own
    laptop.close()

    back = WsClient(live_server_url)
    try:
        login = back.login("carol", gen_usersig("carol"), deviceID="carol-phone",
                           platform="Android", since=seen)
        replayed = []
        while True:
            frame = back.next_frame()
            if frame.get("event") == "SDK_READY":
                break
            replayed.append(frame)
        assert [f["event"] for f in replayed] == [
            "FRIEND_APPLICATION_LIST_UPDATED", "FRIEND_LIST_UPDATED",
            "FRIEND_APPLICATION_LIST_UPDATED", "FRIEND_LIST_UPDATED",
            "FRIEND_GROUP_LIST_UPDATED"]
        assert [f["seq"] for f in replayed] == list(range(seen + 1, login["seq"] + 1))
        assert frame["data"]["seq"] == login["seq"]
        request, added, answered, grouped, group = (f["data"] for f in replayed)
        assert (request["unreadCount"], request["friendApplicationList"][0]["wording"]) == (1, "hello")
        assert [f["userID"] for f in added["added"]] == ["alice"]
        assert answered == {"friendApplicationList": [], "unreadCount": 0}
        assert [(f["userID"], f["groupList"]) for f in grouped["updated"]] == [
            ("alice", ["mates"])]
        assert group["added"] == [{"name": "mates", "userIDList": ["alice"], "count": 1}]
        # what the replay built is what a fetch gives
        assert back.ok("getFriendList")["friendList"] == grouped["updated"]
        assert back.ok("getFriendGroupList") == group["added"]
    finally:
        back.close()
