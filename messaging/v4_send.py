"""/v4 commands that send and read messages (tencent-rest.md §3.1-§3.4); see
chat_project/v4.py for the transport (admin UserSig, envelope, 90001 for bad JSON).

Each command reads Tencent's fields, converts MsgBody (messaging/tencent_body.py) and
calls the one send pipeline (messaging.services) or a selector:

| command | service | answer |
| --- | --- | --- |
| `openim/sendmsg` | `message_send`, `Origin.APP_ADMIN` (no friend/blocklist check, stored or online-only; mute 20012 applies; before/after-send webhooks with OptPlatform RESTAPI) | `MsgTime`, `MsgKey` |
| `openim/batchsendmsg` (≤ 500 `To_Account`) | `batch_send.message_send_to_many`, `Origin.BATCH` (Celery fan-out, each receiver exactly once under worker kills and retries: messaging/tasks.py; no webhooks, no friend/blocklist or mute check) | `MsgKey`; `SomeError` + `ErrorList` [{To_Account, ErrorCode 70107}] for unknown receivers |
| `openim/importmsg` | `imports.message_import`, `Origin.IMPORT` | envelope |
| `openim/admin_getroammsg` | `roaming.roaming_page` | `Complete`, `MsgCnt`, `LastMsgTime`, `LastMsgKey`, `MsgList` |

Field mapping: From_Account (omitted: the calling admin, whose account is created if
missing), SyncOtherMachine (1 the sender's devices get it, 2 nothing on the sender's
side, omitted: written to the sender's history and sync log but not published to the
sender's devices online now), MsgLifeTime (0 online only; N > 0 the receiver's offline
cache keeps it N seconds; over 604800: sendmsg clamps, batchsendmsg answers 90026),
MsgSeq -> Message.msg_seq, SendMsgControl NoUnread/NoLastMsg -> excluded from unread /
from the last message, ForbidCallbackControl, OfflinePushInfo (in the one stored shape, push/offline_info.py),
CloudCustomData, IsNeedReadReceipt, SupportMessageExtension (0/1 -> the message's
support_extension: set_key_values / get_key_values, messaging/v4_extensions.py).

MsgKey is `{message pk}_{MsgRandom}_{MsgTime}` (messaging/tencent_body.py); a
batchsendmsg key is `0_{MsgRandom}_{MsgTime}`, which with From/To names one message.

Codes: 90002 MsgBody malformed (or empty), 90003 To_Account, 90004 MsgSeq, 90005
MsgRandom, 90006 MsgTimeStamp, 90007 MsgBody not an array, 90008 From_Account
(batchsendmsg, importmsg, admin_getroammsg), 90010 a bad element, 90011 over 500
receivers, 90012 the receiver is not imported, 90026 MsgLifeTime over 7 days
(batchsendmsg), 90030 SyncFromOldSystem, 90031 SyncOtherMachine, 90043 OfflinePushInfo
not an object, 90044 MsgLifeTime not an integer, 93000 over 12 KB, 20001 another field
of the wrong type, 20003 the sender of sendmsg is not imported, 20012 muted sender,
20006/80003/120001-130000 refused by the before-send webhook.
"""

from __future__ import annotations

from accounts import selectors as account_selectors
from accounts.models import User
from accounts.services import user_get_or_register
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields
from push import offline_info

from . import imports, roaming
from .batch_send import message_send_to_many
from .commands import (
    OFFLINE_LIFE_MAX,
    SYNC_ALL,
    SYNC_NOT_SENDER,
    SYNC_ROAMING_ONLY,
    UINT32_MAX,
    Origin,
)
from .services import UnknownReceiver, message_send
from .tencent_body import elements_from_msg_body, key_of, parse_key

BAD_REQUEST = 20001
MAX_RECEIVERS = 500


def _user(user_id: str, *, code: int) -> User:
    user = account_selectors.user_by_user_id(user_id)
    if user is None or not user.is_active:
        raise V4Error(code, f"account {user_id!r} is not imported")
    return user


def _sender(req, body: dict, *, code: int) -> User:
    """From_Account, or the calling admin (imported on the spot, as Tencent's admin
    account always exists)."""
    user_id = fields.string(body, "From_Account", code=code, required=False)
    if user_id:
        return _user(user_id, code=code)
    return user_get_or_register(user_id=req.identifier)


def _flag(body: dict, name: str) -> bool:
    return bool(fields.integer(body, name, code=BAD_REQUEST, required=False, default=0,
                               minimum=0, maximum=1))


def _strings(body: dict, name: str) -> set[str]:
    return set(fields.array(body, name, code=BAD_REQUEST, required=False, of=str) or ())


