"""The one send pipeline, and the other writes on messages and conversations.

Every door (WebSocket, native REST, /v4, admin, tasks) sends through `message_send`
or, for a batch gathered by a door, `message_send_many`: validation, permission,
persistence and fan-out are decided here and nowhere else.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.events import publish_now, publish_on_commit
from accounts.models import AdminForbidType, SyncEntry, User
from accounts.services import sync_publish
from chat_project.errors import ChatError

from .elements import check_elements
from .models import Conversation, Dialog, Message, Priority
from .persist import store_batch
from .views import message_dict

log = logging.getLogger(__name__)

UINT32_MAX = 2**32 - 1


@dataclass
class SendCommand:
    """One send, as every door hands it over (already translated to our names)."""

    sender: User
    to: str
    elements: list
    random: int | None = None
    priority: str = Priority.NORMAL
    cloud_custom_data: str = ""
    need_read_receipt: bool = False
    online_user_only: bool = False
    offline_push_info: dict | None = None
    excluded_from_unread: bool = False
    excluded_from_last_message: bool = False
    # The socket that sent it: it gets the reply, the sender's other devices the event.
    origin_channel: str | None = None
    # App admins and system notices pass every relationship check (blocklist, friends).
    skip_relationship_checks: bool = False
    # Prepared by the pipeline:
    receiver: User | None = field(default=None, repr=False)


# --- checks ---------------------------------------------------------------------------

def check_send_command(cmd: SendCommand) -> SendCommand:
    """Validate a send; normalise its fields in place. Raises ChatError."""
    if isinstance(cmd.random, bool) or not isinstance(cmd.random, int) \
            or not 0 <= cmd.random <= UINT32_MAX:
        raise ChatError(90005, "random must be an integer from 0 to 4294967295")
    if cmd.priority not in Priority.values:
        raise ChatError(910003, f"priority must be one of {Priority.values}")
    if not isinstance(cmd.cloud_custom_data, str):
        raise ChatError(910003, "cloudCustomData must be a string")
    for name in ("need_read_receipt", "online_user_only", "excluded_from_unread",
                 "excluded_from_last_message"):
        if not isinstance(getattr(cmd, name), bool):
            raise ChatError(910003, f"{name} must be true or false")
    if cmd.offline_push_info is not None and not isinstance(cmd.offline_push_info, dict):
        raise ChatError(910003, "offlinePushInfo must be an object")
    if not isinstance(cmd.to, str) or not cmd.to:
        raise ChatError(20003, "to must be a UserID")
    cmd.elements = check_elements(cmd.elements, cmd.cloud_custom_data)
    return cmd


def check_may_send(sender: User, receiver: User | None) -> None:
    """May `sender` send to `receiver` now? Raises ChatError with Tencent's code."""
    if receiver is None or not receiver.is_active:
        raise ChatError(20003)
    if not sender.is_active:
        raise ChatError(20003, "the sender's account is disabled")
    if sender.admin_forbid_type == AdminForbidType.SEND_OUT:
        raise ChatError(20012, "the sender is forbidden to send messages")


# --- the pipeline ---------------------------------------------------------------------

def message_send(**kwargs) -> dict:
    """Send one message; return it as the sender sees it. Raises ChatError."""
    result = message_send_many([SendCommand(**kwargs)])[0]
    if isinstance(result, ChatError):
        raise result
    return result


def message_send_many(commands: list[SendCommand]) -> list[dict | ChatError]:
    """Send several independent messages, committed together (one transaction).

    Each command gets its stored message or its own ChatError; one command's failure
    never touches the others. Doors that gather concurrent sends (the WebSocket
    consumer) pass them here in one call, so many messages share one commit.
    """
    results: list[dict | ChatError | None] = [None] * len(commands)
    ready: list[tuple[int, SendCommand]] = []
    stored: list = []
    try:
        # One transaction from the users' lookup to the last write: one commit, and
        # the senders are read afresh, so a mute or a new nick applies to the next send
        # even on a socket that logged in before.
        with transaction.atomic():
            users = account_selectors.users_for_send(
                {c.to for c in commands if isinstance(c.to, str)}
                | {c.sender.user_id for c in commands})
            for i, cmd in enumerate(commands):
                try:
                    cmd.sender = users.get(cmd.sender.user_id, cmd.sender)
                    check_send_command(cmd)
                    cmd.receiver = users.get(cmd.to)
                    check_may_send(cmd.sender, cmd.receiver)
                except ChatError as exc:
                    results[i] = exc
                    continue
                if cmd.online_user_only:
                    results[i] = _send_online_only(cmd)
                else:
                    ready.append((i, cmd))
            if ready:
                stored = store_batch([cmd for _, cmd in ready])
    except Exception:
        if len(ready) <= 1:
            log.exception("message send failed")
            stored = [ChatError(20005)] * len(ready)
        else:  # find the one that fails; the others still go through
            stored = []
            for _, cmd in ready:
                try:
                    with transaction.atomic():
                        stored.extend(store_batch([cmd]))
                except Exception:
                    log.exception("message send failed")
                    stored.append(ChatError(20005))
    for (i, _), res in zip(ready, stored, strict=True):
        results[i] = res
    for i, res in enumerate(results):
        if res is None:  # failed before it was checked: an internal error, not a loss
            results[i] = ChatError(20005)
    return results  # type: ignore[return-value]


