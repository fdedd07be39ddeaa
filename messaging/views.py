"""How messages and conversations look on the wire (PROTOCOL.md), from a viewer's side.

Pure functions of rows already loaded: a list costs no query per item.
"""

from __future__ import annotations

import hashlib
import re

from chat_project import wire
from chat_project.errors import ChatError

from .models import Conversation, Message


def message_public_id(pk: int, time: int, random: int) -> str:
    return f"{pk}-{time}-{random}"


# <pk>-<time>-<random>: a bigint, Unix seconds and a uint32, in ASCII digits only
# (str.isdigit() and int() also take "²" or "١"). Anything else names no message.
_MESSAGE_ID = re.compile(r"([0-9]{1,19})-[0-9]{1,20}-[0-9]{1,20}")
_PK_MAX = 2**63 - 1


def parse_message_id(message_id) -> int | None:
    """The primary key inside a message ID, or None if it is not one of ours."""
    if not isinstance(message_id, str):
        return None
    match = _MESSAGE_ID.fullmatch(message_id)
    if match is None:
        return None
    pk = int(match[1])
    return pk if 0 < pk <= _PK_MAX else None


def message_version(msg: Message) -> str:
    """The content version a modify must name to win a race (modifyMessage `version`):
    "" for a message never modified, else a fingerprint of its current content. Only
    modified messages are hashed, so sending and history pay nothing for it."""
    if not msg.is_modified:
        return ""
    raw = wire.dumps([msg.elements, msg.cloud_custom_data])
    if isinstance(raw, str):
        raw = raw.encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def message_dict(msg: Message, *, viewer_pk: int, sender_user_id: str,
                 receiver_user_id: str, is_peer_read: bool = False) -> dict:
    """A recalled message keeps its place, ID and seq, with no content (isRevoked)."""
    outgoing = msg.sender_id == viewer_pk
    revoked = msg.is_revoked
    peer = receiver_user_id if outgoing else sender_user_id
    return {
        "ID": message_public_id(msg.pk, msg.time, msg.random),
        "conversationID": f"C2C{peer}",
        "conversationType": "C2C",
        "from": sender_user_id,
        "to": receiver_user_id,
        "flow": "out" if outgoing else "in",
        "time": msg.time,
        "seq": msg.seq,
        "random": msg.random,
        "priority": msg.priority,
        "elements": [] if revoked else msg.elements,
        "nick": msg.nick,
        "avatar": msg.avatar,
        "cloudCustomData": "" if revoked else msg.cloud_custom_data,
        "needReadReceipt": msg.need_read_receipt,
        "isSupportExtension": msg.support_extension,
        "isPeerRead": is_peer_read,
        "isRevoked": msg.is_revoked,
        "isModified": msg.is_modified,
        "version": message_version(msg),
        "isSystem": msg.is_system,
        "status": "success",
    }


def extension_results_dict(results) -> dict:
    """A set's or delete's answer (messaging/extensions.py KeyResult per key)."""
    return {"extensions": [{"code": r.code, "key": r.key, "value": r.value, "seq": r.seq}
                           for r in results]}


def extension_page_dict(page) -> dict:
    """A read of extensions (messaging/extensions.py ExtensionPage)."""
    return {"extensions": [{"key": r.key, "value": r.value, "seq": r.seq}
                           for r in page.extensions],
            "isCompleted": page.complete, "latestSeq": page.latest_seq,
            "clearSeq": page.clear_seq}


def conversation_dict(conv: Conversation, *, peer_profile: dict,
                      last_message: dict | None) -> dict:
    """`conv`: a Conversation, or any object with the five attributes read here (the
    send's events pass a plain namespace: messaging/persist.py)."""
    return {
        "conversationID": f"C2C{peer_profile['userID']}",
        "type": "C2C",
        "userProfile": peer_profile,
        "lastMessage": last_message,
        "unreadCount": conv.unread_count,
        "isPinned": conv.is_pinned,
        "draftText": conv.draft_text,
        "peerReadTime": conv.peer_read_time,
        "messageRemindType": conv.message_remind_type,
    }


def conversation_peer_id(conversation_id) -> str:
    """The peer's UserID in a C2C conversation ID; 910003 if it is not one."""
    if not isinstance(conversation_id, str) or not conversation_id.startswith("C2C") \
            or len(conversation_id) <= 3:
        raise ChatError(910003, "conversationID must be 'C2C' followed by a UserID")
    return conversation_id[3:]
