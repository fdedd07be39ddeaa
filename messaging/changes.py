"""Changes to stored messages and conversations: recall, modify, delete, read, pin, draft.

Every door (WebSocket ops in message_ws.py, native REST in messaging/api/, the /v4
commands in v4_changes.py) calls these services; doors only translate.

Each change runs in one transaction that takes its locks in the global order
(messaging/persist.py): the dialog row first, as a send does, so a change and a send in
one dialog are ordered; then the message rows (by id), the conversation rows, and last
the sync heads (sync_publish). A change to a message that the history purge is deleting
waits for the purge's batch, which took the message first, and finds no message (20022).
Every change a device must learn is appended to the sync
log of each user concerned, so a device that was offline replays it, in seq order:

| change | entries (kind: event) | who |
| --- | --- | --- |
| recall | REVOKE: `MESSAGE_REVOKED` [message, isRevoked, no content], then CONVERSATION: `CONVERSATION_LIST_UPDATED` where it was the last message or counted unread | sender and receiver |
| modify | MODIFY: `MESSAGE_MODIFIED` [message, isModified, new content], then CONVERSATION where it is the last message | sender and receiver |
| deleteMessage | CONVERSATION: `MESSAGE_DELETED` {conversationID, messageIDList}, then `CONVERSATION_LIST_UPDATED` if the last message or unread changed | the caller only |
| deleteConversation | CONVERSATION: `CONVERSATION_LIST_UPDATED` [{conversationID, isDeleted: true}] | the caller only |
| clearHistoryMessage, pinConversation, setConversationDraft | CONVERSATION: `CONVERSATION_LIST_UPDATED` [conversation] | the caller only |
| read (setMessageRead, admin_set_msg_read, sendMessageReadReceipt) | READ: `CONVERSATION_LIST_UPDATED` [conversation]; the peer PEER_READ: `MESSAGE_READ_BY_PEER`, then CONVERSATION: `CONVERSATION_LIST_UPDATED` [conversation, its new peerReadTime] unless the peer deleted it | reader; peer when its read position moved |

`TOTAL_UNREAD_MESSAGE_COUNT_UPDATED` follows live (not logged) whenever a count moved;
the conversation entries carry each `unreadCount`, so a replaying device has the
numbers anyway.

Rules worth knowing:
- A recall erases the content in storage (irreversible, as Tencent's): history keeps
  the message's place with `isRevoked: true` and empty `elements`; its key-value
  extensions are deleted (messaging/extensions.py) and their values blanked in the
  sync log's MESSAGE_EXTENSIONS_UPDATED entries; its reactions are deleted
  (messaging/reactions.py) and take no more. A recalled message
  the receiver had not read stops counting as unread. A client may recall its own
  messages for CHAT_RECALL_SECONDS (120) after sending (20016 past it); /v4 and
  operators have no limit.
- A modify may name the `version` it edits (message views carry it: "" until first
  modified); when another modify won meanwhile, 20028. Without `version`, the last
  modify wins (the row lock orders them).
- Unread count = the peer's messages after the owner's read position and cleared
  position, not recalled, not deleted by the owner, not sent excludedFromUnread.
- A read receipt for some messages (sendMessageReadReceipt, c2c_msg_read_receipt)
  reads the conversation up to the newest of them: isPeerRead is a read position.
- A recall, a modify that drops a file, and a deletion that leaves a message seen by
  neither side release the uploads it carried (messaging/upload_refs.py): their files
  are deleted after the commit unless another message (a forward) still carries them.
  The same goes for a merged message's stored list (messaging/merged.py), deleted in
  the same transaction unless another message or a list nesting it refers to it.
"""

from __future__ import annotations

import logging
import time as _time

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import webhook_tasks, webhooks
from accounts.events import publish_on_commit
from accounts.models import SyncEntry, User
from accounts.services import sync_publish
from chat_project.errors import ChatError
from push import selectors as push_selectors
from push import tasks as push_tasks

from . import selectors, tencent_body
from .elements import check_elements
from .extensions import extensions_drop
from .merged import (
    check_merged_access,
    merged_keys,
    merged_release,
    merged_store,
    merged_use,
    uploads_of_lists,
)
from .models import Conversation, Dialog, Message, RemindType
from .push_now import push_note
from .reactions import reactions_drop
from .upload_refs import hidden_messages, upload_uuids, uploads_release, uploads_use
from .views import (
    conversation_peer_id,
    message_dict,
    message_public_id,
    message_version,
    parse_message_id,
)

log = logging.getLogger(__name__)

MAX_DELETE = 30      # messages per deleteMessage call (Tencent's SDK limit)
MAX_PINNED = 50      # pinned conversations per user (Tencent: 51012 past it)
MAX_DRAFT_BYTES = 12288

_UNSET = object()


