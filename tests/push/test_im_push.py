"""Push to all (v4 all_member_push/im_push, tencent-rest.md §10): the condition picks the
users, the fan-out sends through the one send pipeline, online sockets get
MESSAGE_RECEIVED and nobody else does; the interval and the daily quota hold.

The /v4 calls go to a live server that runs Celery tasks in process
(CELERY_TASK_ALWAYS_EAGER=1), so the fan-out has finished when the answer arrives; the
WebSocket clients sit on the session's live server (both share the Redis channel
layer). The last test runs the fan-out on a real Celery worker through Redis.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.models import SyncEntry, User
from accounts.usersig import gen_usersig
from chat_project.errors import ChatError
from messaging.models import Message
from messaging.push_all import broadcast_fan_out, run_broadcast
from push import selectors, services
from push.conditions import Condition
from push.models import BroadcastTask
from tests.celery_worker import celery_worker
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client

pytestmark = pytest.mark.django_db(transaction=True)

PUSH = "all_member_push/im_push"


@pytest.fixture(scope="module")
def eager_url(django_db_setup, django_db_blocker):
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1")
    yield url
    stop_server(proc)


@pytest.fixture
def pv4(eager_url):
    return V4Client(eager_url)


@pytest.fixture
def audience(make_user, v4):
    """alice: vip, beta; bob: vip; carol: beta; dave: nothing. Attributes: alice and
    carol are in Shenzhen, bob in Beijing; alice is female."""
    for name in ("alice", "bob", "carol", "dave"):
        make_user(name)
    assert v4("all_member_push/im_add_tag", {"UserTags": [
        {"To_Account": "alice", "Tags": ["vip", "beta"]},
        {"To_Account": "bob", "Tags": ["vip"]},
        {"To_Account": "carol", "Tags": ["beta"]},
    ]})["ErrorCode"] == 0
    assert v4("all_member_push/im_set_attr_name",
              {"AttrNames": {"0": "sex", "1": "city"}})["ErrorCode"] == 0
    assert v4("all_member_push/im_set_attr", {"UserAttrs": [
        {"To_Account": "alice", "Attrs": {"sex": "female", "city": "Shenzhen"}},
        {"To_Account": "bob", "Attrs": {"city": "Beijing"}},
        {"To_Account": "carol", "Attrs": {"city": "Shenzhen"}},
    ]})["ErrorCode"] == 0


def body(text: str, random: int, **extra) -> dict:
    return {"MsgRandom": random,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}], **extra}


def allow_next_push():
    """The last push was long ago (pushes must be 1 s apart)."""
    BroadcastTask.objects.update(created=timezone.now() - timedelta(seconds=5))


def texts(ws, quiet: float = 0.5) -> list[str]:
    """The texts of every MESSAGE_RECEIVED the socket got (waiting for `quiet`)."""
    return [m["elements"][0]["payload"]["text"] for f in ws.drain(quiet=quiet)
            if f.get("event") == "MESSAGE_RECEIVED" for m in f["data"]]


def test_a_tag_condition_reaches_the_online_sockets_it_matches_and_no_others(
        audience, connect, pv4):
    sockets = {name: connect(name) for name in ("alice", "bob", "carol", "dave")}
    answer = pv4(PUSH, body("for vips", 11, Condition={"TagsOr": ["vip"]}))
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0, answer
    task_id = answer["TaskId"]
    assert isinstance(task_id, str) and task_id

    for name in ("alice", "bob"):
        event = sockets[name].wait_event("MESSAGE_RECEIVED")
        [msg] = event["data"]
        assert msg["from"] == "administrator" and msg["to"] == name
        assert msg["elements"] == [{"type": "TIMTextElem", "payload": {"text": "for vips"}}]
        assert msg["onlineUserOnly"] is True and msg["random"] == 11
    for name in ("carol", "dave"):
        assert texts(sockets[name]) == []
    # MsgLifeTime 0 (the default): online only, nothing stored.
    assert not Message.objects.exists()
    assert not SyncEntry.objects.filter(kind=SyncEntry.Kind.MESSAGE).exists()
    task = BroadcastTask.objects.get(task_id=task_id)
    assert (task.state, task.matched, task.delivered, task.failed) == ("done", 2, 2, 0)
    assert task.sender.user_id == "administrator" and task.condition == {"tags_or": ["vip"]}

    # TagsAnd: both tags.
    allow_next_push()
    assert pv4(PUSH, body("vip and beta", 12,
                          Condition={"TagsAnd": ["vip", "beta"]}))["ErrorCode"] == 0
    assert texts(sockets["alice"]) == ["vip and beta"]
    for name in ("bob", "carol", "dave"):
        assert texts(sockets[name], quiet=0.2) == []


def test_attribute_conditions(audience, connect, pv4):
    sockets = {name: connect(name) for name in ("alice", "bob", "carol", "dave")}

    def reached(text, random, condition):
        allow_next_push()
        answer = pv4(PUSH, body(text, random, Condition=condition))
        assert answer["ErrorCode"] == 0, answer
        time.sleep(0.3)
        return sorted(n for n, ws in sockets.items() if texts(ws, quiet=0.2) == [text])

    assert reached("sz", 21, {"AttrsAnd": {"city": "Shenzhen"}}) == ["alice", "carol"]
    assert reached("sz f", 22, {"AttrsAnd": {"city": "Shenzhen", "sex": "female"}}) == ["alice"]
    assert reached("bj or f", 23, {"AttrsOr": {"city": "Beijing", "sex": "female"}}) \
        == ["alice", "bob"]
    assert reached("both", 24, {"AttrsOr": {"city": "Beijing", "sex": "female"},
                                "AttrsAnd": {"city": "Shenzhen"}}) == ["alice"]
    assert reached("nobody", 25, {"AttrsAnd": {"city": "Paris"}}) == []
    assert BroadcastTask.objects.get(msg_random=25).matched == 0


def test_no_condition_is_everybody_and_a_lifetime_stores_it_for_offline_devices(
        audience, connect, pv4):
    online, sender = connect("bob"), connect("alice")
    # From_Account: the message is alice's; alice herself does not get it.
    answer = pv4(PUSH, body("news", 31, From_Account="alice", MsgLifeTime=3600,
                            OfflinePushInfo={"PushFlag": 0, "Title": "Parley",
                                             "Desc": "news for you", "Ext": "{}"}))
    assert answer["ErrorCode"] == 0, answer
    event = online.wait_event("MESSAGE_RECEIVED")
    assert event["data"][0]["from"] == "alice" and "seq" in event  # stored: in the sync log
    stored = Message.objects.filter(random=31).select_related("receiver")
    # Every account but the sender (no condition: everybody).
    assert sorted(m.receiver.user_id for m in stored) == ["bob", "carol", "dave"]
    # In the one stored shape (push/offline_info.py).
    assert stored[0].offline_push_info == {"title": "Parley", "description": "news for you",
                                           "extension": "{}"}
    task = BroadcastTask.objects.get(task_id=answer["TaskId"])
    assert (task.matched, task.delivered, task.lifetime) == (3, 3, 3600)
    assert {m.time for m in stored} == {int(task.created.timestamp())}  # one push, one time
    # MsgLifeTime: the receivers' offline-cache entries expire with it.
    entries = SyncEntry.objects.filter(message_id__in=[m.pk for m in stored])
    assert entries.count() == 3
    for entry in entries:
        assert abs((entry.expires_at - entry.created_at).total_seconds() - 3600) < 2
    # Nothing on the sender's side: no sync entry, no conversation, no event.
    assert not SyncEntry.objects.filter(user__user_id="alice").exists()
    assert sender.ok("getConversationList")["conversationList"] == []
    assert texts(sender) == []

    # carol was offline: her device gets it from the offline cache when it logs in.
    carol = connect()
    carol.login("carol", gen_usersig("carol"), deviceID="carol-phone", since=0)
    replayed = carol.wait_event("MESSAGE_RECEIVED")
    assert replayed["data"][0]["elements"][0]["payload"]["text"] == "news"
    carol.wait_event("SDK_READY")
    unread = carol.ok("getTotalUnreadMessageCount")
    assert unread == 1 or unread.get("totalUnreadCount") == 1


def test_the_same_msg_random_is_the_same_push(audience, connect, pv4):
    bob = connect("bob")
    first = pv4(PUSH, body("once", 41, Condition={"TagsOr": ["vip"]}))
    # Within the 1 s interval, and yet no 90024: a retry names the same task.
    again = pv4(PUSH, body("once", 41, Condition={"TagsOr": ["vip"]}))
    assert first["ErrorCode"] == again["ErrorCode"] == 0
    assert first["TaskId"] == again["TaskId"]
    assert texts(bob) == ["once"]
    assert BroadcastTask.objects.count() == 1


def test_pushes_are_one_second_apart_and_limited_per_day(audience, pv4):
    assert pv4(PUSH, body("first", 51))["ErrorCode"] == 0
    answer = pv4(PUSH, body("too soon", 52))
    assert answer["ErrorCode"] == 90024 and answer["ActionStatus"] == "FAIL"
    time.sleep(1.05)
    assert pv4(PUSH, body("a second later", 53))["ErrorCode"] == 0
    # Today's quota (100 by default): 98 more pushes earlier today fill it.
    sender = User.objects.get(user_id="administrator")
    earlier = timezone.now() - timedelta(seconds=10)
    today = max(earlier, earlier.replace(hour=0, minute=0, second=1))
    BroadcastTask.objects.bulk_create([
        BroadcastTask(task_id=f"old-{n}", sender=sender, msg_random=1000 + n,
                      body=[], created=today, state="done") for n in range(98)])
    allow_next_push()
    answer = pv4(PUSH, body("over quota", 54))
    assert answer["ErrorCode"] == 90047, answer
    # Yesterday's pushes do not count.
    BroadcastTask.objects.filter(task_id__startswith="old-").update(
        created=today - timedelta(days=1))
    assert pv4(PUSH, body("a new day", 55))["ErrorCode"] == 0
    assert not BroadcastTask.objects.filter(msg_random__in=[52, 54]).exists()


def test_the_daily_quota_and_the_switch_are_settings(audience, settings):
    settings.CHAT_PUSH_DAILY_QUOTA = 1
    admin = User.objects.create(user_id="administrator")
    elements = [{"type": "TIMTextElem", "payload": {"text": "x"}}]
    with transaction.atomic():
        services.broadcast_create(sender=admin, elements=elements, msg_random=1, lifetime=0,
                                  condition=Condition())
    allow_next_push()
    with pytest.raises(ChatError) as exc:
        services.broadcast_create(sender=admin, elements=elements, msg_random=2, lifetime=0,
                                  condition=Condition())
    assert exc.value.code == 90047
    settings.CHAT_PUSH_DAILY_QUOTA = 2
    settings.CHAT_PUSH_ALL_ENABLED = False
    with pytest.raises(ChatError) as exc:
        services.broadcast_create(sender=admin, elements=elements, msg_random=2, lifetime=0,
                                  condition=Condition())
    assert exc.value.code == 90045
    settings.CHAT_PUSH_ALL_ENABLED = True
    assert services.broadcast_create(sender=admin, elements=elements, msg_random=2,
                                     lifetime=0, condition=Condition())[1] is True


BAD_REQUESTS = [
    ({"MsgRandom": None}, 90005),
    ({"MsgRandom": "7"}, 90005),
    ({"MsgRandom": 2**32}, 90005),
    ({"MsgLifeTime": 604801}, 90026),
    ({"MsgLifeTime": -1}, 90026),
    ({"MsgBody": None}, 90002),
    ({"MsgBody": {"MsgType": "TIMTextElem"}}, 90007),
    ({"MsgBody": [{"MsgType": "TIMTextElem"}]}, 90002),
    ({"MsgBody": [{"MsgType": "TIMNopeElem", "MsgContent": {}}]}, 90010),
    ({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]}, 90010),
    ({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x" * 13000}}]}, 93000),
    ({"Condition": {"TagsOr": ["vip"], "AttrsAnd": {"city": "Shenzhen"}}}, 90039),
    ({"Condition": {"TagsOr": [f"t{n}" for n in range(11)]}}, 90032),
    ({"Condition": {"TagsAnd": ["t" * 51]}}, 90020),
    ({"Condition": {"TagsAnd": [""]}}, 90040),
    ({"Condition": {"TagsAnd": ["vip"], "TagsOr": ["vip"]}}, 90022),
    ({"Condition": {"AttrsOr": {"age": "3"}}}, 90033),
    ({"Condition": {"AttrsOr": {"city": "c" * 51}}}, 90033),
    ({"Condition": "everybody"}, 90001),
    ({"From_Account": "nobody"}, 20003),
    ({"OfflinePushInfo": "push"}, 90043),
    ({"OfflinePushInfo": {"Desc": "d" * 3000, "Ext": "e" * 100}}, 90043),
    ({"OfflinePushInfo": {"ApnsInfo": "loud"}}, 90043),
    ({"CloudCustomData": 123}, 20001),  # as sendmsg answers it
    ({"CloudCustomData": {"k": "v"}}, 20001),
]


def test_bad_requests_get_their_code_and_push_nothing(audience, pv4):
    for extra, code in BAD_REQUESTS:
        request = {**body("x", 61), **extra}
        request = {k: v for k, v in request.items() if v is not None}
        answer = pv4(PUSH, request)
        assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", code), (extra, answer)
        assert answer["ErrorInfo"]
    assert not BroadcastTask.objects.exists()
    assert pv4(PUSH, body("x", 61))["ErrorCode"] == 0  # the same request, put right, goes


def test_condition_selection_is_set_based(audience):
    """The selector pages users in pk order and leaves out the sender and disabled
    accounts."""
    alice = User.objects.get(user_id="alice")
    User.objects.filter(user_id="dave").update(is_active=False)

    def page(condition, after=0, limit=10):
        return [u for _, u in selectors.broadcast_recipients(
            services.check_condition(condition), exclude_pk=alice.pk, after_pk=after,
            limit=limit)]

    assert page(None) == ["bob", "carol"]
    assert page({"TagsOr": ["beta", "vip"]}) == ["bob", "carol"]
    assert page({"TagsAnd": ["beta"], "TagsOr": ["vip"]}) == []  # only alice has both
    first = selectors.broadcast_recipients(Condition(), exclude_pk=0, after_pk=0, limit=2)
    rest = selectors.broadcast_recipients(Condition(), exclude_pk=0, after_pk=first[-1][0],
                                          limit=10)
    assert [u for _, u in first + rest] == ["alice", "bob", "carol"]


def test_pushes_are_listed_in_admin(audience, pv4):
    assert pv4(PUSH, body("admin sees me", 71, Condition={"TagsOr": ["vip"]}))["ErrorCode"] \
        == 0
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    page = client.get("/admin/push/broadcasttask/")
    assert page.status_code == 200
    task = BroadcastTask.objects.get()
    assert task.task_id.encode() in page.content
    assert client.get(f"/admin/push/broadcasttask/{task.pk}/change/").status_code == 200
    for path in ("/admin/push/attrname/", "/admin/push/userattr/", "/admin/push/usertag/"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert b"Shenzhen" in client.get("/admin/push/userattr/").content


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test sets it)")
def test_a_real_worker_fans_a_push_out_through_redis(audience, connect, tmp_path):
    bob, dave = connect("bob"), connect("dave")
    admin = User.objects.create(user_id="administrator")
    elements = [{"type": "TIMTextElem", "payload": {"text": "from the worker"}}]
    with transaction.atomic():
        task, created = services.broadcast_create(
            sender=admin, elements=elements, msg_random=81, lifetime=600,
            condition=services.check_condition({"TagsOr": ["vip"]}))
    assert created and run_broadcast.app.conf.task_always_eager is False

    # The fan-out is idempotent (a done task does nothing; pages resume after the
    # cursor): the send is repeated if it is lost.
    with celery_worker(run_broadcast.app, tmp_path, "push") as worker:
        worker.run_until(lambda: BroadcastTask.objects.get(pk=task.pk).state == "done",
                         lambda: run_broadcast.apply_async(args=[task.pk], queue=worker.queue))

    event = bob.wait_event("MESSAGE_RECEIVED")
    assert event["data"][0]["elements"][0]["payload"]["text"] == "from the worker"
    assert texts(dave) == []
    task.refresh_from_db()
    assert (task.matched, task.delivered) == (2, 2)  # alice and bob
    assert sorted(Message.objects.filter(random=81).values_list("receiver__user_id", flat=True)) \
        == ["alice", "bob"]


def test_the_fan_out_goes_page_by_page_and_resumes_after_its_cursor(audience, settings):
    settings.CHAT_PUSH_CHUNK = 2
    admin = User.objects.create(user_id="administrator")
    elements = [{"type": "TIMTextElem", "payload": {"text": "paged"}}]
    with transaction.atomic():
        task, _ = services.broadcast_create(sender=admin, elements=elements, msg_random=91,
                                            lifetime=60, condition=Condition())
    users = list(User.objects.exclude(pk=admin.pk).order_by("pk"))
    # As if a worker died after committing the first page (alice, bob).
    BroadcastTask.objects.filter(pk=task.pk).update(cursor=users[1].pk, matched=2,
                                                    delivered=2, state="running")
    task = BroadcastTask.objects.select_related("sender").get(pk=task.pk)
    broadcast_fan_out(task)
    assert sorted(Message.objects.values_list("receiver__user_id", flat=True)) \
        == ["carol", "dave"]
    task.refresh_from_db()
    assert (task.state, task.matched, task.delivered, task.cursor) == (
        "done", 4, 4, users[-1].pk)
    broadcast_fan_out(task)  # a done task sends nothing again
    assert Message.objects.count() == 2
