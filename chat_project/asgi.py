"""ASGI entry point: HTTP goes to Django, the WebSocket at /ws/ to Channels."""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from chat_project.unavailable import is_unavailable  # noqa: E402
from messaging.consumers import ChatConsumer  # noqa: E402

log = logging.getLogger(__name__)

# A socket the server cannot serve right now (Redis or the database unreachable) is
# accepted and closed at once with this code (RFC 6455's "try again later") and a
# reason; any other failure before the accept closes with 1011 (internal error).
CLOSE_TRY_AGAIN = 1013
CLOSE_INTERNAL = 1011


class _BrowserOriginValidator(OriginValidator):
    """Checks Origin only when a browser sends one: a cookie-authenticated socket from a
    foreign page is refused, while native clients (no Origin header) log in by UserSig."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if b"origin" not in headers:
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)


class _HandshakeGuard:
    """Before a socket is accepted, Channels subscribes it to the channel layer (and
    the session middleware reads the database); when that fails, the server would
    answer the handshake with HTTP 500, which a client cannot tell from a bug. Here the
    socket is accepted and closed with a code and a reason instead, so a client knows to
    reconnect later (with `since`: nothing is lost, the sync log has it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        state = {"connect": False, "answered": False}

        async def tracked_receive():
            message = await receive()
            if message["type"] == "websocket.connect":
                state["connect"] = True
            return message

        async def tracked_send(message):
            if message["type"] in ("websocket.accept", "websocket.close",
                                   "websocket.http.response.start"):
                state["answered"] = True
            await send(message)

        try:
            return await self.app(scope, tracked_receive, tracked_send)
        except Exception as exc:
            if state["answered"]:
                raise
            busy = is_unavailable(exc)
            if busy:
                log.warning("socket refused, a backing service is unavailable: %r", exc)
            else:
                log.exception("socket failed before its handshake")
            if not state["connect"]:
                await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close",
                        "code": CLOSE_TRY_AGAIN if busy else CLOSE_INTERNAL,
                        "reason": "server busy, retry later" if busy else "internal error"})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": _BrowserOriginValidator(
            _HandshakeGuard(AuthMiddlewareStack(URLRouter([path("ws/", ChatConsumer.as_asgi())]))),
            list(settings.ALLOWED_HOSTS),
        ),
    }
)
