"""ASGI entry point: HTTP goes to Django, the WebSocket at /ws/ to Channels."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from chat_project.body_limit import BodyLimit  # noqa: E402
from chat_project.origin import OriginCheck  # noqa: E402
from chat_project.unavailable import HandshakeGuard  # noqa: E402
from messaging.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        # A body past the largest upload is refused before Django spools it to disk.
        "http": BodyLimit(django_asgi_app),
        # A cookie-authenticated socket from a foreign page is refused; native clients
        # (no Origin header) log in by UserSig (chat_project/origin.py). Redis or the
        # database down during the handshake: close 1013, not HTTP 500.
        "websocket": OriginCheck(
            HandshakeGuard(
                AuthMiddlewareStack(URLRouter([path("ws/", ChatConsumer.as_asgi())]))),
        ),
    }
)

# The garbage collector, once the app is built (bench/README.md, "fifth round"). What
# was imported and set up so far lives as long as the process: gc.freeze() moves it out
# of the collector's sight, so a full collection no longer walks it (at 64 pairs a full
# collection paused a worker for up to 95 ms, the whole tail of its p99). The young
# generation is collected after 5,000 net new containers instead of 700: a send leaves
# few, and ~700 collections per 10 s run (0.35 ms each) became ~17.
gc.freeze()
gc.set_threshold(5000, 10, 10)
