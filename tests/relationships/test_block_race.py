"""Races on a real server: B blocks A while A sends as fast as the replies come, from
several sockets and over REST at once. Nothing committed after the block reaches B.

What is provable, and asserted:
- The block and every send from A to B take the pair's lock (accounts.locks), and the
  send asks send_refusals inside its transaction after the lock. So each send's
  transaction is wholly before the block's or sees the block: every stored message
  from A was committed before the block, and its row is older than the block's
  created_at (a send takes its time before its lock; the block takes its own after).
- In B's sync log, every message entry from A comes before the BLACKLIST_UPDATED entry
  (the block appends to B's log after the messages that committed first).
- A send that starts after B has the block's reply (so after the block committed) is
  refused with 20007; for each sender, once refused, always refused.
- B's devices get, live, only stored messages (the channel layer may drop, never
  invent), and after reconnecting with `since` exactly the stored ones; A's other
  device likewise; B's unread count is the number stored.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from accounts.models import SyncEntry
from accounts.usersig import gen_usersig
from messaging.models import Conversation, Message
from relationships import services
from relationships.models import Block, Friendship, SendPolicy
from tests.relationships.test_blocklist import text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUSALS_TO_STOP = 10


class Sender(threading.Thread):
    """Sends from A to B, one after another as fast as the answers come, until it has
    been refused REFUSALS_TO_STOP times; records (started, random, ok, code, ID)."""

    def __init__(self, name: str, send, first_random: int):
        super().__init__(name=name, daemon=True)
        self.send = send
        self.next_random = first_random
        self.results: list[tuple[float, int, bool, int, str | None]] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            refused = 0
            deadline = time.monotonic() + 60
            while refused < REFUSALS_TO_STOP and time.monotonic() < deadline:
                started = time.monotonic()
                random = self.next_random
                self.next_random += 1
                ok, code, msg_id = self.send(random)
                self.results.append((started, random, ok, code, msg_id))
                refused += not ok
        except BaseException as exc:  # reported by the test
            self.error = exc

    @property
    def ok_count(self) -> int:
        return sum(1 for r in self.results if r[2])


def ws_sender(ws):
    def send(random):
        reply = ws.request("sendMessage", {"to": "bob", "elements": text(f"m{random}"),
                                           "random": random}, timeout=20)
        if reply["ok"]:
            return True, 0, reply["data"]["ID"]
        return False, reply["code"], None
    return send


def rest_sender(base_url: str):
    auth = f"UserSig alice:{gen_usersig('alice')}"

    def send(random):
        body = json.dumps({"to": "bob", "elements": text(f"r{random}"),
                           "random": random}).encode()
        request = urllib.request.Request(
            base_url + "/api/v1/messages/", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": auth})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return True, 0, json.loads(response.read())["ID"]
        except urllib.error.HTTPError as exc:
            return False, json.loads(exc.read())["code"], None
    return send


def message_ids(frames) -> list[str]:
    return [m["ID"] for f in frames if f.get("event") == "MESSAGE_RECEIVED" for m in f["data"]]


def replay(ws) -> list[dict]:
    frames = []
    while True:
        frame = ws.next_frame()
        if frame.get("event") == "SDK_READY":
            return frames
        frames.append(frame)


def test_no_message_committed_after_a_block_reaches_the_blocker(live_server_url, connect,  # noqa: F811
                                                                make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sockets = [connect("alice", deviceID=f"a-send-{i}", platform="Web") for i in range(3)]
    a_other = connect("alice", deviceID="a-other", platform="Web")
    b_devices = [connect("bob", deviceID="b-web", platform="Web"),
                 connect("bob", deviceID="b-phone", platform="Android")]
    b_blocker = connect("bob", deviceID="b-blocker", platform="Web")

    senders = [Sender(f"ws{i}", ws_sender(ws), 1 + 100_000 * i) for i, ws in enumerate(sockets)]
    senders.append(Sender("rest", rest_sender(live_server_url), 900_000))
    for s in senders:
        s.start()
    deadline = time.monotonic() + 30
    while sum(s.ok_count for s in senders) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sum(s.ok_count for s in senders) >= 40, "the senders did not get going"

    assert b_blocker.ok("addToBlacklist", {"userIDList": ["alice"]}) == ["alice"]
    block_known = time.monotonic()  # the block has committed: its reply came after commit
    for s in senders:
        s.join(timeout=90)
        assert not s.is_alive() and s.error is None, (s.name, s.error)

    block = Block.objects.get(owner=bob, blocked=alice)
    stored = {}
    for m in Message.objects.filter(sender=alice, receiver=bob):
        stored[m.random] = m
    ok_replies = {}
    for s in senders:
        outcomes = [(ok, code) for _, _, ok, code, _ in s.results]
        first_refusal = next(i for i, (ok, _) in enumerate(outcomes) if not ok)
        # once refused, always refused, and always with 20007
        assert all(ok for ok, _ in outcomes[:first_refusal]), s.name
        assert outcomes[first_refusal:] == [(False, 20007)] * (len(outcomes) - first_refusal), \
            (s.name, outcomes[first_refusal:])
        assert first_refusal > 0, s.name  # it raced: it sent before the block too
        # a send started after the block was known is refused
        for started, random, ok, _, _ in s.results:
            if started > block_known:
                assert not ok, (s.name, random)
        for _, random, ok, _, msg_id in s.results:
            if ok:
                ok_replies[random] = msg_id

    # exactly the answered sends are stored, and all before the block
    assert set(stored) == set(ok_replies)
    stored_ids = set(ok_replies.values())
    assert all(m.created_at < block.created_at for m in stored.values())

    # in B's sync log, every message from A precedes the block
    entries = list(SyncEntry.objects.filter(user=bob).order_by("seq"))
    block_seq = next(e.seq for e in entries if e.payload.get("event") == "BLACKLIST_UPDATED")
    from_alice = [e for e in entries if e.kind == SyncEntry.Kind.MESSAGE and e.peer == "alice"]
    assert len(from_alice) == len(stored)
    assert all(e.seq < block_seq for e in from_alice)

    # B's devices heard only of stored messages, each at a seq before the block
    for device in b_devices:
        frames = device.drain(quiet=1.0)
        heard = message_ids(frames)
        assert set(heard) <= stored_ids and len(heard) == len(set(heard))
        assert all(f["seq"] < block_seq for f in frames if f.get("event") == "MESSAGE_RECEIVED")
    assert set(message_ids(a_other.drain(quiet=0.5))) <= stored_ids
    assert Conversation.objects.get(owner=bob, peer=alice).unread_count == len(stored)

    # and a device of B that comes back from scratch gets exactly the stored ones
    late = connect()
    late.login("bob", gen_usersig("bob"), deviceID="b-late", platform="iPad", since=0)
    frames = replay(late)
    assert sorted(message_ids(frames)) == sorted(stored_ids)
    names = [f["event"] for f in frames]
    assert names.index("BLACKLIST_UPDATED") > max(
        i for i, f in enumerate(frames) if f["event"] == "MESSAGE_RECEIVED")


def test_friends_only_holds_for_the_next_send_while_sending(live_server_url, connect,  # noqa: F811
                                                            make_user):
    """The policy switched while A sends in a loop: a send that starts after the switch
    has committed is refused (20009), and every later one too."""
    alice, bob = make_user("alice"), make_user("bob")
    carol = make_user("carol")
    Friendship.objects.create(owner=alice, friend=carol, add_time=alice.date_joined)
    ws = connect("alice", deviceID="a", platform="Web")
    sender = Sender("ws", ws_sender(ws), 1)
    sender.start()
    deadline = time.monotonic() + 30
    while sender.ok_count < 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    services.send_policy_set(rule=SendPolicy.Rule.FRIENDS)
    switched = time.monotonic()
    sender.join(timeout=90)
    assert not sender.is_alive() and sender.error is None
    outcomes = [(ok, code) for _, _, ok, code, _ in sender.results]
    first_refusal = next(i for i, (ok, _) in enumerate(outcomes) if not ok)
    assert first_refusal >= 20
    assert outcomes[first_refusal:] == [(False, 20009)] * (len(outcomes) - first_refusal)
    for started, random, ok, _, _ in sender.results:
        if started > switched:
            assert not ok, random
    assert Message.objects.filter(sender=alice, receiver=bob).count() == first_refusal
    # a friend is still reachable
    assert ws.ok("sendMessage", {"to": "carol", "elements": text("hi"), "random": 1})
