"""Scale-out: two ASGI server processes on two ports (as two hosts would be, no sticky
sessions), sharing PostgreSQL and the cache/presence Redis (REDIS_URL), with the channel
layer sharded over two Redis servers of the test's own (REDIS_CHANNEL_URLS,
channels-redis's own sharding by name).

- A sender on one server, each receiver with a device on each server: every message
  reaches every device once, in order, live; each shard carries some receivers' groups,
  and both server processes are subscribed to each of those groups.
- One server process killed (SIGKILL): its devices reconnect to the other with `since`
  and miss nothing.
- One shard restarted under sends: nothing acknowledged is lost (the devices catch up by
  `sync` as PROTOCOL.md says, or by the server's resync after its probe sees the shard
  back), receivers whose groups live on the other shard lose nothing at all.

Each test prints its figures (sent, delivered, reconnect and catch-up times)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis as redis_py
from channels_redis.utils import _consistent_hash
from websockets.exceptions import ConnectionClosed

from accounts.events import user_group
from accounts.usersig import gen_usersig
from chat_project.redis_bounds import BoundedPubSubChannelLayer
from tests.conftest import UVICORN_FLAGS, start_server, stop_server
from tests.redis_server import RedisServer, free_port
from tests.wsclient import Device, WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PLATFORMS = ("Android", "Windows")  # one device per platform class: no login kicks


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def prefix() -> str:
    return f"parley-test-{os.getpid()}"  # CHANNEL_PREFIX of the live servers (conftest)


def group_channel(user_pk: int) -> str:
    """The Redis channel of a user's group, as channels-redis names it."""
    return f"{prefix()}__group__{user_group(user_pk)}"


class Cluster:
    """Two channel-layer shards and two server processes (REDIS_URL stays the shared
    Redis: presence, cache, rate limits)."""

    def __init__(self):
        self.shards = [RedisServer().start(), RedisServer().start()]
        self.servers: list = []
        env = {"REDIS_CHANNEL_URLS": ",".join(s.url for s in self.shards),
               "CHAT_LAYER_PROBE_SECONDS": "1"}
        try:
            for _ in range(2):
                self.servers.append(start_server(**env))
        except Exception:
            self.close()
            raise
        self.urls = [url for _, url in self.servers]

    def close(self):
        for proc, _ in self.servers:
            stop_server(proc)
        for shard in self.shards:
            shard.stop()


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.close()


def receivers_on_both_shards(make_user, per_shard: int) -> list:
    """Users r0, r1, ... until each shard carries `per_shard` of their groups."""
    chosen: dict[int, list] = {0: [], 1: []}
    for n in range(200):
        user = make_user(f"r{n}")
        shard = _consistent_hash(group_channel(user.pk), 2)
        if len(chosen[shard]) < per_shard:
            chosen[shard].append(user)
        if all(len(v) == per_shard for v in chosen.values()):
            return chosen[0] + chosen[1]
    raise AssertionError("200 users and still a shard without receivers")


def shard_of(user) -> int:
    return _consistent_hash(group_channel(user.pk), 2)


class DeviceThread(threading.Thread):
    """A receiver's device: follows the event chain (tests/wsclient.Device); when its
    socket drops, logs in again on the next server with `since` = the seq it holds."""

    def __init__(self, user_id: str, platform: str, urls: list[str], start_at: int):
        super().__init__(daemon=True)
        self.user_id, self.platform, self.urls, self.at = user_id, platform, urls, start_at
        self.device = Device(self._login(0), 0)
        self.stop = threading.Event()
        self.when: dict[str, float] = {}  # message ID -> when the device handed it out
        self.dropped_at: float | None = None
        self.reconnected_at: float | None = None
        self.reconnects: list[tuple[str, float]] = []  # (server url, seconds without socket)
        self.error: BaseException | None = None

    def _login(self, since: int) -> WsClient:
        client = WsClient(self.urls[self.at])
        client.login(self.user_id, gen_usersig(self.user_id),
                     deviceID=f"{self.user_id}-{self.platform}", platform=self.platform,
                     since=since)
        # Nothing but the reply before the reply: the replay and live events come after.
        assert not [e for e in client.events if "seq" in e], list(client.events)
        return client

    def run(self):
        try:
            noted = 0
            while not self.stop.is_set():
                try:
                    self.device.pump(0.2)
                except (ConnectionClosed, OSError):
                    self._reconnect()
                now = time.monotonic()
                for frame in self.device.handed[noted:]:
                    if frame["event"] == "MESSAGE_RECEIVED":
                        for m in frame["data"]:
                            self.when.setdefault(m["ID"], now)
                noted = len(self.device.handed)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _reconnect(self):
        self.dropped_at = time.monotonic()
        deadline = self.dropped_at + 30
        while time.monotonic() < deadline and not self.stop.is_set():
            self.at = (self.at + 1) % len(self.urls)  # as a balancer: another server
            try:
                self.device.client = self._login(self.device.held)
            except (ConnectionClosed, OSError):
                time.sleep(0.1)
                continue
            self.reconnected_at = time.monotonic()
            self.reconnects.append((self.urls[self.at], self.reconnected_at - self.dropped_at))
            return
        raise AssertionError(f"{self.user_id}/{self.platform} could not reconnect")

    def ids(self) -> list[str]:
        return self.device.received_ids()

    def finish(self):
        self.stop.set()
        self.join(timeout=10)
        try:
            self.device.client.close()
        except Exception:
            pass
        if self.error is not None:
            raise self.error