def recall_seconds() -> int:
    """How long after sending a client may recall its message (Tencent's 2 minutes)."""
    return int(getattr(settings, "CHAT_RECALL_SECONDS", 120))


# --- shared helpers --------------------------------------------------------------------

def after_callback(command: str, body: dict, platform: str) -> None:
    """Queue an after-callback for after the commit (a no-op when it is off)."""
    webhook_tasks.after(command, body, platform=platform if platform in webhooks.PLATFORMS
                   else "Unknown")


def message_pk_by_key(key: str, *, sender_id: str | None = None,
                      receiver_id: str | None = None) -> int | None:
    """The message a MsgKey names, or None (messaging.tencent_body owns the format)."""
    msg = tencent_body.message_by_key(key, sender_id=sender_id, receiver_id=receiver_id)
    return msg.pk if msg is not None else None


def peer_for(conversation_id) -> User:
    """The peer of a C2C conversation ID: 910003 if malformed, 20003 if unknown."""
    peer_id = conversation_peer_id(conversation_id)
    peer = account_selectors.user_by_user_id(peer_id)
    if peer is None:
        raise ChatError(20003, f"no user {peer_id!r}")
    return peer


def message_pk(message_id) -> int:
    """The primary key in a client's message ID; 910003 if it is not one."""
    pk = parse_message_id(message_id)
    if pk is None:
        raise ChatError(910003, "messageID must be a message ID the server gave")
    return pk


def message_pks(message_ids) -> list[int]:
    """The primary keys in a client's messageIDList: 1 to 30 IDs (910003 otherwise)."""
    if not isinstance(message_ids, list) or not 1 <= len(message_ids) <= MAX_DELETE:
        raise ChatError(910003, f"messageIDList must hold 1 to {MAX_DELETE} message IDs")
    return [message_pk(m) for m in message_ids]


def _lock_dialog(a_pk: int, b_pk: int) -> Dialog | None:
    low, high = sorted((a_pk, b_pk))
    return Dialog.objects.select_for_update().filter(user_low_id=low, user_high_id=high).first()


def _locked_conversations(dialog_id: int, owners=None, *,
                          open_pushes: bool = False) -> list[Conversation]:
    """The dialog's conversation rows, locked in (owner, peer) order, with what the
    conversation view needs loaded. `open_pushes`: each also says whether its owner has
    offline pushes of it not withdrawn (`has_open_pushes`, in the same statement)."""
    qs = Conversation.objects.select_for_update(of=("self",)).filter(dialog_id=dialog_id)
    if owners is not None:
        qs = qs.filter(owner_id__in=owners)
    if open_pushes:
        table = Conversation._meta.db_table
        qs = qs.annotate(has_open_pushes=RawSQL(push_selectors.open_deliveries_sql(
            f'"{table}"."owner_id"', f'"{table}"."peer_id"'), (), output_field=BooleanField()))
    return list(qs.select_related("owner", "peer", "last_message", "last_message__sender",
                                  "last_message__receiver").order_by("owner_id", "peer_id"))


def _unread_seqs(conv: Conversation) -> set[int]:
    """The seqs of the messages `conv` counts unread now.

    They are the newest `unread_count` of the peer's countable messages (not recalled,
    not deleted by the owner, not excludedFromUnread, after the cleared position):
    sends add at the tail and reads remove from the head. (read_seq cannot tell: the
    send pipeline moves it past one's own replies without touching the count.)
    """
    if conv.unread_count <= 0 or conv.owner_id == conv.peer_id:
        return set()
    return set(Message.objects.filter(
        dialog_id=conv.dialog_id, sender_id=conv.peer_id, receiver_id=conv.owner_id,
        seq__gt=conv.cleared_seq, is_revoked=False, excluded_from_unread=False,
        deleted_by_receiver=False).order_by("-seq").values_list("seq", flat=True)
        [:conv.unread_count])


def _newest_visible(conv: Conversation) -> Message | None:
    """The owner's last message now: after the cleared position, not deleted by them."""
    return (Message.objects.filter(dialog_id=conv.dialog_id, seq__gt=conv.cleared_seq,
                                   excluded_from_last_message=False)
            .filter(selectors.visible_to(conv.owner_id))
            .select_related("sender", "receiver").order_by("-seq").first())


def _save_conversation(conv: Conversation, **changes) -> None:
    for name, value in changes.items():
        setattr(conv, name, value)
    columns = {k if k != "last_message" else "last_message_id":
               (v.pk if k == "last_message" and v is not None else v)
               for k, v in changes.items()}
    Conversation.objects.filter(pk=conv.pk).update(**columns)


def _conv_view(conv: Conversation) -> dict:
    return selectors.conversation_views([conv], viewer=conv.owner)[0]


