"""A real WebSocket client for tests, speaking PROTOCOL.md (websockets' sync client)."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import deque

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


class WsClient:
    def __init__(self, base_url: str, *, headers: dict | None = None, ssl=None):
        url = base_url.replace("https://", "wss://").replace("http://", "ws://") + "/ws/"
        self._stack = contextlib.ExitStack()
        self.conn = self._stack.enter_context(
            connect(url, additional_headers=headers or {}, open_timeout=10, max_size=2**24,
                    **({"ssl": ssl} if ssl is not None else {})))
        self.base_url = base_url
        self.events: deque[dict] = deque()
        self._ids = itertools.count(1)
        self.closed_code: int | None = None

    def close(self):
        self._stack.close()

    def send_raw(self, text: str):
        self.conn.send(text)

    def _recv(self, timeout: float) -> dict | None:
        try:
            return json.loads(self.conn.recv(timeout=timeout))
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            self.closed_code = exc.rcvd.code if exc.rcvd else None
            raise

    def request(self, op: str, data: dict | None = None, *, timeout: float = 10.0) -> dict:
        """Send a request and return its reply frame; events that arrive meanwhile queue."""
        rid = f"r{next(self._ids)}"
        frame = {"id": rid, "op": op}
        if data is not None:
            frame["data"] = data
        self.conn.send(json.dumps(frame))
        return self.reply_to(rid, timeout=timeout)

    def reply_to(self, rid: str, *, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self._recv(max(0.01, deadline - time.monotonic()))
            if frame is None:
                break
            if frame.get("id") == rid:
                return frame
            self.events.append(frame)
        raise AssertionError(f"no reply to {rid} within {timeout}s")

    def ok(self, op: str, data: dict | None = None, **kw) -> dict:
        reply = self.request(op, data, **kw)
        assert reply["ok"], reply
        return reply["data"]

    def login(self, user_id: str, usersig: str, **extra) -> dict:
        return self.ok("login", {"userID": user_id, "userSig": usersig, **extra})

    def wait_event(self, name: str, *, timeout: float = 10.0, where=None) -> dict:
        """The first queued or incoming event called `name` (others stay queued)."""
        for i, ev in enumerate(self.events):
            if ev.get("event") == name and (where is None or where(ev)):
                del self.events[i]
                return ev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self._recv(max(0.01, deadline - time.monotonic()))
            if frame is None:
                break
            if frame.get("event") == name and (where is None or where(frame)):
                return frame
            self.events.append(frame)
        raise AssertionError(f"no {name} event within {timeout}s; queued: {list(self.events)[:5]}")

    def next_frame(self, *, timeout: float = 10.0) -> dict:
        frame = self._recv(timeout)
        if frame is None:
            raise AssertionError(f"no frame within {timeout}s")
        return frame

    def drain(self, *, quiet: float = 0.3) -> list[dict]:
        """Everything queued plus whatever arrives until `quiet` seconds pass silently."""
        out = list(self.events)
        self.events.clear()
        while True:
            frame = self._recv(quiet)
            if frame is None:
                return out
            out.append(frame)


class Device:
    """What a device does with the event chain (PROTOCOL.md `prevSeq`, as the JS SDK
    does it): hands out each seq once, in order; an event whose prevSeq is above the
    seq held means a publish was lost: it is dropped and `sync {since: held}` asked,
    on the same socket. Counts what it saw, for tests to assert on."""

    def __init__(self, client: WsClient, held: int):
        self.client = client
        self.held = held
        self.handed: list[dict] = []  # events handed out (with a seq), in order
        self.repeats = 0  # seq-carrying frames at or below the seq held
        self.gaps = 0  # frames whose prevSeq showed a loss
        self.syncs = 0
        self._sync_id: str | None = None
        self._sync_target: int | None = None

    def pump(self, seconds: float) -> list[dict]:
        """Read frames for `seconds`; return the events handed out meanwhile."""
        out = []
        try:
            self._pump(seconds, out)
        finally:  # what was handed out counts even when the socket then drops
            self.handed += out
        return out

    def _pump(self, seconds: float, out: list[dict]) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            frame = self.client._recv(left)
            if frame is None:
                break
            if self._sync_id is not None and frame.get("id") == self._sync_id:
                assert frame["ok"], frame
                self._sync_id = None
                if frame["data"]["seq"] > self.held:
                    self._sync_target = frame["data"]["seq"]
                continue
            if frame.get("event") == "SYNC_RESET":
                raise AssertionError(f"unexpected {frame}")
            if "seq" not in frame:
                continue
            seq = frame["seq"]
            if self._sync_target is not None and seq > self._sync_target:
                self.held = max(self.held, self._sync_target)
                self._sync_target = None
            if seq <= self.held:
                self.repeats += 1
                continue
            if frame["prevSeq"] > self.held:
                self.gaps += 1
                if self._sync_id is None:
                    self.syncs += 1
                    self._sync_id = f"sync{self.syncs}"
                    self.client.send_raw(json.dumps(
                        {"id": self._sync_id, "op": "sync", "data": {"since": self.held}}))
                continue
            self.held = seq
            out.append(frame)

    def received_ids(self) -> list[str]:
        return [m["ID"] for f in self.handed if f["event"] == "MESSAGE_RECEIVED"
                for m in f["data"]]
