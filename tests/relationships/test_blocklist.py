"""The blocklist through its doors: REST (UserSig header) in process, and WebSocket on a
real server. Every rule and code, the friendships and requests a block ends, the events
and where they go, a blocked sender's 20007, and the list's fixed query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.events import capture_events, decoded, user_group
from accounts.models import AllowType, SyncEntry, User
from accounts.services import device_login
from accounts.usersig import gen_usersig
from messaging.models import Conversation, Message
from relationships import selectors, services
from relationships.models import Block, FriendGroup, FriendRequest, Friendship

BLOCKLIST = "/api/v1/blocklist/"
REMOVE = "/api/v1/blocklist/remove/"
CHECK = "/api/v1/blocklist/check/"
SINGLE, BOTH = "BlackCheckResult_Type_Single", "BlackCheckResult_Type_Both"


# --- helpers (other test modules of relationships import these) ------------------------

def rest(user_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig {user_id}:{gen_usersig(user_id)}")
    return client


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def frames(published) -> list[tuple[str, dict]]:
    return [(group, frame) for group, message in published
            for frame in decoded(message)]


def log(user: User, since: int = 0) -> list[tuple[str, object]]:
    return [(e.payload.get("event", e.kind), e.payload.get("data")) for e in
            SyncEntry.objects.filter(user=user, seq__gt=since).order_by("seq")]


def bulk_users(prefix: str, n: int) -> list[User]:
    return User.objects.bulk_create([User(user_id=f"{prefix}{i:04d}", password="!")
                                     for i in range(n)])


def fill_blocks(owner: User, users: list[User]) -> None:
    now = timezone.now()
    Block.objects.bulk_create([Block(owner=owner, blocked=u, created_at=now) for u in users])


def befriend_both(a: User, b: User) -> None:
    User.objects.filter(pk=b.pk).update(allow_type=AllowType.ALLOW_ANY)
    services.friend_add(user=a, to=b.user_id, source="AddSource_Type_Web")
    assert Friendship.objects.filter(owner=a, friend=b).exists()
    assert Friendship.objects.filter(owner=b, friend=a).exists()


def items(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.content
    return [(r["userID"], r["code"]) for r in response.json()["resultItem"]]


def error_code(response, status: int = 400) -> int:
    assert response.status_code == status, response.content
    return response.json()["code"]


# --- REST, in process ---------------------------------------------------------------------

@pytest.mark.django_db
def test_add_gives_every_user_id_its_own_result(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    response = rest("alice").post(BLOCKLIST, {"userIDList": [
        "bob", "nobody", "alice", "carol", "bob"]}, format="json")
    assert items(response) == [("bob", 0), ("nobody", 30003), ("alice", 30001), ("carol", 0)]
    assert all(r["message"] for r in response.json()["resultItem"] if r["code"])
    assert set(Block.objects.filter(owner=alice).values_list("blocked__user_id", flat=True)) \
        == {"bob", "carol"}
    # already in the list: 30001 for that item, the others still go in
    dave = make_user("dave")
    assert items(rest("alice").post(BLOCKLIST, {"userIDList": ["carol", "dave"]},
                                    format="json")) == [("carol", 30001), ("dave", 0)]
    assert Block.objects.filter(owner=alice).count() == 3
    assert not Block.objects.filter(owner__in=[bob, carol, dave]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "code"), [
    ({"userIDList": "bob"}, 910003),
    ({"userIDList": [1]}, 910003),
    ({"userIDList": None}, 910003),
    ({}, 910003),
    ({"userIDList": []}, 30001),
    ({"userIDList": [f"u{i}" for i in range(1001)]}, 30001),
])
def test_malformed_batches_are_refused_whole(make_user, body, code):
    make_user("alice"), make_user("bob")
    for path in (BLOCKLIST, REMOVE, CHECK):
        assert error_code(rest("alice").post(path, body, format="json")) == code, path
    assert not Block.objects.exists()


@pytest.mark.django_db
def test_the_doors_need_a_user(make_user):
    make_user("alice")
    assert error_code(APIClient().get(BLOCKLIST), 401) == 910008
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice', key='wrong')}")
    assert error_code(bad.post(BLOCKLIST, {"userIDList": ["x"]}, format="json"), 401) == 70009


@pytest.mark.django_db
def test_remove(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    fill_blocks(alice, [bob, carol])
    assert items(rest("alice").post(REMOVE, {"userIDList": ["bob", "nobody", "dave", "bob"]},
                                    format="json")) == [("bob", 0), ("nobody", 30003),
                                                        ("dave", 30003)]
    assert items(rest("alice").post(REMOVE, {"userIDList": ["bob", "carol"]}, format="json")) \
        == [("bob", 30001), ("carol", 0)]
    assert not Block.objects.exists()


@pytest.mark.django_db
def test_the_list_pages_oldest_first_with_add_times(make_user):
    alice = make_user("alice")
    users = bulk_users("p", 5)
    services.block_add(owner=alice, user_ids=[u.user_id for u in users])
    Block.objects.filter(blocked=users[0]).update(
        created_at=timezone.now() - timezone.timedelta(days=1))
    Block.objects.filter(blocked=users[3]).update(
        created_at=timezone.now() + timezone.timedelta(minutes=1))
    client = rest("alice")
    page = client.get(BLOCKLIST, {"startIndex": 0, "maxLimited": 2}).json()
    assert [e["userID"] for e in page["blackList"]] == ["p0000", "p0001"]
    assert (page["nextStartIndex"], page["isCompleted"]) == (2, False)
    added = Block.objects.get(blocked=users[0]).created_at
    assert page["blackList"][0]["addTime"] == int(added.timestamp())
    page = client.get(BLOCKLIST, {"startIndex": 2, "maxLimited": 2}).json()
    assert [e["userID"] for e in page["blackList"]] == ["p0002", "p0004"]
    page = client.get(BLOCKLIST, {"startIndex": 4, "maxLimited": 2}).json()
    assert [e["userID"] for e in page["blackList"]] == ["p0003"]
    assert (page["nextStartIndex"], page["isCompleted"]) == (0, True)
    assert len(client.get(BLOCKLIST).json()["blackList"]) == 5  # defaults: 0, 100
    assert client.get(BLOCKLIST, {"startIndex": 9}).json() == {
        "blackList": [], "nextStartIndex": 0, "isCompleted": True}
    for query, code in [({"startIndex": "x"}, 910003), ({"maxLimited": "1.5"}, 910003),
                        ({"startIndex": -1}, 30001), ({"maxLimited": 0}, 30001),
                        ({"maxLimited": 1001}, 30001)]:
        assert error_code(client.get(BLOCKLIST, query)) == code, query


@pytest.mark.django_db
def test_check_single_and_both(make_user):
    alice, bob, carol, dave = (make_user(u) for u in ("alice", "bob", "carol", "dave"))
    fill_blocks(alice, [bob, carol])
    fill_blocks(bob, [alice])
    fill_blocks(dave, [alice])
    ids = ["bob", "carol", "dave", "eve", "nobody"]
    make_user("eve")

    def check(check_type):
        response = rest("alice").post(CHECK, {"userIDList": ids, "checkType": check_type},
                                      format="json")
        assert response.status_code == 200, response.content
        return [(r["userID"], r["relation"], r["code"])
                for r in response.json()["blackListCheckItem"]]

    no = "BlackCheckResult_Type_NO"
    assert check(SINGLE) == [("bob", "BlackCheckResult_Type_AWithB", 0),
                             ("carol", "BlackCheckResult_Type_AWithB", 0),
                             ("dave", no, 0), ("eve", no, 0), ("nobody", no, 30003)]
    assert check(BOTH) == [("bob", "BlackCheckResult_Type_BothWay", 0),
                           ("carol", "BlackCheckResult_Type_AWithB", 0),
                           ("dave", "BlackCheckResult_Type_BWithA", 0),
                           ("eve", no, 0), ("nobody", no, 30003)]
    default = rest("alice").post(CHECK, {"userIDList": ["dave"]}, format="json").json()
    assert default["blackListCheckItem"][0]["relation"] == no  # Single by default
    assert error_code(rest("alice").post(CHECK, {"userIDList": ["bob"], "checkType": "Both"},
                                         format="json")) == 30001


@pytest.mark.django_db
def test_the_list_holds_1000_at_most(make_user):
    alice = make_user("alice")
    fill_blocks(alice, bulk_users("f", 998))
    make_user("x1"), make_user("x2"), make_user("x3")
    assert items(rest("alice").post(BLOCKLIST, {"userIDList": ["x1", "x2", "x3"]},
                                    format="json")) == [("x1", 0), ("x2", 0), ("x3", 30013)]
    assert Block.objects.filter(owner=alice).count() == 1000
    # once there is room again, it takes one more
    services.block_remove(owner=alice, user_ids=["f0000"])
    assert items(rest("alice").post(BLOCKLIST, {"userIDList": ["x3"]}, format="json")) \
        == [("x3", 0)]


@pytest.mark.django_db
def test_a_batch_of_1000_runs_in_chunks_and_answers_in_order(make_user):
    alice = make_user("alice")
    users = bulk_users("c", 999)
    ids = [u.user_id for u in reversed(users)] + ["nobody"]
    results = services.block_add(owner=alice, user_ids=ids)
    assert [r.user_id for r in results] == ids
    assert [r.code for r in results] == [0] * 999 + [30003]
    # one BLACKLIST_UPDATED per transaction of 100; the last holds the whole list
    entries = log(alice)
    assert [name for name, _ in entries] == ["BLACKLIST_UPDATED"] * 10
    assert sorted(entries[-1][1]) == sorted(ids[:-1])


@pytest.mark.django_db
def test_a_block_ends_friendships_and_requests_both_ways(make_user,
                                                         django_capture_on_commit_callbacks):
    alice, bob, carol, dave = (make_user(u) for u in ("alice", "bob", "carol", "dave"))
    befriend_both(alice, bob)
    befriend_both(alice, dave)  # not blocked: stays
    Friendship.objects.create(owner=carol, friend=alice, add_time=timezone.now())  # one way
    group = FriendGroup.objects.create(owner=bob, name="work")
    group.members.add(Friendship.objects.get(owner=bob, friend=alice))
    mine = FriendGroup.objects.create(owner=alice, name="pals")
    mine.members.add(Friendship.objects.get(owner=alice, friend=bob),
                     Friendship.objects.get(owner=alice, friend=dave))
    eve = make_user("eve")
    now = timezone.now()
    FriendRequest.objects.create(requester=eve, target=alice, created_at=now)
    FriendRequest.objects.create(requester=alice, target=carol, created_at=now)
    FriendRequest.objects.create(requester=dave, target=alice, created_at=now)  # stays
    heads = {u.user_id: log(u) for u in (alice, bob, carol, dave, eve)}

    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        response = rest("alice").post(BLOCKLIST, {"userIDList": ["bob", "carol", "eve"]},
                                      format="json")
    assert items(response) == [("bob", 0), ("carol", 0), ("eve", 0)]

    assert set(Friendship.objects.values_list("owner__user_id", "friend__user_id")) == {
        ("alice", "dave"), ("dave", "alice")}
    assert list(mine.members.values_list("friend__user_id", flat=True)) == ["dave"]
    assert group.members.count() == 0
    assert list(FriendRequest.objects.values_list("requester__user_id", "target__user_id")) \
        == [("dave", "alice")]

    def new(user):
        return log(user)[len(heads[user.user_id]):]

    alice_events = dict(new(alice))
    assert alice_events["BLACKLIST_UPDATED"] == ["bob", "carol", "eve"]
    assert alice_events["FRIEND_LIST_UPDATED"] == {"added": [], "updated": [],
                                                   "deleted": ["bob"]}
    assert alice_events["FRIEND_GROUP_LIST_UPDATED"] == {
        "added": [], "deleted": [],
        "updated": [{"name": "pals", "userIDList": ["dave"], "count": 1}]}
    apps = alice_events["FRIEND_APPLICATION_LIST_UPDATED"]
    assert [a["userID"] for a in apps["friendApplicationList"]] == ["dave"]
    assert apps["unreadCount"] == 1
    assert dict(new(bob)) == {
        "FRIEND_LIST_UPDATED": {"added": [], "updated": [], "deleted": ["alice"]},
        "FRIEND_GROUP_LIST_UPDATED": {"added": [], "deleted": [], "updated": [
            {"name": "work", "userIDList": [], "count": 0}]}}
    # carol had alice (one way) and a request from her; alice had no carol to lose
    assert dict(new(carol)) == {
        "FRIEND_LIST_UPDATED": {"added": [], "updated": [], "deleted": ["alice"]},
        "FRIEND_APPLICATION_LIST_UPDATED": {"friendApplicationList": [], "unreadCount": 0}}
    assert dict(new(eve)) == {
        "FRIEND_APPLICATION_LIST_UPDATED": {"friendApplicationList": [], "unreadCount": 0}}
    assert new(dave) == []
    # what went out live is what the logs hold, each to its own user only
    sent = {}
    for group_name, frame in frames(published):
        sent.setdefault(group_name, []).append((frame["event"], frame["data"]))
    for user in (alice, bob, carol, eve):
        assert sent[user_group(user.pk)] == new(user)
    assert user_group(dave.pk) not in sent


@pytest.mark.django_db
def test_blocked_users_cannot_befriend_either_way(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    User.objects.filter(pk__in=[alice.pk, bob.pk]).update(allow_type=AllowType.ALLOW_ANY)
    services.block_add(owner=alice, user_ids=["bob"])
    add = "/api/v1/friends/"
    body = {"to": "bob", "source": "AddSource_Type_Web"}
    assert error_code(rest("alice").post(add, body, format="json")) == 30515
    body = {"to": "alice", "source": "AddSource_Type_Web"}
    assert error_code(rest("bob").post(add, body, format="json")) == 30525
    assert not Friendship.objects.exists()


@pytest.mark.django_db
def test_a_blocked_sender_gets_20007_and_nothing_is_stored(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sent = rest("alice").post("/api/v1/messages/", {"to": "bob", "elements": text("hi"),
                                                     "random": 1}, format="json")
    assert sent.status_code == 201
    services.block_add(owner=bob, user_ids=["alice"])
    bob_log = log(bob)
    response = rest("alice").post("/api/v1/messages/", {"to": "bob", "elements": text("again"),
                                                         "random": 2}, format="json")
    assert error_code(response) == 20007
    assert Message.objects.count() == 1
    assert log(bob) == bob_log
    assert Conversation.objects.get(owner=bob, peer=alice).unread_count == 1
    # the blocker may still write; unblocking lets the sender through again
    assert rest("bob").post("/api/v1/messages/", {"to": "alice", "elements": text("no"),
                                                   "random": 3}, format="json").status_code == 201
    services.block_remove(owner=bob, user_ids=["alice"])
    assert rest("alice").post("/api/v1/messages/", {"to": "bob", "elements": text("ok?"),
                                                     "random": 4}, format="json").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("n", [5, 60])
def test_the_list_costs_the_same_queries_however_long(make_user, n):
    alice = make_user("alice")
    fill_blocks(alice, bulk_users("q", n))
    with CaptureQueriesContext(connection) as queries:
        page = selectors.block_list(owner=alice, max_limited=1000)
    assert len(page["blackList"]) == n
    assert len(queries) == 1, [q["sql"] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        assert len(selectors.block_user_ids(owner_pk=alice.pk)) == n
    assert len(queries) == 1
    client = rest("alice")
    client.get(BLOCKLIST)  # warm: the UserSig login registers nothing new after this
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get(BLOCKLIST, {"maxLimited": 1000}).json()["blackList"]) == n
    # the UserSig login's user lookup, then the page
    assert len(queries) == 2, [q["sql"] for q in queries]


@pytest.mark.django_db
def test_responses_match_the_openapi_schema(make_user):
    from tests.test_openapi import check, response_schema

    schema = generate_schema()
    make_user("alice"), make_user("bob")
    client = rest("alice")
    answers = [
        (client.post(BLOCKLIST, {"userIDList": ["bob", "nobody"]}, format="json"),
         "/api/v1/blocklist/", "post"),
        (client.get(BLOCKLIST), "/api/v1/blocklist/", "get"),
        (client.post(CHECK, {"userIDList": ["bob"], "checkType": BOTH}, format="json"),
         "/api/v1/blocklist/check/", "post"),
        (client.post(REMOVE, {"userIDList": ["bob"]}, format="json"),
         "/api/v1/blocklist/remove/", "post"),
        (client.post(REMOVE, {"userIDList": []}, format="json"),
         "/api/v1/blocklist/remove/", "post"),
    ]
    for response, path, method in answers:
        check(schema, response.json(), response_schema(schema, path, method,
                                                       response.status_code))
        assert {"UserSig": []} in schema["paths"][path][method]["security"]


def generate_schema() -> dict:
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it."""
    import json
    import tempfile
    from pathlib import Path

    from django.core.management import call_command
    from drf_spectacular.drainage import reset_generator_stats

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "schema.json"
        reset_generator_stats()
        call_command("spectacular", "--validate", "--fail-on-warn", "--format",
                     "openapi-json", "--file", str(out))
        return json.loads(out.read_text())