def _message_view(msg: Message, owner_pk: int, conv: Conversation | None) -> dict:
    peer_read = conv.peer_read_seq if conv is not None else 0
    return message_dict(msg, viewer_pk=owner_pk, sender_user_id=msg.sender.user_id,
                        receiver_user_id=msg.receiver.user_id,
                        is_peer_read=msg.sender_id == owner_pk and msg.seq <= peer_read)


def _publish_totals(user_pks) -> dict[int, int]:
    """Send these users' new unread totals after commit; return them."""
    totals = {pk: selectors.total_unread_pk(pk) for pk in sorted(set(user_pks))}
    publish_on_commit([(pk, {"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED", "data": n})
                       for pk, n in totals.items()])
    return totals


def _lock_message(pk: int, actor: User | None) -> tuple[Dialog, Message]:
    """Lock the message's dialog, then the message; 20022 if absent or (with an actor)
    not the actor's own message."""
    found = Message.objects.filter(pk=pk).values("sender_id", "receiver_id").first()
    if found is None or (actor is not None and found["sender_id"] != actor.pk):
        raise ChatError(20022, "message not found, or not yours")
    dialog = _lock_dialog(found["sender_id"], found["receiver_id"])
    msg = (Message.objects.select_for_update(of=("self",)).select_related("sender", "receiver")
           .filter(pk=pk).first())
    if dialog is None or msg is None:
        raise ChatError(20022, "message not found")
    return dialog, msg


def _message_changed(msg: Message, convs: list[Conversation], *, kind: str, event: str,
                     extra: dict, unread_changed: set[int]) -> list:
    """Sync events for a changed message: its new view to both sides, then each side's
    conversation where the message is the last one or the unread count moved."""
    events = []
    by_owner = {c.owner_id: c for c in convs}
    for owner_pk in dict.fromkeys((msg.sender_id, msg.receiver_id)):
        conv = by_owner.get(owner_pk)
        view = _message_view(msg, owner_pk, conv)
        view.update(extra)
        events.append((owner_pk, kind, event, [view]))
        # A conversation the owner deleted from their list stays out of it.
        if conv is not None and not conv.is_hidden \
                and (conv.last_message_id == msg.pk or owner_pk in unread_changed):
            if conv.last_message_id == msg.pk:
                conv.last_message = msg
            events.append((owner_pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                           [_conv_view(conv)]))
    return events


# --- recall ----------------------------------------------------------------------------

def message_revoke(*, message_pk: int, actor: User | None, platform: str = "Web",
                   time_limit: bool = True, expect_from: str | None = None,
                   expect_to: str | None = None) -> dict:
    """Recall a message; return it as its sender now sees it (isRevoked, no content).

    `actor` None is the app admin (/v4, operators): any message, no time limit. A user
    may recall only their own message, within recall_seconds() when `time_limit`.
    Errors: 20022 not found (or not the actor's, or not From/To as expected), 20023
    already recalled, 20016 past the time limit.
    """
    with transaction.atomic():
        dialog, msg = _lock_message(message_pk, actor)
        if (expect_from is not None and msg.sender.user_id != expect_from) or \
                (expect_to is not None and msg.receiver.user_id != expect_to):
            raise ChatError(20022, "no such message between these users")
        if msg.is_revoked:
            raise ChatError(20023)
        if actor is not None and time_limit and _time.time() - msg.time > recall_seconds():
            raise ChatError(20016, f"a message can be recalled only {recall_seconds()} s "
                                   "after it was sent")
        convs = _locked_conversations(dialog.pk)
        was_unread = {c.owner_id for c in convs
                      if c.owner_id == msg.receiver_id and msg.seq in _unread_seqs(c)}
        had_merged = bool(merged_keys(msg.elements))
        had_files = had_merged or bool(upload_uuids(msg.elements))
        msg.is_revoked, msg.elements, msg.cloud_custom_data = True, [], ""
        Message.objects.filter(pk=msg.pk).update(is_revoked=True, elements=[],
                                                 cloud_custom_data="")
        for conv in convs:
            if conv.owner_id in was_unread:
                _save_conversation(conv, unread_count=max(0, conv.unread_count - 1))
        revoker = actor.user_id if actor is not None else ""
        events = _message_changed(msg, convs, kind=SyncEntry.Kind.REVOKE,
                                  event="MESSAGE_REVOKED",
                                  extra={"revokerInfo": {"userID": revoker}},
                                  unread_changed=was_unread)
        sync_publish(events)
        by_owner = {c.owner_id: c for c in convs}
        _erase_from_sync_log(msg, {pk: _message_view(msg, pk, by_owner.get(pk))
                                   for pk in (msg.sender_id, msg.receiver_id)})
        if had_files:  # its files go once no forward refers to them
            uploads_release([msg.pk])
        if had_merged:  # its merged list goes once no other message refers to it
            merged_release([msg.pk])
        if msg.support_extension:  # its key-value extensions go with its content
            extensions_drop(message_pk=msg.pk)
        reactions_drop(message_pk=msg.pk)  # and its reactions
        totals = _publish_totals(was_unread)
        if webhooks.is_enabled(webhooks.AFTER_MSG_WITHDRAW):
            unread = totals.get(msg.receiver_id)
            after_callback(webhooks.AFTER_MSG_WITHDRAW, {
                "From_Account": msg.sender.user_id, "To_Account": msg.receiver.user_id,
                "MsgKey": tencent_body.message_key(msg),
                "UnreadMsgNum": unread if unread is not None
                else selectors.total_unread_pk(msg.receiver_id)}, platform)
        # Its offline pushes: a retry is not sent, a shown notification is withdrawn.
        push_tasks.withdraw_message_on_commit(message_id=msg.pk)
        sender_conv = next((c for c in convs if c.owner_id == msg.sender_id), None)
        return _message_view(msg, msg.sender_id, sender_conv)