def _send_online_only(cmd: SendCommand) -> dict:
    """Deliver to devices online now; store nothing (no history, log, unread, push)."""
    now = _time.time()
    msg = Message(pk=0, seq=0, sender=cmd.sender, receiver=cmd.receiver, random=cmd.random,
                  time=int(now), elements=cmd.elements, cloud_custom_data=cmd.cloud_custom_data,
                  priority=cmd.priority, need_read_receipt=cmd.need_read_receipt,
                  nick=cmd.sender.nick, avatar=cmd.sender.avatar)
    sender, receiver = cmd.sender, cmd.receiver
    inbound = message_dict(msg, viewer_pk=receiver.pk, sender_user_id=sender.user_id,
                           receiver_user_id=receiver.user_id)
    outbound = message_dict(msg, viewer_pk=sender.pk, sender_user_id=sender.user_id,
                            receiver_user_id=receiver.user_id)
    for m in (inbound, outbound):
        m["ID"] = f"0-{msg.time}-{msg.random}"
        m["onlineUserOnly"] = True
    items = [(receiver.pk, {"event": "MESSAGE_RECEIVED", "data": [inbound]})]
    if sender.pk != receiver.pk:
        items.append((sender.pk, {"event": "MESSAGE_RECEIVED", "data": [outbound]},
                      cmd.origin_channel))
    publish_now(items)
    return outbound


# --- read -----------------------------------------------------------------------------

def conversation_peer_id(conversation_id) -> str:
    """The peer's UserID in a C2C conversation ID; 910003 if it is not one."""
    if not isinstance(conversation_id, str) or not conversation_id.startswith("C2C") \
            or len(conversation_id) <= 3:
        raise ChatError(910003, "conversationID must be 'C2C' followed by a UserID")
    return conversation_id[3:]


def conversation_mark_read(*, user: User, conversation_id: str) -> dict:
    """Everything in the conversation up to now is read, on every device of the reader.

    The reader's devices get the conversation (unread 0) and the new total; the peer's
    devices get MESSAGE_READ_BY_PEER.
    """
    from . import selectors  # selectors import nothing from services

    peer_id = conversation_peer_id(conversation_id)
    peer = account_selectors.user_by_user_id(peer_id)
    if peer is None:
        raise ChatError(20003, f"no user {peer_id!r}")
    low, high = sorted((user.pk, peer.pk))
    with transaction.atomic():
        # The dialog row first, as the send transaction takes it (messaging/persist.py):
        # a read and a send in one dialog are ordered, and never deadlock.
        dialog = Dialog.objects.select_for_update().filter(user_low_id=low,
                                                           user_high_id=high).first()
        conv = (Conversation.objects.select_related("peer")
                .filter(owner=user, peer=peer).first()) if dialog else None
        if conv is None:
            return {}
        read_seq = dialog.last_seq
        if conv.unread_count == 0 and conv.read_seq >= read_seq:
            return {}
        now = timezone.now()
        read_time = int(now.timestamp())
        Conversation.objects.filter(pk=conv.pk).update(unread_count=0, read_seq=read_seq)
        conv.unread_count, conv.read_seq = 0, read_seq
        Conversation.objects.filter(owner=conv.peer, peer=user).update(
            peer_read_seq=read_seq, peer_read_time=read_time)
        conv_view = selectors.conversation_views([conv], viewer=user)[0]
        total = selectors.total_unread(user)
        events = [(user.pk, SyncEntry.Kind.READ, "CONVERSATION_LIST_UPDATED", [conv_view])]
        if conv.peer_id != user.pk:
            events.append((conv.peer_id, SyncEntry.Kind.PEER_READ, "MESSAGE_READ_BY_PEER",
                           [{"conversationID": f"C2C{user.user_id}", "peerReadSeq": read_seq,
                             "peerReadTime": read_time}]))
        sync_publish(events, now=now)
        publish_on_commit([(user.pk, {"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
                                      "data": total})])
    return {}


def history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    Batches are picked on the created_at index and each is its own short transaction,
    so sending never waits behind the whole purge. A conversation whose last message
    goes keeps its row with no last message (as the FK's SET_NULL would do); dialogs
    and their seq stay.
    """
    qn = connection.ops.quote_name
    messages, conversations = qn(Message._meta.db_table), qn(Conversation._meta.db_table)
    cutoff = connection.ops.adapt_datetimefield_value(before)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {messages} WHERE created_at < %s"
                           f" ORDER BY created_at LIMIT %s", [cutoff, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                marks = ", ".join(["%s"] * len(ids))
                # A raw DELETE skips Django's on_delete: clear the references first.
                cursor.execute(f"UPDATE {conversations} SET last_message_id = NULL"
                               f" WHERE last_message_id IN ({marks})", ids)
                cursor.execute(f"DELETE FROM {messages} WHERE id IN ({marks})", ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total
