"""Huawei Push Kit (HMS Core, Android): OAuth 2.0 client credentials, then
`POST {base}/v1/{appId}/messages:send` with the Bearer token.

Answers (`{"code": "80000000", "msg", "requestId"}`): 80000000 delivered; 80300007 (all
tokens invalid) and 80100000 (the one token failed) dead token; 80200001 / 80200003 /
HTTP 401 (OAuth token refused or expired) fetch a new token and try once more; 81000001
(internal error), HTTP 503 (traffic control), 429 and 5xx retry; anything else (a
refused payload, no permission) failed.
"""

from __future__ import annotations

from django.conf import settings

from .base import Notification, Outcome, Provider, Result, register
from .vendor_http import (
    TokenRefused,
    app_data_json,
    clip,
    encoded_size,
    fetch_client_credentials,
    fitted,
    guarded,
    http_trouble,
    image_url,
    json_of,
    option,
    post,
    refused,
    token_cache,
    with_auth_token,
)

OK = "80000000"
DEAD = {"80300007", "80100000"}
TOKEN_REFUSED = {"80200001", "80200003"}
TRANSIENT = {"81000001"}

_tokens = token_cache()


def _message(token: str, note: Notification) -> dict:
    notification = {
        "title": clip(note.title, 100),
        "body": clip(note.body, 1000),
        "click_action": {"type": 3},  # open the app; the app reads message.data
        "importance": option(note, "huawei_importance", ("LOW", "NORMAL", "HIGH")) or "NORMAL",
    }
    sound = note.sound_for("android")
    if sound:
        notification["sound"] = sound
        notification["default_sound"] = False
    else:
        notification["default_sound"] = True
    if image_url(note):
        notification["image"] = image_url(note)
    if note.badge is not None and settings.CHAT_PUSH_HUAWEI_BADGE_CLASS:
        notification["badge"] = {"set_num": max(0, min(note.badge, 99)),
                                 "class": settings.CHAT_PUSH_HUAWEI_BADGE_CLASS}
    android: dict = {"notification": notification}
    category = option(note, "huawei_category", limit=32)
    if category:
        android["category"] = category.upper()
    return {"token": [token], "data": app_data_json(note), "android": android}


def _request(token: str, note: Notification) -> dict:
    return {"validate_only": False, "message": _message(token, note)}


@register
class HuaweiProvider(Provider):
    vendor = "huawei"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_HUAWEI_APP_ID and settings.CHAT_PUSH_HUAWEI_APP_SECRET)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="Huawei: no withdrawal for Android, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        app_id = settings.CHAT_PUSH_HUAWEI_APP_ID
        secret = settings.CHAT_PUSH_HUAWEI_APP_SECRET
        auth_url = settings.CHAT_PUSH_HUAWEI_AUTH_URL
        url = f"{settings.CHAT_PUSH_HUAWEI_BASE_URL.rstrip('/')}/v1/{app_id}/messages:send"
        note = fitted(note, lambda n: encoded_size(_request(token, n)))
        body = _request(token, note)

        def deliver(access: str) -> Result | TokenRefused:
            answer = post(url, json_body=body, headers={"Authorization": f"Bearer {access}"})
            if isinstance(answer, Result):
                return answer
            reply = json_of(answer)
            code = str(reply.get("code", ""))
            if answer.status_code == 401 or code in TOKEN_REFUSED:
                return TokenRefused(code or "401", answer.status_code)
            trouble = http_trouble(answer)
            if trouble:
                return trouble
            detail = str(reply.get("msg", ""))[:200]
            if answer.status_code == 200 and code == OK:
                return Result(Outcome.DELIVERED, vendor_code=code, http_status=200, detail=detail)
            return refused(answer, code, detail, dead=DEAD, transient=TRANSIENT)

        return with_auth_token(
            _tokens, (auth_url, app_id, secret),
            lambda: fetch_client_credentials(auth_url, app_id, secret), deliver)
