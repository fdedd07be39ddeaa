"""Honor Push: OAuth 2.0 client credentials at Honor's IAM endpoint, then
`POST {base}/api/v1/{appId}/sendMessage` with the Bearer token and a `timestamp` header
(milliseconds). Honor's message is Huawei's in camelCase.

Answers (`{"code": 200, "message", "data": {"sendResult", "requestId", "failTokens",
"expireTokens"}}`): 200 delivered, unless the token is listed in failTokens or
expireTokens (dead token); 80300007 dead token; 80200001 / 80200003 / HTTP 401 fetch a
new token and try once more; 81000001, 429 and 5xx retry; anything else failed.
"""

from __future__ import annotations

import time

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

DEAD = {"80300007"}
TOKEN_REFUSED = {"80200001", "80200003"}
TRANSIENT = {"81000001"}

_tokens = token_cache()


def _message(token: str, note: Notification) -> dict:
    notification = {
        "title": clip(note.title, 100),
        "body": clip(note.body, 1000),
        "clickAction": {"type": 3},  # open the app; the app reads `data`
        "importance": option(note, "honor_importance", ("LOW", "NORMAL")) or "NORMAL",
    }
    if image_url(note):
        notification["image"] = image_url(note)
    if note.badge is not None and settings.CHAT_PUSH_HONOR_BADGE_CLASS:
        notification["badge"] = {"setNum": max(0, min(note.badge, 99)),
                                 "badgeClass": settings.CHAT_PUSH_HONOR_BADGE_CLASS}
    return {
        "token": [token],
        "data": app_data_json(note),
        "android": {"notification": notification},
    }


@register
class HonorProvider(Provider):
    vendor = "honor"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_HONOR_APP_ID and settings.CHAT_PUSH_HONOR_CLIENT_ID
                    and settings.CHAT_PUSH_HONOR_CLIENT_SECRET)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="Honor: no withdrawal, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        app_id = settings.CHAT_PUSH_HONOR_APP_ID
        client_id = settings.CHAT_PUSH_HONOR_CLIENT_ID
        secret = settings.CHAT_PUSH_HONOR_CLIENT_SECRET
        auth_url = settings.CHAT_PUSH_HONOR_AUTH_URL
        url = f"{settings.CHAT_PUSH_HONOR_BASE_URL.rstrip('/')}/api/v1/{app_id}/sendMessage"
        note = fitted(note, lambda n: encoded_size(_message(token, n)))
        body = _message(token, note)

        def deliver(access: str) -> Result | TokenRefused:
            answer = post(url, json_body=body, headers={
                "Authorization": f"Bearer {access}", "timestamp": str(int(time.time() * 1000))})
            if isinstance(answer, Result):
                return answer
            reply = json_of(answer)
            code = str(reply.get("code", ""))
            if answer.status_code == 401 or code in TOKEN_REFUSED:
                return TokenRefused(code or "401", answer.status_code)
            trouble = http_trouble(answer)
            if trouble:
                return trouble
            detail = str(reply.get("message", ""))[:200]
            data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
            if answer.status_code == 200 and code == "200":
                for field in ("expireTokens", "failTokens"):
                    if token in (data.get(field) or []):
                        return Result(Outcome.DEAD_TOKEN, vendor_code=field, http_status=200,
                                      detail=detail)
                return Result(Outcome.DELIVERED, vendor_code=code, http_status=200, detail=detail)
            return refused(answer, code, detail, dead=DEAD, transient=TRANSIENT)

        return with_auth_token(
            _tokens, (auth_url, client_id, secret),
            lambda: fetch_client_credentials(auth_url, client_id, secret), deliver)
