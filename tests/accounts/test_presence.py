"""Online status (accounts/presence.py): connections with a heartbeat TTL in Redis (or
in process when embedded), Online / PushOnline / Offline, the status ops and
USER_STATUS_UPDATED to subscribers, the purges, and a crashed server's users going
Offline when their TTL lapses."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts import presence
from accounts.models import Device
from accounts.presence import Conn
from accounts.tasks import devices_purge, presence_purge
from accounts.usersig import gen_usersig
from tests.conftest import start_server, stop_server
from tests.wsclient import WsClient


def conn(channel="c1", device="d1", platform="Android", at=None):
    return Conn(channel, device, platform, time.time() if at is None else at)


@pytest.fixture(params=["redis", "local"])
def store(request, settings, monkeypatch):
    """Both stores behind the same functions: Redis (production) and in process
    (embedded mode)."""
    if request.param == "local":
        monkeypatch.setattr(presence, "_store", presence._LocalStore())
        settings.REDIS_URL = ""
    else:
        monkeypatch.setattr(presence, "_store", None)
    return presence.store()


def test_first_in_and_last_out_are_the_transitions(store):
    a, b = conn("c1", "d1", "Android"), conn("c2", "d2", "Web")
    first, live = async_to_sync(presence.connection_open)(1, a)
    assert first and live == [a]
    first, live = async_to_sync(presence.connection_open)(1, b)
    assert not first and sorted(live, key=lambda c: c.channel) == [a, b]
    p = presence.presence_of([1])[1]
    assert p.status == "Online"
    assert p.detail() == [{"Platform": "Android", "Status": "Online"},
                          {"Platform": "Web", "Status": "Online"}]
    assert async_to_sync(presence.connection_heartbeat)(1, a) is False
    assert async_to_sync(presence.connection_close)(1, a) is False  # b is still there
    assert async_to_sync(presence.connection_close)(1, b) is True
    assert async_to_sync(presence.connection_close)(1, b) is False  # already gone
    assert presence.presence_of([1])[1].status == "Offline"


def test_a_lapsed_connection_reads_offline_and_the_purge_reaps_it(store, settings):
    settings.CHAT_PRESENCE_TTL = 1
    a = conn("c1", "d1", "iOS")
    async_to_sync(presence.connection_open)(7, a)
    assert presence.presence_of([7])[7].status == "Online"
    assert presence.reap_lapsed() == []  # not lapsed yet
    time.sleep(1.2)
    assert presence.presence_of([7])[7].status == "Offline"  # lazily, before any purge
    assert presence.reap_lapsed() == [(7, a, True)]
    assert presence.reap_lapsed() == []
    # A heartbeat after the reap brings the user back (and says so).
    assert async_to_sync(presence.connection_heartbeat)(7, a) is True
    assert presence.presence_of([7])[7].status == "Online"


def test_a_heartbeat_keeps_a_connection_past_its_ttl(store, settings):
    settings.CHAT_PRESENCE_TTL = 1
    a = conn()
    async_to_sync(presence.connection_open)(3, a)
    for _ in range(3):
        time.sleep(0.5)
        async_to_sync(presence.connection_heartbeat)(3, a)
    assert presence.presence_of([3])[3].status == "Online"
    assert presence.reap_lapsed() == []


def test_push_online_for_seven_days_and_cleared(store):
    presence.set_push_reachable(5, "iOS")
    p = presence.presence_of([5])[5]
    assert (p.status, p.detail()) == ("PushOnline", [{"Platform": "iPhone",
                                                      "Status": "PushOnline"}])
    async_to_sync(presence.connection_open)(5, conn(platform="Mac"))
    p = presence.presence_of([5])[5]
    assert p.status == "Online"
    assert p.detail() == [{"Platform": "Mac", "Status": "Online"},
                          {"Platform": "iPhone", "Status": "PushOnline"}]
    presence.clear_push_reachable(5, "iOS")
    assert presence.presence_of([5])[5].detail() == [{"Platform": "Mac", "Status": "Online"}]
    # Older than 7 days: no longer counts.
    store.set_push(6, "Android", time.time() - 8 * 86400)
    assert presence.presence_of([6])[6].status == "Offline"


def test_custom_status_is_kept(store):
    presence.set_custom_status(9, "at lunch")
    assert presence.presence_of([9])[9].custom_status == "at lunch"
    assert async_to_sync(presence.custom_statuses_of)([9, 8]) == {9: "at lunch", 8: ""}
    presence.set_custom_status(9, "")
    assert presence.presence_of([9])[9].custom_status == ""


# --- through real sockets ----------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_get_user_status_online_offline_and_never_logged_in(connect, make_user):
    make_user("alice"), make_user("bob"), make_user("carol")
    bob = connect("bob", deviceID="b1", platform="Android")
    bob.close()
    alice = connect("alice", deviceID="a1", platform="Web")
    deadline = time.monotonic() + 5
    while True:
        answer = alice.ok("getUserStatus", {"userIDList": ["alice", "bob", "carol", "nobody"]})
        states = {i["userID"]: i["statusType"] for i in answer["successUserList"]}
        if states.get("bob") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert states == {"alice": 1, "bob": 2, "carol": 3}
    assert answer["failureUserList"] == [{"userID": "nobody", "code": 70107,
                                          "message": "UserID does not exist"}]
    assert alice.request("getUserStatus", {})["code"] == 910003
    assert alice.request("getUserStatus", {"userIDList": [1]})["code"] == 910003


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_subscribers_learn_online_offline_and_custom_status(connect, make_user):
    make_user("alice"), make_user("carol")
    carol = connect("carol")
    assert carol.ok("subscribeUserStatus", {"userIDList": ["alice", "ghost"]}) == {
        "failureUserList": [{"userID": "ghost", "code": 70107,
                             "message": "UserID does not exist"}]}
    phone = connect("alice", deviceID="p", platform="Android")
    event = carol.wait_event("USER_STATUS_UPDATED")
    assert event["data"] == [{"userID": "alice", "statusType": 1, "customStatus": ""}]
    assert "seq" not in event
    # A second device of an online user is no transition.
    tab = connect("alice", deviceID="t", platform="Web")
    assert tab.ok("setSelfStatus", {"customStatus": "in a meeting"}) == {
        "userID": "alice", "statusType": 1, "customStatus": "in a meeting"}
    assert carol.wait_event("USER_STATUS_UPDATED")["data"] == [
        {"userID": "alice", "statusType": 1, "customStatus": "in a meeting"}]
    assert phone.wait_event("USER_STATUS_UPDATED")["data"][0]["customStatus"] == "in a meeting"
    assert tab.request("setSelfStatus", {"customStatus": "x" * 101})["code"] == 910003
    phone.close()
    assert not [e for e in carol.drain(quiet=0.5) if e.get("event") == "USER_STATUS_UPDATED"]
    tab.close()
    assert carol.wait_event("USER_STATUS_UPDATED")["data"] == [
        {"userID": "alice", "statusType": 2, "customStatus": "in a meeting"}]
    # Unsubscribed (no list: all), nothing more arrives.
    assert carol.ok("unsubscribeUserStatus") == {"failureUserList": []}
    connect("alice")
    assert not [e for e in carol.drain(quiet=0.5) if e.get("event") == "USER_STATUS_UPDATED"]
    assert carol.ok("unsubscribeUserStatus", {"userIDList": ["alice"]})["failureUserList"][0][
        "code"] == 910004


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_subscriptions_are_capped_per_socket(connect, make_user):
    from accounts.models import User

    make_user("carol")
    User.objects.bulk_create([User(user_id=f"u{i}") for i in range(201)])
    carol = connect("carol")
    assert carol.request("subscribeUserStatus",
                         {"userIDList": [f"u{i}" for i in range(201)]})["code"] == 910003
    assert carol.ok("subscribeUserStatus",
                    {"userIDList": [f"u{i}" for i in range(200)]})["failureUserList"] == []
    failed = carol.ok("subscribeUserStatus", {"userIDList": ["u200"]})["failureUserList"]
    assert [f["userID"] for f in failed] == ["u200"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_silent_socket_lapses_and_a_pinging_one_stays(make_user, django_db_setup):
    make_user("alice"), make_user("bob")
    proc, url = start_server(CHAT_PRESENCE_TTL="2")
    try:
        alice, bob = WsClient(url), WsClient(url)
        alice.login("alice", gen_usersig("alice"))
        bob.login("bob", gen_usersig("bob"))
        pks = {u: presence_pk(u) for u in ("alice", "bob")}
        for _ in range(8):  # 4 s, twice the TTL: alice pings, bob is silent
            time.sleep(0.5)
            alice.ok("ping")
        now = presence.presence_of(pks.values())
        assert now[pks["alice"]].status == "Online"
        assert now[pks["bob"]].status == "Offline"  # the socket is open, but silent
        alice.close(), bob.close()
    finally:
        stop_server(proc)


def presence_pk(user_id: str) -> int:
    from accounts.models import User

    return User.objects.get(user_id=user_id).pk


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_crashed_servers_users_go_offline_after_the_ttl(connect, make_user, django_db_setup):
    crashed = ["alice", "bob", "dave"]
    for user_id in crashed + ["carol"]:
        make_user(user_id)
    carol = connect("carol")  # on the shared live server
    carol.ok("subscribeUserStatus", {"userIDList": crashed})
    presence.set_custom_status(presence_pk("bob"), "away")
    proc, url = start_server(CHAT_PRESENCE_TTL="2")
    try:
        for user_id in crashed:
            WsClient(url).login(user_id, gen_usersig(user_id), platform="iOS")
            assert carol.wait_event("USER_STATUS_UPDATED")["data"][0]["userID"] == user_id
        pks = [presence_pk(u) for u in crashed]
        assert {p.status for p in presence.presence_of(pks).values()} == {"Online"}
        proc.send_signal(signal.SIGKILL)  # no clean close, nobody removes the entries
        proc.wait(10)
        started = time.monotonic()
        while any(p.status == "Online" for p in presence.presence_of(pks).values()):
            assert time.monotonic() - started < 5, "still online long after the TTL"
            time.sleep(0.2)
        assert time.monotonic() - started <= 3
        # The purge (every minute in production) reaps them and tells the subscribers,
        # all three in one publish.
        assert presence_purge() == 3
        got = [carol.wait_event("USER_STATUS_UPDATED")["data"][0] for _ in crashed]
        assert sorted((i["userID"], i["statusType"], i["customStatus"]) for i in got) == [
            ("alice", 2, ""), ("bob", 2, "away"), ("dave", 2, "")]
        assert presence_purge() == 0
    finally:
        stop_server(proc)
        presence.set_custom_status(presence_pk("bob"), "")


# --- the device purge and the schedule ---------------------------------------------------

@pytest.mark.django_db
def test_devices_purge_removes_stale_rows(make_user):
    alice = make_user("alice")
    now = timezone.now()
    rows = {
        "phone-old": ("Android", now - timedelta(days=31)),
        "phone-recent": ("Android", now - timedelta(days=29)),
        "tab-old": ("Web", now - timedelta(hours=25)),
        "tab-recent": ("Web", now - timedelta(hours=23)),
    }
    for device_id, (platform, seen) in rows.items():
        Device.objects.create(user=alice, device_id=device_id, platform=platform, last_seen=seen)
    assert devices_purge(batch_size=1) == 2
    assert set(Device.objects.values_list("device_id", flat=True)) == {"phone-recent",
                                                                       "tab-recent"}


@pytest.mark.django_db
def test_the_purges_are_scheduled_and_editable_in_admin(make_user):
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="accounts.tasks.")}
    assert tasks["accounts.tasks.purge_presence"].interval.every == 1
    assert tasks["accounts.tasks.purge_presence"].interval.period == "minutes"
    assert tasks["accounts.tasks.purge_devices"].interval.period == "hours"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_server_shutting_down_announces_its_users_offline(connect, make_user, django_db_setup):
    """A graceful stop (SIGTERM: a deploy) closes every socket and then ends the process;
    the Offline of each user it served has left before it ends. (Each closing socket
    waits for its Offline to be published, accounts/announcer.py `settle`: with one
    socket the announcer's next turn would be in time anyway; with thousands closing
    at once, on a busy Redis, the loop could end first.)"""
    make_user("alice"), make_user("carol")
    carol = connect("carol")  # on the shared live server
    carol.ok("subscribeUserStatus", {"userIDList": ["alice"]})
    proc, url = start_server()
    alice = WsClient(url)
    alice.login("alice", gen_usersig("alice"), platform="iOS")
    assert carol.wait_event("USER_STATUS_UPDATED")["data"][0]["statusType"] == 1
    stop_server(proc)
    # uvicorn re-raises the SIGTERM it handled once it has shut down; -9 would be
    # stop_server's kill after 10 s.
    assert proc.returncode == -signal.SIGTERM, proc.returncode
    assert carol.wait_event("USER_STATUS_UPDATED", timeout=5)["data"] == [
        {"userID": "alice", "statusType": 2, "customStatus": ""}]
    pk = presence_pk("alice")
    assert presence.presence_of([pk])[pk].status == "Offline"