def _message_options(body: dict, *, life_over_max: int | None = None) -> dict:
    """The fields sendmsg and batchsendmsg share, as SendCommand keyword arguments."""
    random = fields.integer(body, "MsgRandom", code=90005, minimum=0, maximum=UINT32_MAX)
    msg_seq = fields.integer(body, "MsgSeq", code=90004, required=False, minimum=0,
                             maximum=UINT32_MAX)
    if "MsgBody" not in body:
        raise V4Error(90002, "MsgBody is missing")
    elements = elements_from_msg_body(body["MsgBody"])
    life = fields.integer(body, "MsgLifeTime", code=90044, required=False, minimum=0)
    if life is not None and life > OFFLINE_LIFE_MAX:
        if life_over_max is not None:
            raise V4Error(life_over_max, f"MsgLifeTime is over {OFFLINE_LIFE_MAX} seconds")
        life = OFFLINE_LIFE_MAX
    sync = fields.integer(body, "SyncOtherMachine", code=90031, required=False)
    if sync is None:
        sync = SYNC_ROAMING_ONLY
    elif sync not in (SYNC_ALL, SYNC_NOT_SENDER):
        raise V4Error(90031, "SyncOtherMachine must be 1 or 2")
    control = _strings(body, "SendMsgControl")
    try:  # the one stored shape (push/offline_info.py)
        push = offline_info.from_v4(body.get("OfflinePushInfo"))
    except ChatError as exc:
        raise V4Error(exc.code, exc.message) from None
    custom = fields.string(body, "CloudCustomData", code=BAD_REQUEST, required=False,
                           default="")
    return {"elements": elements, "random": random, "msg_seq": msg_seq, "life_time": life,
            "sync_other_machine": sync, "excluded_from_unread": "NoUnread" in control,
            "excluded_from_last_message": "NoLastMsg" in control,
            "offline_push_info": push, "cloud_custom_data": custom,
            "need_read_receipt": _flag(body, "IsNeedReadReceipt"),
            "support_extension": _flag(body, "SupportMessageExtension")}


def _key_of_view(view: dict) -> str:
    pk = int(view["ID"].split("-", 1)[0])
    return key_of(pk, view["random"], view["time"])


@command("openim", "sendmsg")
def sendmsg(req, body):
    to = fields.string(body, "To_Account", code=90003)
    options = _message_options(body)
    forbid = _strings(body, "ForbidCallbackControl")
    sender = _sender(req, body, code=20003)
    try:
        view = message_send(origin=Origin.APP_ADMIN, sender=sender, to=to,
                            platform="RESTAPI", client_ip=req.client_ip,
                            forbid_before_send="ForbidBeforeSendMsgCallback" in forbid,
                            forbid_after_send="ForbidAfterSendMsgCallback" in forbid,
                            **options)
    except UnknownReceiver as exc:
        raise V4Error(90012, exc.message) from None
    return {"MsgTime": view["time"], "MsgKey": _key_of_view(view)}


@command("openim", "batchsendmsg")
def batchsendmsg(req, body):
    to = fields.array(body, "To_Account", code=90003, of=str, max_items=MAX_RECEIVERS,
                      max_code=90011)
    if not to:
        raise V4Error(90003, "To_Account must name at least one receiver")
    options = _message_options(body, life_over_max=90026)
    sender = _sender(req, body, code=90008)
    msg_time, unknown = message_send_to_many(sender=sender, to=to, platform="RESTAPI",
                                             **options)
    key = key_of(0, options["random"], msg_time)
    if len(unknown) == len(set(to)):
        raise V4Error(90012, "no receiver is imported",
                      ErrorList=[{"To_Account": u, "ErrorCode": 70107} for u in unknown])
    if unknown:
        return {"ActionStatus": "SomeError", "MsgKey": key,
                "ErrorList": [{"To_Account": u, "ErrorCode": 70107} for u in unknown]}
    return {"MsgKey": key}


@command("openim", "importmsg")
def importmsg(req, body):
    sync = fields.integer(body, "SyncFromOldSystem", code=90030)
    if sync not in (1, 2, 5):
        raise V4Error(90030, "SyncFromOldSystem must be 1, 2 or 5")
    sender = _user(fields.string(body, "From_Account", code=90008), code=90008)
    to = fields.string(body, "To_Account", code=90003)
    random = fields.integer(body, "MsgRandom", code=90005, minimum=0, maximum=UINT32_MAX)
    msg_seq = fields.integer(body, "MsgSeq", code=90004, required=False, minimum=0,
                             maximum=UINT32_MAX)
    timestamp = fields.integer(body, "MsgTimeStamp", code=90006, minimum=0,
                               maximum=UINT32_MAX)
    if "MsgBody" not in body:
        raise V4Error(90002, "MsgBody is missing")
    elements = elements_from_msg_body(body["MsgBody"])
    custom = fields.string(body, "CloudCustomData", code=BAD_REQUEST, required=False,
                           default="")
    try:
        imports.message_import(sender=sender, to=to, elements=elements, random=random,
                               time=timestamp, realtime=sync != 2, msg_seq=msg_seq,
                               cloud_custom_data=custom)
    except UnknownReceiver as exc:
        raise V4Error(90012, exc.message) from None
    return {}


@command("openim", "admin_getroammsg")
def admin_getroammsg(req, body):
    # Current names (Operator_Account/Peer_Account) and the older ones (From/To).
    if "Operator_Account" in body or "From_Account" not in body:
        owner_name, peer_name = "Operator_Account", "Peer_Account"
    else:
        owner_name, peer_name = "From_Account", "To_Account"
    owner = _user(fields.string(body, owner_name, code=90008), code=90008)
    peer = _user(fields.string(body, peer_name, code=90003), code=90003)
    max_count = fields.integer(body, "MaxCnt", code=BAD_REQUEST, minimum=1, lenient=True)
    min_time = fields.integer(body, "MinTime", code=BAD_REQUEST, minimum=0, lenient=True)
    max_time = fields.integer(body, "MaxTime", code=BAD_REQUEST, minimum=0, lenient=True)
    last_key = fields.string(body, "LastMsgKey", code=BAD_REQUEST, required=False)
    if last_key and parse_key(last_key) is None:
        raise V4Error(BAD_REQUEST, "LastMsgKey is not a MsgKey")
    try:
        return roaming.roaming_page(owner=owner, peer=peer, max_count=max_count,
                                    min_time=min_time, max_time=max_time, last_key=last_key)
    except ChatError as exc:
        raise V4Error(BAD_REQUEST, exc.message) from None