def _erase_from_sync_log(msg: Message, views: dict[int, dict]) -> None:
    """A recall erases the content in storage, and the sync log keeps copies of it for
    replay: a conversation entry's lastMessage (a read, a pin, a draft...), a modify's
    message. Each copy in the two users' entries written since the message was becomes
    the owner's recalled view (`views`, by user pk); entries that name it not are left
    as they are. A message entry holds no content (the replay renders it); the recall's
    own entries hold the recalled view already (with its revokerInfo).

    The candidates are locked as they are read, in id order (messaging/persist.py, 6),
    as the sync-log purge deletes them: written in the order the lookup found them (one
    user's, then the other's), more than one batch of 500 held newer entries while
    waiting for an older one the purge held, and one of the two failed with "deadlock
    detected" (tests/messaging/test_lock_order.py)."""
    changed = []
    candidates = _entries_carrying(msg, list(views)).select_for_update().order_by("pk")
    for entry in candidates.iterator(chunk_size=500):
        payload, hit = _recalled_copies(entry.payload, msg.public_id, views[entry.user_id])
        if hit:
            entry.payload = payload
            changed.append(entry)
    if changed:
        SyncEntry.objects.bulk_update(changed, ["payload"], batch_size=500)


def _entries_carrying(msg: Message, user_pks: list[int]):
    """These users' entries since `msg` that may hold a copy of it: the database finds
    them (its quoted public ID in the payload's text, on the partial index of the
    entries that carry payloads), so a recall of a days-old message on busy users does
    not read every entry of a week into Python under the recall's locks (bench/recall.py).
    A superset, at any depth: `_recalled_copies` decides."""
    return (SyncEntry.objects.filter(user_id__in=user_pks, created_at__gte=msg.created_at)
            .exclude(kind__in=SyncEntry.KINDS_WITHOUT_COPIES)
            .alias(text=Cast("payload", TextField()))
            .filter(text__contains=f'"{msg.public_id}"')
            .only("pk", "user_id", "payload"))


def _recalled_copies(obj, public_id: str, view: dict):
    """`obj` with every message view of `public_id` in it replaced by `view`, and
    whether there was one."""
    if isinstance(obj, dict):
        if obj.get("ID") == public_id and "elements" in obj:
            return dict(view), True
        if obj.get("messageID") == public_id and isinstance(obj.get("extensions"), list):
            # MESSAGE_EXTENSIONS_UPDATED: the extensions go with the content.
            return {**obj, "extensions": [{**e, "value": ""} for e in obj["extensions"]
                                          if isinstance(e, dict)]}, True
        pairs = [(key, *_recalled_copies(value, public_id, view)) for key, value in obj.items()]
        return {key: value for key, value, _ in pairs}, any(hit for _, _, hit in pairs)
    if isinstance(obj, list):
        items = [_recalled_copies(value, public_id, view) for value in obj]
        return [value for value, _ in items], any(hit for _, hit in items)
    return obj, False


# --- modify ----------------------------------------------------------------------------

