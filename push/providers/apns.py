"""Apple Push Notification service, HTTP/2 with token-based authentication.

    POST {base}/3/device/{device token}          (HTTP/2 only, TLS)
    authorization: bearer <ES256 JWT {alg, kid: key ID} . {iss: team ID, iat}>
    apns-topic: the bundle ID    apns-push-type: alert | background
    apns-priority: 10 | 5        apns-collapse-id    apns-expiration

The JWT is signed with the .p8 key (CHAT_PUSH_APNS_KEY) and reused for 50 minutes:
Apple refuses a token older than an hour (403 ExpiredProviderToken) and one refreshed
more often than every 20 minutes (429 TooManyProviderTokenUpdates). The HTTP/2
connection is shared by the process (transport.client) because Apple expects a
provider to keep its connection open rather than open one per notification.

Answers: 200 DELIVERED (detail: the apns-id); 410 Unregistered/ExpiredToken and 400
BadDeviceToken / DeviceTokenNotForTopic DEAD_TOKEN; 429, 500 and 503 RETRY (with
Retry-After); 403 ExpiredProviderToken drops the cached JWT (the next try signs a new
one) and is RETRY at once (retry_after 0); 403 InvalidProviderToken and any other
refusal FAILED with Apple's reason.

Withdrawal: a background push (content-available, priority 5, no alert) carrying
`{"withdraw": <collapse_id>, "messageID": ...}`; the app removes the delivered
notification whose `messageID` matches (UNUserNotificationCenter
removeDeliveredNotifications). The alert itself carries apns-collapse-id, so a later
alert with the same id replaces it on the device.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings

from . import transport
from .base import Notification, Outcome, Provider, Result, register
from .fit import cut_to_fit

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
JWT_MAX_AGE = 50 * 60           # seconds a provider token is reused
EXPIRATION = 7 * 24 * 3600      # apns-expiration: Apple keeps trying this long
MAX_PAYLOAD = 4096              # bytes, Apple's limit for a notification
MAX_COLLAPSE_ID = 64            # bytes
TOKEN_RE = re.compile(r"^[0-9A-Fa-f]{16,200}$")

DEAD_REASONS = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
RETRY_STATUSES = {429, 500, 503}

_clock = time.monotonic  # the JWT cache's clock


@register
class ApnsProvider(Provider):
    vendor = "apns"

    # provider tokens by (team, key id, key digest): (JWT, signed at _clock())
    _jwts: dict[tuple[str, str, str], tuple[str, float]] = {}
    _jwt_lock = threading.Lock()
    _keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    # --- settings -------------------------------------------------------------------
    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        raw_setting = settings.CHAT_PUSH_APNS_KEY
        key = self._keys.get(raw_setting)
        if key is None:
            loaded = load_pem_private_key(transport.read_secret(raw_setting).encode(),
                                          password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey) \
                    or loaded.curve.name != "secp256r1":
                raise ValueError("the APNs key is not a P-256 (ES256) key")
            key = self._keys[raw_setting] = loaded
        return key

    def configured(self) -> bool:
        if not (settings.CHAT_PUSH_APNS_KEY and settings.CHAT_PUSH_APNS_KEY_ID
                and settings.CHAT_PUSH_APNS_TEAM_ID and settings.CHAT_PUSH_APNS_BUNDLE_ID):
            return False
        try:
            self._signing_key()
        except (OSError, ValueError, TypeError):
            return False
        return True

    @staticmethod
    def _base_url() -> str:
        base = settings.CHAT_PUSH_APNS_BASE_URL or (
            SANDBOX_URL if settings.CHAT_PUSH_APNS_SANDBOX else PRODUCTION_URL)
        return base.rstrip("/")

    # --- the provider token ---------------------------------------------------------
    def _cache_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(settings.CHAT_PUSH_APNS_KEY.encode()).hexdigest()[:16]
        return (settings.CHAT_PUSH_APNS_TEAM_ID, settings.CHAT_PUSH_APNS_KEY_ID, digest)

    def _provider_token(self) -> str:
        key = self._cache_key()
        cached = self._jwts.get(key)
        if cached and _clock() - cached[1] < JWT_MAX_AGE:
            return cached[0]
        with self._jwt_lock:
            cached = self._jwts.get(key)
            if cached and _clock() - cached[1] < JWT_MAX_AGE:
                return cached[0]
            signed = jwt.encode({"iss": key[0], "iat": int(time.time())},
                                self._signing_key(), algorithm="ES256",
                                headers={"kid": key[1]})
            self._jwts[key] = (signed, _clock())
            return signed

    def _drop_provider_token(self, stale: str) -> None:
        key = self._cache_key()
        with self._jwt_lock:
            if self._jwts.get(key, ("",))[0] == stale:
                del self._jwts[key]

    # --- the request ----------------------------------------------------------------
    @staticmethod
    def request_parts(note: Notification) -> tuple[dict[str, str], bytes]:
        """(apns-* headers, JSON payload) for `note`."""
        options = note.options or {}
        custom = {"conversationID": note.conversation_id, "messageID": note.message_id}
        background = note.withdraw or options.get("apns_push_type") == "background"
        headers = {"apns-push-type": "background" if background else "alert",
                   "apns-priority": "5" if background else "10",
                   "apns-expiration": str(int(time.time()) + EXPIRATION)}
        if note.withdraw:
            payload = {"aps": {"content-available": 1}, "withdraw": note.collapse_id,
                       **custom}
            return headers, _dump(payload)
        custom["extension"] = note.extension
        if note.collapse_id:
            headers["apns-collapse-id"] = _cut_utf8(note.collapse_id, MAX_COLLAPSE_ID)
        if background:
            return headers, _dump({"aps": {"content-available": 1}, **custom})
        alert = {"title": note.title, "body": note.body}
        if options.get("apns_subtitle"):
            alert["subtitle"] = str(options["apns_subtitle"])
        aps: dict = {"alert": alert, "sound": note.sound_for("apns") or "default"}
        if note.badge is not None:
            aps["badge"] = int(note.badge)
        if note.conversation_id:
            aps["thread-id"] = note.conversation_id  # groups a chat's notifications
        image = str(options.get("apns_image") or options.get("image") or "")
        if image:
            custom["image"] = image  # a Notification Service Extension downloads it
        if image or options.get("apns_mutable_content"):
            aps["mutable-content"] = 1
        payload = {"aps": aps, **custom}
        return headers, _fit(payload)

    def send(self, token: str, note: Notification) -> Result:
        if not TOKEN_RE.match(token or ""):
            return Result(Outcome.DEAD_TOKEN, "BadDeviceToken",
                          "not an APNs device token (hex expected); not sent")
        try:
            provider_token = self._provider_token()
        except (OSError, ValueError, TypeError, jwt.PyJWTError) as exc:
            return Result(Outcome.FAILED, "not_configured",
                          f"APNs signing key unusable: {type(exc).__name__}")
        headers, body = self.request_parts(note)
        headers["authorization"] = f"bearer {provider_token}"
        headers["apns-topic"] = settings.CHAT_PUSH_APNS_BUNDLE_ID
        headers["content-type"] = "application/json"
        http = transport.client(http2=True, ca_file=settings.CHAT_PUSH_APNS_CA_FILE)
        try:
            response = transport.post(http, f"{self._base_url()}/3/device/{token}",
                                      content=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport.network_result(exc)
        return self._result(response, provider_token)

    def _result(self, response: httpx.Response, provider_token: str) -> Result:
        status = response.status_code
        if status == 200:
            return Result(Outcome.DELIVERED, "", response.headers.get("apns-id", ""), status)
        try:
            reason = str(response.json().get("reason") or "")
        except (ValueError, AttributeError):
            reason = ""
        code = reason or f"http_{status}"
        if status == 410 or reason in DEAD_REASONS:
            return Result(Outcome.DEAD_TOKEN, code, f"APNs {status} {reason}", status)
        if status == 403 and reason == "ExpiredProviderToken":
            self._drop_provider_token(provider_token)
            return Result(Outcome.RETRY, code, "provider token expired; re-signed", status,
                          0.0)
        if status == 403:
            self._drop_provider_token(provider_token)
        if status in RETRY_STATUSES:
            return Result(Outcome.RETRY, code, f"APNs {status} {reason}", status,
                          transport.retry_after(response))
        return Result(Outcome.FAILED, code, f"APNs {status} {reason}", status)


def _fit(payload: dict) -> bytes:
    """The payload within MAX_PAYLOAD bytes, never refused for its size: the body is
    cut (with "…"), then the extension, the subtitle and the title (providers/fit.py);
    an image or sound name that still does not fit is dropped."""
    alert = payload["aps"]["alert"]
    cuts = [(alert, "body", "…"), (payload, "extension", ""), (alert, "subtitle", "…"),
            (alert, "title", "…")]
    if cut_to_fit(cuts, lambda: len(_dump(payload)), MAX_PAYLOAD) > MAX_PAYLOAD:
        payload.pop("image", None)
        payload["aps"]["sound"] = "default"
    return _dump(payload)


def _dump(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _cut_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    return text.encode()[:max(0, limit)].decode("utf-8", "ignore")
