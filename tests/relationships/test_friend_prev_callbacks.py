"""The friend pre-callbacks (tencent-rest.md §14.2): Sns.CallbackPrevFriendAdd before a
user's friend request, Sns.CallbackPrevFriendResponse before a user's answer to one, on
the client doors (a real uvicorn process and real sockets; native REST through DRF's
client), never on the /v4 REST API's. The app is a real local HTTP receiver."""

from __future__ import annotations

import threading
import time

import pytest
from rest_framework.test import APIClient

from accounts import webhooks
from accounts.models import AllowType, User, WebhookAttempt
from accounts.usersig import gen_usersig
from relationships.models import FriendRequest, Friendship
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client
from tests.webhook_receiver import Reply, use_webhooks, webhook_receiver  # noqa: F401
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SRC = "AddSource_Type_Web"
PREV = [webhooks.PREV_FRIEND_ADD, webhooks.PREV_FRIEND_RESPONSE]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1")
    yield url
    stop_server(proc)


@pytest.fixture
def people(make_user):
    """bob lets anyone add him; carol confirms each request (the default)."""
    made = {name: make_user(name) for name in ("alice", "bob", "carol")}
    User.objects.filter(user_id="bob").update(allow_type=AllowType.ALLOW_ANY)
    return made


@pytest.fixture
def sockets(server):
    opened: dict[str, WsClient] = {}

    def socket(user_id: str, platform: str = "Web") -> WsClient:
        if user_id not in opened:
            ws = opened[user_id] = WsClient(server)
            ws.login(user_id, gen_usersig(user_id), platform=platform)
            ws.wait_event("SDK_READY")
        return opened[user_id]

    yield socket
    for ws in opened.values():
        ws.close()


def refuse(to: str, code: int, info: str = "") -> Reply:
    return Reply.code(0, ResultItem=[{"To_Account": to, "ResultCode": code, "ResultInfo": info}])


def friends_of(user_id: str) -> set[str]:
    return set(Friendship.objects.filter(owner__user_id=user_id)
               .values_list("friend__user_id", flat=True))


def test_the_app_refuses_or_lets_through_a_request_on_the_socket(
        people, sockets, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, PREV, live=True)
    alice = sockets("alice", platform="Android")
    webhook_receiver.script(refuse("bob", 38001, "no strangers on Sundays"))
    before = int(time.time() * 1000)
    reply = alice.request("addFriend", {"to": "bob", "source": SRC, "wording": "hi",
                                        "remark": "Bobby", "groupName": "work"})
    assert not reply["ok"]
    assert (reply["code"], reply["message"]) == (38001, "no strangers on Sundays")
    assert friends_of("alice") == set()
    [got] = webhook_receiver.wait_for(1)
    assert got.query["CallbackCommand"] == webhooks.PREV_FRIEND_ADD
    assert got.query["OptPlatform"] == "Android"
    assert got.query["ClientIP"] == "127.0.0.1"
    body = got.body
    assert body["CallbackCommand"] == webhooks.PREV_FRIEND_ADD
    assert (body["Requester_Account"], body["From_Account"]) == ("alice", "alice")
    assert body["FriendItem"] == [{"To_Account": "bob", "Remark": "Bobby",
                                   "GroupName": "work", "AddSource": SRC,
                                   "AddWording": "hi"}]
    assert (body["AddType"], body["ForceAddFlags"]) == ("Add_Type_Both", 0)
    assert before <= body["EventTime"] <= int(time.time() * 1000)
    attempt = WebhookAttempt.objects.get(command=webhooks.PREV_FRIEND_ADD)
    assert attempt.outcome == WebhookAttempt.Outcome.OK

    # The app lets it through (ResultCode 0): added as bob's allow type says.
    webhook_receiver.script(refuse("bob", 0))
    assert alice.ok("addFriend", {"to": "bob", "source": SRC})["code"] == 0
    assert friends_of("alice") == {"bob"} and friends_of("bob") == {"alice"}