def message_modify(*, message_pk: int, actor: User | None, elements=_UNSET,
                   cloud_custom_data=_UNSET, version: str | None = None,
                   expect_from: str | None = None, expect_to: str | None = None) -> dict:
    """Change a message's elements and/or cloudCustomData; return the sender's view.

    The new content is checked as a send's is (90010, 93000). `version` (optional) is
    the message's version as the caller last saw it: if another modify changed it
    since, 20028 and nothing changes. Errors: 20022 not found / not the actor's,
    20023 recalled, 910003 nothing to change.
    """
    if elements is _UNSET and cloud_custom_data is _UNSET:
        raise ChatError(910003, "give elements, cloudCustomData or both")
    if cloud_custom_data is not _UNSET and not isinstance(cloud_custom_data, str):
        raise ChatError(910003, "cloudCustomData must be a string")
    if version is not None and not isinstance(version, str):
        raise ChatError(910003, "version must be a string")
    with transaction.atomic():
        dialog, msg = _lock_message(message_pk, actor)
        if (expect_from is not None and msg.sender.user_id != expect_from) or \
                (expect_to is not None and msg.receiver.user_id != expect_to):
            raise ChatError(20022, "no such message between these users")
        if msg.is_revoked:
            raise ChatError(20023, "a recalled message cannot be modified")
        if version is not None and version != message_version(msg):
            raise ChatError(20028, "the message was modified meanwhile; reload it and retry")
        had_files = bool(upload_uuids(msg.elements) or merged_keys(msg.elements))
        new_ccd = msg.cloud_custom_data if cloud_custom_data is _UNSET else cloud_custom_data
        new_elements = check_elements(msg.elements if elements is _UNSET else elements,
                                      new_ccd)
        old_keys = merged_keys(msg.elements)
        if actor is not None:
            check_merged_access(user_pk=actor.pk, elements=new_elements, known=old_keys)
        [new_elements], stored_lists = merged_store([(new_elements, new_ccd, msg.sender_id)])
        msg.elements, msg.cloud_custom_data, msg.is_modified = new_elements, new_ccd, True
        Message.objects.filter(pk=msg.pk).update(elements=new_elements,
                                                 cloud_custom_data=new_ccd, is_modified=True)
        # Its offline pushes not sent yet (a retry waiting) show the message as it is now.
        push_tasks.renote_on_commit(message_id=msg.pk,
                                    note=push_note(msg, msg.sender.user_id))
        convs = _locked_conversations(dialog.pk)
        events = _message_changed(msg, convs, kind=SyncEntry.Kind.MODIFY,
                                  event="MESSAGE_MODIFIED", extra={}, unread_changed=set())
        sync_publish(events)
        list_files = uploads_of_lists([(msg.pk, new_elements)])
        uploads_use([(msg.pk, msg.dialog_id, new_elements)], also=list_files)
        if had_files:
            uploads_release([msg.pk], keep={
                msg.pk: upload_uuids(new_elements) | list_files.get(msg.pk, set())})
        merged_use([(msg.pk, msg.dialog_id, new_elements)], stored_lists)
        if old_keys:
            merged_release([msg.pk], keep={msg.pk: new_elements})
        sender_conv = next((c for c in convs if c.owner_id == msg.sender_id), None)
        return _message_view(msg, msg.sender_id, sender_conv)


# --- delete from one's own history -----------------------------------------------------

def messages_delete(*, user: User, message_ids) -> dict:
    """Delete messages from the caller's own history; the peer keeps them.

    All must belong to one conversation of the caller (910003 otherwise; 20022 for an
    ID that is not the caller's). The caller's other devices get MESSAGE_DELETED.
    """
    pks = sorted(set(message_pks(message_ids)))
    found = list(Message.objects.filter(pk__in=pks)
                 .filter(Q(sender=user) | Q(receiver=user))
                 .values("pk", "dialog_id", "sender_id", "receiver_id"))
    missing = set(pks) - {m["pk"] for m in found}
    if missing:
        raise ChatError(20022, f"no message {min(missing)} of yours")
    if len({m["dialog_id"] for m in found}) != 1:
        raise ChatError(910003, "the messages must all be in one conversation")
    first = found[0]
    peer_pk = first["receiver_id"] if first["sender_id"] == user.pk else first["sender_id"]
    with transaction.atomic():
        dialog = _lock_dialog(user.pk, peer_pk)
        msgs = list(Message.objects.select_for_update(of=("self",))
                    .select_related("sender", "receiver").filter(pk__in=pks).order_by("pk"))
        gone = set(pks) - {m.pk for m in msgs}
        if gone:  # purged (or its account deleted) since the lookup above
            raise ChatError(20022, f"no message {min(gone)} of yours")
        convs = _locked_conversations(dialog.pk, owners=[user.pk])
        conv = next((c for c in convs if c.peer_id == peer_pk), None)
        unread = _unread_seqs(conv) if conv is not None else set()
        unread_drop = sum(1 for m in msgs if m.receiver_id == user.pk and m.seq in unread)
        as_sender = [m.pk for m in msgs if m.sender_id == user.pk]
        as_receiver = [m.pk for m in msgs if m.receiver_id == user.pk]
        if as_sender:
            Message.objects.filter(pk__in=as_sender).update(deleted_by_sender=True)
        if as_receiver:
            Message.objects.filter(pk__in=as_receiver).update(deleted_by_receiver=True)
        ids = [message_dict(m, viewer_pk=user.pk, sender_user_id=m.sender.user_id,
                            receiver_user_id=m.receiver.user_id)["ID"] for m in msgs]
        peer_user = msgs[0].receiver if msgs[0].sender_id == user.pk else msgs[0].sender
        cid = f"C2C{peer_user.user_id}"
        events = [(user.pk, SyncEntry.Kind.CONVERSATION, "MESSAGE_DELETED",
                   {"conversationID": cid, "messageIDList": ids})]
        if conv is not None and (unread_drop or conv.last_message_id in pks):
            changes = {}
            if unread_drop:
                changes["unread_count"] = max(0, conv.unread_count - unread_drop)
            if conv.last_message_id in pks:
                changes["last_message"] = _newest_visible(conv)
            _save_conversation(conv, **changes)
            events.append((user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                           [_conv_view(conv)]))
        sync_publish(events)
        pushed = [m.pk for m in msgs if m.receiver_id == user.pk and m.sender_id != user.pk]
        if pushed:  # deleted by its receiver (alone, or both sides): never pushed
            push_tasks.withdraw_deleted_on_commit(message_ids=pushed)
        referring = [m.pk for m in msgs if upload_uuids(m.elements) or merged_keys(m.elements)]
        if referring:  # their files and merged lists, released if now deleted on both sides
            _release_hidden(dialog.pk, message_pks=referring)
        if unread_drop:
            _publish_totals([user.pk])
    return {"messageIDList": ids}


