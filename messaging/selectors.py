"""Reads: history pages, the conversation list, unread totals, sync replay."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connections, router
from django.db.models import Q, Sum
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import SyncEntry, User
from chat_project import wire
from chat_project.errors import ChatError
from chat_project.replicas import history_read

from .models import Conversation, Dialog, Message
from .search import newest_first, search_messages
from .views import conversation_dict, conversation_peer_id, message_dict, parse_message_id

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


def visible_to(user_pk: int) -> Q:
    """Messages not deleted by this user from their own history (deleteMessage)."""
    return Q(sender_id=user_pk, deleted_by_sender=False) | \
        Q(receiver_id=user_pk, deleted_by_receiver=False)


def in_history(msg: Message, user_pk: int, cleared_seq: int | None) -> bool:
    """Whether `msg` is in this user's history: one of its two people, not deleted by
    them (visible_to, for one message in hand), after what they cleared (`cleared_seq`,
    their conversation's with the other; None or 0: nothing cleared)."""
    if user_pk not in (msg.sender_id, msg.receiver_id):
        return False
    if user_pk == msg.sender_id and msg.deleted_by_sender and msg.sender_id != msg.receiver_id:
        return False
    if user_pk == msg.receiver_id and msg.deleted_by_receiver:
        return False
    return msg.seq > (cleared_seq or 0)


def cleared_seqs(user_pk: int, peer_pks) -> dict[int, int]:
    """The seq up to which this user cleared each conversation (by peer pk; a
    conversation never cleared, or with no row, is absent or 0). One query."""
    return dict(Conversation.objects.filter(owner_id=user_pk, peer_id__in=set(peer_pks))
                .values_list("peer_id", "cleared_seq"))


# A history page in two statements, both plain SQL that PostgreSQL and SQLite take
# alike: what the page depends on, then the page. (The ORM's four queries cost 8-10 ms
# of Python on this machine against 0.2 ms in PostgreSQL; bench/history.py.)
_PAGE_HEAD = (
    "SELECT p.id, p.user_id,"
    " (SELECT d.id FROM messaging_dialog d"
    "  WHERE d.user_low_id = CASE WHEN p.id < %(v)s THEN p.id ELSE %(v)s END"
    "  AND d.user_high_id = CASE WHEN p.id < %(v)s THEN %(v)s ELSE p.id END),"
    " (SELECT c.peer_read_seq FROM messaging_conversation c"
    "  WHERE c.owner_id = %(v)s AND c.peer_id = p.id),"
    " (SELECT c.cleared_seq FROM messaging_conversation c"
    "  WHERE c.owner_id = %(v)s AND c.peer_id = p.id),"
    " (SELECT b.seq FROM messaging_message b, messaging_dialog d"
    "  WHERE b.id = %(before)s AND b.dialog_id = d.id"
    "  AND d.user_low_id = CASE WHEN p.id < %(v)s THEN p.id ELSE %(v)s END"
    "  AND d.user_high_id = CASE WHEN p.id < %(v)s THEN %(v)s ELSE p.id END)"
    " FROM accounts_user p WHERE p.user_id = %(peer)s")
# What message_dict reads of a message, in the order _message_of takes it.
_VIEW_COLUMNS = ("id", "seq", "sender_id", "receiver_id", "random", "time", "priority",
                 "elements", "nick", "avatar", "cloud_custom_data", "need_read_receipt",
                 "is_revoked", "is_modified", "is_system", "support_extension")
# The viewer's own view: after what they cleared, without what they deleted, newest first.
_PAGE_ROWS = (
    f"SELECT {', '.join(_VIEW_COLUMNS)} FROM messaging_message"
    " WHERE dialog_id = %(dialog)s AND seq > %(cleared)s AND seq < %(before)s"
    " AND created_at >= %(cutoff)s"
    " AND ((sender_id = %(v)s AND NOT deleted_by_sender)"
    "      OR (receiver_id = %(v)s AND NOT deleted_by_receiver))"
    " ORDER BY seq DESC LIMIT %(limit)s")
_NO_SEQ_ABOVE = 2**63 - 1


def _message_of(row: tuple) -> Message:
    """A Message (unsaved, as message_dict reads it) from a row of _VIEW_COLUMNS."""
    (pk, seq, sender_pk, receiver_pk, random, time, priority, elements, nick, avatar,
     custom, need_receipt, revoked, modified, system, extension) = row[:len(_VIEW_COLUMNS)]
    return Message(pk=pk, seq=seq, sender_id=sender_pk, receiver_id=receiver_pk,
                   random=random, time=time, priority=priority,
                   elements=wire.loads(elements) if isinstance(elements, str | bytes)
                   else elements, nick=nick, avatar=avatar, cloud_custom_data=custom,
                   need_read_receipt=bool(need_receipt), is_revoked=bool(revoked),
                   is_modified=bool(modified), is_system=bool(system),
                   support_extension=bool(extension))


@history_read(user="viewer")
def message_page(*, viewer: User, conversation_id: str, next_req_message_id=None,
                 count=None) -> dict:
    """A page of history going back in time; the page itself in chronological order.
    Read from a replica that has the viewer's writes, when there is one."""
    peer_id = conversation_peer_id(conversation_id)
    if count is None:
        count = DEFAULT_PAGE
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PAGE:
        raise ChatError(910003, f"count must be an integer from 1 to {MAX_PAGE}")
    before_pk = parse_message_id(next_req_message_id) if next_req_message_id else None
    if not account_selectors.could_exist(peer_id):
        raise ChatError(20003, f"no user {peer_id!r}")
    alias = router.db_for_read(Message)
    db = connections[alias]
    with db.cursor() as cursor:
        cursor.execute(_PAGE_HEAD, {"v": viewer.pk, "peer": peer_id, "before": before_pk})
        head = cursor.fetchone()
        if head is None:
            raise ChatError(20003, f"no user {peer_id!r}")
        peer_pk, peer_user_id, dialog_id, peer_read_seq, cleared_seq, before_seq = head
        if next_req_message_id and before_seq is None:
            raise ChatError(910004, "nextReqMessageID is not a message of this conversation")
        if dialog_id is None:
            return {"messageList": [], "nextReqMessageID": "", "isCompleted": True}
        cursor.execute(_PAGE_ROWS, {
            "dialog": dialog_id, "cleared": cleared_seq or 0, "v": viewer.pk,
            "before": _NO_SEQ_ABOVE if before_seq is None else before_seq,
            "cutoff": db.ops.adapt_datetimefield_value(history_cutoff()), "limit": count + 1})
        rows = cursor.fetchall()
    more = len(rows) > count
    user_ids = {viewer.pk: viewer.user_id, peer_pk: peer_user_id}
    peer_read_seq = peer_read_seq or 0
    views = []
    for row in reversed(rows[:count]):
        msg = _message_of(row)
        views.append(message_dict(
            msg, viewer_pk=viewer.pk, sender_user_id=user_ids[msg.sender_id],
            receiver_user_id=user_ids[msg.receiver_id],
            is_peer_read=msg.sender_id == viewer.pk and msg.seq <= peer_read_seq))
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
    """Every conversation of the user, pinned first, then most recent first; not the
    ones the user deleted (is_hidden) until a new message brings them back."""
    convs = list(Conversation.objects.filter(owner=user, is_hidden=False)
                 .select_related("peer", "last_message", "last_message__sender",
                                 "last_message__receiver")
                 .order_by("-is_pinned", "-updated_at", "-pk"))
    return conversation_views(convs, viewer=user)


def total_unread(user: User) -> int:
    return total_unread_pk(user.pk)


def total_unread_pk(user_pk: int) -> int:
    return Conversation.objects.filter(owner_id=user_pk, unread_count__gt=0) \
        .aggregate(n=Sum("unread_count"))["n"] or 0


def unread_by_peer(*, user: User, peer_ids: list[str]) -> tuple[dict[str, int], list[str]]:
    """Unread counts of the user's conversations with these peers (0 where there is no
    conversation), and the peer IDs that are no user."""
    peers = account_selectors.users_by_user_ids(peer_ids)
    counts = dict(Conversation.objects.filter(owner=user, peer__in=list(peers.values()))
                  .values_list("peer__user_id", "unread_count"))
    found = {pid: counts.get(pid, 0) for pid in peer_ids if pid in peers}
    return found, [pid for pid in peer_ids if pid not in peers]


RECENT_PAGE = 100


def recent_contacts(*, user: User, timestamp: int = 0, start_index: int = 0,
                    top_timestamp: int = 0, top_start_index: int = 0,
                    assist_flags: int = 0, page: int = RECENT_PAGE) -> dict:
    """One page of the conversation list as /v4 recentcontact/get_list gives it.

    Order: newest first by the conversation's time (its last message's, else when it
    last changed), ties by peer UserID. A cursor is (time of the last item returned,
    how many items of that very time were returned): the next page starts after them,
    so it neither repeats nor skips a conversation. AssistFlags bit 0: pinned ones
    first with TopFlag 1 (else pinned count as any other); bit 1: include
    conversations with no last message; bit 2: page the pinned ones with
    TopTimeStamp/TopStartIndex (else they all come on the first page).
    """
    rows = list(Conversation.objects.filter(owner=user, is_hidden=False)
                .values_list("peer__user_id", "is_pinned", "last_message__time", "updated_at"))
    items = []
    for peer_id, pinned, msg_time, updated_at in rows:
        if msg_time is None and not assist_flags & 2:
            continue
        t = msg_time if msg_time is not None else int(updated_at.timestamp())
        items.append((peer_id, bool(pinned) and bool(assist_flags & 1), t))
    items.sort(key=lambda i: (-i[2], i[0]))

    def after(seq, ts, idx):
        if not ts:
            return seq
        out, same = [], 0
        for item in seq:
            if item[2] > ts:
                continue
            if item[2] == ts:
                same += 1
                if same <= idx:
                    continue
            out.append(item)
        return out

    def cursor(taken, ts, idx):
        if not taken:
            return ts, idx
        last = taken[-1][2]
        same = sum(1 for i in taken if i[2] == last)
        return last, (idx + same if last == ts else same)

    pinned = [i for i in items if i[1]]
    normal = [i for i in items if not i[1]]
    out: list = []
    top_rest = after(pinned, top_timestamp, top_start_index)
    if assist_flags & 4:
        top_taken = top_rest[:page]
    elif timestamp == 0 and start_index == 0 and top_timestamp == 0:
        top_taken = top_rest
    else:
        top_taken = []
    out += top_taken
    top_done = len(top_taken) == len(top_rest) or not assist_flags & 4
    new_top = cursor(top_taken, top_timestamp, top_start_index)
    rest = after(normal, timestamp, start_index)
    room = max(0, page - len(out)) if top_done else 0
    taken = rest[:room]
    out += taken
    new_normal = cursor(taken, timestamp, start_index)
    complete = top_done and len(taken) == len(rest)
    return {"SessionItem": [{"Type": 1, "To_Account": peer_id, "MsgTime": t,
                             "TopFlag": 1 if top else 0} for peer_id, top, t in out],
            "CompleteFlag": 1 if complete else 0,
            "TimeStamp": new_normal[0], "StartIndex": new_normal[1],
            "TopTimeStamp": new_top[0], "TopStartIndex": new_top[1]}


def sync_replay(*, user: User, since: int, limit: int = 500, upto: int | None = None,
                per_peer_cut: bool = True) -> tuple[list[dict], int]:
    """The offline cache after `since` (at most `limit` entries, none past `upto`), as
    events in seq order, and the seq reached.

    The cache is the sync log, bounded (PROTOCOL.md, Session step 3; see
    accounts.selectors.offline_cache_after): entries older than CHAT_OFFLINE_CACHE_DAYS
    (7) are not replayed, and of one peer's message entries only the newest 100 are; the
    older ones are skipped (accounts.selectors.offline_cache_dropped counts them) and the
    client pages them from history with getMessageList (`per_peer_cut=False`: none is
    skipped; for a live socket's lost publishes). Other entries replay in order.
    A fixed number of queries per page: the entries (with their per-peer rank), then the
    messages of the message entries. Call it again with `since` = the seq reached until
    that is `upto`; the seq reached covers skipped entries too.
    """
    entries = account_selectors.offline_cache_after(user_pk=user.pk, since=since, upto=upto,
                                                    limit=limit, per_peer_cut=per_peer_cut)
    ids = sorted({e.message_id for e in entries
                  if e.kind == SyncEntry.Kind.MESSAGE and e.message_id})
    messages = _messages_by_pk(ids, viewer_pk=user.pk) if ids else {}
    events = []
    for entry in entries:
        if entry.kind == SyncEntry.Kind.MESSAGE:
            found = messages.get(entry.message_id)
            # Purged from history, or out of the user's own (deleted or cleared on
            # another device since): nothing to replay, its content least of all.
            if found is None:
                continue
            msg, sender_user_id, receiver_user_id = found
            events.append({"event": "MESSAGE_RECEIVED", "seq": entry.seq, "data": [
                message_dict(msg, viewer_pk=user.pk, sender_user_id=sender_user_id,
                             receiver_user_id=receiver_user_id)]})
        elif entry.payload.get("event"):
            events.append({"event": entry.payload["event"], "seq": entry.seq,
                           "data": entry.payload.get("data")})
    if len(entries) < limit and upto is not None:
        reached = max(upto, since)  # the rest up to `upto` was skipped or expired
    else:
        reached = entries[-1].seq if entries else since
    return events, reached


def _messages_by_pk(pks: list[int], *, viewer_pk: int) -> dict[int, tuple[Message, str, str]]:
    """(message, sender's UserID, receiver's UserID) by pk, of those still in the
    viewer's history (not deleted by them, not before what they cleared), in one plain
    statement: the columns a view needs, not the users' whole rows (a replay of 1,000
    messages built 2,000 User instances)."""
    columns = ", ".join(f"m.{c}" for c in _VIEW_COLUMNS)
    with connections[router.db_for_read(Message)].cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, s.user_id, r.user_id FROM messaging_message m"
            " JOIN accounts_user s ON s.id = m.sender_id"
            " JOIN accounts_user r ON r.id = m.receiver_id"
            " LEFT JOIN messaging_conversation c ON c.owner_id = %s AND c.peer_id ="
            "  CASE WHEN m.sender_id = %s THEN m.receiver_id ELSE m.sender_id END"
            f" WHERE m.id IN ({', '.join(['%s'] * len(pks))})"
            " AND ((m.sender_id = %s AND NOT m.deleted_by_sender)"
            "      OR (m.receiver_id = %s AND NOT m.deleted_by_receiver))"
            " AND m.seq > COALESCE(c.cleared_seq, 0)",
            [viewer_pk, viewer_pk, *pks, viewer_pk, viewer_pk])
        rows = cursor.fetchall()
    return {row[0]: (_message_of(row), row[-2], row[-1]) for row in rows}


# --- the operator console ---------------------------------------------------------------

TIMELINE_PAGE = 50


def dialog_between(user_pk: int, peer_pk: int) -> Dialog | None:
    low, high = sorted((user_pk, peer_pk))
    return Dialog.objects.filter(user_low_id=low, user_high_id=high).first()


def dialog_timeline(*, dialog: Dialog | None, before: int | None = None,
                    size: int = TIMELINE_PAGE, search: str = "") -> tuple[list[Message], int | None]:
    """One page of a dialog as stored (both sides' messages, recalled and deleted ones
    included), newest first: keyset on seq, so page N costs what page 1 does. Returns
    (messages, the `before` of the next page or None at the oldest)."""
    if dialog is None:
        return [], None
    qs = Message.objects.filter(dialog=dialog)
    if before is not None:
        qs = qs.filter(seq__lt=before)
    order = "-seq"
    if search:
        qs, order = search_messages(qs, search), newest_first("seq")
    rows = list(qs.order_by(order, "-pk")[:size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].seq if more and rows else None)
