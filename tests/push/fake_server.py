"""A real HTTP server for a push vendor's fake: an ASGI app served by hypercorn in a
thread of the test process, on a free loopback port, optionally over TLS (then HTTP/2
is offered by ALPN, as vendors do). Every request is recorded.

The fakes (fake_apns.py, fake_fcm.py) build on it: they decide what to answer, the
test reads `server.requests`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hypercorn.asyncio import serve
from hypercorn.config import Config


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    http_version: str
    query: str = ""
    client: tuple | None = None  # the peer's (host, port): one per connection
    extra: dict = field(default_factory=dict)  # what the fake found (JWT claims, ...)

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow vendor)

    @classmethod
    def of_json(cls, status: int, payload, headers: dict[str, str] | None = None):
        return cls(status, json.dumps(payload).encode(),
                   {"content-type": "application/json", **(headers or {})})


Handler = Callable[[Recorded], Awaitable[Answer] | Answer]


class FakeServer:
    """Serve `handler(recorded) -> Answer` until `stop()`."""

    def __init__(self, handler: Handler, *, certfile: str = "", keyfile: str = ""):
        self.handler = handler
        self.requests: list[Recorded] = []
        self._certfile, self._keyfile = certfile, keyfile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self._certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        recorded = Recorded(
            method=scope["method"], path=scope["path"],
            headers={k.decode("latin-1").lower(): v.decode("latin-1")
                     for k, v in scope["headers"]},
            body=body, http_version=scope["http_version"],
            query=scope.get("query_string", b"").decode("latin-1"),
            client=tuple(scope["client"]) if scope.get("client") else None)
        self.requests.append(recorded)
        answer = self.handler(recorded)
        if asyncio.iscoroutine(answer):
            answer = await answer
        if answer.delay:
            await asyncio.sleep(answer.delay)
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()]})
        await send({"type": "http.response.body", "body": answer.body})

    def start(self) -> FakeServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.graceful_timeout = 0.2
        config.accesslog = None
        config.errorlog = None
        if self._certfile:
            config.certfile, config.keyfile = self._certfile, self._keyfile

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stopped = asyncio.Event()
            loop.call_soon(self._ready.set)
            try:
                loop.run_until_complete(serve(self._app, config,
                                              shutdown_trigger=self._stopped.wait))
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                self._error = exc
                self._ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-push-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        # The listening socket is already bound and accepting into its backlog.
        return self

    def stop(self) -> None:
        if self._loop and self._stopped and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread:
            self._thread.join(10)
        if self._error:
            raise self._error