class Sender(threading.Thread):
    """alice, on one server, sends to the receivers in turn until stopped (or `count`
    messages); keeps each receiver's acknowledged IDs, in order, and when each was
    acknowledged. A refused send or a dropped socket is the sender's to retry, not a
    loss; on a dropped socket it logs in again on the next server."""

    def __init__(self, urls: list[str], at: int, receivers: list[str], *, count: int | None = None,
                 pause: float = 0.0):
        super().__init__(daemon=True)
        self.urls, self.at, self.receivers = urls, at, receivers
        self.count, self.pause = count, pause
        self.acked: dict[str, list[str]] = {r: [] for r in receivers}
        self.acked_at: dict[str, float] = {}
        self.refused = 0
        self.stop = threading.Event()
        self.client: WsClient | None = None

    def _connect(self):
        self.client = WsClient(self.urls[self.at])
        self.client.login("alice", gen_usersig("alice"), deviceID="alice-phone",
                          platform="Android")

    def run(self):
        n = 0
        while not self.stop.is_set() and (self.count is None or n < self.count):
            to = self.receivers[n % len(self.receivers)]
            try:
                if self.client is None:
                    self._connect()
                reply = self.client.request(
                    "sendMessage", {"to": to, "elements": text(f"m{n}"), "random": n + 1})
                self.client.events.clear()
            except (ConnectionClosed, OSError, AssertionError):
                self.client, self.refused = None, self.refused + 1
                self.at = (self.at + 1) % len(self.urls)
                time.sleep(0.1)
                continue
            n += 1  # a refused send is not sent again: its random is spent either way
            if reply["ok"]:
                self.acked[to].append(reply["data"]["ID"])
                self.acked_at[reply["data"]["ID"]] = time.monotonic()
            else:
                self.refused += 1
            if self.pause:
                time.sleep(self.pause)

    def total(self) -> int:
        return sum(len(v) for v in self.acked.values())

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        if self.client is not None:
            self.client.close()


