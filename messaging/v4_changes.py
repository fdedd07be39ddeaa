"""/v4 commands on stored messages and conversations (tencent-rest.md §3.5-§3.9, §4):
see chat_project/v4.py for the transport. Each reads Tencent's fields, calls the
service in messaging/changes.py that every other door calls, and answers Tencent's
fields.

| command | service |
| --- | --- |
| `openim/admin_msgwithdraw` | changes.message_revoke (no time limit) |
| `openim/modify_c2c_msg` | changes.message_modify |
| `openim/admin_set_msg_read` | changes.conversation_mark_read (up to MsgReadTime) |
| `openim/get_c2c_unread_msg_num` | selectors.total_unread / unread_by_peer |
| `openim/c2c_msg_read_receipt` | changes.message_read_receipt |
| `recentcontact/get_list` | selectors.recent_contacts |
| `recentcontact/delete` | changes.conversation_delete |
"""

from __future__ import annotations

import time as _time

from accounts import selectors as account_selectors
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields

from . import changes, selectors, tencent_body

PLATFORM = "RESTAPI"
MAX_UNREAD_PEERS = 10


def _user(user_id: str, code: int = 90008):
    user = account_selectors.user_by_user_id(user_id)
    if user is None or not user.is_active:  # as messaging/v4_send.py's _user
        raise V4Error(code, f"account {user_id!r} not found")
    return user


def _message_by_key(body: dict, sender_id: str, receiver_id: str) -> int:
    key = fields.string(body, "MsgKey", code=90054, max_bytes=50)
    if tencent_body.parse_key(key) is None:
        raise V4Error(90054, f"invalid MsgKey {key!r}")
    pk = changes.message_pk_by_key(key, sender_id=sender_id, receiver_id=receiver_id)
    if pk is None:
        raise V4Error(20022, "message not found")
    return pk


@command("openim", "admin_msgwithdraw")
def admin_msgwithdraw(req, body):
    from_id = fields.string(body, "From_Account", code=90008)
    to_id = fields.string(body, "To_Account", code=90003)
    _user(from_id)
    _user(to_id, 90003)
    pk = _message_by_key(body, from_id, to_id)
    changes.message_revoke(message_pk=pk, actor=None, platform=PLATFORM, time_limit=False,
                           expect_from=from_id, expect_to=to_id)
    return {}


@command("openim", "modify_c2c_msg")
def modify_c2c_msg(req, body):
    from_id = fields.string(body, "From_Account", code=90008)
    to_id = fields.string(body, "To_Account", code=90003)
    _user(from_id)
    _user(to_id, 90003)
    pk = _message_by_key(body, from_id, to_id)
    kwargs = {}
    if body.get("MsgBody") is not None:
        kwargs["elements"] = tencent_body.elements_from_msg_body(body["MsgBody"])
    if body.get("CloudCustomData") is not None:
        kwargs["cloud_custom_data"] = fields.string(body, "CloudCustomData", code=90001,
                                                    required=False, default="")
    if not kwargs:
        raise V4Error(90001, "give MsgBody, CloudCustomData or both")
    changes.message_modify(message_pk=pk, actor=None, expect_from=from_id, expect_to=to_id,
                           **kwargs)
    return {"ErrorInfo": "succeed"}


def _read_time(body: dict) -> int | None:
    value = body.get("MsgReadTime")
    if value is None or value == "":
        return None
    # At most 20 digits: int() refuses a string of over 4,300 with a ValueError.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() \
            and len(value.strip()) <= 20:
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise V4Error(90001, "MsgReadTime must be Unix seconds (a string or an integer)")


@command("openim", "admin_set_msg_read")
def admin_set_msg_read(req, body):
    reader = _user(fields.string(body, "Report_Account", code=90003))
    peer = _user(fields.string(body, "Peer_Account", code=90003))
    read_time = _read_time(body)
    if read_time is not None and read_time >= int(_time.time()):
        read_time = None  # now or later: everything is read
    changes.conversation_mark_read(user=reader, peer=peer, read_time=read_time,
                                   platform=PLATFORM)
    return {}


@command("openim", "get_c2c_unread_msg_num")
def get_c2c_unread_msg_num(req, body):
    user = _user(fields.string(body, "To_Account", code=90003))
    peers = fields.array(body, "Peer_Account", code=90001, required=False, of=str,
                         max_items=MAX_UNREAD_PEERS)
    if peers is None:
        return {"AllC2CUnreadMsgNum": selectors.total_unread(user)}
    found, unknown = selectors.unread_by_peer(user=user, peer_ids=list(dict.fromkeys(peers)))
    answer = {"C2CUnreadMsgNumList": [{"Peer_Account": p, "C2CUnreadMsgNum": n}
                                      for p, n in found.items()]}
    if unknown:
        answer["ErrorList"] = [{"Peer_Account": p, "ErrorCode": 70107} for p in unknown]
    return answer


@command("openim", "c2c_msg_read_receipt")
def c2c_msg_read_receipt(req, body):
    reader = _user(fields.string(body, "Operator_Account", code=90003))
    peer_id = fields.string(body, "Peer_Account", code=90003)
    _user(peer_id)
    infos = fields.array(body, "C2CMsgInfo", code=90001, of=dict, max_items=changes.MAX_DELETE)
    if not infos:
        raise V4Error(90001, "C2CMsgInfo is empty")
    pks = []
    for info in infos:
        if info.get("From_Account", peer_id) != peer_id or \
                info.get("To_Account", reader.user_id) != reader.user_id:
            raise V4Error(20022, "a message in C2CMsgInfo is not from Peer_Account to "
                                 "Operator_Account")
        pks.append(_message_by_key(info, peer_id, reader.user_id))
    changes.message_read_receipt(user=reader, message_pks=pks, platform=PLATFORM,
                                 expect_peer=peer_id)
    return {}


# --- recent contacts (tencent-rest.md §4) ----------------------------------------------

def _recent_user(body: dict):
    user_id = fields.string(body, "From_Account", code=50002)
    user = account_selectors.user_by_user_id(user_id)
    if user is None:
        raise V4Error(50001, f"account {user_id!r} not imported")
    return user


@command("recentcontact", "get_list")
def recent_get_list(req, body):
    user = _recent_user(body)
    cursors = {name: fields.integer(body, wire, code=50002, required=False, default=0,
                                    minimum=0, lenient=True)
               for name, wire in (("timestamp", "TimeStamp"), ("start_index", "StartIndex"),
                                  ("top_timestamp", "TopTimeStamp"),
                                  ("top_start_index", "TopStartIndex"),
                                  ("assist_flags", "AssistFlags"))}
    return selectors.recent_contacts(user=user, **cursors)


@command("recentcontact", "delete")
def recent_delete(req, body):
    user = _recent_user(body)
    kind = fields.integer(body, "Type", code=50002, lenient=True)
    if kind != 1:
        raise V4Error(50002, "Type must be 1 (C2C): group conversations do not exist here")
    peer_id = fields.string(body, "To_Account", code=50002)
    peer = account_selectors.user_by_user_id(peer_id)
    if peer is None:
        raise V4Error(50001, f"account {peer_id!r} not imported")
    clear = fields.integer(body, "ClearRamble", code=50002, required=False, default=0,
                           lenient=True)
    if clear not in (0, 1):
        raise V4Error(50002, "ClearRamble must be 0 or 1")
    try:
        changes.conversation_delete(user=user, peer=peer, clear_history=clear == 1)
    except ChatError as exc:
        raise V4Error(50002, exc.message) from None
    return {}
