"""Xiaomi (Mi Push): `POST {base}/v3/message/regid`, form-encoded, with the header
`Authorization: key=<AppSecret>`. No token exchange.

Answers (`{"result": "ok"|"error", "code", "reason", "description", "data": {"id",
"bad_regids"}}`, codes from Mi Push's server error code table): code 0 delivered, unless
the regid is listed in data.bad_regids (dead token); 20301 "send failed" with the reason
"No valid targets!" (every regid invalid) dead token, with another reason failed; 1,
10001, 10002, 10003 (internal, system, busy, remote service) and 10027 (calls too
frequent) retry, as do 429 and 5xx; 10034 and 200001 (today's quota spent) failed, not
retried (more calls the same day only lower the quota); 21301
(authentication failed: a wrong AppSecret), 22000/22022 (app, package name), 10016/10017
(parameters) and every other code failed.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from .base import Notification, Outcome, Provider, Result, register
from .vendor_http import (
    app_data_json,
    clip,
    encoded_size,
    fitted,
    guarded,
    http_trouble,
    json_of,
    option,
    post,
    refused,
)

SEND_FAILED = "20301"
TRANSIENT = {"1", "10001", "10002", "10003", "10027"}
# Today's quota is spent: retrying before tomorrow only spends goodwill, and a chat
# notification a day late is noise. Failed, with the code in the attempt log.
DAILY_QUOTA = {"10034", "200001"}


def notify_id(note: Notification) -> int:
    """Mi Push shows one notification per notify_id (a later one replaces it): one id per
    message keeps every unread message on screen."""
    seed = note.message_id or note.collapse_id or f"{note.title}\n{note.body}"
    return int.from_bytes(hashlib.sha1(seed.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _form(token: str, note: Notification) -> dict:
    form = {
        "registration_id": token,
        "restricted_package_name": settings.CHAT_PUSH_XIAOMI_PACKAGE,
        "title": clip(note.title, 49),
        "description": clip(note.body or note.title, 127),
        "payload": app_data_json(note),
        "pass_through": "0",       # a notification, not pass-through data
        "notify_type": "-1",       # the device's default sound, vibration and light
        "notify_id": str(notify_id(note)),
        "extra.notify_effect": "1",  # open the app's launcher Activity
    }
    channel = option(note, "android_channel_id")
    if channel:
        form["extra.channel_id"] = channel
    sound = note.sound_for("android")
    if sound:
        form["extra.sound_uri"] = (
            f"android.resource://{settings.CHAT_PUSH_XIAOMI_PACKAGE}/raw/{sound}")
    return form


@register
class XiaomiProvider(Provider):
    vendor = "xiaomi"

    def configured(self) -> bool:
        return bool(settings.CHAT_PUSH_XIAOMI_APP_SECRET and settings.CHAT_PUSH_XIAOMI_PACKAGE)

    def send(self, token: str, note: Notification) -> Result:
        if note.withdraw:
            return Result(Outcome.DELIVERED, detail="Xiaomi: no withdrawal, nothing sent")
        return guarded(self.vendor, lambda: self._send(token, note))

    def _send(self, token: str, note: Notification) -> Result:
        url = f"{settings.CHAT_PUSH_XIAOMI_BASE_URL.rstrip('/')}/v3/message/regid"
        note = fitted(note, lambda n: encoded_size(_form(token, n)))
        answer = post(url, data=_form(token, note),
                      headers={"Authorization": f"key={settings.CHAT_PUSH_XIAOMI_APP_SECRET}"})
        if isinstance(answer, Result):
            return answer
        trouble = http_trouble(answer)
        if trouble:
            return trouble
        reply = json_of(answer)
        code = str(reply.get("code", ""))
        detail = str(reply.get("reason") or reply.get("description") or "")[:200]
        if answer.status_code == 200 and reply.get("result") == "ok" and code == "0":
            data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
            bad = str(data.get("bad_regids") or "").split(",")
            if token in bad:
                return Result(Outcome.DEAD_TOKEN, vendor_code="bad_regids", http_status=200,
                              detail=detail)
            return Result(Outcome.DELIVERED, vendor_code=code, http_status=200, detail=detail)
        if code == SEND_FAILED and "valid target" in detail.lower():
            return Result(Outcome.DEAD_TOKEN, vendor_code=code, http_status=answer.status_code,
                          detail=detail)
        return refused(answer, code, detail, transient=TRANSIENT, daily_quota=DAILY_QUOTA)
