"""What an offline push says: the notification of one message, from its elements and
its offline-push settings (the stored shape of push/offline_info.py).

Title: the settings' title, else the sender's nick (else UserID). Text: the settings'
description, else per element type: the text itself (cut at TEXT_LIMIT characters),
[Image], [Voice], [File], [Video], [Location], [Face], a custom element's description
(its `description`), [Merged message]. A message whose only text would come from a
custom element without a description, and that has no description in its settings, is
not pushed (Tencent's rule, tencent-rest.md §2.3): `notification_for` answers None.

Sound: each platform's from the settings (push/offline_info.py: ApnsInfo.Sound for
APNs, AndroidInfo.Sound for Android); a message with no settings at all takes a custom
element's `sound` for APNs (TIMCustomElem.Sound, "APNs sound"; ignored when the
message has OfflinePushInfo, as Tencent ignores every custom element push setting then).
"""

from __future__ import annotations

from .providers.base import Notification

TEXT_LIMIT = 100  # characters of a text message shown in the notification

_LABELS = {"TIMImageElem": "[Image]", "TIMSoundElem": "[Voice]", "TIMFileElem": "[File]",
           "TIMVideoFileElem": "[Video]", "TIMLocationElem": "[Location]",
           "TIMFaceElem": "[Face]", "TIMRelayElem": "[Merged message]"}


def _cut(text: str) -> str:
    text = " ".join(text.split())  # a notification is one line
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…"


def element_text(elements: list) -> str | None:
    """The per-type text of a message; None when nothing may be pushed."""
    parts = []
    for elem in elements or []:
        if not isinstance(elem, dict):
            continue
        kind, payload = elem.get("type"), elem.get("payload") or {}
        if kind == "TIMTextElem":
            parts.append(str(payload.get("text", "")))
        elif kind == "TIMCustomElem":
            desc = payload.get("description") or ""
            if desc:
                parts.append(str(desc))
        elif kind in _LABELS:
            parts.append(_LABELS[kind])
    text = _cut(" ".join(p for p in parts if p))
    return text or None


def notification_for(*, elements: list, nick: str, sender_user_id: str,
                     push_info: dict | None, badge: int | None, message_key: str,
                     conversation_id: str) -> Notification | None:
    """The notification a receiver's devices get for one message, or None when the
    message is not pushed (disablePush, or nothing to say)."""
    info = push_info or {}
    if info.get("disablePush"):
        return None
    body = info.get("description") or element_text(elements)
    if not body:
        return None
    options = dict(info.get("options") or {})
    if not push_info and custom_sound(elements):
        options["apns_sound"] = custom_sound(elements)
    return Notification(
        title=info.get("title") or nick or sender_user_id,
        body=_cut(body) if not info.get("description") else body,
        extension=info.get("extension", ""),
        badge=None if info.get("ignoreIOSBadge") else badge,
        sound=info.get("sound", ""),
        collapse_id=message_key,
        conversation_id=conversation_id,
        message_id=message_key,
        options=options,
    )


def custom_sound(elements: list) -> str:
    """A custom element's APNs sound (TIMCustomElem.Sound), which Tencent honors only
    when the message has no OfflinePushInfo (tencent-rest.md §2.2, §2.3)."""
    for elem in elements or []:
        if isinstance(elem, dict) and elem.get("type") == "TIMCustomElem":
            sound = (elem.get("payload") or {}).get("sound")
            if isinstance(sound, str) and sound:
                return sound
    return ""