def message_delete_both_sides(*, message_pk: int) -> dict:
    """The app admin deletes a message from both sides' histories (the operator
    console): for each side, what deleteMessage does (MESSAGE_DELETED to its devices,
    its conversation and unread count updated). The row stays until the history purge;
    its files go once neither side sees it. 20022 if there is no such message."""
    msg = Message.objects.filter(pk=message_pk).select_related("sender", "receiver").first()
    if msg is None:
        raise ChatError(20022, "message not found")
    ids = [message_public_id(msg.pk, msg.time, msg.random)]
    sides = {msg.sender_id: msg.sender, msg.receiver_id: msg.receiver}
    with transaction.atomic():
        # Each side's conversation in (owner, peer) order, as the history purge takes
        # them (messaging/persist.py): sender first, it closed a cycle with the purge of
        # an older message both conversations showed last (tests/messaging/test_lock_order.py).
        for pk in sorted(sides):
            # the receiver's deletion withdraws the offline pushes (messages_delete)
            answer = messages_delete(user=sides[pk], message_ids=ids)
    return answer


def _release_hidden(dialog_id: int, message_pks: list[int] | None = None) -> None:
    """The uploads and merged lists of this dialog's messages (or of these) that
    neither side can see any more are released (one statement to find them)."""
    with_files, with_lists = hidden_messages(dialog_id=dialog_id, message_pks=message_pks)
    uploads_release(with_files)
    merged_release(with_lists)


# --- conversations ---------------------------------------------------------------------

def _conversation_locked(user: User, peer: User) -> tuple[Dialog | None, Conversation | None]:
    dialog = _lock_dialog(user.pk, peer.pk)
    if dialog is None:
        return None, None
    convs = _locked_conversations(dialog.pk, owners=[user.pk])
    return dialog, next((c for c in convs if c.peer_id == peer.pk), None)


def conversation_delete(*, user: User, peer: User, clear_history: bool = True) -> dict:
    """Remove a conversation from the caller's list (a new message brings it back);
    with `clear_history`, the caller's history of it too. Unread goes to 0. Deleting a
    conversation that does not exist succeeds."""
    if not isinstance(clear_history, bool):
        raise ChatError(910003, "clearHistoryMessage must be true or false")
    cid = f"C2C{peer.user_id}"
    with transaction.atomic():
        dialog, conv = _conversation_locked(user, peer)
        if conv is None:
            return {"conversationID": cid}
        had_unread = conv.unread_count > 0
        # A new message brings back a new conversation: not pinned, no draft (it came
        # back still pinned).
        changes = {"is_hidden": True, "unread_count": 0, "is_pinned": False, "draft_text": "",
                   "read_seq": max(conv.read_seq, dialog.last_seq)}
        if clear_history:
            changes.update(cleared_seq=dialog.last_seq, last_message=None)
        _save_conversation(conv, **changes)
        sync_publish([(user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                       [{"conversationID": cid, "isDeleted": True}])])
        if clear_history:
            _release_hidden(dialog.pk)
        if had_unread:
            _publish_totals([user.pk])
    return {"conversationID": cid}


def conversation_clear_history(*, user: User, peer: User) -> dict:
    """Clear the caller's history of a conversation (the peer keeps theirs); the
    conversation stays in the list with no last message and nothing unread."""
    cid = f"C2C{peer.user_id}"
    with transaction.atomic():
        dialog, conv = _conversation_locked(user, peer)
        if conv is None:
            return {"conversationID": cid}
        had_unread = conv.unread_count > 0
        _save_conversation(conv, cleared_seq=dialog.last_seq, last_message=None, unread_count=0,
                           read_seq=max(conv.read_seq, dialog.last_seq))
        sync_publish([(user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                       [_conv_view(conv)])])
        _release_hidden(dialog.pk)
        if had_unread:
            _publish_totals([user.pk])
    return {"conversationID": cid}


