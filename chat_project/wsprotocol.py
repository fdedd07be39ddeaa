"""uvicorn's WebSocket protocol, lighter per socket. Every start command names it:
`uvicorn ... --ws chat_project.wsprotocol:Protocol`.

Most of Parley's sockets are idle; what each one holds is what the server's memory is
made of (issue 13: 30 KB per idle socket at 10,000). Four changes to uvicorn's
websockets sans-I/O protocol, nothing else:

1. permessage-deflate that keeps no state between messages (below);
2. its receive queue and "writable" event are chat_project.leanqueue's, which hold
   no empty deques;
3. frames sent in one turn of the event loop leave in one write: a message to a user
   is several frames to each of their sockets (the message, the conversation, the
   unread total), sent one after another; each used to be a system call of its own;
4. the handshake's headers are let go once the socket is accepted: websockets' parser
   keeps the request for the socket's life (its headers are emptied after uvicorn has
   copied them into the scope), uvicorn its response (dropped), and the ASGI scope the
   request headers (emptied in place, in every middleware's copy of the scope: they
   share the list). The app reads headers before it accepts (the Origin check,
   cookies, the session, the client's address); after the accept
   `scope["headers"]` is empty, so an op must not look for a header there.

uvicorn's own (websockets' sans-I/O protocol) negotiates permessage-deflate with context
takeover: each socket keeps a compressor and a decompressor for its whole life, about
41 KB of zlib state per socket whether it talks or not (measured, bench/README.md
"Issue 13, fourth round"). Most of Parley's sockets are idle. Here the server answers the offer
with `server_no_context_takeover` and `client_no_context_takeover` (RFC 7692 7.1.1: a
server may add the client's even when the offer did not), so websockets builds the
zlib objects for a message and frees them after it, and an idle socket holds none.
The price is ratio on small frames, which share no dictionary: a typical message event
of ~510 bytes deflates to ~320 instead of ~58, in ~12 us instead of ~5 (a compressor set
up per frame; bench/deflate_ratio.py). `--ws auto` gives uvicorn's own back, at ~84 KB
per idle socket instead of ~29. Browsers accept the
answer; a client that offers no compression gets none, as before.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

from chat_project.leanqueue import LeanEvent, LeanQueue

# What uvicorn uses (window 4 KB, memLevel 5): the state exists only while a frame is
# compressed or inflated now, so a larger one would cost time, not idle memory.
DEFLATE = {"server_max_window_bits": 12, "client_max_window_bits": 12,
           "compress_settings": {"memLevel": 5},
           "server_no_context_takeover": True, "client_no_context_takeover": True}


class Protocol(WebSocketsSansIOProtocol):
    def __init__(self, config, server_state, app_state: dict[str, Any], _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[ServerPerMessageDeflateFactory(**DEFLATE)],
                max_size=self.config.ws_max_size, logger=self.logger)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()
        self.flush_due = False

    def handle_connect(self, event) -> None:
        super().handle_connect(event)  # accept() has read the headers, the scope copied them
        event.headers.clear()
        self.request = None

    async def send(self, message) -> None:
        if (message["type"] == "websocket.send" and self.handshake_complete
                and not self.close_sent and self.initial_response is None):
            # uvicorn's own handling of a frame, but the bytes wait for the end of this
            # turn of the loop (`_flush`): the frames sent meanwhile go with them.
            await self.writable.wait()
            if self.disconnected:
                raise ClientDisconnected()
            try:
                if message.get("bytes") is not None:
                    self.conn.send_binary(message["bytes"])
                elif message.get("text") is not None:
                    self.conn.send_text(message["text"].encode())
            except InvalidState:
                raise ClientDisconnected() from None
            if not self.flush_due:
                self.flush_due = True
                self.loop.call_soon(self._flush)
            return
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.response = None  # read only until the handshake ends
            if message["type"] == "websocket.accept":
                self.scope["headers"].clear()

    def _flush(self) -> None:
        """Write what the frames of this turn left in websockets' buffer, in one call.
        (Anything else uvicorn writes, a pong, a close frame, takes the buffer first,
        so the order on the wire is the order of the sends.)"""
        self.flush_due = False
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))