def wait_all(devices: dict, acked: dict, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(set(acked[user]) <= set(d.ids()) for (user, _), d in devices.items()):
            return
        time.sleep(0.1)


def check_devices(devices: dict, acked: dict) -> None:
    """Every acknowledged message on every device of its receiver, once, in order."""
    for (user, platform), d in devices.items():
        seen = d.ids()
        lost = set(acked[user]) - set(seen)
        assert not lost, f"{user}/{platform} lost {len(lost)} of {len(acked[user])}"
        assert len(seen) == len(set(seen)), f"{user}/{platform} got some twice"
        known = [i for i in seen if i in set(acked[user])]
        assert known == acked[user], f"{user}/{platform}: out of order"


def start_devices(receivers, urls) -> dict:
    devices = {}
    for user in receivers:
        for at, platform in enumerate(PLATFORMS):  # one device on each server
            devices[(user.user_id, platform)] = DeviceThread(user.user_id, platform, urls, at)
    for d in devices.values():
        d.start()
    return devices


def test_the_layer_shards_as_channels_redis_does(settings):
    """The bounded layer's idea of where a name lives is channels-redis's own, and a
    probe channel can be made on each shard."""
    import asyncio

    shards = [RedisServer().start(), RedisServer().start()]
    try:
        layer = BoundedPubSubChannelLayer(
            hosts=[{"address": s.url, "socket_timeout": 1} for s in shards], prefix="t",
            call_timeout=1, retry_after=5)

        async def go():
            loop_layer = layer._get_layer()
            for name in [f"t__group__user.{n}" for n in range(50)]:
                assert loop_layer._get_shard(name) is loop_layer._shards[layer.shard_of(name)]
            for shard in (0, 1):
                channel = await layer.new_channel(shard=shard)
                assert layer.shard_of(channel) == shard
                await layer.send(channel, {"type": "x", "n": shard})
                assert (await layer.receive(channel))["n"] == shard
            # One shard down: its calls fail (then fail at once), the other's go on.
            shards[0].stop()
            down = next(f"g{n}" for n in range(100) if layer.group_shard(f"g{n}") == 0)
            up = next(f"g{n}" for n in range(100) if layer.group_shard(f"g{n}") == 1)
            from chat_project.redis_bounds import RealtimeUnavailable
            with pytest.raises(RealtimeUnavailable):
                await layer.group_send(down, {"type": "x"})
            assert layer.shard_down(0) and not layer.shard_down(1)
            await layer.group_send(up, {"type": "x"})
            for _ in range(20):  # new sockets' channels land on the live shard
                assert layer.shard_of(await layer.new_channel()) == 1
            await layer.flush()

        asyncio.run(go())
    finally:
        for s in shards:
            s.stop()


def test_unsubscribes_queued_past_the_limit_do_not_mark_the_shard_down():
    """Thousands of sockets closing at once wait for the shard's lock; a group_discard
    that runs out of time there is not an outage (Redis answers a PING): the shard stays
    up and new sockets are not refused. A silent Redis marks it down."""
    import asyncio

    server = RedisServer().start()
    try:
        layer = BoundedPubSubChannelLayer(
            hosts=[{"address": server.url, "socket_timeout": 1}], prefix="t",
            call_timeout=0.3, retry_after=5)

        async def go():
            channel = await layer.new_channel()
            await layer.group_add("g", channel)
            shard = layer._get_layer()._shards[0]
            async with shard._lock:  # a long queue of commands ahead of it
                started = asyncio.get_running_loop().time()
                await layer.group_discard("g", channel)  # never raises
                assert asyncio.get_running_loop().time() - started >= 0.3
            assert not layer.shard_down(0)
            assert "t__group__g" not in layer._get_layer().groups  # forgotten here
            await layer.new_channel()  # a new socket is not refused
            await layer.group_add("h", channel)
            await layer.group_add("i", channel)
            # Queued behind a call that never comes back, on a silent Redis (stopped):
            # the unsubscribe and the PING time out; it still returns, the shard is down.
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                async with shard._lock:
                    await layer.group_discard("i", channel)  # never raises
                assert layer.shard_down(0)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            assert "t__group__i" not in layer._get_layer().groups
            server.stop()
            await layer.group_discard("h", channel)  # Redis gone: still never raises
            assert "t__group__h" not in layer._get_layer().groups

        asyncio.run(go())
    finally:
        server.stop()


def test_the_sweep_unsubscribes_what_timed_out_unsubscribes_left_behind():
    """A group_discard that ran out of time leaves Redis subscribed to a group this
    process has forgotten (its messages would still come here, to be dropped); the
    sweep removes it and keeps every name that still has a member here."""
    import asyncio

    server = RedisServer().start()
    try:
        layer = BoundedPubSubChannelLayer(
            hosts=[{"address": server.url, "socket_timeout": 1}], prefix="t",
            call_timeout=0.3, retry_after=5)
        direct = redis_py.Redis.from_url(server.url)

        def subscribers(name: str) -> int:
            return dict(direct.pubsub_numsub(name))[name.encode()]

        async def go():
            channel = await layer.new_channel()
            for group in ("gone", "kept"):
                await layer.group_add(group, channel)
            shard = layer._get_layer()._shards[0]
            async with shard._lock:  # a long queue of commands ahead of it
                await layer.group_discard("gone", channel)  # runs out of time
            assert subscribers("t__group__gone") == 1  # left behind in Redis
            assert await layer.sweep() == 1
            assert subscribers("t__group__gone") == 0
            assert subscribers("t__group__kept") == 1
            assert subscribers(channel) == 1
            assert await layer.sweep() == 0
            await layer.group_add("gone", channel)  # and it can be taken again
            assert subscribers("t__group__gone") == 1
            await layer.group_send("gone", {"type": "x"})
            assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "x"
            await layer.flush()

        asyncio.run(go())
        direct.close()
    finally:
        server.stop()


def test_two_servers_two_shards_lose_nothing_and_keep_order(make_user, cluster):
    make_user("alice")
    receivers = receivers_on_both_shards(make_user, per_shard=2)
    devices = start_devices(receivers, cluster.urls)
    sender = Sender(cluster.urls, 0, [u.user_id for u in receivers], count=400)
    try:
        # Each shard carries its receivers' groups, subscribed by both server processes.
        for shard, server in enumerate(cluster.shards):
            r = redis_py.Redis.from_url(server.url)
            channels = {c.decode() for c in r.pubsub_channels(f"{prefix()}__group__user.*")}
            for user in receivers:
                assert (group_channel(user.pk) in channels) == (shard_of(user) == shard)
            numsub = dict(r.pubsub_numsub(*[group_channel(u.pk) for u in receivers
                                            if shard_of(u) == shard]))
            assert set(numsub.values()) == {2}, numsub  # one subscription per server process
            r.close()
        started = time.monotonic()
        sender.start()
        sender.join(timeout=120)
        sent_in = time.monotonic() - started
        wait_all(devices, sender.acked)
        delivered_in = time.monotonic() - started
    finally:
        sender.finish()
        for d in devices.values():
            d.finish()
    total = sender.total()
    delivered = sum(len(d.ids()) for d in devices.values())
    print(f"\nSCALEOUT steady: {total} acknowledged ({sender.refused} refused) in {sent_in:.2f} s "
          f"({total / sent_in:.0f}/s) from server 1 to {len(receivers)} receivers x "
          f"{len(PLATFORMS)} devices on 2 servers, groups on 2 shards; {delivered} delivered "
          f"(all in {delivered_in:.2f} s); gaps {sum(d.device.gaps for d in devices.values())}")
    assert total == 400 and sender.refused == 0
    check_devices(devices, sender.acked)
    assert delivered == total * len(PLATFORMS)
    for d in devices.values():  # all live: nothing needed a sync
        assert d.device.gaps == 0 and d.device.syncs == 0 and d.device.repeats == 0


def test_a_killed_server_devices_reconnect_to_the_other_and_miss_nothing(make_user, cluster):
    make_user("alice")
    receivers = receivers_on_both_shards(make_user, per_shard=1)
    devices = start_devices(receivers, cluster.urls)
    sender = Sender(cluster.urls, 0, [u.user_id for u in receivers], pause=0.01)
    victim, _ = cluster.servers[1]
    try:
        started = time.monotonic()
        sender.start()
        time.sleep(1.5)
        killed_at = time.monotonic()
        victim.kill()  # SIGKILL: no close frames, no presence cleanup
        victim.wait(timeout=10)
        time.sleep(3.0)
        sender.stop.set()
        sender.join(timeout=30)
        wait_all(devices, sender.acked)
    finally:
        sender.finish()
        for d in devices.values():
            d.finish()
    moved = [d for d in devices.values() if d.reconnects]
    print(f"\nSCALEOUT kill: {sender.total()} acknowledged ({sender.refused} refused), "
          f"server 2 killed {killed_at - started:.1f} s into the sends; {len(moved)} devices "
          f"logged in again on server 1 {', '.join(f'{t * 1000:.0f} ms' for d in moved for _, t in d.reconnects)} "
          f"after their socket dropped, all within "
          f"{max((d.reconnected_at for d in moved), default=float('nan')) - killed_at:.2f} s of the kill; "
          f"{sum(len(d.ids()) for d in devices.values())} delivered, "
          f"syncs {sum(d.device.syncs for d in devices.values())}")
    assert sender.total() > 20  # sends went on across the fault (fewer on a busy machine)
    # Exactly the devices that were on the killed server moved, to the other one.
    assert {k for k, d in devices.items() if d.reconnects} == \
        {(u.user_id, PLATFORMS[1]) for u in receivers}
    for d in moved:
        assert [url for url, _ in d.reconnects] == [cluster.urls[0]]
    check_devices(devices, sender.acked)


def test_a_shard_restarted_under_sends_loses_nothing_acknowledged(make_user, cluster):
    make_user("alice")
    receivers = receivers_on_both_shards(make_user, per_shard=1)
    devices = start_devices(receivers, cluster.urls)
    sender = Sender(cluster.urls, 0, [u.user_id for u in receivers], pause=0.01)
    restarted = 0
    try:
        sender.start()
        time.sleep(1.5)
        cluster.shards[restarted].restart(down_for=2.0)
        back_at = time.monotonic()
        time.sleep(4.0)
        sender.stop.set()
        sender.join(timeout=30)
        # One more message to each after the load: the chain shows whatever the tail lost.
        last = WsClient(cluster.urls[0])
        last.login("alice", gen_usersig("alice"), deviceID="alice-desk", platform="Windows")
        for user in receivers:
            reply = last.ok("sendMessage", {"to": user.user_id, "elements": text("last"),
                                            "random": 10**6 + user.pk})
            sender.acked[user.user_id].append(reply["ID"])
        last.close()
        wait_all(devices, sender.acked, timeout=30)
    finally:
        sender.finish()
        for d in devices.values():
            d.finish()
    # Catch-up: when the messages acknowledged before the shard was back reached the
    # devices of the receivers whose group lives on it.
    hit = {u.user_id for u in receivers if shard_of(u) == restarted}
    at_risk = [(d, i) for (user, _), d in devices.items() if user in hit
               for i in sender.acked[user] if sender.acked_at.get(i, back_at) < back_at]
    caught_up = max(d.when.get(i, float("inf")) for d, i in at_risk) - back_at
    print(f"\nSCALEOUT shard restart: {sender.total()} acknowledged ({sender.refused} refused) "
          f"across shard {restarted} down 2 s; "
          f"{sum(len(d.ids()) for d in devices.values())} delivered; devices on that shard "
          f"had every message acknowledged before it was back {caught_up:.2f} s after; "
          f"gaps {sum(d.device.gaps for d in devices.values())}, "
          f"syncs {sum(d.device.syncs for d in devices.values())}")
    assert sender.total() > 20  # sends went on across the fault (fewer on a busy machine)
    check_devices(devices, sender.acked)
    for (user, _), d in devices.items():
        assert d.device.repeats == 0
        if user not in hit:  # the other shard never failed: all live, no sync needed
            assert d.device.gaps == 0 and d.device.syncs == 0, (user, d.device.gaps)


def test_a_message_published_while_its_shard_was_down_arrives_without_a_later_event(
        make_user, cluster):
    """The server probes every shard: when the one carrying bob's group comes back, bob's
    socket (on the other server than the sender's) sends what it missed, with no later
    event to show the gap."""
    make_user("alice")
    bob = receivers_on_both_shards(make_user, per_shard=1)[0]  # his group: on shard 0
    client = WsClient(cluster.urls[1])
    client.login(bob.user_id, gen_usersig(bob.user_id), deviceID="bob-phone", since=0)
    device = Device(client, 0)
    alice = WsClient(cluster.urls[0])
    alice.login("alice", gen_usersig("alice"), deviceID="alice-phone")
    try:
        first = alice.ok("sendMessage", {"to": bob.user_id, "elements": text("one"), "random": 1})
        device.pump(1.0)
        assert device.received_ids() == [first["ID"]]
        cluster.shards[0].stop()
        lost = alice.ok("sendMessage", {"to": bob.user_id, "elements": text("two"), "random": 2})
        device.pump(2.0)  # the probes (every second) see shard 0 gone
        assert device.received_ids() == [first["ID"]]
        cluster.shards[0].start()
        back_at = time.monotonic()
        while len(device.received_ids()) < 2 and time.monotonic() - back_at < 20:
            device.pump(0.2)
        print(f"\nSCALEOUT resync: the message published while shard 0 was down arrived "
              f"{time.monotonic() - back_at:.2f} s after it was back")
        assert device.received_ids() == [first["ID"], lost["ID"]]
        assert device.gaps == 0 and device.syncs == 0 and device.repeats == 0
        third = alice.ok("sendMessage", {"to": bob.user_id, "elements": text("three"),
                                         "random": 3})
        device.pump(1.5)
        assert device.received_ids()[-1] == third["ID"] and device.gaps == 0
    finally:
        alice.close()
        client.close()


def test_an_offline_announced_while_its_shard_was_down_reaches_the_subscriber(
        make_user, cluster):
    """Alice's status group lives on shard 0; carol (on the other server) follows it.
    Alice leaves while shard 0 is down: her Offline cannot be published then. When the
    shard is back, carol learns it: from the announcer's retry, or from her server's
    resync, which sends the current status of every user she follows."""
    from accounts.presence import status_group

    def status_shard(user) -> int:
        return _consistent_hash(f"{prefix()}__group__{status_group(user.pk)}", 2)

    make_user("carol")
    alice = next(u for u in (make_user(f"a{n}") for n in range(50)) if status_shard(u) == 0)
    carol = WsClient(cluster.urls[1])
    carol.login("carol", gen_usersig("carol"), deviceID="carol-phone")
    carol.wait_event("SDK_READY")
    carol.ok("subscribeUserStatus", {"userIDList": [alice.user_id]})
    client = WsClient(cluster.urls[0])
    try:
        client.login(alice.user_id, gen_usersig(alice.user_id), deviceID="alice-phone")
        assert carol.wait_event("USER_STATUS_UPDATED")["data"][0]["statusType"] == 1
        cluster.shards[0].stop()
        client.close()
        time.sleep(2)  # the Offline was tried and refused; the probes see shard 0 gone
        cluster.shards[0].start()
        back_at = time.monotonic()
        event = carol.wait_event("USER_STATUS_UPDATED", timeout=20)
        print(f"\nSCALEOUT status: the Offline made while shard 0 was down arrived "
              f"{time.monotonic() - back_at:.2f} s after it was back")
        assert event["data"] == [{"userID": alice.user_id, "statusType": 2,
                                  "customStatus": ""}]
    finally:
        carol.close()



def test_a_kick_made_while_the_users_shard_is_down_closes_the_socket_when_it_is_back(
        make_user, cluster):
    """Alice's group lives on shard 0, her phone on server 1. An operator kicks her
    (/v4 on server 0) while shard 0 is down: the kick is committed but cannot reach
    the phone, and the answer says so (60008, retry). When the shard is back, server
    1's resync finds her session epoch moved on and closes the phone as the kick
    would have; the phone's sends were refused meanwhile (70002)."""
    from accounts.models import User
    from chat_project.unavailable import V4_BUSY_CODE
    from tests.v4client import V4Client

    alice = next(u for u in (make_user(f"a{n}") for n in range(50)) if shard_of(u) == 0)
    make_user("bob")
    phone = WsClient(cluster.urls[1])
    try:
        phone.login(alice.user_id, gen_usersig(alice.user_id), deviceID="alice-phone")
        phone.wait_event("SDK_READY")
        cluster.shards[0].stop()
        answer = V4Client(cluster.urls[0])("im_open_login_svc/kick", {"UserID": alice.user_id})
        assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", V4_BUSY_CODE), answer
        assert User.objects.get(pk=alice.pk).session_epoch == 1  # committed all the same
        refused = phone.request("sendMessage", {"to": "bob", "random": 1, "elements": text("x")})
        assert (refused["ok"], refused["code"]) == (False, 70002), refused
        time.sleep(2)  # the probes see shard 0 gone
        cluster.shards[0].start()
        back_at = time.monotonic()
        assert phone.wait_event("KICKED_OUT", timeout=20)["data"]["reason"] == "REST_API_Kick"
        print(f"\nSCALEOUT kick: the kick made while shard 0 was down closed the socket "
              f"{time.monotonic() - back_at:.2f} s after it was back")
        with pytest.raises(ConnectionClosed):
            phone.drain(quiet=3)
    finally:
        phone.close()


# --- behind nginx, as docs/deploy/nginx.conf has it -----------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/deploy/nginx.conf no longer has {old!r} once"
    return text.replace(old, new)


class Nginx:
    """docs/deploy/nginx.conf, run as written but for its upstream hosts, ports and
    paths (each swapped once: the test fails when the file changes under it)."""

    def __init__(self, tmp: Path, upstreams: list[str], cert, key):
        self.port, redirect = free_port(), free_port()
        conf = (DOCS / "nginx.conf").read_text()
        conf = _replace_once(conf, "    server 10.0.0.11:8000 max_fails=1 fail_timeout=5s;\n"
                                   "    server 10.0.0.12:8000 max_fails=1 fail_timeout=5s;\n",
                             "".join(f"    server {u} max_fails=1 fail_timeout=5s;\n"
                                     for u in upstreams))
        conf = _replace_once(conf, "listen 80;", f"listen 127.0.0.1:{redirect};")
        conf = _replace_once(conf, "listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;")
        conf = _replace_once(conf, "/etc/ssl/parley/fullchain.pem", str(cert))
        conf = _replace_once(conf, "/etc/ssl/parley/privkey.pem", str(key))
        conf = _replace_once(conf, "/srv/parley/staticfiles/", f"{tmp}/static/")
        conf = _replace_once(conf, "/var/log/nginx/parley.access.log", f"{tmp}/access.log")
        self.access_log = tmp / "access.log"
        (tmp / "static").mkdir()
        (tmp / "static" / "probe.txt").write_text("from nginx")
        (tmp / "parley.conf").write_text(conf)
        temp = "".join(f"{kind}_temp_path {tmp}/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (tmp / "nginx.conf").write_text(
            f"daemon off; user root; worker_processes 1; pid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log warn;\nevents {{ worker_connections 512; }}\n"
            f"http {{\naccess_log off;\n{temp}include {tmp}/parley.conf;\n}}\n")
        check = subprocess.run(["nginx", "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError((tmp / "error.log").read_text()) from None
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed (.ci/run installs it)")
def test_two_servers_behind_the_documented_nginx(make_user, tmp_path):
    import http.client

    import trustme
    from websockets.exceptions import InvalidStatus

    make_user("alice"), make_user("bob")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    tls = ssl.create_default_context()
    ca.configure_trust(tls)

    # The hosts as README's production command starts them behind a proxy.
    flags = (*UVICORN_FLAGS, "--forwarded-allow-ips", "127.0.0.1")
    servers = [start_server(uvicorn_flags=flags, CHAT_BEHIND_TLS_PROXY="1", SERVE_FILES="0")
               for _ in range(2)]
    nginx = Nginx(tmp_path, [url.removeprefix("http://") for _, url in servers], cert, key)
    base = f"https://127.0.0.1:{nginx.port}"
    origin = {"Origin": base}  # the page's own origin: https, the port kept in Host
    clients = []
    try:
        def socket_as(user_id):
            client = WsClient(base, headers=origin, ssl=tls)
            clients.append(client)
            client.login(user_id, gen_usersig(user_id), deviceID=f"{user_id}-phone")
            return client

        alice, bob = socket_as("alice"), socket_as("bob")
        device = Device(bob, 0)
        sent = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"n{n}"),
                                         "random": n})["ID"] for n in range(1, 21)]
        deadline = time.monotonic() + 10
        while device.received_ids() != sent and time.monotonic() < deadline:
            device.pump(0.2)
        assert device.received_ids() == sent

        # The Origin check sees what nginx passed on: http is not this site's scheme.
        with pytest.raises(InvalidStatus) as refused:
            WsClient(base, headers={"Origin": base.replace("https:", "http:")}, ssl=tls)
        assert refused.value.response.status_code == 403

        def post(path, length, body=b""):
            conn = http.client.HTTPSConnection("127.0.0.1", nginx.port, context=tls, timeout=30)
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(length))
            conn.endheaders()
            if body:
                conn.send(body)
            response = conn.getresponse()
            answer = (response.status, response.getheader("Content-Type", ""), response.read())
            conn.close()
            return answer

        # A 20 MB body reaches Django (nginx's default limit is 1 MB); one past the
        # largest upload is nginx's 413 before any byte of it is read.
        status, kind, _ = post("/api/v1/files/", 20 * 2**20, b"x" * (20 * 2**20))
        assert status in (400, 401, 403, 415) and "json" in kind, (status, kind)
        status, kind, _ = post("/api/v1/files/", 131 * 2**20)
        assert status == 413 and "html" in kind  # nginx's page, not Django's
        conn = http.client.HTTPSConnection("127.0.0.1", nginx.port, context=tls, timeout=10)
        conn.request("GET", "/static/probe.txt")
        assert conn.getresponse().read() == b"from nginx"
        # The access log keeps the path, never the query: a /v4 UserSig stays off disk.
        conn.request("POST", "/v4/openim/querystate?identifier=administrator"
                             "&usersig=secret-sig-in-query&random=1")
        conn.getresponse().read()
        conn.close()
        # nginx writes a request's line after the answer has gone out: wait for it.
        deadline = time.monotonic() + 5
        while ("/v4/openim/querystate" not in (logged := nginx.access_log.read_text())
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert "/v4/openim/querystate" in logged and "secret-sig-in-query" not in logged

        # One host killed: new sockets still log in, on the other.
        servers[0][0].kill()
        servers[0][0].wait(timeout=10)
        for n in range(4):
            late = socket_as("bob" if n % 2 else "alice")
            late.close()
    finally:
        for client in clients:
            try:
                client.close()
            except Exception:
                pass
        nginx.stop()
        for proc, _ in servers:
            stop_server(proc)


# --- behind PgBouncer in transaction mode --------------------------------------------------

@pytest.mark.skipif(not shutil.which("pgbouncer"),
                    reason="pgbouncer is not installed (.ci/run installs it)")
def test_two_servers_through_pgbouncer_in_transaction_mode(make_user, tmp_path):
    """Both servers reach PostgreSQL through one PgBouncer (pool_mode = transaction,
    DB_POOL=0 as README says): sends, replays at login and history pages work, with
    fewer server connections than clients."""
    from django.db import connection

    make_user("alice"), make_user("bob")
    db = connection.settings_dict
    port = free_port()
    # docs/deploy/pgbouncer.ini, its addresses, auth and pool size swapped for the test's.
    conf = (DOCS / "pgbouncer.ini").read_text()
    for old, new in [
        ("parley = host=db.internal port=5432 dbname=parley",
         f"* = host={db['HOST']} port={db['PORT']} user={db['USER']}"),
        ("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1\nunix_socket_dir ="),
        ("listen_port = 6432", f"listen_port = {port}"),
        ("auth_type = scram-sha-256\nauth_file = /etc/pgbouncer/userlist.txt",
         f"auth_type = any\nadmin_users = {db['USER']}"),
        ("default_pool_size = 40", "default_pool_size = 4"),
    ]:
        assert conf.count(old) == 1, f"docs/deploy/pgbouncer.ini no longer has {old!r} once"
        conf = conf.replace(old, new)
    assert "pool_mode = transaction" in conf
    (tmp_path / "pgbouncer.ini").write_text(conf)
    # It refuses to run as root; as nobody it logs to stderr (tmp_path is root's only).
    log = open(tmp_path / "pgbouncer.log", "w")
    bouncer = subprocess.Popen(["pgbouncer", "-u", "nobody", str(tmp_path / "pgbouncer.ini")],
                               stdout=log, stderr=subprocess.STDOUT)
    servers = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and bouncer.poll() is None
                time.sleep(0.05)
        via = f"postgres://{db['USER']}@127.0.0.1:{port}/{db['NAME']}"
        # PgBouncer 1.18 refuses the plan mode's startup option and carries no prepared
        # statement from one server connection to the next: README says to turn them off.
        servers = [start_server(DATABASE_URL=via, DB_POOL="0", DB_PREPARED_STATEMENTS="0")
                   for _ in range(2)]
        urls = [url for _, url in servers]
        client = WsClient(urls[1])
        client.login("bob", gen_usersig("bob"), deviceID="bob-phone", since=0)
        devices = {"bob": Device(client, 0)}
        sender = Sender(urls, 0, ["bob"], count=200)
        sender.start()
        sender.join(timeout=120)
        assert sender.total() == 200 and sender.refused == 0
        deadline = time.monotonic() + 15
        while devices["bob"].received_ids() != sender.acked["bob"] and \
                time.monotonic() < deadline:
            devices["bob"].pump(0.2)
        assert devices["bob"].received_ids() == sender.acked["bob"]
        sender.finish()
        # A second device of bob's logs in on the other server and gets the lot replayed.
        late = WsClient(urls[1])
        late.login("bob", gen_usersig("bob"), deviceID="bob-desk", platform="Windows", since=0)
        replay = Device(late, 0)
        deadline = time.monotonic() + 15
        while len(replay.received_ids()) < 100 and time.monotonic() < deadline:
            replay.pump(0.2)
        assert replay.received_ids() == sender.acked["bob"][-100:]  # the cache's 100 per peer
        page = late.ok("getMessageList", {"conversationID": "C2Calice", "count": 15})
        assert len(page["messageList"]) == 15
        late.close()
        for d in devices.values():
            d.client.close()
        admin = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", db["USER"],
                                "-d", "pgbouncer", "-AF,", "-c", "SHOW STATS"],
                               capture_output=True, text=True, timeout=10)
        head, *rows = admin.stdout.strip().splitlines()
        stats = next(dict(zip(head.split(","), r.split(","), strict=False)) for r in rows
                     if r.startswith(f"{db['NAME']},"))
        print(f"\nSCALEOUT pgbouncer: 200 sends, a replay and a history page from 2 servers "
              f"through PgBouncer (transaction mode, 4 server connections): "
              f"{stats['total_xact_count']} transactions, {stats['total_query_count']} queries")
        assert int(stats["total_xact_count"]) >= 200  # the servers' work went through it
    finally:
        for proc, _ in servers:
            stop_server(proc)
        bouncer.terminate()
        bouncer.wait(timeout=10)
        log.close()