def conversation_pin(*, user: User, peer: User, is_pinned) -> dict:
    """Pin or unpin a conversation (at most MAX_PINNED pinned: 51012)."""
    if not isinstance(is_pinned, bool):
        raise ChatError(910003, "isPinned must be true or false")
    with transaction.atomic():
        _, conv = _conversation_locked(user, peer)
        if conv is None:
            raise ChatError(910004, "no such conversation")
        if conv.is_pinned == is_pinned:
            return {"conversationID": f"C2C{peer.user_id}"}
        if is_pinned and Conversation.objects.filter(owner=user, is_pinned=True) \
                .count() >= MAX_PINNED:
            raise ChatError(51012, f"at most {MAX_PINNED} conversations can be pinned")
        _save_conversation(conv, is_pinned=is_pinned)
        sync_publish([(user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                       [_conv_view(conv)])])
    return {"conversationID": f"C2C{peer.user_id}"}


def conversation_set_draft(*, user: User, peer: User, draft_text) -> dict:
    """Keep a draft on the conversation, for the caller's other devices ("" clears it)."""
    if draft_text is None:
        draft_text = ""
    if not isinstance(draft_text, str) or len(draft_text.encode()) > MAX_DRAFT_BYTES:
        raise ChatError(910003, f"draftText must be a string of at most {MAX_DRAFT_BYTES} bytes")
    if "\x00" in draft_text:  # PostgreSQL text cannot hold it
        raise ChatError(910003, "draftText must not hold a NUL character")
    with transaction.atomic():
        _, conv = _conversation_locked(user, peer)
        if conv is None:
            raise ChatError(910004, "no such conversation")
        if conv.draft_text != draft_text:
            _save_conversation(conv, draft_text=draft_text)
            sync_publish([(user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                           [_conv_view(conv)])])
    return {}


# --- receive options ---------------------------------------------------------------------

MAX_REMIND_USERS = 30  # setMessageRemindType's userIDList (Tencent's limit)


def conversation_remind_set(*, user: User, user_ids, remind_type) -> dict:
    """setMessageRemindType: the caller's receive option for messages from each peer
    (AcceptAndNotify, AcceptNotNotify: received with no offline push, Discard: not
    delivered live, no push, still in history). A conversation that does not exist yet
    is made (hidden: it shows with the next message) so the option holds from the
    first message. The caller's devices get CONVERSATION_LIST_UPDATED for the visible
    ones. 910021 a bad type, 910022 a bad list, 20003 an unknown UserID."""
    if remind_type not in RemindType.values:
        raise ChatError(910021)
    if not isinstance(user_ids, list) or not 1 <= len(user_ids) <= MAX_REMIND_USERS \
            or not all(isinstance(u, str) and u for u in user_ids):
        raise ChatError(910022)
    peers = account_selectors.users_by_user_ids(set(user_ids))
    missing = [u for u in dict.fromkeys(user_ids) if u not in peers]
    if missing:
        raise ChatError(20003, f"no such user: {', '.join(missing[:5])}")
    now = timezone.now()
    changed: list[Conversation] = []
    ordered = sorted(peers.values(), key=lambda u: tuple(sorted((user.pk, u.pk))))
    with transaction.atomic():
        # The lock order of every writer (messaging/persist.py): every dialog row (by
        # pair), then the conversations (by owner, peer).
        dialogs = {}
        for peer in ordered:
            low, high = sorted((user.pk, peer.pk))
            Dialog.objects.get_or_create(user_low_id=low, user_high_id=high)
            dialogs[peer.pk] = _lock_dialog(user.pk, peer.pk)
        for peer in sorted(ordered, key=lambda u: u.pk):
            dialog = dialogs[peer.pk]
            conv = next((c for c in _locked_conversations(dialog.pk, owners=[user.pk])
                         if c.peer_id == peer.pk), None)
            if conv is None:
                conv, _ = Conversation.objects.get_or_create(
                    owner=user, peer=peer, defaults={"dialog": dialog, "updated_at": now,
                                                     "is_hidden": True})
            if conv.message_remind_type != remind_type:
                _save_conversation(conv, message_remind_type=remind_type)
                if not conv.is_hidden:
                    changed.append(conv)
        if changed:
            sync_publish([(user.pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                           [_conv_view(c) for c in changed])])
    return {}


# --- reads -----------------------------------------------------------------------------

