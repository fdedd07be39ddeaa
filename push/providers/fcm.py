"""Firebase Cloud Messaging, HTTP v1 API.

    POST {CHAT_PUSH_FCM_BASE_URL}/v1/projects/{project_id}/messages:send
    Authorization: Bearer <OAuth 2.0 access token>

The access token comes from the service account (CHAT_PUSH_FCM_CREDENTIALS: the JSON
Google hands out, inline or as a path): an RS256-signed JWT assertion posted to the
account's token URI (grant_type jwt-bearer, RFC 7523), kept until 5 minutes before it
expires (or half its life, when shorter) and dropped at once when FCM answers 401/403.

Errors, as FCM names them (`error.status` and the FcmError `errorCode` detail):
UNREGISTERED, 404 and INVALID_ARGUMENT about the token are DEAD_TOKEN; 429
QUOTA_EXCEEDED, 500 INTERNAL, 503 UNAVAILABLE and a timeout are RETRY (with
Retry-After); 401/403 (bad credentials, SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR)
and any other refusal are FAILED. SENDER_ID_MISMATCH is not treated as a dead token:
a deployment pointed at the wrong project would otherwise delete every Android token.

Withdrawal: FCM cannot delete a notification already shown. A withdrawal is a
data-only message `{"withdraw": <collapse_id>, "messageID": ...}` (high priority so it
arrives while the app sleeps); the app cancels the notification it shows with tag
`collapse_id` (FCM displays ours with `android.notification.tag` = collapse id, id 0).
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import jwt
from django.conf import settings

from . import transport
from .base import Notification, Outcome, Provider, Result, register
from .fit import cut_to_fit

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_TOKEN = 4096  # characters; registration tokens are about 160
MAX_PAYLOAD = 4096  # bytes of a message (notification and data), FCM's limit
REFRESH_MARGIN = 300.0  # seconds before expiry a cached access token is renewed

RETRY_STATUSES = {"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"}


class _Account:
    """The parts of a service-account JSON FCM needs."""

    def __init__(self, raw: str):
        info = json.loads(raw)
        self.client_email = info["client_email"]
        self.private_key = info["private_key"]
        self.private_key_id = info.get("private_key_id", "")
        self.project_id = info.get("project_id", "")
        self.token_uri = info.get("token_uri", "") or DEFAULT_TOKEN_URL


@register
class FcmProvider(Provider):
    vendor = "fcm"

    # access tokens by (client_email, token URL): (token, renew-after monotonic time)
    _tokens: dict[tuple[str, str], tuple[str, float]] = {}
    _token_lock = threading.Lock()
    _accounts: dict[str, _Account] = {}

    # --- settings -------------------------------------------------------------------
    def _account(self) -> _Account:
        raw_setting = settings.CHAT_PUSH_FCM_CREDENTIALS
        account = self._accounts.get(raw_setting)
        if account is None:
            account = _Account(transport.read_secret(raw_setting))
            self._accounts[raw_setting] = account
        return account

    def configured(self) -> bool:
        if not settings.CHAT_PUSH_FCM_CREDENTIALS:
            return False
        try:
            account = self._account()
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return bool(settings.CHAT_PUSH_FCM_PROJECT_ID or account.project_id)

    def _token_url(self, account: _Account) -> str:
        return settings.CHAT_PUSH_FCM_TOKEN_URL or account.token_uri

    def _send_url(self, account: _Account) -> str:
        base = (settings.CHAT_PUSH_FCM_BASE_URL or DEFAULT_BASE_URL).rstrip("/")
        project = settings.CHAT_PUSH_FCM_PROJECT_ID or account.project_id
        return f"{base}/v1/projects/{project}/messages:send"

    # --- OAuth ----------------------------------------------------------------------
    def _access_token(self, account: _Account, http: httpx.Client) -> str | Result:
        """A valid access token, or the Result to answer when none can be had."""
        key = (account.client_email, self._token_url(account))
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        with self._token_lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            now = int(time.time())
            claims = {"iss": account.client_email, "scope": SCOPE, "aud": key[1],
                      "iat": now, "exp": now + 3600}
            headers = {"kid": account.private_key_id} if account.private_key_id else None
            try:
                assertion = jwt.encode(claims, account.private_key, algorithm="RS256",
                                       headers=headers)
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                return Result(Outcome.FAILED, "invalid_private_key",
                              f"cannot sign the OAuth assertion: {exc}")
            started = time.monotonic()
            response = http.post(key[1], data={"grant_type": JWT_BEARER,
                                               "assertion": assertion})
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if response.status_code != 200 or not body.get("access_token"):
                code = str(body.get("error") or f"http_{response.status_code}")
                detail = str(body.get("error_description") or "token endpoint refused")
                retry = response.status_code == 429 or response.status_code >= 500
                return Result(Outcome.RETRY if retry else Outcome.FAILED, code,
                              f"OAuth token: {detail}", response.status_code,
                              transport.retry_after(response) if retry else None)
            try:
                lifetime = float(body.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600.0
            renew_at = started + lifetime - min(REFRESH_MARGIN, lifetime / 2)
            self._tokens[key] = (str(body["access_token"]), renew_at)
            return str(body["access_token"])

    def _drop_token(self, account: _Account) -> None:
        self._tokens.pop((account.client_email, self._token_url(account)), None)

    # --- the message ----------------------------------------------------------------
    @staticmethod
    def message(token: str, note: Notification) -> dict:
        """The v1 `message` object for `note`."""
        data = {"conversationID": note.conversation_id, "messageID": note.message_id}
        if note.withdraw:
            data["withdraw"] = note.collapse_id
            return {"token": token, "data": data, "android": {"priority": "HIGH"}}
        data["extension"] = note.extension
        options = note.options or {}
        image = str(options.get("image") or "")
        notification = {"title": note.title, "body": note.body}
        if image:
            notification["image"] = image
        android_note: dict = {"sound": note.sound_for("android") or "default"}
        if options.get("android_channel_id"):
            android_note["channel_id"] = str(options["android_channel_id"])
        if image:
            android_note["image"] = image
        if note.badge is not None:
            android_note["notification_count"] = int(note.badge)
        android: dict = {"priority": "HIGH", "notification": android_note}
        if note.collapse_id:
            # `tag` replaces a shown notification with the same tag and lets the app
            # cancel it (withdrawal). No `collapse_key`: FCM keeps at most four
            # collapse keys per device while it is offline, so a key per message
            # would drop all but four of the messages a sleeping phone is owed.
            android_note["tag"] = note.collapse_id
        message = {"notification": notification, "data": data, "android": android}
        # Within FCM's 4096 bytes (counted as the whole message without its token, at
        # least what FCM counts): the body, then the extension and the title are cut;
        # the image, channel and sound dropped if that is not enough.
        if cut_to_fit([(notification, "body", "…"), (data, "extension", ""),
                       (notification, "title", "…")], lambda: _size(message),
                      MAX_PAYLOAD) > MAX_PAYLOAD:
            notification.pop("image", None)
            for key in ("image", "channel_id", "sound"):
                android_note.pop(key, None)
        return {"token": token, **message}

    def send(self, token: str, note: Notification) -> Result:
        if not token or len(token) > MAX_TOKEN or not token.isprintable() \
                or any(c.isspace() for c in token):
            return Result(Outcome.DEAD_TOKEN, "INVALID_ARGUMENT",
                          "not an FCM registration token; not sent")
        try:
            account = self._account()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return Result(Outcome.FAILED, "not_configured",
                          f"FCM credentials unreadable: {type(exc).__name__}")
        if not (settings.CHAT_PUSH_FCM_PROJECT_ID or account.project_id):
            return Result(Outcome.FAILED, "not_configured", "FCM project ID unknown")
        http = transport.client()
        try:
            access = self._access_token(account, http)
            if isinstance(access, Result):
                return access
            response = transport.post(http, self._send_url(account),
                                      json={"message": self.message(token, note)},
                                      headers={"authorization": f"Bearer {access}"})
        except httpx.HTTPError as exc:
            return transport.network_result(exc)
        return self._result(response, account)

    def _result(self, response: httpx.Response, account: _Account) -> Result:
        status = response.status_code
        if status == 200:
            try:
                name = str(response.json().get("name", ""))
            except (ValueError, AttributeError):
                name = ""
            return Result(Outcome.DELIVERED, "", name, status)
        status_name, error_code, message, token_field = _google_error(response)
        code = error_code or status_name or f"http_{status}"
        detail = message[:300] or f"HTTP {status}"
        if error_code == "UNREGISTERED" or status == 404 or status_name == "NOT_FOUND":
            return Result(Outcome.DEAD_TOKEN, code, detail, status)
        if "INVALID_ARGUMENT" in (error_code, status_name) and (
                token_field or "registration token" in message.lower()):
            return Result(Outcome.DEAD_TOKEN, code, detail, status)
        if status in (401, 403):
            self._drop_token(account)
            return Result(Outcome.FAILED, code, detail, status)
        if status == 429 or status >= 500 or {error_code, status_name} & RETRY_STATUSES:
            return Result(Outcome.RETRY, code, detail, status,
                          transport.retry_after(response))
        return Result(Outcome.FAILED, code, detail, status)


def _size(message: dict) -> int:
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())


def _google_error(response: httpx.Response) -> tuple[str, str, str, bool]:
    """(status, FCM errorCode, message, whether a field violation names the token) from
    Google's error JSON; blanks when the body is something else."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", "", response.text[:300], False
    if not isinstance(error, dict):
        return "", "", "", False
    error_code, token_field = "", False
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("errorCode"):
            error_code = str(detail["errorCode"])
        for violation in detail.get("fieldViolations") or []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                token_field = True
    return str(error.get("status") or ""), error_code, str(error.get("message") or ""), \
        token_field
