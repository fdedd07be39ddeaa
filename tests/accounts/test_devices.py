"""Device logins (accounts/devices.py): the login policy and who it pushes out, user
kicks (sockets, web session cookies, a new UserSig), the admin's Kick out action and
policy page, and the State.StateChange callback."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed

from accounts import devices, webhooks
from accounts.models import LoginPolicy, User
from accounts.presence import Conn
from accounts.usersig import gen_usersig
from tests import webhook_receiver as receiver
from tests.conftest import start_server, stop_server
from tests.webhook_receiver import use_webhooks
from tests.wsclient import WsClient

webhook_receiver = receiver.webhook_receiver  # the fixture


def c(name, platform, at, device=None):
    return Conn(name, device or name, platform, at)


def pushed(mode, new, live, web_sessions=10):
    policy = LoginPolicy(mode=mode, web_sessions=web_sessions)
    return sorted(x.channel for x in devices.conns_to_push_out(policy, new, live))


LIVE = [c("android", "Android", 1), c("ios", "iOS", 2), c("win", "Windows", 3),
        c("mac", "Mac", 4), c("tab1", "Web", 5), c("tab2", "Web", 6), c("x", "Unknown", 7)]


def test_per_platform_pushes_out_the_same_platform_only():
    assert pushed("per_platform", c("android2", "Android", 9), LIVE) == ["android"]
    assert pushed("per_platform", c("win2", "Windows", 9), LIVE) == ["win"]
    assert pushed("per_platform", c("y", "Unknown", 9), LIVE) == []  # no platform named
    assert pushed("per_platform", c("tab3", "Web", 9), LIVE) == []


def test_single_keeps_one_mobile_or_desktop_device():
    assert pushed("single", c("ipad", "iPad", 9), LIVE) == ["android", "ios", "mac", "win", "x"]
    assert pushed("single", c("tab3", "Web", 9), LIVE) == []


def test_dual_keeps_one_mobile_and_one_desktop():
    assert pushed("dual", c("ipad", "iPad", 9), LIVE) == ["android", "ios"]
    assert pushed("dual", c("linux", "Linux", 9), LIVE) == ["mac", "win", "x"]


def test_unlimited_pushes_out_only_the_same_device():
    again = c("android-new", "Android", 9, device="android")
    assert pushed("unlimited", again, LIVE) == ["android"]
    assert pushed("unlimited", c("tab3", "Web", 9), LIVE, web_sessions=1) == []


def test_web_sessions_beyond_the_limit_push_out_the_oldest_tabs():
    assert pushed("per_platform", c("tab3", "Web", 9), LIVE, web_sessions=2) == ["tab1"]
    assert pushed("single", c("tab3", "Web", 9), LIVE, web_sessions=1) == ["tab1", "tab2"]
    assert pushed("dual", c("tab3", "Web", 9), LIVE, web_sessions=0) == []  # 0: no limit


# --- through real sockets ----------------------------------------------------------------


def set_policy(mode, web_sessions=10):
    devices.login_policy_set(mode=mode, web_sessions=web_sessions)
    time.sleep(devices.POLICY_MEMO_SECONDS + 0.1)  # every server's memo has expired


@pytest.fixture
def policy_restored():
    """The shared live server must not keep a test's policy for the next test."""
    yield
    LoginPolicy.objects.all().delete()
    time.sleep(devices.POLICY_MEMO_SECONDS + 0.1)


def kicked(ws, reason="multipleDevice") -> bool:
    assert ws.wait_event("KICKED_OUT")["data"]["reason"] == reason
    with pytest.raises(ConnectionClosed):
        ws.drain(quiet=3)
    return ws.closed_code == 4001


def past_the_kick(user) -> None:
    """Wait for the second after the user's last kick: a UserSig stamped in the kick's
    own second is refused (it may have been issued before the kick)."""
    kicked_at = User.objects.get(pk=user.pk).kicked_at
    while int(time.time()) <= kicked_at:
        time.sleep(0.05)


