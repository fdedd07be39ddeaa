"""Message element schemas (PROTOCOL.md "Messages"): check and normalise.

Each element is {"type": "TIM...Elem", "payload": {...}} with the Web SDK's payload
keys. `check_elements` returns a normalised copy holding only known keys, or raises
ChatError 90010 naming the element and field that is wrong.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from django.conf import settings

from chat_project import wire
from chat_project.errors import ChatError
from chat_project.weburl import link_url

MAX_ELEMENTS = 20
# A merged message's list (TIMRelayElem.messageList), over the 12 KB of the rest: at
# most 300 messages and 200 KB as compact UTF-8 JSON, all lists of one message together
# (910013, 910014). A 200 KB list and a 12 KB rest fit in the socket's 256 KB frame
# (CHAT_SOCKET_MAX_FRAME) with 44 KB to spare.
MAX_MERGED_MESSAGES = 300
MAX_MERGED_BYTES = 200 * 1024
# The downloadKey of a stored list: secrets.token_urlsafe(24) (messaging/merged.py).
MERGED_KEY_LENGTH = 32
_MERGED_KEY = re.compile(rf"[A-Za-z0-9_-]{{{MERGED_KEY_LENGTH}}}")
# The largest integer a payload field takes: JavaScript's largest exact integer, so
# every client reads back the number that was sent.
MAX_INTEGER = 2**53 - 1


class _Fields:
    """Reads one element's payload, raising 90010 with the path of a bad field."""

    def __init__(self, etype: str, index: int, payload: dict):
        self.etype, self.index, self.payload = etype, index, payload

    def fail(self, name: str, why: str) -> ChatError:
        return ChatError(90010, f"elements[{self.index}] {self.etype}.{name}: {why}")

    def string(self, name: str, *, required: bool = False, default: str = "",
               nonempty: bool = False, max_len: int | None = None) -> str:
        value = self.payload.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return default
        if not isinstance(value, str):
            raise self.fail(name, "must be a string")
        if "\x00" in value:  # PostgreSQL text cannot hold it
            raise self.fail(name, "must not hold a NUL character")
        if nonempty and not value:
            raise self.fail(name, "must not be empty")
        if max_len is not None and len(value) > max_len:
            raise self.fail(name, f"is longer than {max_len} characters")
        return value

    def integer(self, name: str, *, required: bool = False, default: int = 0,
                minimum: int = 0, maximum: int = MAX_INTEGER) -> int:
        value = self.payload.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "must be an integer")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}")
        if value > maximum:
            raise self.fail(name, f"must be at most {maximum}")
        return value

    def number(self, name: str, *, lo: float, hi: float) -> float:
        value = self.payload.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(name, "must be a number")
        if not lo <= value <= hi:
            raise self.fail(name, f"must be between {lo} and {hi}")
        return value

    def url(self, name: str, *, required: bool = True) -> str:
        """An http(s) URL, its scheme in lower case (clients compare it so), or a path
        on this server; "//host/x" is neither (chat_project.weburl.site_path)."""
        value = self.string(name, required=required, max_len=2048)
        if not value:
            return value
        normal = link_url(value)
        if normal is None:
            raise self.fail(name, "must be an http(s) URL or a path on this server")
        return normal


def _text(f: _Fields) -> dict:
    return {"text": f.string("text", required=True, nonempty=True)}


def _face(f: _Fields) -> dict:
    return {"index": f.integer("index", required=True), "data": f.string("data")}


def _location(f: _Fields) -> dict:
    return {
        "description": f.string("description"),
        "longitude": f.number("longitude", lo=-180, hi=180),
        "latitude": f.number("latitude", lo=-90, hi=90),
    }


def _custom(f: _Fields) -> dict:
    out = {"data": f.string("data"), "description": f.string("description"),
           "extension": f.string("extension")}
    if not any(out.values()):
        raise f.fail("data", "a custom element needs data, description or extension")
    sound = f.string("sound", max_len=256)  # Tencent's APNs sound (MsgContent.Sound)
    if sound:
        out["sound"] = sound
    return out


_IMAGE_FORMATS = {"JPG", "JPEG", "GIF", "PNG", "BMP", "WEBP", "UNKNOWN"}


