"""A silent socket is closed; a flooding socket is throttled, then closed."""

import time

import pytest
from websockets.exceptions import ConnectionClosed

from accounts.usersig import gen_usersig
from tests.conftest import start_server, stop_server
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def strict_server(django_db_setup):
    proc, url = start_server(CHAT_SOCKET_IDLE_TIMEOUT="2", CHAT_SOCKET_RATE="20")
    yield url
    stop_server(proc)


def test_silent_socket_is_closed(strict_server, make_user):
    make_user("alice")
    ws = WsClient(strict_server)
    ws.login("alice", gen_usersig("alice"))
    ws.wait_event("SDK_READY")
    started = time.monotonic()
    with pytest.raises(ConnectionClosed):
        ws.drain(quiet=10)
    assert ws.closed_code == 4000
    assert time.monotonic() - started < 8


def test_a_socket_that_pings_stays_open(strict_server, make_user):
    make_user("alice")
    ws = WsClient(strict_server)
    ws.login("alice", gen_usersig("alice"))
    for _ in range(5):
        time.sleep(1)
        assert ws.ok("ping") == {}
    ws.close()


def test_flooding_socket_is_throttled_then_closed(strict_server, make_user):
    make_user("alice")
    ws = WsClient(strict_server)
    ws.login("alice", gen_usersig("alice"))
    for i in range(200):
        try:
            ws.send_raw(f'{{"id": "p{i}", "op": "ping"}}')
        except ConnectionClosed:
            break
    frames = []
    with pytest.raises(ConnectionClosed):
        for _ in range(400):
            frames.append(ws.next_frame(timeout=5))
    # Each refused request hears so at its id: a client waiting on it is not left waiting.
    refused = [f for f in frames if f.get("ok") is False and f.get("code") == 910005]
    assert refused and all(f["id"].startswith("p") for f in refused)
    answered = {f["id"] for f in frames if "id" in f}
    assert all(f"p{i}" in answered for i in range(len(answered))), sorted(answered)[:5]
    assert ws.closed_code == 4008


def test_a_device_id_is_1_to_64_printable_characters(live_server_url, make_user):
    make_user("alice")
    # A falsy one is refused too, not taken for a missing one (which gets one made up).
    for device_id in ("a\x00b", "x" * 65, "tab\there", "", 0, False, 7, [], {}):
        ws = WsClient(live_server_url)
        reply = ws.request("login", {"userID": "alice", "userSig": gen_usersig("alice"),
                                     "deviceID": device_id})
        assert (reply["ok"], reply["code"]) == (False, 910003), (device_id, reply)
        assert "deviceID" in reply["message"], (device_id, reply)
        assert ws.ok("ping") == {}  # the socket stays open, logged out
        ws.close()
    ws = WsClient(live_server_url)
    assert ws.login("alice", gen_usersig("alice"), deviceID="x" * 64)["userID"] == "alice"
    ws.close()
    ws = WsClient(live_server_url)  # null is no deviceID: the server makes one up
    assert ws.login("alice", gen_usersig("alice"), deviceID=None)["userID"] == "alice"
    ws.close()


# --- every way a socket ends removes it from presence --------------------------------------
# A socket's end is handled by ChatConsumer.disconnect: presence, the Offline announcement,
# State.StateChange. It must run however the socket ends, including while the server is
# still writing to it (uvicorn raises ClientDisconnected into that write) and after the
# server itself closed it (a write after the close is refused); otherwise the socket reads
# Online for the presence TTL (90 s by default) with nobody on it.

def _alice_watched_by_carol(url: str, make_user):
    """(alice's user, carol's socket subscribed to alice's status, alice's socket, logged
    in and announced Online)."""
    alice = make_user("alice")
    make_user("carol")
    carol = WsClient(url)
    carol.login("carol", gen_usersig("carol"))
    carol.wait_event("SDK_READY")
    carol.ok("subscribeUserStatus", {"userIDList": ["alice"]})
    ws = WsClient(url)
    ws.login("alice", gen_usersig("alice"))
    ws.wait_event("SDK_READY")
    carol.wait_event("USER_STATUS_UPDATED")
    return alice, carol, ws


def _offline_soon(carol, alice_pk: int) -> None:
    from accounts import presence

    deadline = time.monotonic() + 10
    while True:  # carol pings: the server closes a socket silent for 2 s
        carol.ok("ping")
        try:
            event = carol.wait_event("USER_STATUS_UPDATED", timeout=0.5,
                                     where=lambda e: e["data"][0]["statusType"] == 2)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "alice still online 10 s after her socket ended"
    assert event["data"][0]["userID"] == "alice"
    assert presence.presence_of([alice_pk])[alice_pk].online == []


def test_a_socket_that_leaves_while_answered_goes_offline(strict_server, make_user):
    alice, carol, ws = _alice_watched_by_carol(strict_server, make_user)
    # Fifteen requests and the close in one burst: the server is still answering them
    # when the close frame is read, so its next reply finds the socket closed.
    for i in range(15):
        ws.send_raw(f'{{"id": "p{i}", "op": "ping"}}')
    ws.close()
    _offline_soon(carol, alice.pk)


def test_a_flooding_socket_closed_by_the_server_goes_offline(strict_server, make_user):
    alice, carol, ws = _alice_watched_by_carol(strict_server, make_user)
    # Past the rate the server closes the socket, with replies still due for frames it
    # had taken before: they come after its close.
    for i in range(200):
        try:
            ws.send_raw(f'{{"id": "p{i}", "op": "ping"}}')
        except ConnectionClosed:
            break
    # (carol pings meanwhile: this server closes a socket silent for 2 s, and on a busy
    # machine alice's frames took longer than that to drain once; alice's socket is
    # read in short waits, so a pause in her frames never keeps carol silent: a 5 s
    # wait for her next frame once let the server close carol's, 4000, under CI's load)
    pinged = time.monotonic()
    deadline = pinged + 30
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            if time.monotonic() - pinged > 0.5:
                carol.ok("ping")
                pinged = time.monotonic()
            try:
                ws.next_frame(timeout=0.3)
            except AssertionError:  # nothing within 0.3 s: ping carol, wait again
                pass
    assert ws.closed_code == 4008
    _offline_soon(carol, alice.pk)


def test_a_silent_socket_closed_by_the_server_goes_offline(strict_server, make_user):
    alice, carol, ws = _alice_watched_by_carol(strict_server, make_user)
    _offline_soon(carol, alice.pk)


def test_a_failing_event_handler_closes_the_socket_and_it_goes_offline(strict_server, make_user):
    """A layer message the consumer cannot handle (here `chat.events` without its
    fields) closes that socket with 1011 (the client reconnects with `since`) and runs
    its disconnect, instead of ending the consumer without one."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from accounts.events import user_group

    alice, carol, ws = _alice_watched_by_carol(strict_server, make_user)
    async_to_sync(get_channel_layer().group_send)(user_group(alice.pk), {"type": "chat.events"})
    with pytest.raises(ConnectionClosed):
        ws.drain(quiet=5)
    assert ws.closed_code == 1011
    _offline_soon(carol, alice.pk)