def test_a_login_on_one_server_pushes_out_the_same_device_on_the_other(make_user, cluster):
    """Kicks travel between processes (the device's group, on whichever shard)."""
    make_user("bob")
    old = WsClient(cluster.urls[1])
    old.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android")
    new = WsClient(cluster.urls[0])
    try:
        new.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android")
        kicked = old.wait_event("KICKED_OUT", timeout=10)
        assert kicked["data"]["reason"]
        with pytest.raises(ConnectionClosed):
            old.next_frame(timeout=5)
        assert old.closed_code == 4001
        assert new.ok("ping") == {}
    finally:
        old.close()
        new.close()


def test_calls_queued_behind_answered_calls_do_not_mark_the_shard_down():
    """A login storm queues thousands of subscribes and publishes behind the shard's
    lock. The ones that run out of time there fail, but Redis answers a PING: the shard
    stays up and the next call goes through. A silent Redis marks it down."""
    import asyncio

    from chat_project.redis_bounds import RealtimeUnavailable

    server = RedisServer().start()
    try:
        payload = {"type": "x", "blob": "x" * 200_000}

        async def storm(layer, n: int) -> list:
            calls = []
            for i in range(n):  # arriving as sockets do: the loop reads answers between
                calls.append(asyncio.ensure_future(layer.group_send(f"g{i}", payload)))
                if i % 50 == 49:
                    await asyncio.sleep(0)
            return await asyncio.gather(*calls, return_exceptions=True)

        async def go():
            for attempt in range(3):
                layer = BoundedPubSubChannelLayer(
                    hosts=[{"address": server.url, "socket_timeout": 1}], prefix="t",
                    call_timeout=0.2, retry_after=30)
                await layer.group_send("warm", {"type": "x"})  # a server's connection is open
                for n in (1000, 3000, 9000):  # until some are queued past the limit
                    results = await storm(layer, n)
                    late = [r for r in results if isinstance(r, RealtimeUnavailable)]
                    if late:
                        break
                # The probe's own PING unanswered within 0.2 s behind the flood (a machine
                # too busy: seen once in CI) is not the case this test is about: again,
                # once Redis has worked through the flood.
                if attempt == 2 or all("queued past" in str(r) for r in late):
                    break
                await asyncio.sleep(2)
            assert late, "no call was queued past 0.2 s"
            assert len(late) < len(results)
            assert all("queued past" in str(r) for r in late)
            assert not layer.shard_down(0)
            await layer.group_send("after", {"type": "x"})  # not refused
            # A silent Redis (stopped): the call and the PING both time out, the shard is
            # down and calls fail at once.
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                with pytest.raises(RealtimeUnavailable):
                    await layer.group_send("g", {"type": "x"})
                assert layer.shard_down(0)
                started = asyncio.get_running_loop().time()
                with pytest.raises(RealtimeUnavailable):
                    await layer.group_send("g", {"type": "x"})
                assert asyncio.get_running_loop().time() - started < 0.1
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)

        asyncio.run(go())
    finally:
        server.stop()
