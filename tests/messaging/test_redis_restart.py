"""Redis restarted while a peer sends: no acknowledged message is lost or handed to the
device twice. Sockets stay open; the channel layer resubscribes when Redis is back
(redis-py's PubSub does on reconnect), and what was published into the gap reaches the
device through the event chain: the next event's prevSeq shows it, the device asks
`sync` (PROTOCOL.md). A Redis and a live server of the test's own. (bob misses about
100 of alice's messages, often more: the sync replays the entries after the socket's
login whole, without the offline cache's cut of 100 per peer.)"""

from __future__ import annotations

import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from accounts.usersig import gen_usersig
from tests.conftest import start_server, stop_server
from tests.redis_server import RedisServer
from tests.wsclient import Device, WsClient

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


class Sender(threading.Thread):
    """alice sends to bob until stopped; keeps the IDs of the sends answered ok (a send
    refused while Redis is away is the sender's to retry, not a loss)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.acked: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self):
        n, client = 0, None
        while not self.stop.is_set():
            try:
                if client is None:
                    client = WsClient(self.url)
                    client.login("alice", gen_usersig("alice"), deviceID="alice-phone")
                n += 1
                reply = client.request("sendMessage", {"to": "bob", "elements": text(f"m{n}"),
                                                       "random": n})
                client.events.clear()
                if reply["ok"]:
                    self.acked.append(reply["data"]["ID"])
                else:
                    self.refused += 1
            except (ConnectionClosed, OSError, AssertionError):
                client = None
                self.refused += 1
                time.sleep(0.2)
            time.sleep(0.02)


def test_redis_restarted_under_load_loses_and_repeats_nothing(make_user):
    make_user("alice"), make_user("bob")
    redis = RedisServer().start()
    proc, url = start_server(REDIS_URL=redis.url)
    sender = Sender(url)
    reconnects = 0
    try:
        def connect_bob(since):
            client = WsClient(url)
            client.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android",
                         since=since)
            return client

        device = Device(connect_bob(0), 0)

        def pump(seconds):
            nonlocal reconnects
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    device.pump(left)
                except ConnectionClosed:  # allowed: the device comes back with since
                    reconnects += 1
                    time.sleep(0.2)
                    try:
                        device.client = connect_bob(device.held)
                    except Exception:
                        pass

        pump(1.0)
        sender.start()
        pump(2.0)
        redis.restart(down_for=2.0)
        pump(6.0)
        sender.stop.set()
        sender.join(timeout=30)
        # One more event after the load: the chain shows whatever the tail lost.
        last = WsClient(url)
        last.login("alice", gen_usersig("alice"), deviceID="alice-desk")
        sender.acked.append(last.ok("sendMessage", {"to": "bob", "elements": text("last"),
                                                    "random": 10**6})["ID"])
        started = time.monotonic()
        while not set(sender.acked) <= set(device.received_ids()) \
                and time.monotonic() - started < 15:
            pump(0.5)
        last.close()
        device.client.close()
    finally:
        sender.stop.set()
        stop_server(proc)
        redis.stop()

    seen = device.received_ids()
    lost = set(sender.acked) - set(seen)
    print(f"{len(sender.acked)} acknowledged ({sender.refused} refused) across a Redis "
          f"restart: {len(lost)} lost, {len(seen) - len(set(seen))} handed twice; "
          f"{device.gaps} gap frames, {device.syncs} syncs, {reconnects} reconnects")
    assert len(sender.acked) > 50
    assert not lost and len(seen) == len(set(seen))
    assert seen == sorted(seen, key=sender.acked.index)  # in the order sent


def test_a_message_published_while_redis_is_down_arrives_without_a_later_event(make_user):
    make_user("alice"), make_user("bob")
    redis = RedisServer().start()
    proc, url = start_server(REDIS_URL=redis.url, CHAT_LAYER_PROBE_SECONDS="1")
    try:
        bob = WsClient(url)
        bob.login("bob", gen_usersig("bob"), deviceID="bob-phone", since=0)
        device = Device(bob, 0)
        alice = WsClient(url)
        alice.login("alice", gen_usersig("alice"), deviceID="alice-phone")
        first = alice.ok("sendMessage", {"to": "bob", "elements": text("one"), "random": 1})
        device.pump(1.0)
        assert device.received_ids() == [first["ID"]]

        redis.stop()
        # Stored and acknowledged; its publish fails: nobody can hear it now.
        lost = alice.ok("sendMessage", {"to": "bob", "elements": text("two"), "random": 2})
        device.pump(1.0)
        redis.start()
        # No later event comes; the server's probe sees the layer back and the socket
        # sends what its device has not had.
        started = time.monotonic()
        while len(device.received_ids()) < 2 and time.monotonic() - started < 20:
            device.pump(0.5)
        assert device.received_ids() == [first["ID"], lost["ID"]]
        assert device.gaps == 0 and device.syncs == 0 and device.repeats == 0
        # The chain goes on from there.
        third = alice.ok("sendMessage", {"to": "bob", "elements": text("three"), "random": 3})
        device.pump(1.5)
        assert device.received_ids()[-1] == third["ID"] and device.gaps == 0
        alice.close()
        bob.close()
    finally:
        stop_server(proc)
        redis.stop()