def conversation_mark_read(*, user: User, peer: User, read_time: int | None = None,
                           upto_seq: int | None = None, message_ids: list[str] | None = None,
                           platform: str = "Web") -> dict:
    """The reader has read the conversation: everything, or up to `read_time` (Unix
    seconds) or `upto_seq` (dialog seq). A read position never moves back.

    The reader's devices get the conversation (its new unread count) and the total;
    the peer's devices get MESSAGE_READ_BY_PEER and their conversation (its new
    peerReadTime) when the peer's messages' read position moved. Fires
    C2C.CallbackAfterMsgReport.
    """
    now = timezone.now()
    with transaction.atomic():
        # Both sides' rows in one statement, in the lock order (owner, peer): the
        # reader's moves its read position, the peer's its peerReadTime.
        dialog = _lock_dialog(user.pk, peer.pk)
        convs = {c.owner_id: c for c in _locked_conversations(dialog.pk, open_pushes=True)} \
            if dialog is not None else {}
        conv = convs.get(user.pk)
        if conv is None:
            return {}
        if upto_seq is not None:
            target = min(upto_seq, dialog.last_seq)
        elif read_time is not None:
            target = Message.objects.filter(dialog_id=dialog.pk, time__lte=read_time) \
                .order_by("-seq").values_list("seq", flat=True).first() or 0
        else:
            target = dialog.last_seq
        read_seq = max(conv.read_seq, target)
        unread = 0 if target >= dialog.last_seq else \
            sum(1 for seq in _unread_seqs(conv) if seq > target)
        events = []
        own_changed = read_seq != conv.read_seq or unread != conv.unread_count
        if own_changed:
            _save_conversation(conv, read_seq=read_seq, unread_count=unread)
            if conv.has_open_pushes:
                # Pushes of what is now read are withdrawn from the devices that got them.
                push_tasks.withdraw_on_commit(
                    user_pk=user.pk, conversation_id=f"C2C{peer.user_id}", upto_seq=read_seq)
            events.append((user.pk, SyncEntry.Kind.READ, "CONVERSATION_LIST_UPDATED",
                           [_conv_view(conv)]))
        if peer.pk != user.pk and target > 0:
            read_at = int(now.timestamp())
            theirs = convs.get(peer.pk)
            if theirs is not None and theirs.peer_read_seq < target:
                _save_conversation(theirs, peer_read_seq=target, peer_read_time=read_at)
                receipt = {"conversationID": f"C2C{user.user_id}", "peerReadSeq": target,
                           "peerReadTime": read_at}
                if message_ids:
                    receipt["messageIDList"] = message_ids
                events.append((peer.pk, SyncEntry.Kind.PEER_READ, "MESSAGE_READ_BY_PEER",
                               [receipt]))
                # Their list shows the new peerReadTime (and isPeerRead on their last
                # message); one they deleted stays out of it.
                if not theirs.is_hidden:
                    events.append((peer.pk, SyncEntry.Kind.CONVERSATION,
                                   "CONVERSATION_LIST_UPDATED", [_conv_view(theirs)]))
        if events:
            sync_publish(events, now=now)
        totals = _publish_totals([user.pk] if own_changed else [])
        if webhooks.is_enabled(webhooks.AFTER_MSG_REPORT):
            after_callback(webhooks.AFTER_MSG_REPORT, {
                "Report_Account": user.user_id, "Peer_Account": peer.user_id,
                "LastReadTime": int(read_time if read_time is not None else now.timestamp()),
                "UnreadMsgNum": totals[user.pk] if own_changed
                else selectors.total_unread_pk(user.pk)}, platform)
    return {}


def message_read_receipt(*, user: User, message_pks: list[int], platform: str = "Web",
                         expect_peer: str | None = None) -> dict:
    """Read receipts for messages the caller received: the conversation is read up to
    the newest of them, and the sender's devices get MESSAGE_READ_BY_PEER naming them.
    All must be messages to the caller in one conversation (20022 / 910003)."""
    if not message_pks or len(message_pks) > MAX_DELETE:
        raise ChatError(910003, f"give 1 to {MAX_DELETE} messages")
    msgs = list(Message.objects.filter(pk__in=set(message_pks), receiver=user)
                .select_related("sender", "receiver"))
    if len(msgs) != len(set(message_pks)):
        raise ChatError(20022, "a message is not one you received")
    senders = {m.sender_id for m in msgs}
    if len(senders) != 1:
        raise ChatError(910003, "the messages must all be in one conversation")
    peer = msgs[0].sender
    if expect_peer is not None and peer.user_id != expect_peer:
        raise ChatError(20022, "a message is not from this peer")
    ids = [_message_view(m, user.pk, None)["ID"] for m in sorted(msgs, key=lambda m: m.seq)]
    return conversation_mark_read(user=user, peer=peer, upto_seq=max(m.seq for m in msgs),
                                  message_ids=ids, platform=platform)