# --- WebSocket, on a real server ---------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ws_ops_and_their_codes(connect, make_user):
    alice = make_user("alice")
    make_user("bob"), make_user("carol")
    ws = connect("alice")
    assert ws.ok("getBlacklist") == []
    assert ws.ok("addToBlacklist", {"userIDList": ["bob", "nobody", "carol"]}) == ["bob", "carol"]
    assert ws.ok("getBlacklist") == ["bob", "carol"]
    for data, code in [({"userIDList": ["bob"]}, 30001), ({"userIDList": ["alice"]}, 30001),
                       ({"userIDList": ["nobody"]}, 30003), ({"userIDList": []}, 30001),
                       ({"userIDList": "bob"}, 910003), ({}, 910003),
                       ({"userIDList": [f"u{i}" for i in range(1001)]}, 30001)]:
        reply = ws.request("addToBlacklist", data)
        assert (reply["ok"], reply["code"]) == (False, code), (data, reply)
        assert reply["message"]
    check = ws.ok("checkBlacklist", {"userIDList": ["bob", "nobody"], "type": BOTH})
    assert [(r["userID"], r["relation"], r["code"]) for r in check] == [
        ("bob", "BlackCheckResult_Type_AWithB", 0),
        ("nobody", "BlackCheckResult_Type_NO", 30003)]
    assert ws.request("checkBlacklist", {"userIDList": ["bob"], "type": "x"})["code"] == 30001
    assert ws.ok("removeFromBlacklist", {"userIDList": ["bob", "nobody"]}) == ["bob"]
    for data, code in [({"userIDList": ["bob"]}, 30001), ({"userIDList": ["nobody"]}, 30003),
                       ({"userIDList": [3]}, 910003)]:
        assert ws.request("removeFromBlacklist", data)["code"] == code, data
    assert ws.ok("getBlacklist") == ["carol"]
    # full: 30013
    fill_blocks(alice, bulk_users("w", 999))
    assert ws.request("addToBlacklist", {"userIDList": ["bob"]})["code"] == 30013


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_blacklist_updated_reaches_my_devices_live_and_after_reconnect(connect, make_user):
    make_user("alice"), make_user("bob"), make_user("carol")
    phone = connect("alice", deviceID="phone", platform="Android")
    laptop = connect("alice", deviceID="laptop", platform="Web")
    bob = connect("bob")
    assert phone.ok("addToBlacklist", {"userIDList": ["bob", "carol"]}) == ["bob", "carol"]
    for device in (phone, laptop):
        ev = device.wait_event("BLACKLIST_UPDATED")
        assert ev["data"] == ["bob", "carol"] and ev["seq"] > 0
    first_seq = ev["seq"]
    assert phone.ok("removeFromBlacklist", {"userIDList": ["bob"]}) == ["bob"]
    assert laptop.wait_event("BLACKLIST_UPDATED")["data"] == ["carol"]
    # the blocked user is told nothing
    assert not [e for e in bob.drain() if e.get("event") == "BLACKLIST_UPDATED"]
    # a device that was away (it logged in before) gets both from its sync log, in order
    device_login(user=User.objects.get(user_id="alice"), device_id="tablet", platform="iPad")
    tablet = connect()
    tablet.login("alice", gen_usersig("alice"), deviceID="tablet", platform="iPad",
                 since=first_seq - 1)
    replay = []
    while True:
        frame = tablet.next_frame()
        if frame.get("event") == "SDK_READY":
            break
        replay.append(frame)
    assert [(f["event"], f["data"]) for f in replay] == [
        ("BLACKLIST_UPDATED", ["bob", "carol"]), ("BLACKLIST_UPDATED", ["carol"])]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ws_blocked_sender_gets_20007_and_nobody_else_hears_of_it(connect, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    a1 = connect("alice", deviceID="a1", platform="Web")
    a2 = connect("alice", deviceID="a2", platform="Web")
    b1 = connect("bob", deviceID="b1", platform="Web")
    b2 = connect("bob", deviceID="b2", platform="Android")
    first = a1.ok("sendMessage", {"to": "bob", "elements": text("before"), "random": 1})
    for device in (b1, b2):
        assert device.wait_event("MESSAGE_RECEIVED")["data"][0]["ID"] == first["ID"]
    assert a2.wait_event("MESSAGE_RECEIVED")["data"][0]["ID"] == first["ID"]
    assert b2.ok("addToBlacklist", {"userIDList": ["alice"]}) == ["alice"]
    for device in (a1, a2, b1, b2):
        device.drain()
    reply = a1.request("sendMessage", {"to": "bob", "elements": text("after"), "random": 2})
    assert (reply["ok"], reply["code"]) == (False, 20007)
    assert reply["message"] == "the receiver has blocked the sender"
    for device in (a2, b1, b2):
        assert device.drain(quiet=0.5) == []
    assert Message.objects.filter(sender=alice).count() == 1
    assert Conversation.objects.get(owner=bob, peer=alice).unread_count == 1
    assert b1.ok("getTotalUnreadMessageCount") == 1
    history = b1.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"]
    assert [m["ID"] for m in history] == [first["ID"]]
    # the blocker still writes to the blocked
    assert b1.ok("sendMessage", {"to": "alice", "elements": text("bye"), "random": 3})
    assert a1.wait_event("MESSAGE_RECEIVED")["data"][0]["from"] == "bob"
