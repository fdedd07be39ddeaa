"""The server's VAPID identity (RFC 8292): the key pair Web Push requests are signed with.

Settings name the pair as `web-push generate-vapid-keys` prints it (base64url, no
padding): `CHAT_VAPID_PRIVATE_KEY` the raw 32-byte P-256 scalar, `CHAT_VAPID_PUBLIC_KEY`
the uncompressed 65-byte point, and `CHAT_VAPID_SUBJECT` a `mailto:` or `https:` URL a
push service may contact. With neither key set the server makes a pair once and keeps
it in the database (`VapidKeyPair`, one row), so a bare start pushes too; every process
then uses that row. The pair settings name is checked at start (push/checks.py).

A browser subscribes with the public key, and its push service accepts only requests
signed by the matching private key: changing the pair orphans every subscription (the
push service answers 403 and the page subscribes again on its next visit).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, transaction
from py_vapid import jwt as vapid_jwt

from .models import VapidKeyPair

JWT_SECONDS = 12 * 3600      # RFC 8292: at most 24 hours
JWT_REUSE_SECONDS = 6 * 3600  # a signed token is reused for an origin this long
DEFAULT_SUBJECT = "mailto:parley@localhost"


class VapidKeyError(ValueError):
    """The configured pair is unusable; the message says why."""


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def load_pair(private_b64: str, public_b64: str) -> ec.EllipticCurvePrivateKey:
    """The private key of a base64url pair, after checking the public half matches."""
    try:
        raw = b64url_decode(private_b64)
    except (binascii.Error, ValueError) as exc:
        raise VapidKeyError("CHAT_VAPID_PRIVATE_KEY is not base64url") from exc
    if len(raw) != 32:
        raise VapidKeyError(f"CHAT_VAPID_PRIVATE_KEY must be the raw 32-byte P-256 private "
                            f"key in base64url (43 characters); it decodes to {len(raw)} "
                            f"bytes (a PEM or DER key must be converted)")
    try:
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise VapidKeyError("CHAT_VAPID_PRIVATE_KEY is not a valid P-256 private key") from exc
    try:
        public = b64url_decode(public_b64)
    except (binascii.Error, ValueError) as exc:
        raise VapidKeyError("CHAT_VAPID_PUBLIC_KEY is not base64url") from exc
    if len(public) != 65 or public[0] != 4:
        raise VapidKeyError(f"CHAT_VAPID_PUBLIC_KEY must be the uncompressed 65-byte P-256 "
                            f"point in base64url (87 characters, starting with B); it "
                            f"decodes to {len(public)} bytes")
    if public_point(key) != public:
        raise VapidKeyError("CHAT_VAPID_PUBLIC_KEY is not the public key of "
                            "CHAT_VAPID_PRIVATE_KEY (the two come from different pairs)")
    return key


def check_subject(subject: str) -> None:
    if not (subject.startswith("mailto:") and "@" in subject) and not (
            subject.startswith("https://") and urlsplit(subject).hostname):
        raise VapidKeyError(f"CHAT_VAPID_SUBJECT must be a mailto: address or an https: URL "
                            f"a push service can contact (got {subject!r})")


def configured_pair() -> tuple[str, str] | None:
    """The pair settings name, or None when they name none (the server keeps its own)."""
    private = getattr(settings, "CHAT_VAPID_PRIVATE_KEY", "") or ""
    public = getattr(settings, "CHAT_VAPID_PUBLIC_KEY", "") or ""
    if not private and not public:
        return None
    if not private or not public:
        raise VapidKeyError("set both CHAT_VAPID_PRIVATE_KEY and CHAT_VAPID_PUBLIC_KEY, "
                            "or neither (the server then makes and keeps its own pair)")
    return private, public


@dataclass(frozen=True)
class Vapid:
    key: ec.EllipticCurvePrivateKey
    public_key: str  # base64url of the uncompressed point: what the page subscribes with
    subject: str


_cached: Vapid | None = None
_tokens: dict[str, tuple[float, str]] = {}  # audience -> (reuse until, JWT)


def stored_pair() -> tuple[str, str]:
    """The server's own pair: the stored row, or a new one stored now.

    Two processes starting together may both generate one; the insert of pk 1 lets one
    win and both read the winner, so everyone signs with the same key."""
    row = VapidKeyPair.objects.filter(pk=1).first()
    if row is None:
        key = ec.generate_private_key(ec.SECP256R1())
        private = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
        try:
            with transaction.atomic():
                VapidKeyPair.objects.create(pk=1, private_key=private,
                                            public_key=b64url_encode(public_point(key)))
        except IntegrityError:
            pass  # another process stored its pair first: use that one
        row = VapidKeyPair.objects.get(pk=1)
    return row.private_key, row.public_key


def vapid() -> Vapid:
    """The key pair and subject this process signs with (loaded once)."""
    global _cached
    if _cached is None:
        pair = configured_pair() or stored_pair()
        subject = getattr(settings, "CHAT_VAPID_SUBJECT", "") or DEFAULT_SUBJECT
        _cached = Vapid(key=load_pair(*pair), public_key=pair[1], subject=subject)
    return _cached


def public_key() -> str:
    return vapid().public_key


def reset() -> None:
    """Forget the loaded pair and signed tokens (tests that change settings)."""
    global _cached
    _cached = None
    _tokens.clear()


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, the default port left out (as browsers write it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port and parts.port != {"https": 443, "http": 80}.get(parts.scheme):
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


def authorization(endpoint: str) -> str:
    """The `Authorization: vapid t=<JWT>, k=<public key>` value for a push to `endpoint`.

    The JWT's audience is the endpoint's origin; one token is reused for an origin for
    a few hours (it is valid for 12)."""
    audience = origin(endpoint)
    v = vapid()
    now = time.time()
    cached = _tokens.get(audience)
    if cached is None or cached[0] <= now:
        claims = {"aud": audience, "exp": int(now) + JWT_SECONDS, "sub": v.subject}
        cached = (now + JWT_REUSE_SECONDS, vapid_jwt.sign(claims, v.key))
        _tokens[audience] = cached
    return f"vapid t={cached[1]}, k={v.public_key}"
