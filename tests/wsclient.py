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
    def __init__(self, base_url: str, *, headers: dict | None = None):
        url = base_url.replace("http://", "ws://") + "/ws/"
        self._stack = contextlib.ExitStack()
        self.conn = self._stack.enter_context(
            connect(url, additional_headers=headers or {}, open_timeout=10, max_size=2**24))
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
