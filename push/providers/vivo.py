"""vivo Push: `POST {base}/message/auth` (JSON) with appId, appKey, timestamp (ms) and
sign = md5(appId + appKey + timestamp + appSecret), lowercase hex, gives an authToken
valid 24 hours (vivo asks servers to renew it every hour or two); then
`POST {base}/message/send` (JSON) with the header `authToken`.

Answers (`{"result", "desc", "taskId"}`): 0 delivered; 10302 (regId not found or
invalid) dead token; 10000 (authentication failed: the authToken is stale) fetch a new
one and try once more; 10072 (frequency), 429 and 5xx retry; 10070 (today's total
spent: vivo asks not to call again that day) failed, not retried; anything else (10094 appId mismatch, a refused payload) failed. A non-zero answer of
the auth call (a wrong secret gives a signature error) is failed.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings

from .base import Notification, Outcome, Provider, Result, register
from .vendor_http import (
    TokenRefused,
    app_data,
    clip,
    encoded_size,
    fitted,
    guarded,
    http_trouble,
    json_of,
    option,
    post,
    refused,
    token_cache,
    with_auth_token,
)

DEAD = {"10302"}
TOKEN_REFUSED = {"10000"}
TRANSIENT = {"10072"}
AUTH_LIFETIME = 24 * 3600.0
DAILY_QUOTA = {"10070"}  # spent for today: failed, not retried (see xiaomi.py)

# Renew well before the day is out, as vivo recommends (1-2 hours).
_tokens = token_cache(margin=AUTH_LIFETIME - 2 * 3600.0)


def sign(app_id: str, app_key: str, timestamp: str, app_secret: str) -> str:
    raw = f"{app_id.strip()}{app_key.strip()}{timestamp}{app_secret.strip()}"
    return hashlib.md5(raw.encode()).hexdigest()


def _app_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _fetch(base: str, app_id: str, app_key: str, secret: str) -> tuple[str, float] | Result:
    timestamp = str(int(time.time() * 1000))
    answer = post(f"{base}/message/auth", json_body={
        "appId": _app_id(app_id), "appKey": app_key, "timestamp": int(timestamp),
        "sign": sign(app_id, app_key, timestamp, secret)})
    if isinstance(answer, Result):
        return answer
    trouble = http_trouble(answer)
    if trouble:
        return trouble
    reply = json_of(answer)
    code = str(reply.get("result", ""))
    if code == "0" and reply.get("authToken"):
        return str(reply["authToken"]), AUTH_LIFETIME
    return Result(Outcome.FAILED, vendor_code=code or str(answer.status_code),
                  http_status=answer.status_code,
                  detail=f"auth: {reply.get('desc') or answer.text[:200]}")


def _request_id(token: str, note: Notification) -> str:
    """vivo drops a second request with the same requestId: one per (message, device),
    so the pipeline's retry of an unanswered request is not shown twice."""
    seed = f"{note.message_id or note.collapse_id or time.time_ns()}\n{token}"
    return hashlib.sha1(seed.encode()).hexdigest()[:32]


def _body(token: str, note: Notification) -> dict:
    body = {
        "appId": _app_id(settings.CHAT_PUSH_VIVO_APP_ID),
        "regId": token,
        "notifyType": 4,  # sound and vibration
        "title": clip(note.title, 40),
        "content": clip(note.body or note.title, 100),
        "skipType": 1,  # open the app
        "clientCustomMap": app_data(note),
        "requestId": _request_id(token, note),
        "pushMode": 0,
        # Messages between people are vivo's "system" class (1, with category IM);
        # an operations message (0) is capped at a few a day per device.
        "classification": 0 if option(note, "vivo_classification") == "0" else 1,
    }
    category = option(note, "vivo_category", limit=32).upper() or (
        "IM" if body["classification"] == 1 else "")
    if category:
        body["category"] = category
    return body


@register
class VivoProvider(Provider):
    vendor = "vivo"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_VIVO_APP_ID and settings.CHAT_PUSH_VIVO_APP_KEY
                    and settings.CHAT_PUSH_VIVO_APP_SECRET)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="vivo: no withdrawal, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        base = settings.CHAT_PUSH_VIVO_BASE_URL.rstrip("/")
        app_id = settings.CHAT_PUSH_VIVO_APP_ID
        app_key = settings.CHAT_PUSH_VIVO_APP_KEY
        secret = settings.CHAT_PUSH_VIVO_APP_SECRET
        note = fitted(note, lambda n: encoded_size(_body(token, n)))
        body = _body(token, note)

        def deliver(auth: str) -> Result | TokenRefused:
            answer = post(f"{base}/message/send", json_body=body, headers={"authToken": auth})
            if isinstance(answer, Result):
                return answer
            trouble = http_trouble(answer)
            if trouble:
                return trouble
            reply = json_of(answer)
            code = str(reply.get("result", ""))
            detail = str(reply.get("desc") or "")[:200]
            if code in TOKEN_REFUSED:
                return TokenRefused(code, answer.status_code)
            if answer.status_code == 200 and code == "0":
                return Result(Outcome.DELIVERED, vendor_code=code, http_status=200, detail=detail)
            return refused(answer, code, detail, dead=DEAD, transient=TRANSIENT,
                           daily_quota=DAILY_QUOTA)

        return with_auth_token(_tokens, (base, app_id, app_key, secret),
                               lambda: _fetch(base, app_id, app_key, secret), deliver)
