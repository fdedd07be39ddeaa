"""OPPO (HeyTap) Push: `POST {base}/server/v1/auth` with app_key, timestamp (ms) and
sign = sha256(app_key + timestamp + master_secret) gives an auth_token valid 24 hours;
then `POST {base}/server/v1/message/notification/unicast`, form-encoded, with the
auth_token (as the form field OPPO documents and as the header its SDKs send) and
`message` = the JSON of {target_type: 2, target_value: regId, notification: {...}}.

Answers (`{"code", "message", "data": {"messageId"}}`): 0 delivered; 10000 (invalid
registration_id) dead token; 11 (invalid auth token) fetch a new one and try once more;
-1 (unavailable), -2 (flow control), 13 and 55 (call frequency), 429 and 5xx retry; 33
(today's quota spent) failed, not retried; anything else (16 invalid signature, 14 invalid app key, 41 invalid
arguments, ...) failed.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.conf import settings

from .base import Notification, Outcome, Provider, Result, register
from .vendor_http import (
    TokenRefused,
    app_data_json,
    clip,
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

DEAD = {"10000"}
TOKEN_REFUSED = {"11"}
TRANSIENT = {"-1", "-2", "13", "55"}
AUTH_LIFETIME = 24 * 3600.0
DAILY_QUOTA = {"33"}  # spent for today: failed, not retried (see xiaomi.py)

_tokens = token_cache(margin=3600.0)


def sign(app_key: str, timestamp: str, master_secret: str) -> str:
    return hashlib.sha256(f"{app_key}{timestamp}{master_secret}".encode()).hexdigest()


def _fetch(base: str, app_key: str, master_secret: str) -> tuple[str, float] | Result:
    timestamp = str(int(time.time() * 1000))
    answer = post(f"{base}/server/v1/auth", data={
        "app_key": app_key, "timestamp": timestamp,
        "sign": sign(app_key, timestamp, master_secret)})
    if isinstance(answer, Result):
        return answer
    trouble = http_trouble(answer)
    if trouble:
        return trouble
    reply = json_of(answer)
    code = str(reply.get("code", ""))
    data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
    if code == "0" and data.get("auth_token"):
        return str(data["auth_token"]), AUTH_LIFETIME
    outcome = Outcome.RETRY if code in TRANSIENT else Outcome.FAILED
    return Result(outcome, vendor_code=code or str(answer.status_code),
                  http_status=answer.status_code,
                  detail=f"auth: {reply.get('message') or answer.text[:200]}")


def _message(token: str, note: Notification) -> dict:
    notification = {
        "title": clip(note.title, 50),
        "content": clip(note.body or note.title, 200),
        "click_action_type": 0,  # open the app
        "action_parameters": app_data_json(note),
        "off_line": True,
    }
    channel = option(note, "oppo_channel_id")
    if channel:
        notification["channel_id"] = channel
    return {"target_type": 2, "target_value": token, "notification": notification}


@register
class OppoProvider(Provider):
    vendor = "oppo"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_OPPO_APP_KEY and settings.CHAT_PUSH_OPPO_MASTER_SECRET)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="OPPO: no withdrawal, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        base = settings.CHAT_PUSH_OPPO_BASE_URL.rstrip("/")
        app_key = settings.CHAT_PUSH_OPPO_APP_KEY
        secret = settings.CHAT_PUSH_OPPO_MASTER_SECRET
        note = fitted(note, lambda n: len(json.dumps(_message(token, n), ensure_ascii=False)
                                          .encode()))
        message = json.dumps(_message(token, note), ensure_ascii=False)

        def deliver(auth: str) -> Result | TokenRefused:
            answer = post(f"{base}/server/v1/message/notification/unicast",
                          data={"auth_token": auth, "message": message},
                          headers={"auth_token": auth})
            if isinstance(answer, Result):
                return answer
            trouble = http_trouble(answer)
            if trouble:
                return trouble
            reply = json_of(answer)
            code = str(reply.get("code", ""))
            detail = str(reply.get("message") or "")[:200]
            if code in TOKEN_REFUSED:
                return TokenRefused(code, answer.status_code)
            if answer.status_code == 200 and code == "0":
                return Result(Outcome.DELIVERED, vendor_code=code, http_status=200, detail=detail)
            return refused(answer, code, detail, dead=DEAD, transient=TRANSIENT,
                           daily_quota=DAILY_QUOTA)

        return with_auth_token(_tokens, (base, app_key, secret),
                               lambda: _fetch(base, app_key, secret), deliver)
