"""A bound on a request's body, before Django reads it.

Django's ASGI handler reads the whole body into a temporary file before any view (or
authentication) runs, so without a bound anyone, signed in or not, could make the
server write gigabytes to its disk with one request. nginx bounds bodies in the
documented deployment (client_max_body_size 130m); this does the same wherever
uvicorn faces clients itself (`make run`, embedded mode): a body declared larger than
the largest upload (a video and its cover, plus room for the multipart framing) is
answered 413 (910006) without being read, and a body sent without a length (chunked)
is cut off once it passes the bound.
"""

from __future__ import annotations

import json

from django.conf import settings

# Multipart framing and the form's other fields.
_FRAMING_BYTES = 1024 * 1024


def max_request_bytes() -> int:
    """The largest body accepted: the largest upload, a video with its cover image."""
    return settings.CHAT_MAX_VIDEO_BYTES + settings.CHAT_MAX_IMAGE_BYTES + _FRAMING_BYTES


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = max_request_bytes()
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # uvicorn refuses a bad length before we see it
                if declared > limit:
                    return await _too_large(send, limit)
        received = 0
        cut = False
        started = False

        async def limited_receive():
            nonlocal received, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django stops reading (RequestAborted) and answers nothing.
                    cut = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if cut and not started:
            await _too_large(send, limit)


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"code": 910006, "message": f"the request body is larger than the"
                                                  f" {limit} bytes allowed"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
