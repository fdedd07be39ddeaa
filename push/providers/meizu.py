"""Meizu (Flyme) Push: `POST {base}/garcia/api/server/push/varnished/pushByPushId`,
form-encoded: appId, pushIds, messageJson and sign = md5 of every parameter as `k=v`,
sorted by name and concatenated, followed by the AppSecret (32 lowercase hex). No token
exchange.

Answers (`{"code", "message", "value", "msgId"}`): code "200" with an empty value
delivered; value listing the pushId under 110002 (unsubscribed or switched off) or
110003 (illegal) dead token, under 519 (overloaded), 501 or 513 (push failed) retry,
under 520 (folded: too many pushes to the device within a minute) delivered; code 110010
(rate), 1001, 1003 and 500, 429 and HTTP 5xx retry; anything else (1006 signature,
110000 appId, 1005 parameters) failed.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings

from .base import Notification, Outcome, Provider, Result, register
from .vendor_http import app_data, clip, fitted, guarded, http_trouble, json_of, post, refused

DEAD = {"110002", "110003"}
TRANSIENT_PER_ID = {"519", "501", "513"}
TRANSIENT = {"110010", "1001", "1003", "500"}


def sign(params: dict[str, str], app_secret: str) -> str:
    raw = "".join(f"{k}={params[k]}" for k in sorted(params)) + app_secret
    return hashlib.md5(raw.encode()).hexdigest()


def _message(note: Notification) -> dict:
    return {
        "noticeBarInfo": {"noticeBarType": 0, "title": clip(note.title, 32),
                          "content": clip(note.body or note.title, 100)},
        "noticeExpandInfo": {"noticeExpandType": 0},
        "clickTypeInfo": {"clickType": 0, "parameters": app_data(note)},  # open the app
        "pushTimeInfo": {"offLine": 1, "validTime": 24},
        "advanceInfo": {"suspend": 1, "clearNoticeBar": 1},
    }


@register
class MeizuProvider(Provider):
    vendor = "meizu"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_MEIZU_APP_ID and settings.CHAT_PUSH_MEIZU_APP_SECRET)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="Meizu: no withdrawal, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        note = fitted(note, lambda n: len(json.dumps(_message(n), ensure_ascii=False).encode()))
        params = {
            "appId": settings.CHAT_PUSH_MEIZU_APP_ID,
            "pushIds": token,
            "messageJson": json.dumps(_message(note), ensure_ascii=False),
        }
        params["sign"] = sign(params, settings.CHAT_PUSH_MEIZU_APP_SECRET)
        base = settings.CHAT_PUSH_MEIZU_BASE_URL.rstrip("/")
        answer = post(f"{base}/garcia/api/server/push/varnished/pushByPushId", data=params)
        if isinstance(answer, Result):
            return answer
        trouble = http_trouble(answer)
        if trouble:
            return trouble
        reply = json_of(answer)
        code = str(reply.get("code", ""))
        detail = str(reply.get("message") or "")[:200]
        if answer.status_code != 200 or code != "200":
            return refused(answer, code, detail, transient=TRANSIENT)
        value = reply.get("value") if isinstance(reply.get("value"), dict) else {}
        for per_id, ids in value.items():
            if token not in (ids or []):
                continue
            if per_id in DEAD:
                return Result(Outcome.DEAD_TOKEN, vendor_code=per_id, http_status=200,
                              detail=detail)
            if per_id in TRANSIENT_PER_ID:
                return Result(Outcome.RETRY, vendor_code=per_id, http_status=200, detail=detail)
            if per_id == "520":
                return Result(Outcome.DELIVERED, vendor_code=per_id, http_status=200,
                              detail="folded by Meizu (too many pushes to the device)")
            return Result(Outcome.FAILED, vendor_code=per_id, http_status=200, detail=detail)
        return Result(Outcome.DELIVERED, vendor_code=code, http_status=200,
                      detail=str(reply.get("msgId") or ""))
