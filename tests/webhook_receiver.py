"""A real HTTP server standing in for the app's webhook endpoint (tencent-rest.md §14).

It records every request (path, query, JSON body, headers) and answers from a script:

    def test_something(webhook_receiver):
        use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND], timeout_ms=300)
        webhook_receiver.answer(Reply.code(120001, "no swearing"))   # every call from now
        webhook_receiver.script(Reply.http(500), Reply.code(0))      # the next calls, in order
        ...
        [request] = webhook_receiver.wait_for(1)
        request.query["CallbackCommand"], request.body["From_Account"]

Replies: `Reply.code(n, info, **fields)` (HTTP 200, a JSON envelope with ErrorCode n
plus fields such as MsgBody), `Reply.http(status)`, `Reply.garbage()` (HTTP 200, not
JSON), `Reply.hang(seconds)` (answers only after that long), `Reply.drip(seconds)`
(sends the status line at once, then a header line every 0.1 s for that long, then the
answer). Scripted replies are used first, one per request; then the standing `answer`
(ErrorCode 0 by default). `answer_when(test, reply)` answers the requests `test`
(a function of the Received request) picks with `reply`, before the script, e.g. to make
the receiver hang for one sender only.
`WebhookReceiver(tls=(certfile, keyfile))` serves HTTPS instead.

`use_webhooks(receiver_or_url, callbacks, **fields)` writes the one WebhookConfig row
(enabled, the receiver's URL, the callbacks; any other model field as a keyword). Pass
`live=True` when a live server (another process) must see the change: servers keep the
configuration for up to CHAT_WEBHOOK_CONFIG_TTL seconds (1 by default), so it waits
that long (and the fixture waits again after the test, so the next test's servers do
not call this receiver). The `webhook_receiver` fixture stops the server and forgets the
cached configuration after the test.

To use the fixture from another test module, bind it to a module-level name (a plain
import of a fixture that is then used as a parameter trips ruff's F811):

    from tests import webhook_receiver as receiver
    from tests.webhook_receiver import Reply, use_webhooks

    webhook_receiver = receiver.webhook_receiver  # the fixture
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from accounts import webhooks


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}'
    delay: float = 0.0
    drip_seconds: float = 0.0

    @classmethod
    def code(cls, error_code: int, info: str = "", **fields) -> Reply:
        envelope = {"ActionStatus": "OK" if error_code == 0 else "FAIL",
                    "ErrorCode": error_code, "ErrorInfo": info, **fields}
        return cls(body=json.dumps(envelope).encode())

    @classmethod
    def http(cls, status: int, body: bytes = b"error") -> Reply:
        return cls(status=status, body=body)

    @classmethod
    def garbage(cls) -> Reply:
        return cls(body=b"<html>not json</html>")

    @classmethod
    def hang(cls, seconds: float = 5.0) -> Reply:
        return cls(delay=seconds)

    @classmethod
    def drip(cls, seconds: float = 5.0) -> Reply:
        """A receiver that answers at once but slowly: each read of the caller's gets a
        few bytes well within any timeout, the whole answer takes `seconds`."""
        return cls(drip_seconds=seconds)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: object           # the decoded JSON, or the raw bytes when not JSON
    headers: dict[str, str]
    at: float = field(default_factory=time.time)


class WebhookReceiver:
    """A threading HTTP server on a free local port; `url` is its address."""

    def __init__(self, path: str = "/hook", *, tls: tuple[str, str] | None = None):
        """`tls=(certfile, keyfile)` serves HTTPS."""
        self.path = path
        self.scheme = "https" if tls else "http"
        self.requests: list[Received] = []
        self._standing = Reply.code(0)
        self._script: list[Reply] = []
        self._rules: list[tuple[object, Reply]] = []
        self._lock = threading.Condition()
        self._release = threading.Event()  # set on stop: hanging replies end at once
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None
        self.live = False  # set by use_webhooks(live=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}{self.path}"

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, reply: Reply) -> None:
        """Answer every request with `reply` (after any scripted replies)."""
        with self._lock:
            self._standing = reply

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, one each, in order."""
        with self._lock:
            self._script.extend(replies)

    def answer_when(self, test, reply: Reply) -> None:
        """Answer the requests for which `test(received)` is true with `reply` (before
        the script and the standing answer)."""
        with self._lock:
            self._rules.append((test, reply))

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} webhook calls, got "
                                         f"{len(self.requests)}: {self.requests}")
                self._lock.wait(left)
            return list(self.requests)

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            self._lock.notify_all()
            for test, reply in self._rules:
                if test(received):
                    return reply
            return self._script.pop(0) if self._script else self._standing

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                reply = receiver._next_reply(Received(
                    method="POST", path=parts.path, query=dict(parse_qsl(
                        parts.query, keep_blank_values=True)),
                    body=body, headers=dict(self.headers.items())))
                if reply.delay and receiver._release.wait(reply.delay):
                    return  # stopped while hanging
                try:
                    if reply.drip_seconds:
                        self.wfile.write(b"HTTP/1.1 %d OK\r\n" % reply.status)
                        ends = time.monotonic() + reply.drip_seconds
                        while time.monotonic() < ends:
                            self.wfile.write(b"X-Drip: 1\r\n")
                            self.wfile.flush()
                            if receiver._release.wait(0.1):
                                return  # stopped while dripping
                        self.wfile.write(b"Content-Length: %d\r\n\r\n" % len(reply.body)
                                         + reply.body)
                        return
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the caller gave up (its timeout)

            def log_message(self, *args):
                pass

        return Handler


def use_webhooks(receiver: WebhookReceiver | str, callbacks=(webhooks.BEFORE_SEND,), *,
                 live: bool = False, **fields):
    """Point the WebhookConfig row at `receiver` with these callbacks on."""
    url = receiver if isinstance(receiver, str) else receiver.url
    row = webhooks.config_set(**{"enabled": True, "url": url, "callbacks": list(callbacks),
                                 "token": "", **fields})
    webhooks.invalidate()
    if live:
        if isinstance(receiver, WebhookReceiver):
            receiver.live = True
        time.sleep(webhooks.config_ttl() + 0.2)
    return row


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
        webhooks.invalidate()
        if receiver.live:  # let live servers forget this test's configuration
            time.sleep(webhooks.config_ttl() + 0.2)
