"""Reads: history pages, the conversation list, unread totals, sync replay."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import SyncEntry, User
from chat_project.errors import ChatError

from .models import Conversation, Dialog, Message
from .views import conversation_dict, message_dict, parse_message_id

DEFAULT_PAGE = 15
MAX_PAGE = 100


def history_cutoff():
    return timezone.now() - timedelta(days=settings.CHAT_HISTORY_DAYS)


def message_views(messages: list[Message], *, viewer: User,
                  peer_read_seq: int = 0) -> list[dict]:
    """Messages as the viewer sees them; sender/receiver must be select_related."""
    return [message_dict(m, viewer_pk=viewer.pk, sender_user_id=m.sender.user_id,
                         receiver_user_id=m.receiver.user_id,
                         is_peer_read=m.sender_id == viewer.pk and m.seq <= peer_read_seq)
            for m in messages]


def message_page(*, viewer: User, conversation_id: str, next_req_message_id=None,
                 count=None) -> dict:
    """A page of history going back in time; the page itself in chronological order."""
    from .services import conversation_peer_id

    peer_id = conversation_peer_id(conversation_id)
    if count is None:
        count = DEFAULT_PAGE
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PAGE:
        raise ChatError(910003, f"count must be an integer from 1 to {MAX_PAGE}")
    peer = account_selectors.user_by_user_id(peer_id)
    if peer is None:
        raise ChatError(20003, f"no user {peer_id!r}")
    low, high = sorted((viewer.pk, peer.pk))
    dialog_id = Dialog.objects.filter(user_low_id=low, user_high_id=high) \
        .values_list("pk", flat=True).first()
    empty = {"messageList": [], "nextReqMessageID": "", "isCompleted": True}
    if dialog_id is None:
        if next_req_message_id:
            raise ChatError(910004, "nextReqMessageID is not a message of this conversation")
        return empty
    qs = Message.objects.filter(dialog_id=dialog_id, created_at__gte=history_cutoff())
    if next_req_message_id:
        pk = parse_message_id(next_req_message_id)
        before = Message.objects.filter(pk=pk, dialog_id=dialog_id) \
            .values_list("seq", flat=True).first() if pk else None
        if before is None:
            raise ChatError(910004, "nextReqMessageID is not a message of this conversation")
        qs = qs.filter(seq__lt=before)
    rows = list(qs.select_related("sender", "receiver").order_by("-seq")[:count + 1])
    more = len(rows) > count
    rows = rows[:count][::-1]
    peer_read_seq = Conversation.objects.filter(owner=viewer, peer=peer) \
        .values_list("peer_read_seq", flat=True).first() or 0
    views = message_views(rows, viewer=viewer, peer_read_seq=peer_read_seq)
    return {"messageList": views,
            "nextReqMessageID": views[0]["ID"] if views and more else "",
            "isCompleted": not more}


def conversation_views(convs: list[Conversation], *, viewer: User) -> list[dict]:
    """Conversations (with peer, last_message, its sender and receiver loaded)."""
    out = []
    for conv in convs:
        last = conv.last_message
        last_view = None
        if last is not None:
            last_view = message_views([last], viewer=viewer,
                                      peer_read_seq=conv.peer_read_seq)[0]
        out.append(conversation_dict(conv, peer_profile=account_selectors.profile_brief(conv.peer),
                                     last_message=last_view))
    return out


def conversation_list(*, user: User) -> list[dict]:
    """Every conversation of the user, pinned first, then most recent first."""
    convs = list(Conversation.objects.filter(owner=user)
                 .select_related("peer", "last_message", "last_message__sender",
                                 "last_message__receiver")
                 .order_by("-is_pinned", "-updated_at", "-pk"))
    return conversation_views(convs, viewer=user)


def total_unread(user: User) -> int:
    return Conversation.objects.filter(owner=user, unread_count__gt=0) \
        .aggregate(n=Sum("unread_count"))["n"] or 0


def sync_replay(*, user: User, since: int, limit: int = 500,
                upto: int | None = None) -> tuple[list[dict], int]:
    """The offline cache after `since` (at most `limit` entries, none past `upto`), as
    events in seq order, and the seq reached.

    The cache is the sync log, bounded (PROTOCOL.md, Session step 3; see
    accounts.selectors.offline_cache_after): entries older than CHAT_OFFLINE_CACHE_DAYS
    (7) are not replayed, and of one peer's message entries only the newest 100 are; the
    older ones are skipped (accounts.selectors.offline_cache_dropped counts them) and the
    client pages them from history with getMessageList. Other entries replay in order.
    A fixed number of queries per page: the entries (with their per-peer rank), then the
    messages of the message entries. Call it again with `since` = the seq reached until
    that is `upto`; the seq reached covers skipped entries too.
    """
    entries = account_selectors.offline_cache_after(user_pk=user.pk, since=since, upto=upto,
                                                    limit=limit)
    ids = [e.message_id for e in entries if e.kind == SyncEntry.Kind.MESSAGE and e.message_id]
    messages = {m.pk: m for m in Message.objects.filter(pk__in=ids)
                .select_related("sender", "receiver")} if ids else {}
    events = []
    for entry in entries:
        if entry.kind == SyncEntry.Kind.MESSAGE:
            msg = messages.get(entry.message_id)
            if msg is None:  # purged from history: nothing to replay
                continue
            events.append({"event": "MESSAGE_RECEIVED", "seq": entry.seq,
                           "data": message_views([msg], viewer=user)})
        elif entry.payload.get("event"):
            events.append({"event": entry.payload["event"], "seq": entry.seq,
                           "data": entry.payload.get("data")})
    if len(entries) < limit and upto is not None:
        reached = max(upto, since)  # the rest up to `upto` was skipped or expired
    else:
        reached = entries[-1].seq if entries else since
    return events, reached