def alive(ws) -> bool:
    return ws.ok("ping") == {} and not [e for e in ws.drain(quiet=0.3)
                                        if e.get("event") == "KICKED_OUT"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_single_mode_keeps_one_device_and_the_tabs(connect, make_user, policy_restored):
    make_user("alice")
    set_policy("single")
    phone = connect("alice", deviceID="p", platform="Android")
    tab = connect("alice", deviceID="t", platform="Web")
    desktop = connect("alice", deviceID="d", platform="Windows")
    assert kicked(phone)
    assert alive(tab) and alive(desktop)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_dual_mode_keeps_a_phone_and_a_desktop(connect, make_user, policy_restored):
    make_user("alice")
    set_policy("dual")
    phone = connect("alice", deviceID="p", platform="Android")
    desktop = connect("alice", deviceID="d", platform="Mac")
    assert alive(phone) and alive(desktop)
    ipad = connect("alice", deviceID="i", platform="iPad")
    assert kicked(phone)
    assert alive(desktop) and alive(ipad)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_web_session_limit_and_unlimited_mode(connect, make_user, policy_restored):
    make_user("alice")
    set_policy("per_platform", web_sessions=2)
    tabs = [connect("alice", deviceID=f"t{i}", platform="Web") for i in range(3)]
    assert kicked(tabs[0])
    assert alive(tabs[1]) and alive(tabs[2])
    set_policy("unlimited")
    phones = [connect("alice", deviceID=f"p{i}", platform="Android") for i in range(2)]
    assert alive(phones[0]) and alive(phones[1])
    # The same deviceID still replaces its older socket.
    again = connect("alice", deviceID="p0", platform="Android")
    assert kicked(phones[0]) and alive(again)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_kick_closes_every_socket_and_a_new_usersig_logs_in(connect, make_user):
    alice = make_user("alice")
    make_user("bob")
    phone = connect("alice", deviceID="p", platform="iOS")
    tab = connect("alice", deviceID="t", platform="Web")
    bob = connect("bob")
    assert devices.user_kick(user=alice) == 1
    assert kicked(phone, "REST_API_Kick") and kicked(tab, "REST_API_Kick")
    assert alive(bob)
    assert User.objects.get(pk=alice.pk).session_epoch == 1
    past_the_kick(alice)
    again = connect("alice", deviceID="p", platform="iOS")
    assert alive(again)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_usersig_issued_before_a_kick_no_longer_logs_in(connect, make_user):
    alice = make_user("alice")
    old_sig = gen_usersig("alice", now=int(time.time()) - 10)
    ws = connect()
    assert ws.login("alice", old_sig)["userID"] == "alice"
    devices.user_kick(user=alice)
    assert kicked(ws, "REST_API_Kick")
    ws = connect()
    reply = ws.request("login", {"userID": "alice", "userSig": old_sig})
    assert (reply["ok"], reply["code"]) == (False, 70001)
    # One stamped in the kick's own second may have been issued before it: refused too.
    kicked_at = User.objects.get(pk=alice.pk).kicked_at
    reply = ws.request("login", {"userID": "alice",
                                 "userSig": gen_usersig("alice", now=kicked_at)})
    assert (reply["ok"], reply["code"]) == (False, 70001)
    past_the_kick(alice)
    assert ws.login("alice", gen_usersig("alice"))["userID"] == "alice"
    # The native REST door checks UserSigs through the same service.
    from rest_framework.test import APIClient

    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{old_sig}")
    refused = rest.get("/api/v1/me/")
    assert refused.status_code == 401 and refused.json()["code"] == 70001
    rest.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice')}")
    assert rest.get("/api/v1/me/").status_code == 200


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_session_cookie_from_before_a_kick_no_longer_logs_in(live_server_url, make_user):
    alice = make_user("alice", password="secret-pw")
    http = Client()
    assert http.login(user_id="alice", password="secret-pw")

    def socket(client):
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        return WsClient(live_server_url, headers={"Cookie": cookie, "Origin": live_server_url})

    ws = socket(http)
    assert ws.ok("login", {})["userID"] == "alice"
    devices.user_kick(user=alice)
    assert kicked(ws, "REST_API_Kick")
    stale = socket(http)
    assert stale.request("login", {})["code"] == 910008
    stale.close()
    # The HTTP doors too: the kicked session is signed out at its next request.
    response = http.get("/api/v1/conversations/")
    assert (response.status_code, response.json()["code"]) == (401, 910008)
    assert http.get("/chat/").status_code == 302  # to the sign-in page
    fresh = Client()
    assert fresh.login(user_id="alice", password="secret-pw")
    ws = socket(fresh)
    assert ws.ok("login", {})["userID"] == "alice"
    ws.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_admin_kicks_out_and_edits_the_policy(connect, make_user, policy_restored):
    alice, bob = make_user("alice"), make_user("bob")
    User.objects.create_superuser("ops", password="ops-pass-1")
    admin = Client()
    assert admin.login(user_id="ops", password="ops-pass-1")
    phone = connect("alice", deviceID="p", platform="Android")
    other = connect("bob")
    page = admin.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert b"Online (Android Online)" in page.content
    response = admin.post("/admin/accounts/user/", {"action": "kick_action",
                                                     "_selected_action": [alice.pk]})
    assert response.status_code == 302
    assert kicked(phone, "REST_API_Kick")
    assert alive(other)
    assert User.objects.get(pk=bob.pk).session_epoch == 0

    assert admin.get("/admin/accounts/loginpolicy/").status_code == 302
    page = admin.get("/admin/accounts/loginpolicy/1/change/")
    assert page.status_code == 200 and b"per_platform" in page.content
    response = admin.post("/admin/accounts/loginpolicy/1/change/",
                          {"mode": "dual", "web_sessions": "3"})
    assert response.status_code == 302, response.content[:2000]
    assert LoginPolicy.objects.count() == 1
    assert devices.login_policy().mode == "dual"
    assert devices.login_policy().web_sessions == 3


@pytest.fixture
def eager_server(django_db_setup):
    # Tasks (the after-callbacks) run in the server; a silent socket closes after 2 s.
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1", CHAT_SOCKET_IDLE_TIMEOUT="2")
    yield url
    stop_server(proc)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_state_change_on_login_kick_and_close(eager_server, webhook_receiver, make_user):
    make_user("alice")
    use_webhooks(webhook_receiver, [webhooks.STATE_CHANGE], live=True)
    first = WsClient(eager_server)
    first.login("alice", gen_usersig("alice"), deviceID="p1", platform="iOS")
    [login] = webhook_receiver.wait_for(1)
    assert login.query["CallbackCommand"] == "State.StateChange"
    assert login.body["Info"] == {"Action": "Login", "To_Account": "alice",
                                  "Reason": "Register"}
    assert "KickedDevice" not in login.body and login.body["EventTime"] > 0
    assert login.query["ClientIP"] == "127.0.0.1"  # the socket's peer (§14.1)
    second = WsClient(eager_server)
    second.login("alice", gen_usersig("alice"), deviceID="p2", platform="iOS")
    requests = webhook_receiver.wait_for(2)
    assert requests[1].body["KickedDevice"] == [{"Platform": "iOS"}]
    assert kicked(first)
    second.close()
    requests = webhook_receiver.wait_for(3)
    assert requests[2].body["Info"] == {"Action": "Disconnect", "To_Account": "alice",
                                        "Reason": "LinkClose"}
    assert requests[2].query["ClientIP"] == "127.0.0.1"
    time.sleep(0.5)
    assert len(webhook_receiver.requests) == 3  # the pushed-out one is in KickedDevice

    # A kick signs out: Logout / Unregister, with the device's platform ("IOS" is
    # Tencent's spelling for this callback; webhooks.py decides what it accepts).
    webhook_receiver.clear()
    tab = WsClient(eager_server)
    tab.login("alice", gen_usersig("alice"), deviceID="w", platform="Web")
    webhook_receiver.wait_for(1)
    devices.user_kick(user=User.objects.get(user_id="alice"))
    assert kicked(tab, "REST_API_Kick")
    [_, logout] = webhook_receiver.wait_for(2)
    assert logout.body["Info"] == {"Action": "Logout", "To_Account": "alice",
                                   "Reason": "Unregister"}
    assert logout.query["OptPlatform"] == "Web"

    # A logout op signs this device out: the reply, a normal close, Logout / Unregister.
    webhook_receiver.clear()
    past_the_kick(User.objects.get(user_id="alice"))
    phone = WsClient(eager_server)
    phone.login("alice", gen_usersig("alice"), deviceID="ph", platform="Android")
    webhook_receiver.wait_for(1)
    assert phone.ok("logout") == {}
    [_, signed_out] = webhook_receiver.wait_for(2)
    assert signed_out.body["Info"] == {"Action": "Logout", "To_Account": "alice",
                                       "Reason": "Unregister"}
    assert signed_out.query["OptPlatform"] == "Android"

    # A silent socket is closed by the server: Disconnect / TimeOut.
    webhook_receiver.clear()
    silent = WsClient(eager_server)
    silent.login("alice", gen_usersig("alice"), deviceID="a", platform="Android")
    [_, timeout] = webhook_receiver.wait_for(2, timeout=15)
    assert timeout.body["Info"] == {"Action": "Disconnect", "To_Account": "alice",
                                    "Reason": "TimeOut"}
    assert timeout.query["OptPlatform"] == "Android"
    silent.close()


@pytest.mark.django_db
def test_state_change_when_the_purge_reaps_a_lapsed_socket(webhook_receiver, make_user,
                                                           settings, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync

    from accounts import presence
    from accounts.tasks import presence_purge
    from accounts.webhook_tasks import deliver_after

    alice = make_user("alice")
    # The Celery app's own setting: once it has read Django's settings (any earlier
    # test that queued a task), changing settings.CELERY_TASK_ALWAYS_EAGER is not seen,
    # and the call went to the broker instead (this test failed in a full run only).
    app = deliver_after.app
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    use_webhooks(webhook_receiver, [webhooks.STATE_CHANGE])
    settings.CHAT_PRESENCE_TTL = 1
    async_to_sync(presence.connection_open)(alice.pk, Conn("ch", "d", "Windows", time.time()))
    time.sleep(1.1)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert presence_purge() == 1
    finally:
        app.conf.task_always_eager = was
    [reaped] = webhook_receiver.wait_for(1)
    assert reaped.body["Info"] == {"Action": "Disconnect", "To_Account": "alice",
                                   "Reason": "TimeOut"}
    assert reaped.query["OptPlatform"] == "Windows"
