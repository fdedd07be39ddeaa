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
    assert any(f.get("event") == "ERROR" and f["data"]["code"] == 910005 for f in frames)
    assert ws.closed_code == 4008