def _image(f: _Fields) -> dict:
    fmt = f.payload.get("format", f.payload.get("imageFormat", "UNKNOWN"))
    if isinstance(fmt, int) and not isinstance(fmt, bool):
        fmt = {1: "JPG", 2: "GIF", 3: "PNG", 4: "BMP"}.get(fmt, "UNKNOWN")
    if not isinstance(fmt, str) or fmt.upper() not in _IMAGE_FORMATS:
        raise f.fail("format", f"must be one of {sorted(_IMAGE_FORMATS)}")
    infos = f.payload.get("imageInfoArray")
    if not isinstance(infos, list) or not 1 <= len(infos) <= 3:
        raise f.fail("imageInfoArray", "must be a list of 1 to 3 image infos")
    out_infos = []
    for i, info in enumerate(infos):
        if not isinstance(info, dict):
            raise f.fail(f"imageInfoArray[{i}]", "must be an object")
        sub = _Fields(f.etype, f.index, info)
        out_infos.append({
            "type": sub.integer("type", minimum=0, maximum=3),
            "size": sub.integer("size", maximum=settings.CHAT_MAX_IMAGE_BYTES),
            "width": sub.integer("width"),
            "height": sub.integer("height"),
            "url": sub.url("url") if "url" in info or "imageUrl" not in info
            else _Fields(f.etype, f.index, {"url": info["imageUrl"]}).url("url"),
        })
    return {"uuid": f.string("uuid", required=True, nonempty=True, max_len=128),
            "format": fmt.upper(), "imageInfoArray": out_infos}


def _sound(f: _Fields) -> dict:
    return {"uuid": f.string("uuid", required=True, nonempty=True, max_len=128),
            "url": f.url("url", required=False),
            "size": f.integer("size", required=True, maximum=settings.CHAT_MAX_SOUND_BYTES),
            "second": f.integer("second", required=True)}


def _file(f: _Fields) -> dict:
    return {"uuid": f.string("uuid", required=True, nonempty=True, max_len=128),
            "url": f.url("url", required=False),
            "fileName": f.string("fileName", required=True, nonempty=True, max_len=255),
            "fileSize": f.integer("fileSize", required=True,
                                  maximum=settings.CHAT_MAX_FILE_BYTES)}


def _video(f: _Fields) -> dict:
    out = {"videoUUID": f.string("videoUUID", required=True, nonempty=True, max_len=128),
           "videoUrl": f.url("videoUrl"),
           "videoSize": f.integer("videoSize", required=True,
                                  maximum=settings.CHAT_MAX_VIDEO_BYTES),
           "videoSecond": f.integer("videoSecond", required=True),
           "videoFormat": f.string("videoFormat", default="mp4", max_len=16),
           "thumbUUID": f.string("thumbUUID", max_len=128),
           "thumbUrl": f.url("thumbUrl", required=False),
           "thumbWidth": f.integer("thumbWidth"),
           "thumbHeight": f.integer("thumbHeight")}
    # Tencent's ThumbSize and ThumbFormat (and the Web SDK's thumbSize, thumbFormat):
    # kept when given, so history gives back what was sent.
    if f.payload.get("thumbSize") is not None:
        out["thumbSize"] = f.integer("thumbSize", maximum=settings.CHAT_MAX_IMAGE_BYTES)
    if f.payload.get("thumbFormat") is not None:
        out["thumbFormat"] = f.string("thumbFormat", max_len=16)
    return out


def _relay(f: _Fields) -> dict:
    """A merged message: its `messageList` (kept as the client sent it; stored apart
    when the message would be over 12 KB with it, messaging/merged.py), or, for a
    forward of a stored one, only the `downloadKey` (the sender must be able to read
    it: checked in the send transaction)."""
    abstract = f.payload.get("abstractList", [])
    if not isinstance(abstract, list) or not all(isinstance(a, str) for a in abstract):
        raise f.fail("abstractList", "must be a list of strings")
    why = wire.junk_in(abstract)
    if why:
        raise f.fail("abstractList", why)
    out = {"title": f.string("title", required=True, nonempty=True),
           "abstractList": abstract,
           "compatibleText": f.string("compatibleText", required=True, nonempty=True)}
    messages = f.payload.get("messageList")
    if messages is None:
        key = f.payload.get("downloadKey")
        if not isinstance(key, str) or not is_merged_key(key):
            raise f.fail("messageList", "a merged message needs its messageList, or the "
                                        "downloadKey of a stored one")
        out["downloadKey"] = key
        return out
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) for m in messages):
        raise f.fail("messageList", "must be a non-empty list of messages")
    if len(messages) > MAX_MERGED_MESSAGES:
        raise ChatError(910013, f"elements[{f.index}] TIMRelayElem.messageList holds "
                                f"{len(messages)} messages; at most {MAX_MERGED_MESSAGES}")
    why = wire.junk_in(messages)
    if why:
        raise f.fail("messageList", why)
    out["messageList"] = messages
    return out