@pytest.mark.parametrize("reply", [
    Reply.http(500), Reply.garbage(), Reply.code(1, "busy"),
    Reply.code(0),  # no ResultItem
    Reply.code(0, ResultItem=[{"To_Account": "someone-else", "ResultCode": 38002}]),
    Reply.code(0, ResultItem="nonsense"),
], ids=["http-500", "not-json", "error-code", "no-items", "other-account", "junk-items"])
def test_a_failed_or_silent_answer_lets_the_request_through(
        people, sockets, webhook_receiver, reply):  # noqa: F811
    use_webhooks(webhook_receiver, PREV, live=True)
    webhook_receiver.answer(reply)
    assert sockets("alice").ok("addFriend", {"to": "bob", "source": SRC})["code"] == 0
    assert friends_of("alice") == {"bob"}
    assert len(webhook_receiver.wait_for(1)) == 1


def test_a_code_outside_the_range_refuses_as_38000(people, sockets, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, PREV, live=True)
    webhook_receiver.answer(refuse("bob", 7))
    reply = sockets("alice").request("addFriend", {"to": "bob", "source": SRC})
    assert (reply["ok"], reply["code"], reply["message"]) == (False, 38000, "refused by the app")
    assert friends_of("alice") == set()


def test_answers_to_a_request_are_put_to_the_app(people, sockets, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, PREV, live=True)
    alice, carol = sockets("alice"), sockets("carol", platform="iOS")
    assert alice.ok("addFriend", {"to": "carol", "source": SRC})["code"] == 30539
    webhook_receiver.wait_for(1)
    webhook_receiver.clear()

    webhook_receiver.script(refuse("alice", 38500, "verify your phone first"))
    reply = carol.request("acceptFriendApplication", {
        "userID": "alice", "type": "Response_Action_AgreeAndAdd", "remark": "Al"})
    assert (reply["ok"], reply["code"], reply["message"]) == (
        False, 38500, "verify your phone first")
    assert FriendRequest.objects.filter(requester__user_id="alice").exists()  # still waits
    assert friends_of("alice") == set() and friends_of("carol") == set()
    [got] = webhook_receiver.wait_for(1)
    assert got.query["CallbackCommand"] == webhooks.PREV_FRIEND_RESPONSE
    assert got.query["OptPlatform"] == "iOS"
    assert (got.body["Requester_Account"], got.body["From_Account"]) == ("carol", "carol")
    assert got.body["ResponseFriendItem"] == [{
        "To_Account": "alice", "Remark": "Al", "TagName": "",
        "ResponseAction": "Response_Action_AgreeAndAdd"}]

    # A refusal of the request is asked about too, as Response_Action_Reject.
    webhook_receiver.script(refuse("alice", 38501, "keep it"))
    reply = carol.request("refuseFriendApplication", {"userID": "alice"})
    assert (reply["ok"], reply["code"]) == (False, 38501)
    assert FriendRequest.objects.filter(requester__user_id="alice").exists()
    assert webhook_receiver.wait_for(2)[1].body["ResponseFriendItem"][0][
        "ResponseAction"] == "Response_Action_Reject"

    # Let through: accepted.
    carol.ok("acceptFriendApplication", {"userID": "alice", "type": "Response_Action_Agree"})
    assert friends_of("alice") == {"carol"}
    assert not FriendRequest.objects.exists()
    # Nothing to answer: the app is not asked (30614 as before).
    assert carol.request("refuseFriendApplication", {"userID": "alice"})["code"] == 30614
    assert len(webhook_receiver.requests) == 3


def test_bad_arguments_are_refused_without_asking_the_app(
        people, sockets, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, PREV, live=True)
    alice = sockets("alice")
    assert alice.request("addFriend", {"to": "bob", "source": "nope"})["code"] == 30001
    assert alice.request("addFriend", {"to": "ghost", "source": SRC})["code"] == 30003
    assert alice.request("addFriend", {"to": "alice", "source": SRC})["code"] == 30001
    assert alice.request("acceptFriendApplication", {
        "userID": "bob", "type": "Response_Action_Agree"})["code"] == 30614
    time.sleep(0.3)
    assert webhook_receiver.requests == []


