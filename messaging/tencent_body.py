"""Tencent's message shapes (tencent-rest.md §2) and ours (PROTOCOL.md), both ways, in
one place: the /v4 doors and the webhooks convert here and nowhere else.

MsgBody <-> elements
    `elements_from_msg_body(msg_body)` turns Tencent's `[{MsgType, MsgContent}]` into our
    `[{type, payload}]` (not yet validated: the send pipeline's `check_elements` does
    that, 90010); `msg_body_from_elements(elements)` turns stored elements back. Field
    names map one to one (TIMTextElem Text <-> text, TIMImageElem ImageInfoArray[].URL
    <-> imageInfoArray[].url, ImageFormat 1/2/3/4/255 <-> JPG/GIF/PNG/BMP/UNKNOWN, ...).
    Tencent fields with no place in our schema are dropped on the way in (Download_Flag)
    and filled with Tencent's constants on the way out (Download_Flag 2). A
    TIMRelayElem's MsgList is kept as given; a list stored apart
    (over 12 KB with it, messaging/merged.py) travels as `JsonMsgKey` (our
    `downloadKey`), both ways, as Tencent's does (tencent-rest.md §2.1).

MsgKey
    A message's key is `f"{message.pk}_{random}_{time}"`: the shape of Tencent's examples
    (`{MsgSeq}_{MsgRandom}_{MsgTime}`), but led by the primary key, so a key names exactly
    one message (Tencent's MsgSeq is the caller's, and not unique). `message_by_key`
    checks all three parts. A key whose first part is 0 names a message that was never
    stored (an online-only send, a send the before-send webhook dropped) or one of a
    batchsendmsg: those messages are stored later by a task, each with the batch's
    random and time, so (key, sender, receiver) resolves one of them.
"""

from __future__ import annotations

from chat_project.errors import ChatError

from .models import Message

# --- MsgKey ---------------------------------------------------------------------------


def message_key(message: Message) -> str:
    return key_of(message.pk, message.random, message.time)


def key_of(pk: int, random: int, time: int) -> str:
    return f"{pk}_{random}_{time}"


def parse_key(key) -> tuple[int, int, int] | None:
    """(pk, random, time) of a MsgKey, or None if it is not one of ours."""
    if not isinstance(key, str) or len(key) > 64:
        return None
    parts = key.split("_")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    pk, random, time = (int(p) for p in parts)
    return pk, random, time


def message_by_key(key, *, sender_id: str | None = None,
                   receiver_id: str | None = None) -> Message | None:
    """The message a MsgKey names, or None. A batch key (first part 0) needs the
    sender's and the receiver's UserIDs to pick the one message of that batch."""
    parsed = parse_key(key)
    if parsed is None:
        return None
    pk, random, time = parsed
    if pk:
        return Message.objects.filter(pk=pk, random=random, time=time).first()
    if sender_id is None or receiver_id is None:
        return None
    return Message.objects.filter(sender__user_id=sender_id, receiver__user_id=receiver_id,
                                  random=random, time=time).order_by("pk").first()


# --- MsgBody <-> elements -------------------------------------------------------------

_IMAGE_FORMAT_IN = {1: "JPG", 2: "GIF", 3: "PNG", 4: "BMP", 255: "UNKNOWN"}
_IMAGE_FORMAT_OUT = {"JPG": 1, "JPEG": 1, "GIF": 2, "PNG": 3, "BMP": 4}

