"""`uvicorn minimal.asgi:application` (run from bench/): plain HTTP answers 404, /ws/ is the
consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minimal.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_asgi = get_asgi_application()

from .consumers import MinimalConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi,
    "websocket": URLRouter([path("ws/", MinimalConsumer.as_asgi())]),
})
