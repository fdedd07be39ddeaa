"""A Web Push token: the browser's `PushSubscription.toJSON()`, checked and kept as JSON.

    {"endpoint": "https://push.example/...", "expirationTime": null,
     "keys": {"p256dh": "<65-byte P-256 point, base64url>", "auth": "<16 bytes, base64url>"}}

The endpoint is where the server will POST, so a subscription is also a request to make
the server call a URL: the checks here keep that from reaching inside the network
(server-side request forgery).

- https only. Plain http only to a loopback address, and only while
  `CHAT_WEBPUSH_ALLOW_LOOPBACK` is on (default: DEBUG; tests turn it on), so local
  development and tests can run a push service of their own.
- No user:password@ in the URL, no fragment, at most 2,048 printable ASCII characters.
- The host must not be, or resolve to, an address that is not public: private (10/8,
  172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with the cloud metadata
  service, fe80::/10), shared (100.64/10), unspecified, multicast, reserved, or loopback
  (but as above). Registration checks a literal address and the names `localhost` and
  `*.localhost`; it does not resolve names (no DNS lookups on a request's path). The
  sender resolves the name and checks every address it gets, then connects to the
  checked address itself (providers/webpush.py), so a name that resolves inward, or
  is rebound after registration, is refused at send time.

Errors (chat_project/errors.py): 910030 not a subscription (shape, keys, sizes),
910031 an endpoint that is not https, 910032 an endpoint whose address is refused.
"""

from __future__ import annotations

import binascii
import ipaddress
import json
import math
import socket
from urllib.parse import urlsplit

from django.conf import settings

from chat_project.errors import ChatError

from .vapid import b64url_decode

MAX_ENDPOINT_CHARS = 2048
MAX_SUBSCRIPTION_CHARS = 4096


def loopback_allowed() -> bool:
    return bool(getattr(settings, "CHAT_WEBPUSH_ALLOW_LOOPBACK", settings.DEBUG))


def check_subscription(token) -> str:
    """The subscription as canonical JSON (so one subscription is one token however the
    client spelled it), or ChatError 910030/910031/910032."""
    if isinstance(token, str):
        if len(token) > MAX_SUBSCRIPTION_CHARS:
            raise ChatError(910030, f"a Web Push subscription is at most "
                                    f"{MAX_SUBSCRIPTION_CHARS} characters of JSON")
        try:
            token = json.loads(token)
        except (ValueError, RecursionError):
            raise ChatError(910030, "a Web Push token must be the subscription's JSON "
                                    "(PushSubscription.toJSON())") from None
    if not isinstance(token, dict):
        raise ChatError(910030, "a Web Push token must be an object {endpoint, keys: "
                                "{p256dh, auth}} (PushSubscription.toJSON())")
    endpoint, keys = token.get("endpoint"), token.get("keys")
    if not isinstance(endpoint, str) or not endpoint:
        raise ChatError(910030, "the subscription has no endpoint")
    if not isinstance(keys, dict):
        raise ChatError(910030, "the subscription has no keys {p256dh, auth}")
    p256dh = _key(keys.get("p256dh"), "p256dh", 65)
    if p256dh[0] != 4:
        raise ChatError(910030, "keys.p256dh must be an uncompressed P-256 point")
    _key(keys.get("auth"), "auth", 16)
    expiration = token.get("expirationTime")
    if expiration is not None and (isinstance(expiration, bool)
                                   or not isinstance(expiration, int | float)
                                   or not math.isfinite(expiration)):
        raise ChatError(910030, "expirationTime must be a number or null")
    check_endpoint(endpoint)
    canonical = json.dumps({"endpoint": endpoint, "expirationTime": expiration,
                            "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}},
                           separators=(",", ":"))
    if len(canonical) > MAX_SUBSCRIPTION_CHARS:
        raise ChatError(910030, f"a Web Push subscription is at most "
                                f"{MAX_SUBSCRIPTION_CHARS} characters of JSON")
    return canonical


def _key(value, name: str, size: int) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ChatError(910030, f"keys.{name} must be a base64url string")
    try:
        raw = b64url_decode(value)
    except (binascii.Error, ValueError):
        raise ChatError(910030, f"keys.{name} is not base64url") from None
    if len(raw) != size:
        raise ChatError(910030, f"keys.{name} must be {size} bytes (it is {len(raw)})")
    return raw


def check_endpoint(endpoint: str) -> None:
    """The endpoint's form and literal host (910031 not https, 910032 refused address)."""
    if len(endpoint) > MAX_ENDPOINT_CHARS or not all(33 <= ord(c) <= 126 for c in endpoint):
        raise ChatError(910030, f"the endpoint must be a URL of at most {MAX_ENDPOINT_CHARS} "
                                f"printable ASCII characters (as browsers give it)")
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ChatError(910030, "the endpoint is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ChatError(910031, "the endpoint must be an https URL")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ChatError(910030, "the endpoint must not carry a user, password or fragment")
    del port  # parsed to refuse a bad one (ValueError above); any port is allowed
    loopback = _is_loopback_name(host)
    address = _literal(host)
    if address is not None:
        if address.is_loopback:
            loopback = True
        elif not address.is_global or address.is_multicast:
            raise ChatError(910032, "the endpoint's address is not a public address")
    if loopback and not loopback_allowed():
        raise ChatError(910032, "the endpoint is a loopback address "
                                "(allowed only with CHAT_WEBPUSH_ALLOW_LOOPBACK)")
    if parts.scheme == "http" and not loopback:
        raise ChatError(910031, "the endpoint must be an https URL (plain http only to a "
                                "loopback address, in development and tests)")


def _is_loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why the sender must not connect to `address` ("" when it may)."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address.is_loopback:
        return "" if loopback_allowed() else "loopback address"
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return ""


def resolve_endpoint(host: str, port: int) -> tuple[str, str]:
    """(address to connect to, "") for a host whose every address passes, else
    ("", why). A name resolving to one inward address among public ones is refused."""
    literal = _literal(host)
    if literal is not None:
        return str(literal), address_refused(literal)
    if _is_loopback_name(host):
        return ("127.0.0.1", "") if loopback_allowed() else ("", "loopback address")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return "", f"cannot resolve {host}: {exc}"
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for address in addresses:
        why = address_refused(address)
        if why:
            return "", f"{host} resolves to {address}: {why}"
    if not addresses:
        return "", f"cannot resolve {host}"
    return str(addresses[0]), ""
