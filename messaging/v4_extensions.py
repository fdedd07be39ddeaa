"""/v4 openim_msg_ext_http_svc: a C2C message's key-value extensions, as the app admin
(tencent-rest.md §3.10); see chat_project/v4.py for the transport. Each command reads
Tencent's fields and calls the service every door calls (messaging/extensions.py).

| command | service | answer |
| --- | --- | --- |
| `set_key_values` (OperateType 1 set, 2 delete keys, 3 clear all) | extensions_set / extensions_delete, as the admin: Seq is not checked (Tencent's rule) | `ExtensionList` [{ErrorCode, Extension: {Key, Value, Seq}}] per key; a clear lists the keys it deleted |
| `get_key_values` | extensions_get (from StartSeq, 200 at most) | `ExtensionList` [{Key, Value, Seq}] by Seq, `CompleteFlag`, `LatestSeq`, `ClearSeq` |

The message is To_Account's, named by MsgKey; From_Account (optional) must be its
sender when given. Codes: 10004 a bad field (Tencent's "invalid parameter" for these
commands), 23002 sent without SupportMessageExtension, 23004 no such message between
these users (or recalled, or purged), 910050 over 300 keys on the message, 23003 over
200 writes (set_key_values calls) a minute on the message.
"""

from __future__ import annotations

from chat_project.v4 import V4Error, command, fields

from . import extensions, tencent_body

SERVICE = "openim_msg_ext_http_svc"
BAD = extensions.BAD_PARAMETER


def _message(body: dict) -> tuple[int, str | None, str]:
    """(message pk, From_Account or None, To_Account) of the message MsgKey names."""
    from_id = fields.string(body, "From_Account", code=BAD, required=False) or None
    to_id = fields.string(body, "To_Account", code=BAD)
    key = fields.string(body, "MsgKey", code=BAD, max_bytes=50)
    if tencent_body.parse_key(key) is None:
        raise V4Error(BAD, f"invalid MsgKey {key!r}")
    msg = tencent_body.message_by_key(key, sender_id=from_id, receiver_id=to_id)
    if msg is None:
        raise V4Error(extensions.NOT_FOUND, "message not found")
    return msg.pk, from_id, to_id


def _items(body: dict, *, with_values: bool) -> list[tuple[str, str, int | None]]:
    listed = fields.array(body, "ExtensionList", code=BAD, of=dict,
                          max_items=extensions.MAX_PER_CALL, max_code=BAD)
    items = []
    for item in listed:
        key = fields.string(item, "Key", code=BAD)
        value = fields.string(item, "Value", code=BAD, required=False, default="")
        if with_values and item.get("Value") is None:  # "" is a value
            raise V4Error(BAD, "Value is missing")
        seq = fields.integer(item, "Seq", code=BAD, required=False, minimum=0)
        items.append((key, value, seq))
    return items


def _result(r: extensions.KeyResult) -> dict:
    return {"ErrorCode": r.code, "Extension": {"Key": r.key, "Value": r.value, "Seq": r.seq}}


@command(SERVICE, "set_key_values")
def set_key_values(req, body):
    pk, from_id, to_id = _message(body)
    operate = fields.integer(body, "OperateType", code=BAD, minimum=1, maximum=3)
    where = {"message_pk": pk, "actor": None, "expect_from": from_id, "expect_to": to_id}
    if operate == 1:
        results = extensions.extensions_set(items=_items(body, with_values=True), **where)
    elif operate == 2:
        results = extensions.extensions_delete(items=_items(body, with_values=False), **where)
    else:
        results = extensions.extensions_delete(items=None, **where)
    return {"ExtensionList": [_result(r) for r in results]}


@command(SERVICE, "get_key_values")
def get_key_values(req, body):
    pk, from_id, to_id = _message(body)
    start = fields.integer(body, "StartSeq", code=BAD, required=False, default=0, minimum=0)
    page = extensions.extensions_get(message_pk=pk, actor=None, start_seq=start,
                                     expect_from=from_id, expect_to=to_id)
    return {"ExtensionList": [{"Key": r.key, "Value": r.value, "Seq": r.seq}
                              for r in page.extensions],
            "CompleteFlag": int(page.complete), "LatestSeq": page.latest_seq,
            "ClearSeq": page.clear_seq}
