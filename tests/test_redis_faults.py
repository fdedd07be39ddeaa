"""Redis refused or silent: every door still answers in its own shape, in seconds.

A live server is started with REDIS_URL pointing at a port nothing listens on
("refused") and at a fake server that accepts connections and never answers
("silent": what a hung or overloaded Redis looks like). Sends commit to PostgreSQL, so
they answer (the realtime publish fails, and devices catch up from the sync log); the
/v4 rate limiter counts in the process; a socket handshake is closed cleanly (1013),
not answered HTTP 500. A server idle for longer than the Redis timeouts still
delivers (the redis-py 8 socket_timeout trap, shared/PERF-NOTES.md).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from accounts.usersig import gen_usersig
from messaging.models import Message
from tests.conftest import ROOT, _free_port, start_server, stop_server
from tests.v4client import V4Client
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The doors must answer well within this (REDIS_TIMEOUT is 3 s by default; a send
# pays at most one timeout for its publish).
ANSWER_WITHIN = 8.0


@contextlib.contextmanager
def silent_redis():
    """A TCP server that accepts every connection, reads nothing, answers nothing."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", held
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def broken_redis(kind: str):
    if kind == "refused":
        yield f"redis://127.0.0.1:{_free_port()}/0", None
    else:
        with silent_redis() as found:
            yield found


@contextlib.contextmanager
def server_with_redis(url: str, **env):
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    proc, base = start_server(REDIS_URL=url, **env)
    try:
        yield base
    finally:
        stop_server(proc)


def rest_send(base: str, sender: str, to: str, text: str, random: int):
    body = json.dumps({"to": to, "random": random,
                       "elements": [{"type": "TIMTextElem", "payload": {"text": text}}]})
    request = urllib.request.Request(
        base + "/api/v1/messages/", data=body.encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig {sender}:{gen_usersig(sender)}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def handshake_close_code(base: str) -> int | None:
    """Open a socket; the close code the server ends it with (None: it stayed open)."""
    with ws_connect(base.replace("http://", "ws://") + "/ws/", open_timeout=ANSWER_WITHIN) as ws:
        try:
            ws.recv(timeout=ANSWER_WITHIN)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            return None
    return None


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_doors_answer_when_redis_is_down(kind, make_user):
    make_user("alice")
    make_user("bob")
    with broken_redis(kind) as (url, _held), server_with_redis(url) as base:
        # REST: the send commits, so it answers 201 although nothing can be published.
        for i in range(3):
            started = time.monotonic()
            status, answer = rest_send(base, "alice", "bob", f"rest {kind} {i}", 1000 + i)
            took = time.monotonic() - started
            assert status == 201, answer
            assert took < ANSWER_WITHIN, took
        # /v4: the rate limiter falls back to a per-process count; the envelope is JSON.
        v4 = V4Client(base)
        started = time.monotonic()
        answer = v4("openim/sendmsg", {"To_Account": "bob", "From_Account": "alice",
                                       "MsgRandom": 77, "SyncOtherMachine": 2,
                                       "MsgBody": [{"MsgType": "TIMTextElem",
                                                    "MsgContent": {"Text": f"v4 {kind}"}}]})
        assert time.monotonic() - started < ANSWER_WITHIN
        assert answer["ActionStatus"] == "OK", answer
        # A batch send queues Celery tasks through Redis: an envelope, in seconds.
        started = time.monotonic()
        answer = v4("openim/batchsendmsg", {"To_Account": ["bob"], "From_Account": "alice",
                                            "MsgRandom": 78, "SyncOtherMachine": 2,
                                            "MsgBody": [{"MsgType": "TIMTextElem",
                                                         "MsgContent": {"Text": "batch"}}]})
        assert time.monotonic() - started < ANSWER_WITHIN
        assert answer["ActionStatus"] == "OK" or answer["ErrorCode"] == 60008, answer
        answer = v4("openim/query_online_status", {"To_Account": ["bob"]})
        # Presence lives in Redis: the read fails, in the envelope, with the busy code.
        assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == 60008, answer
        # The socket: accepted and closed with 1013 (try again later), not HTTP 500.
        started = time.monotonic()
        assert handshake_close_code(base) == 1013
        assert time.monotonic() - started < ANSWER_WITHIN
    texts = set(Message.objects.values_list("elements__0__payload__text", flat=True))
    assert {f"rest {kind} {i}" for i in range(3)} | {f"v4 {kind}"} <= texts


def test_an_idle_server_outlives_the_redis_timeouts(make_user, settings):
    """Sockets idle for longer than REDIS_TIMEOUT (1 s here) several times over keep
    receiving: the socket_timeout races nothing in the pub/sub layer's receiver."""
    make_user("alice")
    make_user("bob")
    with server_with_redis(settings.REDIS_URL, REDIS_TIMEOUT="1",
                           REDIS_CONNECT_TIMEOUT="1") as base:
        clients = []
        try:
            for user in ("alice", "bob"):
                client = WsClient(base)
                clients.append(client)
                client.login(user, gen_usersig(user))
                client.wait_event("SDK_READY")
            alice, bob = clients
            time.sleep(12)  # idle: longer than any Redis timeout, several times over
            for i in range(3):
                alice.ok("sendMessage", {"to": "bob", "random": 500 + i, "elements": [
                    {"type": "TIMTextElem", "payload": {"text": f"after idle {i}"}}]})
                event = bob.wait_event("MESSAGE_RECEIVED", timeout=10)
                assert f"after idle {i}" in json.dumps(event["data"])
        finally:
            for client in clients:
                client.close()
        # Nothing timed out or crashed in the layer's receiver while the server idled.
        log = (ROOT / ".pytest_cache" / f"live-server-{base.rsplit(':', 1)[1]}.log").read_text()
        assert "Traceback" not in log and "failed" not in log, log[:3000]
