"""ASGI entry point: HTTP goes to Django, the WebSocket at /ws/ to Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from chat_project.unavailable import HandshakeGuard  # noqa: E402
from messaging.consumers import ChatConsumer  # noqa: E402


class _BrowserOriginValidator(OriginValidator):
    """Checks Origin only when a browser sends one: a cookie-authenticated socket from a
    foreign page is refused, while native clients (no Origin header) log in by UserSig."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if b"origin" not in headers:
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": _BrowserOriginValidator(
            HandshakeGuard(  # Redis or the database down: close 1013, not HTTP 500
                AuthMiddlewareStack(URLRouter([path("ws/", ChatConsumer.as_asgi())]))),
            list(settings.ALLOWED_HOSTS),
        ),
    }
)
