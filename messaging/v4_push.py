"""/v4 all_member_push/im_push (tencent-rest.md §10): push one message to all accounts,
or to those with some tags or attributes. See chat_project/v4.py for the transport and
messaging/push_all.py for the pipeline; the tag and attribute commands are in push/v4.py.

Request: From_Account (opt; the calling admin by default), MsgRandom (req, 90005),
MsgLifeTime (opt, 0 = online only, up to 604800, else 90026), MsgBody (req; 90002,
90007, 90010), OfflinePushInfo (opt; 90043 if it is not an object or Desc + Ext is over
3 KB), Condition (opt; TagsAnd/TagsOr or AttrsAnd/AttrsOr). Answer: TaskId.
"""

from __future__ import annotations

from accounts import selectors as account_selectors
from accounts.services import user_get_or_register
from chat_project.errors import ChatError
from chat_project.v4 import V4Error, command, fields
from push import offline_info

from .push_all import broadcast_send
from .tencent_body import elements_from_msg_body

MAX_PUSH_TEXT = 3 * 1024  # OfflinePushInfo Desc + Ext


def check_offline_push_info(info) -> dict | None:
    """Tencent's OfflinePushInfo (§2.3) in the one stored shape (push/offline_info.py),
    as sendmsg keeps it (messaging/v4_send.py): Desc + Ext at most 3 KB (90043)."""
    try:
        return offline_info.from_v4(info)
    except ChatError as exc:
        raise V4Error(exc.code, exc.message) from None


@command("all_member_push", "im_push")
def im_push(req, body):
    sender_id = fields.string(body, "From_Account", code=20003, required=False)
    msg_random = fields.integer(body, "MsgRandom", code=90005, minimum=0, maximum=2**32 - 1)
    lifetime = fields.integer(body, "MsgLifeTime", code=90026, required=False, default=0,
                              minimum=0, maximum=604800)
    if "MsgBody" not in body or body["MsgBody"] is None:
        raise V4Error(90002, "MsgBody is missing")
    elements = elements_from_msg_body(body["MsgBody"])
    push_info = check_offline_push_info(body.get("OfflinePushInfo"))
    custom = fields.string(body, "CloudCustomData", code=20001, required=False, default="")
    if sender_id:
        sender = account_selectors.user_by_user_id(sender_id)
        if sender is None:
            raise V4Error(20003, f"From_Account {sender_id!r} does not exist")
    else:
        sender = user_get_or_register(user_id=req.identifier)
    task = broadcast_send(sender=sender, elements=elements, msg_random=msg_random,
                          lifetime=lifetime, condition=body.get("Condition"),
                          offline_push_info=push_info,
                          cloud_custom_data=custom)
    return {"TaskId": task.task_id}
