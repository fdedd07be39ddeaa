"""The WebSocket door's Origin check, as Django's CSRF check compares a POST's Origin.

A browser page may open /ws/ (and log in by its session cookie) from this site's own
origin only: the scheme, host and port the socket itself was opened on (https when it
is wss, or when SECURE_PROXY_SSL_HEADER says the proxy terminated TLS), the host being
one of ALLOWED_HOSTS; or from an origin in CSRF_TRUSTED_ORIGINS (`https://*.example.com`
too). Comparing host names alone would let `http://127.0.0.1:9999`, another program on
the same machine, ride on the cookie. A socket without an Origin is not a browser's (a
browser always sends one), so it has no cookie to abuse and logs in by UserSig.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def _is_secure(scope: dict, headers: dict[bytes, bytes]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, secure_value = proxy_header  # ("HTTP_X_FORWARDED_PROTO", "https")
    key = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")
    value = headers.get(key, b"").decode("latin1")
    return value.split(",", 1)[0].strip() == secure_value  # as HttpRequest.is_secure


def _allowed_hosts() -> list[str]:
    hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not hosts:  # as HttpRequest.get_host
        return [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(scope: dict) -> bool:
    """Whether a WebSocket handshake's Origin may use this site's cookies."""
    headers = dict(scope.get("headers") or [])
    if b"origin" not in headers:
        return True
    origin = headers[b"origin"].decode("latin1")
    host = headers.get(b"host", b"").decode("latin1")
    domain, _ = split_domain_port(host)
    if domain and validate_host(domain, _allowed_hosts()):
        scheme = "https" if _is_secure(scope, headers) else "http"
        if origin == f"{scheme}://{host}":
            return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted and "*" not in origin:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, entry.netloc.removeprefix("*"))
        for entry in (urlsplit(o) for o in trusted if "*" in o)
        if entry.scheme == parsed.scheme
    )


class OriginCheck:
    """ASGI middleware: a WebSocket handshake whose Origin is not allowed is refused
    (HTTP 403), before any authentication."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