# (Tencent field, our field) per element type; values are copied as they are.
_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "TIMTextElem": (("Text", "text"),),
    "TIMFaceElem": (("Index", "index"), ("Data", "data")),
    "TIMLocationElem": (("Desc", "description"), ("Longitude", "longitude"),
                        ("Latitude", "latitude")),
    "TIMCustomElem": (("Data", "data"), ("Desc", "description"), ("Ext", "extension"),
                      ("Sound", "sound")),
    "TIMSoundElem": (("UUID", "uuid"), ("Url", "url"), ("Size", "size"), ("Second", "second")),
    "TIMFileElem": (("UUID", "uuid"), ("Url", "url"), ("FileName", "fileName"),
                    ("FileSize", "fileSize")),
    "TIMVideoFileElem": (("VideoUUID", "videoUUID"), ("VideoUrl", "videoUrl"),
                         ("VideoSize", "videoSize"), ("VideoSecond", "videoSecond"),
                         ("VideoFormat", "videoFormat"), ("ThumbUUID", "thumbUUID"),
                         ("ThumbUrl", "thumbUrl"), ("ThumbWidth", "thumbWidth"),
                         ("ThumbHeight", "thumbHeight"), ("ThumbSize", "thumbSize"),
                         ("ThumbFormat", "thumbFormat")),
    "TIMRelayElem": (("Title", "title"), ("AbstractList", "abstractList"),
                     ("CompatibleText", "compatibleText"), ("MsgList", "messageList"),
                     ("JsonMsgKey", "downloadKey")),
    "TIMImageElem": (("UUID", "uuid"),),  # plus ImageFormat and ImageInfoArray, below
}
_IMAGE_INFO = (("Type", "type"), ("Size", "size"), ("Width", "width"), ("Height", "height"),
               ("URL", "url"))
# Constants Tencent's readers expect that our schema does not keep.
_OUT_EXTRA = {"TIMSoundElem": {"Download_Flag": 2}, "TIMFileElem": {"Download_Flag": 2},
              "TIMVideoFileElem": {"VideoDownloadFlag": 2, "ThumbDownloadFlag": 2}}


def elements_from_msg_body(msg_body) -> list[dict]:
    """Tencent's MsgBody as our elements. 90007 if it is not an array, 90002 if an item
    is not `{MsgType, MsgContent}`, 90010 for an unknown MsgType. The values are not
    checked here: the send pipeline validates the elements (90010, 93000)."""
    if not isinstance(msg_body, list):
        raise ChatError(90007, "MsgBody must be an array")
    if not msg_body:
        raise ChatError(90002, "MsgBody must hold at least one element")
    out = []
    for i, item in enumerate(msg_body):
        if not isinstance(item, dict) or not isinstance(item.get("MsgType"), str) \
                or not isinstance(item.get("MsgContent"), dict):
            raise ChatError(90002, f"MsgBody[{i}] must be {{MsgType, MsgContent}}")
        mtype, content = item["MsgType"], item["MsgContent"]
        names = _FIELDS.get(mtype)
        if names is None:
            raise ChatError(90010, f"MsgBody[{i}]: unknown MsgType {mtype!r}")
        payload = {ours: content[theirs] for theirs, ours in names if theirs in content}
        if mtype == "TIMImageElem":
            if "ImageFormat" in content:
                fmt = content["ImageFormat"]
                payload["format"] = _IMAGE_FORMAT_IN.get(fmt, "UNKNOWN") \
                    if isinstance(fmt, int) and not isinstance(fmt, bool) else fmt
            infos = content.get("ImageInfoArray")
            if isinstance(infos, list):
                payload["imageInfoArray"] = [
                    {ours: info[theirs] for theirs, ours in _IMAGE_INFO if theirs in info}
                    if isinstance(info, dict) else info for info in infos]
            else:
                payload["imageInfoArray"] = infos
        out.append({"type": mtype, "payload": payload})
    return out


def msg_body_from_elements(elements: list[dict],
                           list_counts: dict[str, int] | None = None) -> list[dict]:
    """Our stored elements as Tencent's MsgBody. `list_counts`: the number of messages
    of stored merged lists by downloadKey (merged.list_counts), for their MsgNum."""
    out = []
    for element in elements:
        etype, payload = element["type"], element["payload"]
        content = {theirs: payload[ours] for theirs, ours in _FIELDS.get(etype, ())
                   if ours in payload}
        if etype == "TIMImageElem":
            content["ImageFormat"] = _IMAGE_FORMAT_OUT.get(str(payload.get("format")), 255)
            content["ImageInfoArray"] = [
                {theirs: info.get(ours) for theirs, ours in _IMAGE_INFO}
                for info in payload.get("imageInfoArray", [])]
        elif etype == "TIMRelayElem" and "messageList" in payload:
            content["MsgNum"] = len(payload["messageList"])
        elif etype == "TIMRelayElem" and payload.get("downloadKey") in (list_counts or {}):
            content["MsgNum"] = list_counts[payload["downloadKey"]]
        content.update(_OUT_EXTRA.get(etype, {}))
        out.append({"MsgType": etype, "MsgContent": content})
    return out
