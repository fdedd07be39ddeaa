"""Each sync-log entry reaches a device once, in order, and a lost publish is caught
up without a reconnect (PROTOCOL.md: `prevSeq` and the `sync` op).

Real uvicorn, real sockets, PostgreSQL and Redis. A publish is lost for real: the test
process sends through the same pipeline with a channel layer whose Redis refuses
connections, so the commit happens and the publish fails, as it does when Redis is
away; then a later event shows the gap."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from accounts import selectors as account_selectors
from accounts.models import SyncEntry
from accounts.usersig import gen_usersig
from messaging.commands import Origin
from messaging.services import message_send
from tests.redis_server import point_channel_layer_at_nothing
from tests.wsclient import Device, WsClient

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def head_of(user_id: str) -> int:
    last = SyncEntry.objects.filter(user__user_id=user_id).order_by("-seq").first()
    return last.seq if last else 0


class Sender(threading.Thread):
    """Sends messages from `user_id` to `to` over its own socket until stopped."""

    def __init__(self, url: str, user_id: str, to: str, pause: float = 0.01):
        super().__init__(daemon=True)
        self.client = WsClient(url)
        self.client.login(user_id, gen_usersig(user_id), deviceID=f"{user_id}-sender")
        self.client.wait_event("SDK_READY")
        self.to, self.pause = to, pause
        self.sent: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                reply = self.client.ok("sendMessage", {"to": self.to, "elements": text(f"m{n}"),
                                                       "random": n})
                self.sent.append(reply["ID"])
                self.client.events.clear()
                time.sleep(self.pause)
        except BaseException as exc:  # seen by the test
            self.error = exc

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        self.client.close()
        assert self.error is None, self.error


def test_hundreds_of_reconnects_while_a_peer_sends_repeat_and_lose_nothing(
        make_user, live_server_url):
    make_user("alice")
    make_user("bob")
    sender = Sender(live_server_url, "alice", "bob")
    sender.start()
    seen: list[str] = []  # every MESSAGE_RECEIVED message id read, over all sockets
    held, out_of_order, false_gaps, rng = 0, 0, 0, random.Random(9)
    reconnects = 200
    started = time.monotonic()
    try:
        for _ in range(reconnects):
            bob = WsClient(live_server_url)
            bob.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android",
                      since=held)
            ready = False
            deadline = time.monotonic() + rng.uniform(0.0, 0.06)
            while True:
                frame = bob._recv(10 if not ready else max(0.0, deadline - time.monotonic()))
                if frame is None:
                    assert ready, "no SDK_READY"
                    break
                if frame.get("event") == "SDK_READY":
                    ready, held = True, frame["data"]["seq"]
                    continue
                if "seq" not in frame:
                    continue
                if frame["seq"] <= held:
                    out_of_order += 1
                if frame["prevSeq"] > held and ready:
                    false_gaps += 1
                held = max(held, frame["seq"])
                if frame["event"] == "MESSAGE_RECEIVED":
                    seen += [m["ID"] for m in frame["data"]]
            bob.close()
    finally:
        sender.finish()
    elapsed = time.monotonic() - started
    # The last reconnect collects what came after.
    bob = WsClient(live_server_url)
    bob.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android", since=held)
    while (frame := bob.next_frame()).get("event") != "SDK_READY":
        if frame.get("event") == "MESSAGE_RECEIVED":
            seen += [m["ID"] for m in frame["data"]]
    bob.close()

    duplicates = len(seen) - len(set(seen))
    lost = set(sender.sent) - set(seen)
    print(f"{reconnects} reconnects in {elapsed:.1f}s, {len(sender.sent)} messages: "
          f"{duplicates} duplicates, {len(lost)} lost")
    assert len(sender.sent) > reconnects  # the peer really sent throughout
    assert duplicates == 0 and not lost and out_of_order == 0 and false_gaps == 0
    assert seen == sorted(seen, key=sender.sent.index)  # in the order sent


def _login(url: str, user_id: str, device: str, **extra) -> tuple[WsClient, int]:
    client = WsClient(url)
    client.login(user_id, gen_usersig(user_id), deviceID=device, **extra)
    ready = client.wait_event("SDK_READY")
    return client, ready["data"]["seq"]


@pytest.fixture
def dead_layer(settings):
    """This test process's publishes fail (its sends commit, their publish is lost)."""
    point_channel_layer_at_nothing(settings)


def test_a_lost_publish_is_caught_up_with_sync_on_the_next_event(
        make_user, live_server_url, dead_layer, caplog):
    alice, _ = make_user("alice"), make_user("bob")
    bob, held = _login(live_server_url, "bob", "bob-phone")
    sender, _ = _login(live_server_url, "alice", "alice-phone")
    device = Device(bob, held)

    first = sender.ok("sendMessage", {"to": "bob", "elements": text("one"), "random": 1})
    assert [f["data"][0]["ID"] for f in device.pump(1.0)] == [first["ID"]]
    assert device.handed[-1]["prevSeq"] == held  # the chain: what the device held

    # Stored and acknowledged; its publish fails.
    lost = message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("lost"), random=2)
    assert "realtime publish" in caplog.text
    assert device.pump(1.0) == []  # nothing arrived: the device cannot know yet

    # The next event shows the gap; the device asks `sync` and gets both, in order.
    third = sender.ok("sendMessage", {"to": "bob", "elements": text("three"), "random": 3})
    started = time.monotonic()
    while len(device.received_ids()) < 3 and time.monotonic() - started < 5:
        device.pump(0.2)
    assert device.received_ids() == [first["ID"], lost["ID"], third["ID"]]
    assert device.gaps == 1 and device.syncs == 1 and device.held == head_of("bob")
    # The live frame of the third message was dropped by the device, its replay used.
    assert device.repeats == 0

    # Later events chain on again: no further sync.
    fourth = sender.ok("sendMessage", {"to": "bob", "elements": text("four"), "random": 4})
    device.pump(1.0)
    assert device.received_ids()[-1] == fourth["ID"] and device.syncs == 1