ELEMENT_TYPES: dict[str, Callable[[_Fields], dict]] = {
    "TIMTextElem": _text,
    "TIMFaceElem": _face,
    "TIMLocationElem": _location,
    "TIMCustomElem": _custom,
    "TIMImageElem": _image,
    "TIMSoundElem": _sound,
    "TIMFileElem": _file,
    "TIMVideoFileElem": _video,
    "TIMRelayElem": _relay,
}


def check_elements(elements, cloud_custom_data: str = "") -> list[dict]:
    """Validate and normalise a message body; enforce the 12 KB limit (93000)."""
    if not isinstance(elements, list) or not elements:
        raise ChatError(90010, "elements must be a non-empty list")
    if len(elements) > MAX_ELEMENTS:
        raise ChatError(90010, f"a message holds at most {MAX_ELEMENTS} elements")
    if "\x00" in cloud_custom_data:  # PostgreSQL text cannot hold it
        raise ChatError(90010, "cloudCustomData must not hold a NUL character")
    out = []
    customs = 0
    for i, element in enumerate(elements):
        if not isinstance(element, dict):
            raise ChatError(90010, f"elements[{i}] must be an object")
        etype = element.get("type")
        check = ELEMENT_TYPES.get(etype) if isinstance(etype, str) else None
        if check is None:
            raise ChatError(90010, f"elements[{i}]: unknown element type {etype!r}")
        payload = element.get("payload")
        if not isinstance(payload, dict):
            raise ChatError(90010, f"elements[{i}] {etype}.payload must be an object")
        if etype == "TIMCustomElem":
            customs += 1
            if customs > 1:
                raise ChatError(90010, "a message holds at most one TIMCustomElem")
        out.append({"type": etype, "payload": check(_Fields(etype, i, payload))})
    lists = [e["payload"]["messageList"] for e in out
             if e["type"] == "TIMRelayElem" and "messageList" in e["payload"]]
    if lists:
        count = sum(len(m) for m in lists)
        if count > MAX_MERGED_MESSAGES:
            raise ChatError(910013, f"the merged lists hold {count} messages; at most "
                                    f"{MAX_MERGED_MESSAGES}")
        list_bytes = sum(json_size(m) for m in lists)
        if list_bytes > MAX_MERGED_BYTES:
            raise ChatError(910014, f"the merged lists are {list_bytes} bytes; at most "
                                    f"{MAX_MERGED_BYTES}")
    # The lists do not count: a message over 12 KB with them carries downloadKeys instead.
    size = json_size(_without_lists(out) if lists else out)
    size += len(cloud_custom_data.encode("utf-8"))
    if size > settings.CHAT_MAX_CONTENT_BYTES:
        raise ChatError(93000, f"the message is {size} bytes; at most "
                               f"{settings.CHAT_MAX_CONTENT_BYTES} are allowed")
    return out


def json_size(value) -> int:
    """Bytes of `value` as compact UTF-8 JSON (what the size limits count)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def is_merged_key(value) -> bool:
    """Shaped as a downloadKey this server gives (no query for anything else)."""
    return isinstance(value, str) and _MERGED_KEY.fullmatch(value) is not None


def _without_lists(elements: list[dict]) -> list[dict]:
    """The elements as they travel once their lists are stored: each list replaced by a
    downloadKey."""
    return [{"type": e["type"], "payload": {
        **{k: v for k, v in e["payload"].items() if k != "messageList"},
        "downloadKey": "k" * MERGED_KEY_LENGTH}}
            if e["type"] == "TIMRelayElem" and "messageList" in e["payload"] else e
            for e in elements]


def lists_go_apart(elements: list[dict], cloud_custom_data: str = "") -> bool:
    """Checked elements whose merged lists must be stored apart: with them inline the
    message would be over 12 KB. A smaller one travels whole, as Tencent's does."""
    if not any(e["type"] == "TIMRelayElem" and "messageList" in e["payload"]
               for e in elements):
        return False
    return json_size(elements) + len(cloud_custom_data.encode("utf-8")) \
        > settings.CHAT_MAX_CONTENT_BYTES


def summary_text(elements: list[dict]) -> str:
    """The text an offline push or a conversation preview shows for a message."""
    parts = []
    for element in elements:
        etype, payload = element["type"], element["payload"]
        if etype == "TIMTextElem":
            parts.append(payload["text"])
        elif etype == "TIMCustomElem":
            parts.append(payload.get("description") or "[Custom]")
        else:
            parts.append({"TIMFaceElem": "[Face]", "TIMLocationElem": "[Location]",
                          "TIMImageElem": "[Image]", "TIMSoundElem": "[Voice]",
                          "TIMFileElem": "[File]", "TIMVideoFileElem": "[Video]",
                          "TIMRelayElem": "[Chat History]"}.get(etype, ""))
    return "".join(parts)
