"""ASGI entry point: HTTP goes to Django, the WebSocket at /ws/ to Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from chat_project.origin import OriginCheck  # noqa: E402
from chat_project.unavailable import HandshakeGuard  # noqa: E402
from messaging.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # A cookie-authenticated socket from a foreign page is refused; native clients
        # (no Origin header) log in by UserSig (chat_project/origin.py). Redis or the
        # database down during the handshake: close 1013, not HTTP 500.
        "websocket": OriginCheck(
            HandshakeGuard(
                AuthMiddlewareStack(URLRouter([path("ws/", ChatConsumer.as_asgi())]))),
        ),
    }
)
