"""Hostile input before authentication: a UserSig zlib bomb at every door that takes a
UserSig, and frames larger than a socket may send (issue 9, item 2)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from accounts.usersig import MAX_USERSIG_CHARS
from tests.accounts.test_usersig import _bomb, _deep
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client
from tests.wsclient import WsClient

pytestmark = pytest.mark.e2e

# A bomb that passes the length cap (700 KB inflated) and one far past it (150 MB
# inflated from 200 KB of base64, under the socket's 256 KB frame limit).
SMALL_BOMB = _bomb(700_000)
BIG_BOMB = _bomb(150_000_000)
FRAME_LIMIT = 262144


def test_the_bombs_are_what_the_tests_say():
    assert len(SMALL_BOMB) <= MAX_USERSIG_CHARS < len(BIG_BOMB) < FRAME_LIMIT - 200


@pytest.mark.parametrize("bomb", [SMALL_BOMB, BIG_BOMB, _deep()], ids=["small", "big", "deep"])
def test_socket_login_with_a_bomb_is_70003(connect, make_user, usersig, transactional_db,
                                           bomb):
    make_user("alice")
    client = connect()
    reply = client.request("login", {"userID": "alice", "userSig": bomb})
    assert (reply["ok"], reply["code"]) == (False, 70003)
    # The socket and the worker are fine: a real UserSig logs in on the same socket.
    client.login("alice", usersig("alice"))
    client.wait_event("SDK_READY")


@pytest.mark.parametrize("bomb", [SMALL_BOMB, _bomb(20_000_000), _deep()],
                         ids=["small", "big", "deep"])
def test_rest_header_with_a_bomb_is_70003(live_server_url, make_user, transactional_db, bomb):
    make_user("alice")
    assert rest_error(f"{live_server_url}/api/v1/conversations/", bomb) == (401, 70003)


def rest_error(url: str, usersig: str) -> tuple[int, int]:
    """GET `url` on the REST door as alice with this UserSig: (HTTP status, code) of the
    error it must answer."""
    request = urllib.request.Request(url, headers={"Authorization": f"UserSig alice:{usersig}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    return err.value.code, json.loads(err.value.read())["code"]


@pytest.mark.parametrize("bomb", [SMALL_BOMB, _bomb(20_000_000), _deep()],
                         ids=["small", "big", "deep"])
def test_v4_query_with_a_bomb_is_60004(live_server_url, transactional_db, bomb):
    v4 = V4Client(live_server_url)
    status, raw = v4.raw("im_open_login_svc/account_check", b'{"CheckItem": []}', usersig=bomb)
    answer = json.loads(raw)
    assert (status, answer["ErrorCode"]) == (200, 60004)
    assert "70003" in answer["ErrorInfo"]


def _frame(size: int) -> str:
    """A ping of exactly `size` bytes (ASCII)."""
    head = '{"id": "big", "op": "ping", "data": {"pad": "'
    return head + "x" * (size - len(head) - 3) + '"}}'


def _closes_with(client: WsClient, frame: str) -> int | None:
    """Send `frame`; the close code if the server closes the socket, else None (and the
    ping was answered)."""
    client.send_raw(frame)
    try:
        reply = client.reply_to("big")
    except ConnectionClosed:
        return client.closed_code
    assert reply["ok"] is True
    return None


def _frames_over_the_limit_close_the_socket(url: str) -> None:
    small, big = WsClient(url), WsClient(url)
    try:
        assert _closes_with(small, _frame(250_000)) is None  # a merged message's list fits
        assert _closes_with(big, _frame(300_000)) == 1009
    finally:
        small.close()
        big.close()


def test_a_frame_over_256_kb_closes_the_socket_1009(live_server_url):
    """The server as README starts it (uvicorn --ws-max-size 262144)."""
    _frames_over_the_limit_close_the_socket(live_server_url)


def test_the_consumer_closes_an_oversized_frame_uvicorn_let_through(django_db_setup):
    """Started without the flag, uvicorn takes frames up to 16 MiB: the consumer refuses
    them with the same close code."""
    proc, url = start_server(uvicorn_flags=())
    try:
        _frames_over_the_limit_close_the_socket(url)
        # A multi-byte frame over the limit in bytes, though not in characters.
        client = WsClient(url)
        try:
            assert _closes_with(client, _frame(200_000).replace("x", "é", 70_000)) == 1009
        finally:
            client.close()
    finally:
        stop_server(proc)


def test_over_a_thousand_query_parameters_get_each_doors_error(live_server_url, make_user,
                                                               usersig, transactional_db):
    """Django refuses to parse past DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000): /v4 still
    answers its envelope (60002), the REST door its JSON error (910003), not a 500."""
    make_user("alice")
    many = "&".join(f"userID=u{n}" for n in range(1001))
    status, raw = V4Client(live_server_url).raw("im_open_login_svc/account_check",
                                                b'{"CheckItem": []}')
    assert status == 200 and json.loads(raw)["ErrorCode"] == 0  # the same call, few fields
    request = urllib.request.Request(
        V4Client(live_server_url).url("im_open_login_svc/account_check") + "&" + many,
        data=b'{"CheckItem": []}', method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert (response.status, answer["ErrorCode"]) == (200, 60002), answer
    assert rest_error(f"{live_server_url}/api/v1/users/profiles/?{many}",
                      usersig("alice")) == (400, 910003)
