"""Profiles beyond the standard fields: custom fields (Tag_Profile_Custom_*), others'
profiles in batches, user search, and PROFILE_UPDATED reaching the friends' devices.
Through REST (UserSig header, in process) and WebSocket (a real server)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.events import capture_events, user_group
from accounts.models import SyncEntry, User
from accounts.usersig import gen_usersig
from chat_project.errors import ChatError
from relationships import selectors, services
from relationships.models import Friendship
from tests.relationships.test_blocklist import (  # noqa: F401
    frames,
    generate_schema,
    rest,
    text,
)

ME = "/api/v1/me/"
USERS = "/api/v1/users/"
PROFILES = "/api/v1/users/profiles/"
HOBBY = "Tag_Profile_Custom_Hobby"


def custom(body: dict) -> dict:
    return {f["key"]: f["value"] for f in body["profileCustomField"]}


def error_code(response) -> int:
    assert response.status_code == 400, response.content
    return response.json()["code"]


def befriend(owner: User, friend: User) -> None:
    Friendship.objects.create(owner=owner, friend=friend, add_time=timezone.now())


# --- custom fields ------------------------------------------------------------------------

@pytest.mark.django_db
def test_custom_fields_are_set_merged_and_removed(make_user):
    alice = make_user("alice")
    client = rest("alice")
    body = client.patch(ME, {"profileCustomField": [{"key": HOBBY, "value": "chess"}]},
                        format="json").json()
    assert custom(body) == {HOBBY: "chess"}
    body = client.patch(ME, {"nick": "Ally", "profileCustomField": [
        {"key": "Tag_Profile_Custom_City", "value": "深圳"},
        {"key": HOBBY, "value": "go"}, {"key": HOBBY, "value": "chess"}]},
        format="json").json()  # a later item wins
    assert custom(body) == {HOBBY: "chess", "Tag_Profile_Custom_City": "深圳"}
    assert body["nick"] == "Ally"
    body = client.patch(ME, {"profileCustomField": [{"key": HOBBY, "value": ""}]},
                        format="json").json()
    assert custom(body) == {"Tag_Profile_Custom_City": "深圳"}
    alice.refresh_from_db()
    assert alice.profile_custom == {"Tag_Profile_Custom_City": "深圳"}
    assert custom(client.get(ME).json()) == {"Tag_Profile_Custom_City": "深圳"}
    # 500 bytes of UTF-8, and 8 letters, are the most
    assert client.patch(ME, {"profileCustomField": [
        {"key": "Tag_Profile_Custom_ABCDEFGH", "value": "é" * 250}]},
        format="json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("items", "code"), [
    ([{"key": "Hobby", "value": "x"}], 40009),
    ([{"key": "Tag_Profile_Custom_", "value": "x"}], 40009),
    ([{"key": "Tag_Profile_Custom_ABCDEFGHI", "value": "x"}], 40009),
    ([{"key": "Tag_Profile_Custom_Ho99", "value": "x"}], 40009),
    ([{"key": "Tag_Profile_Custom_Hö", "value": "x"}], 40009),
    ([{"key": "Tag_Profile_IM_Nick", "value": "x"}], 40009),
    ([{"key": HOBBY, "value": "é" * 251}], 40601),
    ([{"key": HOBBY, "value": 5}], 40605),
    ([{"key": HOBBY, "value": None}], 40605),
    ([{"key": HOBBY, "value": "a\x00b"}], 40605),
    ([{"key": HOBBY}], 910003),
    ([{"key": 5, "value": "x"}], 910003),
    ([{"key": HOBBY, "value": "x", "extra": 1}], 910003),
    (["Tag_Profile_Custom_Hobby"], 910003),
    ({"key": HOBBY, "value": "x"}, 910003),
    ("chess", 910003),
    (None, 910003),
])
def test_bad_custom_fields_are_refused_and_change_nothing(make_user, items, code):
    alice = make_user("alice")
    response = rest("alice").patch(ME, {"nick": "changed", "profileCustomField": items},
                                   format="json")
    assert error_code(response) == code
    fresh = User.objects.get(pk=alice.pk)
    assert (fresh.nick, fresh.profile_custom) == ("Alice", {})


@pytest.mark.django_db
def test_at_most_20_custom_fields(make_user):
    alice = make_user("alice")
    keys = [f"Tag_Profile_Custom_K{chr(97 + i)}" for i in range(21)]
    client = rest("alice")
    assert client.patch(ME, {"profileCustomField": [{"key": k, "value": "v"}
                                                    for k in keys[:20]]},
                        format="json").status_code == 200
    assert error_code(client.patch(ME, {"profileCustomField": [{"key": keys[20],
                                                                "value": "v"}]},
                                   format="json")) == 40605
    # replacing one, or removing one to make room, is fine
    assert client.patch(ME, {"profileCustomField": [{"key": keys[0], "value": ""},
                                                    {"key": keys[20], "value": "v"}]},
                        format="json").status_code == 200
    alice.refresh_from_db()
    assert len(alice.profile_custom) == 20 and keys[0] not in alice.profile_custom


@pytest.mark.django_db
def test_the_service_takes_custom_fields_as_a_mapping(make_user):
    alice = make_user("alice")
    services.profile_update(user=alice, profile_custom={HOBBY: "chess"})
    assert User.objects.get(pk=alice.pk).profile_custom == {HOBBY: "chess"}
    with pytest.raises(ChatError) as err:
        services.profile_update(user=alice, profile_custom=[{"key": HOBBY, "value": "x"}])
    assert err.value.code == 910003


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_of_different_keys_both_stay(make_user):
    alice = make_user("alice")
    keys = [f"Tag_Profile_Custom_K{chr(97 + i)}" for i in range(8)]
    barrier = threading.Barrier(len(keys))
    errors = []

    def change(key):
        try:
            user = User.objects.get(pk=alice.pk)  # each with its own stale copy
            barrier.wait()
            services.profile_update(user=user, profile_custom={key: "v"})
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=change, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert set(User.objects.get(pk=alice.pk).profile_custom) == set(keys)


# --- PROFILE_UPDATED to friends -------------------------------------------------------------

@pytest.mark.django_db
def test_a_change_reaches_my_devices_and_those_who_have_me_as_a_friend(
        make_user, django_capture_on_commit_callbacks):
    alice, bob, carol, dave = (make_user(u) for u in ("alice", "bob", "carol", "dave"))
    befriend(bob, alice)  # bob has alice: he hears
    befriend(alice, carol)  # alice has carol, not the other way: carol does not
    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        profile = rest("alice").patch(ME, {"nick": "Ally", "profileCustomField": [
            {"key": HOBBY, "value": "chess"}]}, format="json").json()
    sent = [(group, frame["event"], frame["data"]) for group, frame in frames(published)]
    assert sorted(sent) == sorted([
        (user_group(alice.pk), "PROFILE_UPDATED", [profile]),
        (user_group(bob.pk), "PROFILE_UPDATED", [profile])])
    for user in (alice, bob):
        entries = list(SyncEntry.objects.filter(user=user))
        assert [(e.kind, e.payload) for e in entries] == [
            ("profile", {"event": "PROFILE_UPDATED", "data": [profile]})]
    assert not SyncEntry.objects.filter(user__in=[carol, dave]).exists()
    # nothing changed, nothing sent
    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        rest("alice").patch(ME, {}, format="json")
    assert published == []


@pytest.mark.django_db
def test_a_refused_change_tells_nobody(make_user, django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(bob, alice)
    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        assert error_code(rest("alice").patch(ME, {"nick": "n" * 501}, format="json")) \
            == 40601
    assert published == [] and not SyncEntry.objects.exists()


# --- others' profiles and search ----------------------------------------------------------

@pytest.mark.django_db
def test_profiles_in_batches(make_user):
    make_user("alice"), make_user("bob", nick="Bobby"), make_user("carol")
    client = rest("alice")
    response = client.get(PROFILES, {"userID": ["carol", "nobody", "bob", "carol"]})
    assert response.status_code == 200
    got = response.json()["profileList"]
    assert [p["userID"] for p in got] == ["carol", "bob"]  # as asked, unknown left out
    assert got[1]["nick"] == "Bobby" and "profileCustomField" in got[1]
    assert error_code(client.get(PROFILES)) == 40001
    assert error_code(client.get(PROFILES, {"userID": [f"u{i}" for i in range(101)]})) == 40001
    assert client.get(PROFILES, {"userID": [f"u{i}" for i in range(100)]}).json() == {
        "profileList": []}


@pytest.mark.django_db
@pytest.mark.parametrize("n", [5, 60])
def test_profiles_cost_one_query(make_user, n):
    users = User.objects.bulk_create([User(user_id=f"p{i}", password="!") for i in range(n)])
    with CaptureQueriesContext(connection) as queries:
        got = selectors.profiles_get(user_ids=[u.user_id for u in users])
    assert len(got) == n and len(queries) == 1


@pytest.mark.django_db
def test_search_by_user_id_prefix_and_nick(make_user):
    make_user("alice", nick="Alice Liddell")
    make_user("al", nick="Short")
    make_user("albert", nick="Einstein")
    make_user("zed", nick="Friend of ALice")
    make_user("bob", nick="Bob")
    gone = make_user("alfred", nick="gone")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    client = rest("bob")

    def found(**query):
        response = client.get(USERS, query)
        assert response.status_code == 200, response.content
        return [p["userID"] for p in response.json()["userList"]]

    assert found(search="al") == ["al", "albert", "alice", "zed"]  # exact first
    assert found(search="AL") == ["al", "albert", "alice", "zed"]  # case folded
    assert found(search="lidd") == ["alice"]  # inside a nick
    assert found(search="lice") == ["alice", "zed"]  # not inside a UserID
    assert found(search="al", count=2) == ["al", "albert"]
    assert found(search="nobody") == []
    assert found(search="  bob ") == ["bob"]
    with CaptureQueriesContext(connection) as queries:
        selectors.user_search(keyword="al", count=50)
    assert len(queries) == 1
    for query, code in [({}, 910003), ({"search": " "}, 910003),
                        ({"search": "al", "count": 0}, 40001),
                        ({"search": "al", "count": 51}, 40001),
                        ({"search": "al", "count": "x"}, 910003)]:
        assert error_code(client.get(USERS, query)) == code, query


@pytest.mark.django_db
def test_profile_responses_match_the_openapi_schema(make_user):
    from tests.test_openapi import check, response_schema

    schema = generate_schema()
    make_user("alice"), make_user("bob")
    client = rest("alice")
    answers = [
        (client.patch(ME, {"profileCustomField": [{"key": HOBBY, "value": "chess"}]},
                      format="json"), ME, "patch"),
        (client.get(ME), ME, "get"),
        (client.get(PROFILES, {"userID": ["alice", "bob"]}), PROFILES, "get"),
        (client.get(USERS, {"search": "a"}), USERS, "get"),
        (client.patch(ME, {"profileCustomField": [{"key": "x", "value": "y"}]},
                      format="json"), ME, "patch"),
    ]
    for response, path, method in answers:
        check(schema, response.json(), response_schema(schema, path, method,
                                                       response.status_code))
    assert {"UserSig": []} in schema["paths"][USERS]["get"]["security"]


# --- WebSocket, on a real server ---------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ws_profile_ops_and_their_codes(connect, make_user):  # noqa: F811
    make_user("alice"), make_user("bob", nick="Bobby")
    ws = connect("alice")
    me = ws.ok("updateMyProfile", {"nick": "Ally", "profileCustomField": [
        {"key": HOBBY, "value": "chess"}]})
    assert me["nick"] == "Ally" and custom(me) == {HOBBY: "chess"}
    assert ws.ok("getMyProfile") == me
    for data, code in [({"profileCustomField": [{"key": "Hobby", "value": "x"}]}, 40009),
                       ({"profileCustomField": [{"key": HOBBY, "value": "x" * 501}]}, 40601),
                       ({"profileCustomField": [{"key": HOBBY, "value": 1}]}, 40605),
                       ({"profileCustomField": "x"}, 910003),
                       ({"nick": "n" * 501}, 40601), ({"gender": "x"}, 40605),
                       ({"level": 3}, 910003)]:
        reply = ws.request("updateMyProfile", data)
        assert (reply["ok"], reply["code"]) == (False, code), (data, reply)
    assert ws.ok("getMyProfile") == me  # nothing half-applied
    got = ws.ok("getUserProfile", {"userIDList": ["bob", "nobody", "alice"]})
    assert [(p["userID"], p["nick"]) for p in got] == [("bob", "Bobby"), ("alice", "Ally")]
    for data, code in [({"userIDList": []}, 40001),
                       ({"userIDList": [f"u{i}" for i in range(101)]}, 40001),
                       ({"userIDList": "bob"}, 910003), ({}, 910003),
                       ({"userIDList": [1]}, 910003)]:
        assert ws.request("getUserProfile", data)["code"] == code, data
    found = ws.ok("searchUsers", {"keyword": "bob"})
    assert [p["userID"] for p in found["userList"]] == ["bob"]
    assert [p["userID"] for p in ws.ok("searchUsers", {"keyword": "ALLY"})["userList"]] \
        == ["alice"]
    for data, code in [({}, 910003), ({"keyword": "b", "count": 99}, 40001),
                       ({"keyword": "b", "count": "2"}, 910003)]:
        assert ws.request("searchUsers", data)["code"] == code, data


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_profile_updated_reaches_friends_live_and_after_reconnect(connect, make_user):  # noqa: F811
    alice, bob = make_user("alice"), make_user("bob")
    make_user("carol")  # a stranger to alice
    befriend(bob, alice)
    befriend(alice, bob)
    a1 = connect("alice", deviceID="a1", platform="Web")
    a2 = connect("alice", deviceID="a2", platform="Android")
    b1 = connect("bob", deviceID="b1", platform="Web")
    c1 = connect("carol", deviceID="c1", platform="Web")
    profile = a1.ok("updateMyProfile", {"selfSignature": "hello", "profileCustomField": [
        {"key": HOBBY, "value": "go"}]})
    for device in (a1, a2, b1):
        ev = device.wait_event("PROFILE_UPDATED")
        assert ev["data"] == [profile] and ev["seq"] > 0
    bob_seq = ev["seq"]
    assert not [f for f in c1.drain(quiet=0.5) if f.get("event") == "PROFILE_UPDATED"]
    # bob's other device comes back after it and learns it from his sync log
    b2 = connect()
    b2.login("bob", gen_usersig("bob"), deviceID="b2", platform="iPad", since=bob_seq - 1)
    replayed = []
    while (frame := b2.next_frame()).get("event") != "SDK_READY":
        replayed.append(frame)
    assert [(f["event"], f["data"]) for f in replayed] == [("PROFILE_UPDATED", [profile])]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_messages_keep_the_nick_and_avatar_of_their_sending(connect, make_user):  # noqa: F811
    make_user("alice", nick="Alice", avatar="https://img.example/a.png")
    make_user("bob")
    a = connect("alice")
    b = connect("bob")
    first = a.ok("sendMessage", {"to": "bob", "elements": text("one"), "random": 1})
    a.ok("updateMyProfile", {"nick": "Ally", "avatar": "https://img.example/b.png"})
    second = a.ok("sendMessage", {"to": "bob", "elements": text("two"), "random": 2})
    assert (first["nick"], first["avatar"]) == ("Alice", "https://img.example/a.png")
    assert (second["nick"], second["avatar"]) == ("Ally", "https://img.example/b.png")
    live = [b.wait_event("MESSAGE_RECEIVED")["data"][0] for _ in range(2)]
    assert [(m["nick"], m["avatar"]) for m in live] == [
        ("Alice", "https://img.example/a.png"), ("Ally", "https://img.example/b.png")]
    history = b.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"]
    assert [(m["nick"], m["avatar"]) for m in history] == [
        ("Alice", "https://img.example/a.png"), ("Ally", "https://img.example/b.png")]
    # the REST door's history says the same
    page = rest("bob").get("/api/v1/conversations/C2Calice/messages/").json()
    assert [m["nick"] for m in page["messageList"]] == ["Alice", "Ally"]