def test_own_sends_and_entries_for_later_logins_are_no_gap(make_user, live_server_url, v4):
    make_user("alice"), make_user("bob")
    bob, held = _login(live_server_url, "bob", "bob-phone")
    alice, _ = _login(live_server_url, "alice", "alice-phone")
    device = Device(bob, held)

    # Bob's own send: this socket has it in the reply, not as an event (no echo) ...
    bob.ok("sendMessage", {"to": "alice", "elements": text("mine"), "random": 1})
    # ... and the app admin sends as bob with SyncOtherMachine omitted: bob's entry is
    # written for a later login and sent to none of his devices online now.
    answer = v4("openim/sendmsg", {"From_Account": "bob", "To_Account": "alice",
                                   "MsgRandom": 2, "MsgBody": [{"MsgType": "TIMTextElem",
                                                                "MsgContent": {"Text": "x"}}]})
    assert answer["ActionStatus"] == "OK", answer
    assert device.pump(0.5) == []
    assert head_of("bob") == held + 2

    reply = alice.ok("sendMessage", {"to": "bob", "elements": text("yours"), "random": 3})
    got = device.pump(1.0)
    assert [f["data"][0]["ID"] for f in got] == [reply["ID"]]
    assert got[0]["prevSeq"] == held  # the two entries between do not look lost
    assert device.gaps == 0 and device.syncs == 0


def test_sync_replays_after_since_and_refuses_bad_since(make_user, live_server_url):
    make_user("alice"), make_user("bob")
    bob, held = _login(live_server_url, "bob", "bob-phone")
    alice, _ = _login(live_server_url, "alice", "alice-phone")
    ids = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"m{i}"), "random": i})["ID"]
           for i in range(3)]
    live = [bob.wait_event("MESSAGE_RECEIVED") for _ in ids]
    assert [f["prevSeq"] for f in live] == [held, held + 1, held + 2]
    bob.drain(quiet=0.3)

    for bad in (-1, "3", True, None, 1.5):
        reply = bob.request("sync", {"since": bad})
        assert not reply["ok"] and reply["code"] == 910003, (bad, reply)
    assert bob.ok("sync", {"since": held + 1}) == {"seq": held + 3}
    frames = bob.drain(quiet=0.5)
    replayed = [f for f in frames if "seq" in f]
    assert [(f["seq"], f["prevSeq"], f["data"][0]["ID"]) for f in replayed] == [
        (held + 2, held + 1, ids[1]), (held + 3, held + 2, ids[2])]
    # Then the list as it is now, as after a login's replay; no SDK_READY.
    assert [f["event"] for f in frames if "seq" not in f] == [
        "CONVERSATION_LIST_UPDATED", "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"]
    # Ahead of the head: SYNC_RESET with the head.
    assert bob.ok("sync", {"since": held + 10}) == {"seq": held + 3}
    assert bob.drain(quiet=0.5) == [{"event": "SYNC_RESET", "data": {"seq": held + 3}}]
    # Live events after a sync chain on from the head.
    alice.ok("sendMessage", {"to": "bob", "elements": text("after"), "random": 9})
    after = bob.wait_event("MESSAGE_RECEIVED")
    assert (after["seq"], after["prevSeq"]) == (held + 4, held + 3)
    assert json.loads(json.dumps(after))["data"][0]["elements"] == text("after")


def test_a_sync_replays_every_lost_publish_past_the_offline_cut(
        make_user, live_server_url, dead_layer, caplog):
    """The offline cache's cut (only the newest 100 of a peer's messages) is for what a
    device missed while offline. Entries a live socket should have sent are replayed
    whole: more than 100 lost publishes (a Redis outage under load) all arrive."""
    alice, _ = make_user("alice"), make_user("bob")
    cut = account_selectors.OFFLINE_CACHE_PER_PEER
    # While bob is offline: the login replays only the newest `cut` of these.
    offline = [message_send(origin=Origin.USER, sender=alice, to="bob", elements=text(f"o{i}"),
                            random=i)["ID"] for i in range(cut + 3)]
    bob, held = _login(live_server_url, "bob", "bob-phone", since=0)
    replayed = [m["ID"] for f in bob.events if f.get("event") == "MESSAGE_RECEIVED"
                for m in f["data"]]
    assert replayed == offline[3:]
    bob.events.clear()
    device = Device(bob, held)

    # While bob is online: every publish lost, more than the cut.
    lost = [message_send(origin=Origin.USER, sender=alice, to="bob", elements=text(f"l{i}"),
                         random=1000 + i)["ID"] for i in range(cut + 20)]
    assert "realtime publish" in caplog.text
    sender, _ = _login(live_server_url, "alice", "alice-phone")
    last = sender.ok("sendMessage", {"to": "bob", "elements": text("last"), "random": 9999})
    started = time.monotonic()
    while len(device.received_ids()) < len(lost) + 1 and time.monotonic() - started < 10:
        device.pump(0.3)
    assert device.received_ids() == lost + [last["ID"]]
    assert device.gaps == 1 and device.syncs == 1 and device.repeats == 0

    # A sync from before the login: the offline part cut as at login, the rest whole.
    reply = bob.ok("sync", {"since": 0})
    frames = bob.drain(quiet=0.5)
    again = [m["ID"] for f in frames if f.get("event") == "MESSAGE_RECEIVED" for m in f["data"]]
    assert reply == {"seq": head_of("bob")}
    assert again == offline[3:] + lost + [last["ID"]]
    sender.close()
    bob.close()