def test_a_slow_app_holds_up_only_the_socket_that_asked(
        people, sockets, webhook_receiver):  # noqa: F811
    """The socket door waits for the app off its process's database thread: another
    socket's ops go on meanwhile."""
    use_webhooks(webhook_receiver, PREV, live=True, timeout_ms=3000)
    alice, carol = sockets("alice"), sockets("carol")
    webhook_receiver.script(Reply.hang(2.0))
    answered: dict = {}
    asking = threading.Thread(target=lambda: answered.update(
        alice.request("addFriend", {"to": "bob", "source": SRC})))
    asking.start()
    webhook_receiver.wait_for(1)
    started = time.monotonic()
    carol.ok("getFriendList", {})
    carol.ok("checkFriend", {"userIDList": ["alice"]})
    quick = time.monotonic() - started
    asking.join(10)
    assert quick < 1.0, f"another socket's ops waited {quick:.2f} s for the app"
    # The hang ended in time (2 s < 3 s): the empty standing answer lets it through.
    assert answered["ok"] and answered["data"]["code"] == 0


def test_the_rest_door_asks_too(people, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, PREV)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice')}")
    webhook_receiver.script(refuse("bob", 38003, "not now"))
    response = client.post("/api/v1/friends/", {"to": "bob", "source": SRC}, format="json")
    assert response.status_code == 400
    assert response.json() == {"code": 38003, "message": "not now"}
    assert webhook_receiver.wait_for(1)[0].query["OptPlatform"] == "Unknown"
    response = client.post("/api/v1/friends/", {"to": "carol", "source": SRC}, format="json")
    assert response.json()["code"] == 30539

    carol = APIClient()
    carol.credentials(HTTP_AUTHORIZATION=f"UserSig carol:{gen_usersig('carol')}")
    webhook_receiver.script(refuse("alice", 38004))
    response = carol.post("/api/v1/friend-requests/accept/",
                          {"userID": "alice", "type": "Response_Action_Agree"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, 38004)
    response = carol.post("/api/v1/friend-requests/refuse/", {"userID": "alice"},
                          format="json")
    assert response.status_code == 200
    assert [r.body["CallbackCommand"] for r in webhook_receiver.wait_for(4)] == [
        webhooks.PREV_FRIEND_ADD, webhooks.PREV_FRIEND_ADD, webhooks.PREV_FRIEND_RESPONSE,
        webhooks.PREV_FRIEND_RESPONSE]


def test_the_rest_api_and_the_console_are_not_asked(people, server, webhook_receiver):  # noqa: F811
    """Tencent: a friend request or answer made through the REST API fires neither."""
    use_webhooks(webhook_receiver, PREV, live=True)
    webhook_receiver.answer(refuse("bob", 38001))
    v4 = V4Client(server)
    answer = v4("sns/friend_add", {"From_Account": "alice",
                                   "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}]})
    assert answer["ResultItem"][0]["ResultCode"] == 0
    assert friends_of("alice") == {"bob"}
    time.sleep(0.3)
    assert webhook_receiver.requests == []
    assert not WebhookAttempt.objects.exists()


def test_with_the_pre_callbacks_off_the_app_is_not_asked(
        people, sockets, webhook_receiver):  # noqa: F811
    use_webhooks(webhook_receiver, [webhooks.FRIEND_ADD], live=True)
    assert sockets("alice").ok("addFriend", {"to": "bob", "source": SRC})["code"] == 0
    got = webhook_receiver.wait_for(1)  # the after-callback only
    time.sleep(0.3)
    assert [r.body["CallbackCommand"] for r in webhook_receiver.requests] == [
        webhooks.FRIEND_ADD]
    assert got[0].body["ClientCmd"] == "friend_add"
