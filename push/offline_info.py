"""A message's offline-push settings in one shape, whatever door it came through.

The WebSocket and native REST doors take the Web SDK's `offlinePushInfo`
(`from_web`: the flat names sdk.js sends, and Tencent's nested androidInfo /
apnsInfo), the /v4 doors Tencent's `OfflinePushInfo` (`from_v4`, tencent-rest.md
§2.3); both return the one shape that is stored with the message
(Message.offline_push_info, BroadcastTask.offline_push_info) and read by the push
pipeline (push/content.py):

    {"disablePush": bool, "title": str, "description": str, "extension": str,
     "ignoreIOSBadge": bool, "sound": str, "options": {neutral name: value}}

Sounds are per platform, as Tencent names them: ApnsInfo.Sound / the Web SDK's
apnsInfo.sound or iOSSound is `options.apns_sound` (APNs only), AndroidInfo.Sound /
androidInfo.sound or androidSound `options.android_sound` (FCM and the Android
vendors only); `sound` (the Web SDK's flat `sound`, and rows stored before the split)
goes to both, under either (push/providers/base.py Notification.sound_for).

Keys at their default are left out, so "no settings" is {} (stored as NULL). The
option names are push/providers/base.py's (`Notification.options`). A bad field is
90043. This module is pure (no models): a migration converts old rows with it.
"""

from __future__ import annotations

from chat_project.errors import ChatError

MAX_PUSH_TEXT = 3 * 1024  # description + extension, bytes (Tencent's limit)
MAX_TITLE = 256
MAX_OPTION = 512

# Web SDK names (flat, as static/parley/sdk.js sends them) -> neutral option names.
_WEB_OPTIONS = {
    "androidOPPOChannelID": "oppo_channel_id",
    "androidVIVOClassification": "vivo_classification",
    "androidVIVOCategory": "vivo_category",
    "androidHuaWeiCategory": "huawei_category",
    "androidHuaWeiImportance": "huawei_importance",
    "androidHuaWeiChannelID": "huawei_channel_id",
    "androidHonorImportance": "honor_importance",
    "androidXiaoMiChannelID": "xiaomi_channel_id",
    "androidFCMChannelID": "android_channel_id",
    "androidImage": "image",
    "androidSound": "android_sound",
    "iOSSound": "apns_sound",
    "iOSSubtitle": "apns_subtitle",
    "iOSImage": "apns_image",
    "iOSMutableContent": "apns_mutable_content",
    "iOSPushType": "apns_push_type",
}
# Tencent's Web SDK nests some of them (tencent-rest.md "Web SDK": androidInfo{sound,
# XiaoMiChannelID, ...}, apnsInfo{sound, ignoreIOSBadge}); a client speaking the
# protocol with Tencent's shape sends them so. The flat name wins when both are given,
# as sdk.js does when it flattens. (androidInfo.OPPOCategory has no option here.)
_WEB_ANDROID = {
    "sound": "androidSound",
    "XiaoMiChannelID": "androidXiaoMiChannelID",
    "OPPOChannelID": "androidOPPOChannelID",
    "FCMChannelID": "androidFCMChannelID",
    "VIVOClassification": "androidVIVOClassification",
    "VIVOCategory": "androidVIVOCategory",
    "HuaWeiCategory": "androidHuaWeiCategory",
}
_WEB_APNS = {"sound": "iOSSound", "ignoreIOSBadge": "ignoreIOSBadge"}
# /v4 AndroidInfo / ApnsInfo -> neutral option names.
_V4_ANDROID = {
    "OPPOChannelID": "oppo_channel_id",
    "VIVOClassification": "vivo_classification",
    "VIVOCategory": "vivo_category",
    "HuaWeiCategory": "huawei_category",
    "HuaWeiImportance": "huawei_importance",
    "HuaWeiChannelID": "huawei_channel_id",
    "HonorImportance": "honor_importance",
    "XiaoMiChannelID": "xiaomi_channel_id",
    "GoogleChannelID": "android_channel_id",
    "Image": "image",
    "Sound": "android_sound",
}
_V4_APNS = {"SubTitle": "apns_subtitle", "Image": "apns_image",
            "MutableContent": "apns_mutable_content", "Sound": "apns_sound"}
_BOOL_OPTIONS = {"apns_mutable_content"}
_INT_OPTIONS = {"vivo_classification"}


def _bad(name: str, why: str) -> ChatError:
    return ChatError(90043, f"offline push info: {name} {why}")


def _text(value, name: str, limit: int) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise _bad(name, "must be a string")
    if len(value.encode()) > limit:
        raise _bad(name, f"is over {limit} bytes")
    return value


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _bad(name, "must be true/false or 0/1")


def _option(neutral: str, value, name: str):
    if neutral in _BOOL_OPTIONS:
        return _flag(value, name)
    if neutral in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
            raise _bad(name, "must be 0 or 1")
        return value
    return _text(value, name, MAX_OPTION)


def _finish(out: dict) -> dict | None:
    if len((out.get("description", "") + out.get("extension", "")).encode()) > MAX_PUSH_TEXT:
        raise ChatError(90043, "offline push info: description and extension are over "
                               "3 KB together")
    out = {k: v for k, v in out.items() if v not in ("", False, {}, None)}
    return out or None


