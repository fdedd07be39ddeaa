"""One Device row per browser: the tabs of a browser log in with its deviceID and their
own instanceID (static/parley/sdk.js), coexist as web sessions, and a reconnect of one
tab replaces only its own old socket (real server, real sockets)."""

from __future__ import annotations

import pytest

from accounts import devices
from accounts.models import Device

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER = "web-0123456789abcdef01234567"


def _text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def test_tabs_of_one_browser_share_a_device_row_and_coexist(make_user, connect):
    make_user("alice")
    make_user("bob")
    tab1 = connect("alice", deviceID=BROWSER, instanceID="tab1", platform="Web")
    tab2 = connect("alice", deviceID=BROWSER, instanceID="tab2", platform="Web")
    bob = connect("bob", deviceID="b1")
    bob.ok("sendMessage", {"to": "alice", "elements": _text("to both tabs"), "random": 1})
    for tab in (tab1, tab2):
        [msg] = tab.wait_event("MESSAGE_RECEIVED")["data"]
        assert msg["elements"][0]["payload"]["text"] == "to both tabs"
    assert not [e for e in tab1.drain(quiet=0.3) if e.get("event") == "KICKED_OUT"]
    assert list(Device.objects.filter(user__user_id="alice")
                .values_list("device_id", "platform")) == [(BROWSER, "Web")]

    # The same tab reconnecting (same deviceID and instanceID) replaces its old socket
    # only: the other tab stays.
    again = connect("alice", deviceID=BROWSER, instanceID="tab1", platform="Web")
    kicked = tab1.wait_event("KICKED_OUT")
    assert kicked["data"]["reason"] == "multipleDevice"
    assert not [e for e in tab2.drain(quiet=0.5) if e.get("event") == "KICKED_OUT"]
    assert again.ok("ping") == {} and tab2.ok("ping") == {}
    assert Device.objects.filter(user__user_id="alice").count() == 1


def test_the_web_session_limit_counts_tabs(make_user, connect):
    make_user("alice")
    devices.login_policy_set(mode="per_platform", web_sessions=2)
    tabs = [connect("alice", deviceID=BROWSER, instanceID=f"t{i}", platform="Web")
            for i in range(3)]
    assert tabs[0].wait_event("KICKED_OUT")["data"]["reason"] == "multipleDevice"
    assert tabs[1].ok("ping") == {} and tabs[2].ok("ping") == {}


def test_a_client_without_instance_id_is_replaced_as_before(make_user, connect):
    make_user("alice")
    first = connect("alice", deviceID="phone-1", platform="Web")
    connect("alice", deviceID="phone-1", platform="Web")
    assert first.wait_event("KICKED_OUT")["data"]["reason"] == "multipleDevice"


@pytest.mark.parametrize("bad", [123, "has space", "x" * 33, ["tab"], 0, False, ""])
def test_a_bad_instance_id_is_refused(make_user, connect, usersig, bad):
    make_user("alice")
    ws = connect()
    reply = ws.request("login", {"userID": "alice", "userSig": usersig("alice"),
                                 "deviceID": BROWSER, "instanceID": bad})
    assert not reply["ok"] and reply["code"] == 910003
