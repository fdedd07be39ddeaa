"""Web Push to a browser: RFC 8030 (the request), RFC 8291 (aes128gcm encryption to the
subscription's keys) and RFC 8292 (VAPID: the server's signed identity).

One POST to the subscription's endpoint, bounded by `CHAT_PUSH_HTTP_TIMEOUT`:

    TTL: CHAT_WEBPUSH_TTL          Urgency: high (a withdrawal: normal)
    Topic: the collapse id         (a later push with the same Topic replaces one the
                                    push service still holds: a withdrawal overtakes
                                    the message it withdraws)
    Authorization: vapid t=<ES256 JWT, aud = the endpoint's origin>, k=<public key>
    Content-Encoding: aes128gcm    body: the encrypted JSON payload below

The payload the service worker (static/parley/sw.js) reads:

    {"title", "body", "conversationID", "messageID", "extension", "badge"}  a message
    {"withdraw": true, "conversationID", "messageID"}                        a withdrawal

kept to `MAX_PAYLOAD` bytes (push services take 4,096 encrypted bytes): the body is
cut first, then the extension.

Answers: 201/202 DELIVERED; 404/410 DEAD_TOKEN (the subscription is gone); 429 and
5xx RETRY (with Retry-After); 400/403/413 and other 4xx FAILED; a timeout or a refused
connection RETRY. The endpoint's host is resolved here and every address checked
(push/webpush_subscription.py); the connection goes to the checked address, so a name
cannot be rebound inward between the check and the request.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import re
import time
from urllib.parse import urlsplit

import http_ece
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from chat_project.errors import ChatError
from push import vapid
from push.webpush_subscription import check_subscription, resolve_endpoint

from .base import Notification, Outcome, Provider, Result, register

MAX_PAYLOAD = 3800   # plaintext bytes; + 86 header + 17 tag/padding stays under 4,096
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def topic(collapse_id: str) -> str:
    """RFC 8030 Topic: at most 32 characters of base64url."""
    if TOPIC_RE.match(collapse_id):
        return collapse_id
    digest = hashlib.sha256(collapse_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]


def _dumps(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def payload(note: Notification) -> bytes:
    """The JSON the service worker reads, within MAX_PAYLOAD bytes."""
    if note.withdraw:
        return _dumps({"withdraw": True, "conversationID": note.conversation_id[:100],
                       "messageID": (note.message_id or note.collapse_id)[:100]})
    data = {"title": note.title[:200], "body": note.body,
            "conversationID": note.conversation_id[:100], "messageID": note.message_id[:100],
            "extension": note.extension, "badge": note.badge}
    raw = _dumps(data)
    for field in ("body", "extension"):
        if len(raw) <= MAX_PAYLOAD:
            break
        raw = _cut(data, field)
    return raw


def _cut(data: dict, field: str) -> bytes:
    """Cut `data[field]` to the longest prefix (plus "…" for the body) that fits:
    a binary search on its length, as JSON escapes make bytes hard to predict."""
    text, mark = data[field], "…" if field == "body" else ""
    lo, hi = 0, len(text)  # the answer is in lo..hi (0: the field left empty)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        data[field] = text[:mid] + mark
        if len(_dumps(data)) <= MAX_PAYLOAD:
            lo = mid
        else:
            hi = mid - 1
    data[field] = text[:lo] + mark if lo else ""
    return _dumps(data)


def encrypt(plaintext: bytes, subscription: dict) -> bytes:
    """RFC 8291 aes128gcm to the subscription's p256dh key and auth secret."""
    keys = subscription["keys"]
    return http_ece.encrypt(
        plaintext, salt=os.urandom(16), private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=vapid.b64url_decode(keys["p256dh"]), auth_secret=vapid.b64url_decode(keys["auth"]),
        version="aes128gcm")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@register
class WebPushProvider(Provider):
    vendor = "webpush"

    def configured(self) -> bool:
        # The server makes its own pair when settings name none: always configured,
        # unless settings name a broken pair (the system check says so at start).
        try:
            pair = vapid.configured_pair()
            if pair:
                vapid.load_pair(*pair)
        except vapid.VapidKeyError:
            return False
        return True

    def send(self, token: str, note: Notification) -> Result:
        try:
            subscription = json.loads(check_subscription(token))
        except ChatError as exc:
            # Stored before a rule tightened (or by hand): it can never be sent to.
            return Result(Outcome.DEAD_TOKEN, "bad_subscription", exc.message)
        endpoint = subscription["endpoint"]
        try:
            headers = {
                "TTL": str(int(getattr(settings, "CHAT_WEBPUSH_TTL", 604800))),
                "Urgency": "normal" if note.withdraw else "high",
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "Authorization": vapid.authorization(endpoint),
            }
            if note.collapse_id:
                headers["Topic"] = topic(note.collapse_id)
            body = encrypt(payload(note), subscription)
        except vapid.VapidKeyError as exc:
            return Result(Outcome.FAILED, "vapid_keys", str(exc))
        except Exception as exc:  # a key the library refuses (not on the curve, ...)
            return Result(Outcome.FAILED, "encrypt", f"{type(exc).__name__}: {exc}")
        try:
            return _post(endpoint, headers, body)
        except Exception as exc:  # never raise: whatever the endpoint or the library did
            return Result(Outcome.FAILED, "error", f"{type(exc).__name__}: {exc}"[:300])


def _post(endpoint: str, headers: dict, body: bytes) -> Result:
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address, refused = resolve_endpoint(host, port)
    if refused:
        return Result(Outcome.FAILED, "address_refused", refused)
    timeout = urllib3.Timeout(total=float(getattr(settings, "CHAT_PUSH_HTTP_TIMEOUT", 10.0)))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, maxsize=1,
            server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                          maxsize=1)
    started = time.monotonic()
    try:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "Host": host_header},
                                redirect=False, preload_content=False)
        # At most 4 KB of the answer is read: an endpoint may be anyone's server.
        answer = response.read(4096)
        response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Result(Outcome.RETRY, "network", f"{type(exc).__name__}: {exc}"[:300])
    finally:
        pool.close()
    status = response.status
    detail = f"{status} in {time.monotonic() - started:.3f}s"
    text = answer[:300].decode("utf-8", "replace").strip()
    if text:
        detail += f": {text}"
    code = _vendor_code(text) or str(status)
    if status in (201, 202, 200):
        return Result(Outcome.DELIVERED, code, detail, status)
    if status in (404, 410):
        return Result(Outcome.DEAD_TOKEN, code, detail, status)
    if status == 429 or status >= 500:
        return Result(Outcome.RETRY, code, detail, status,
                      retry_after(response.headers.get("Retry-After")))
    return Result(Outcome.FAILED, code, detail, status)


def _vendor_code(text: str) -> str:
    """A push service's own reason when its body says one (Mozilla's errno, Apple's
    reason); else ""."""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("reason", "errno", "error", "code"):
            if key in data and isinstance(data[key], str | int):
                return str(data[key])[:64]
    return ""