def from_web(info) -> dict | None:
    """The Web SDK's offlinePushInfo in the stored shape (None when empty)."""
    if info is None:
        return None
    if not isinstance(info, dict):
        raise ChatError(90043, "offlinePushInfo must be an object")
    info = _flatten_web(info)
    out: dict = {"options": {}}
    if "disablePush" in info:
        out["disablePush"] = _flag(info["disablePush"], "disablePush")
    if "ignoreIOSBadge" in info:
        out["ignoreIOSBadge"] = _flag(info["ignoreIOSBadge"], "ignoreIOSBadge")
    for name, limit in (("title", MAX_TITLE), ("description", MAX_PUSH_TEXT),
                        ("extension", MAX_PUSH_TEXT)):
        if info.get(name) is not None:
            out[name] = _text(info[name], name, limit)
    if info.get("sound") is not None:  # both platforms; androidSound / iOSSound above
        out["sound"] = _text(info["sound"], "sound", MAX_OPTION)
    for name, neutral in _WEB_OPTIONS.items():
        if info.get(name) is not None:
            out["options"][neutral] = _option(neutral, info[name], name)
    if "android_channel_id" not in out["options"] and "xiaomi_channel_id" in out["options"]:
        out["options"]["android_channel_id"] = out["options"]["xiaomi_channel_id"]
    return _finish(out)


def _flatten_web(info: dict) -> dict:
    """`info` with androidInfo / apnsInfo's fields under their flat names (a flat name
    the caller gave stays); the nested fields are checked as the flat ones, under
    their own names in the error."""
    flat = dict(info)
    for name, names in (("androidInfo", _WEB_ANDROID), ("apnsInfo", _WEB_APNS)):
        part = info.get(name)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise _bad(name, "must be an object")
        for nested, flat_name in names.items():
            if part.get(nested) is not None and info.get(flat_name) is None:
                neutral = _WEB_OPTIONS.get(flat_name)
                where = f"{name}.{nested}"
                if neutral is None:  # ignoreIOSBadge, read by from_web
                    flat[flat_name] = _flag(part[nested], where)
                else:
                    flat[flat_name] = _option(neutral, part[nested], where)
    return flat


def from_v4(info) -> dict | None:
    """Tencent's OfflinePushInfo (§2.3) in the stored shape (None when empty)."""
    if info is None:
        return None
    if not isinstance(info, dict):
        raise ChatError(90043, "OfflinePushInfo must be an object")
    out: dict = {"options": {}}
    if "PushFlag" in info:
        flag = info["PushFlag"]
        if isinstance(flag, bool) or not isinstance(flag, int) or flag not in (0, 1):
            raise _bad("PushFlag", "must be 0 or 1")
        out["disablePush"] = flag == 1
    for name, ours, limit in (("Title", "title", MAX_TITLE), ("Desc", "description", MAX_PUSH_TEXT),
                              ("Ext", "extension", MAX_PUSH_TEXT)):
        if info.get(name) is not None:
            out[ours] = _text(info[name], name, limit)
    android, apns = info.get("AndroidInfo"), info.get("ApnsInfo")
    for name, part in (("AndroidInfo", android), ("ApnsInfo", apns)):
        if part is not None and not isinstance(part, dict):
            raise _bad(name, "must be an object")
    android, apns = android or {}, apns or {}
    for name, neutral in _V4_ANDROID.items():
        if android.get(name) not in (None, ""):
            out["options"][neutral] = _option(neutral, android[name], f"AndroidInfo.{name}")
    for name, neutral in _V4_APNS.items():
        if apns.get(name) not in (None, ""):
            out["options"][neutral] = _option(neutral, apns[name], f"ApnsInfo.{name}")
    if "android_channel_id" not in out["options"] and "xiaomi_channel_id" in out["options"]:
        out["options"]["android_channel_id"] = out["options"]["xiaomi_channel_id"]
    if apns.get("Title") and "title" not in out:
        out["title"] = _text(apns["Title"], "ApnsInfo.Title", MAX_TITLE)
    if "BadgeMode" in apns:
        out["ignoreIOSBadge"] = _flag(apns["BadgeMode"], "ApnsInfo.BadgeMode")
    return _finish(out)


def check_stored(info) -> dict | None:
    """A value already in the stored shape (a task's, a command built in code): checked,
    returned as is."""
    if info is None or info == {}:
        return None
    if not isinstance(info, dict):
        raise ChatError(90043, "offline push info must be an object")
    known = {"disablePush", "title", "description", "extension", "ignoreIOSBadge", "sound",
             "options"}
    if set(info) - known:
        raise ChatError(90043, f"offline push info: unknown field(s) "
                               f"{', '.join(sorted(set(info) - known))[:100]}")
    options = info.get("options", {})
    if not isinstance(options, dict):
        raise _bad("options", "must be an object")
    for name in ("title", "description", "extension", "sound"):
        if name in info:
            _text(info[name], name, MAX_PUSH_TEXT)
    for name in ("disablePush", "ignoreIOSBadge"):
        if name in info:
            _flag(info[name], name)
    for name, value in options.items():
        _option(name, value, name)
    return _finish(dict(info))


def from_any_stored(info) -> dict | None:
    """Rows written before the one shape: v4 names (PushFlag, Desc, ...) or the Web
    SDK's (description, ...). For the data migration only; bad fields are dropped."""
    if not isinstance(info, dict) or not info:
        return None
    try:
        if {"PushFlag", "Title", "Desc", "Ext", "AndroidInfo", "ApnsInfo"} & set(info):
            return from_v4(info)
        if "options" in info:
            return check_stored(info)
        return from_web(info)
    except ChatError:
        return None
