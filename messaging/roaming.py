"""History as /v4 openim/admin_getroammsg pulls it (tencent-rest.md §3.4): one owner's
view of a dialog within a time window, newest first, in pages of about 13 KB.

The owner's view leaves out what that owner deleted (Message.deleted_by_sender /
deleted_by_receiver, which also hides a SyncOtherMachine=2 send from its sender) and
what that owner cleared (seq <= Conversation.cleared_seq), and anything past history
retention (CHAT_HISTORY_DAYS). Recalled messages stay, with MsgFlagBits 8 and an empty
MsgBody. IsPeerRead is 1 for the owner's own messages the peer has read (the owner's
Conversation.peer_read_seq).

Order and paging: MsgTimeStamp descending, then MsgSeq (ours: the dialog seq)
descending. A page stops at MaxCnt messages or at about PAGE_BYTES of JSON, whichever
comes first; Complete 0 says more remain. The next call passes MaxTime = LastMsgTime and
LastMsgKey = the page's LastMsgKey: messages at that time already returned are skipped.
"""

from __future__ import annotations

import orjson
from django.db.models import Q

from accounts.models import User
from chat_project.errors import ChatError
from chat_project.replicas import history_read

from .merged import list_counts, merged_keys
from .models import Conversation, Dialog, Message
from .selectors import history_cutoff, visible_to
from .tencent_body import message_key, msg_body_from_elements, parse_key

PAGE_BYTES = 13 * 1024
REVOKED = 8  # MsgFlagBits
# More than a page can hold: every item's JSON is over 150 bytes (its keys alone).
FETCH_MAX = 100


def roaming_item(msg: Message, *, peer_read_seq: int, owner_pk: int,
                 list_counts: dict[str, int] | None = None) -> dict:
    return {
        "From_Account": msg.sender.user_id,
        "To_Account": msg.receiver.user_id,
        "MsgSeq": msg.msg_seq if msg.msg_seq is not None else msg.seq,
        "MsgRandom": msg.random,
        "MsgTimeStamp": msg.time,
        "MsgFlagBits": REVOKED if msg.is_revoked else 0,
        "IsPeerRead": 1 if msg.sender_id == owner_pk and msg.seq <= peer_read_seq else 0,
        "MsgKey": message_key(msg),
        "MsgBody": [] if msg.is_revoked else msg_body_from_elements(msg.elements, list_counts),
        "CloudCustomData": "" if msg.is_revoked else msg.cloud_custom_data,
    }


@history_read(user="owner")
def roaming_page(*, owner: User, peer: User, max_count: int, min_time: int, max_time: int,
                 last_key: str | None = None) -> dict:
    """One page of `owner`'s history with `peer` between min_time and max_time
    (inclusive). Raises ChatError 910004 for a LastMsgKey that is no message of it.
    Read from a replica that has the owner's writes, when there is one."""
    empty = {"Complete": 1, "MsgCnt": 0, "LastMsgTime": 0, "LastMsgKey": "", "MsgList": []}
    low, high = sorted((owner.pk, peer.pk))
    dialog_id = Dialog.objects.filter(user_low_id=low, user_high_id=high) \
        .values_list("pk", flat=True).first()
    if dialog_id is None:
        return empty
    conv = Conversation.objects.filter(owner=owner, peer=peer) \
        .values("peer_read_seq", "cleared_seq").first() or {}
    qs = Message.objects.filter(dialog_id=dialog_id, time__gte=min_time, time__lte=max_time,
                                created_at__gte=history_cutoff(),
                                seq__gt=conv.get("cleared_seq", 0)) \
        .filter(visible_to(owner.pk))
    if last_key:
        parsed = parse_key(last_key)
        last = Message.objects.filter(pk=parsed[0], dialog_id=dialog_id) \
            .values("time", "seq").first() if parsed else None
        if last is None:
            raise ChatError(910004, "LastMsgKey is not a message of this conversation")
        qs = qs.filter(Q(time__lt=last["time"]) | Q(time=last["time"], seq__lt=last["seq"]))
    rows = list(qs.select_related("sender", "receiver")
                .order_by("-time", "-seq")[:min(max_count, FETCH_MAX) + 1])
    items, size = [], 0
    page = rows[:min(max_count, FETCH_MAX)]
    # MsgNum of the merged lists stored apart (one query, only for a page holding any).
    counts = list_counts(set().union(*(merged_keys(m.elements) for m in page)))
    for msg in page:
        item = roaming_item(msg, peer_read_seq=conv.get("peer_read_seq", 0),
                            owner_pk=owner.pk, list_counts=counts)
        item_size = len(orjson.dumps(item))
        if items and size + item_size > PAGE_BYTES:
            break
        items.append(item)
        size += item_size
    if not items:
        return empty
    return {"Complete": 0 if len(items) < len(rows) else 1, "MsgCnt": len(items),
            "LastMsgTime": items[-1]["MsgTimeStamp"], "LastMsgKey": items[-1]["MsgKey"],
            "MsgList": items}
