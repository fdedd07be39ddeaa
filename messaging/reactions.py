"""Message reactions (Tencent's addMessageReaction and the rest): the two people of a
one-to-one conversation react to a message with a reaction ID (an emoji, most often)
and take it back; both see who reacted with what.

Every door calls these services (WebSocket ops in message_ws.py, native REST in
messaging/api/); doors only translate.

A reaction is a (message, reactionID, person) row. A message's reactions are listed in
the order each reaction ID first came, each with its people in the order they came:
Tencent's ReactionInfo {reactionID, totalUserCount, partialUserList: [{userID, nick,
avatar}], reactedByMyself}. The message row is locked for an add or a remove (the global
lock order: messaging/persist.py), so two at once on one message are ordered and the
counts stay true.

Rules (Tencent's where Tencent documents one):
- Adding a reaction one has already made is refused, 23007 (Tencent's "the reaction
  already contains the current user"); removing one not made, 23008 (Parley's pick:
  the next number; Tencent's code for it was not found). A client that wants
  "make it so" treats these two as done.
- Up to 20 reaction IDs a message (23005, Tencent's "too many reactions on the
  message"; the number is Parley's). Tencent's 23006 (too many people on one reaction)
  cannot happen here: a message has two people.
- A reaction ID is a string of 1 to 100 UTF-8 bytes (Parley's bound), no NUL: 10004.
- getMessageReactions: 1 to 20 messages a call, up to maxUserCountPerReaction (0 to 10,
  default 10) people each reaction. getAllUserListOfMessageReaction: `count` 1 to 100
  (default 20) people from `nextSeq` (0 first); it answers the nextSeq to ask next and
  isCompleted.

Who: the message's sender and receiver while it is in their history (not deleted by
them, not before what they cleared). Anyone else, or a message purged from history:
23004, as for a message that does not exist. A recalled message takes no reactions
and has none (a recall deletes them): an add or a remove is 20023 ("recalled"); a
read answers it with no reactions. No /v4 door (Tencent has no REST command for
reactions).

Event (to each of the two whose history holds the message, every device, the acting
one too; logged in the sync log, kind "reaction", and replayed at login like the other
change events): MESSAGE_REACTIONS_UPDATED {messageID, reactionList: [the reaction that
changed, as that user sees it]}; a reaction nobody holds any more comes with
totalUserCount 0 and an empty partialUserList.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from accounts.models import SyncEntry, User
from accounts.services import sync_publish
from chat_project.errors import ChatError

from .extensions import audience
from .models import Message, Reaction
from .selectors import cleared_seqs, in_history
from .views import message_public_id

MAX_ID_BYTES = 100
MAX_PER_MESSAGE = 20
MAX_MESSAGES = 20
MAX_USERS_SHOWN = 10
USER_PAGE_DEFAULT = 20
USER_PAGE_MAX = 100

BAD_PARAMETER = 10004
RECALLED = 20023
NOT_FOUND = 23004
TOO_MANY = 23005
ALREADY = 23007
NOT_MINE = 23008

EVENT = "MESSAGE_REACTIONS_UPDATED"


@dataclass(frozen=True)
class ReactionInfo:
    reaction_id: str
    total: int
    users: list[User]
    by_me: bool

    def as_dict(self) -> dict:
        return {"reactionID": self.reaction_id, "totalUserCount": self.total,
                "partialUserList": [user_dict(u) for u in self.users],
                "reactedByMyself": self.by_me}


def user_dict(user: User) -> dict:
    return {"userID": user.user_id, "nick": user.nick, "avatar": user.avatar}


# --- checks ----------------------------------------------------------------------------

def check_reaction_id(reaction_id) -> str:
    ok = isinstance(reaction_id, str) and "\x00" not in reaction_id
    try:
        size = len(reaction_id.encode()) if ok else 0
    except UnicodeEncodeError:  # a lone surrogate: PostgreSQL text cannot hold it
        size = 0
    if not 1 <= size <= MAX_ID_BYTES:
        raise ChatError(BAD_PARAMETER,
                        f"reactionID must be a string of 1 to {MAX_ID_BYTES} bytes")
    return reaction_id


def _check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ChatError(BAD_PARAMETER, f"{name} must be an integer from {low} to {high}")
    return value


# --- access ----------------------------------------------------------------------------

def _access_messages(message_pks: list[int], actor: User, *, lock: bool) -> list[Message]:
    """The messages, in the order asked (locked when `lock`), if all are the actor's to
    see; 23004 otherwise, alike for one that does not exist."""
    query = Message.objects.filter(pk__in=message_pks)
    if lock:
        query = query.select_for_update()
    found = {m.pk: m for m in query}
    peers = {m.receiver_id if m.sender_id == actor.pk else m.sender_id for m in found.values()}
    cleared = cleared_seqs(actor.pk, peers) if found else {}
    out = []
    for pk in message_pks:
        msg = found.get(pk)
        peer = None if msg is None else (
            msg.receiver_id if msg.sender_id == actor.pk else msg.sender_id)
        if msg is None or not in_history(msg, actor.pk, cleared.get(peer)):
            raise ChatError(NOT_FOUND, "message not found")
        out.append(msg)
    return out


def _people(message_pks: list[int], *, only: str | None = None) -> dict[int, dict[str, list]]:
    """Each message's reaction IDs with their people, in the order they came (one
    query for all)."""
    rows = (Reaction.objects.filter(message_id__in=message_pks)
            .select_related("user").only("message_id", "reaction_id", "user__user_id",
                                         "user__nick", "user__avatar").order_by("pk"))
    if only is not None:
        rows = rows.filter(reaction_id=only)
    grouped: dict[int, dict[str, list[User]]] = {pk: {} for pk in message_pks}
    for row in rows:
        grouped[row.message_id].setdefault(row.reaction_id, []).append(row.user)
    return grouped


def _as_seen_by(people: dict[str, list], viewer_pk: int, max_users: int) -> list[ReactionInfo]:
    return [ReactionInfo(rid, len(users), users[:max_users],
                         any(u.pk == viewer_pk for u in users))
            for rid, users in people.items()]


def _publish(msg: Message, reaction_id: str) -> None:
    """The changed reaction, as each of the two sees it, to their sync logs."""
    people = _people([msg.pk], only=reaction_id)[msg.pk] or {reaction_id: []}
    public_id = message_public_id(msg.pk, msg.time, msg.random)
    sync_publish([(pk, SyncEntry.Kind.REACTION, EVENT, {
        "messageID": public_id,
        "reactionList": [i.as_dict() for i in _as_seen_by(people, pk, MAX_USERS_SHOWN)]})
        for pk in audience(msg)])


# --- services --------------------------------------------------------------------------

def reaction_add(*, message_pk: int, actor: User, reaction_id) -> None:
    """React to a message. Errors: 23004 not the actor's, 20023 recalled, 23007 made
    already, 23005 the message holds 20 reaction IDs, 10004 a bad reactionID."""
    reaction_id = check_reaction_id(reaction_id)
    with transaction.atomic():
        [msg] = _access_messages([message_pk], actor, lock=True)
        if msg.is_revoked:
            raise ChatError(RECALLED, "the message was recalled: it takes no reactions")
        held = dict(Reaction.objects.filter(message_id=msg.pk).values("reaction_id")
                    .annotate(n=Count("pk")).values_list("reaction_id", "n"))
        if reaction_id in held and Reaction.objects.filter(
                message_id=msg.pk, reaction_id=reaction_id, user=actor).exists():
            raise ChatError(ALREADY, "you have already reacted with this reactionID")
        if reaction_id not in held and len(held) >= MAX_PER_MESSAGE:
            raise ChatError(TOO_MANY, f"a message holds at most {MAX_PER_MESSAGE} reactions")
        Reaction.objects.create(message_id=msg.pk, reaction_id=reaction_id, user=actor)
        _publish(msg, reaction_id)


def reaction_remove(*, message_pk: int, actor: User, reaction_id) -> None:
    """Take one's reaction back. Errors: 23004 not the actor's, 20023 recalled, 23008
    not made, 10004 a bad reactionID."""
    reaction_id = check_reaction_id(reaction_id)
    with transaction.atomic():
        [msg] = _access_messages([message_pk], actor, lock=True)
        if msg.is_revoked:
            raise ChatError(RECALLED, "the message was recalled: it has no reactions")
        gone, _ = Reaction.objects.filter(message_id=msg.pk, reaction_id=reaction_id,
                                          user=actor).delete()
        if not gone:
            raise ChatError(NOT_MINE, "you have not reacted with this reactionID")
        _publish(msg, reaction_id)


def reactions_get(*, message_pks, actor: User,
                  max_users=MAX_USERS_SHOWN) -> list[tuple[Message, list[ReactionInfo]]]:
    """The reactions of 1 to 20 messages, in the order asked (a message named twice
    comes once), each reaction with up to `max_users` (0 to 10) of its people. A
    recalled message has none."""
    if not isinstance(message_pks, list) or not 1 <= len(message_pks) <= MAX_MESSAGES:
        raise ChatError(BAD_PARAMETER, f"give 1 to {MAX_MESSAGES} messages")
    max_users = _check_int(max_users, "maxUserCountPerReaction", 0, MAX_USERS_SHOWN)
    msgs = _access_messages(list(dict.fromkeys(message_pks)), actor, lock=False)
    people = _people([m.pk for m in msgs])
    return [(m, _as_seen_by(people[m.pk], actor.pk, max_users)) for m in msgs]


def reaction_users(*, message_pk: int, actor: User, reaction_id, next_seq=0,
                   count=USER_PAGE_DEFAULT) -> dict:
    """The people of one reaction, `count` (1 to 100) from `next_seq` (0 first), in the
    order they reacted: {userList, nextSeq, isCompleted}."""
    reaction_id = check_reaction_id(reaction_id)
    start = _check_int(next_seq, "nextSeq", 0, 2**31 - 1)
    count = _check_int(count, "count", 1, USER_PAGE_MAX)
    [msg] = _access_messages([message_pk], actor, lock=False)
    rows = list(Reaction.objects.filter(message_id=msg.pk, reaction_id=reaction_id)
                .select_related("user").order_by("pk")[start:start + count + 1])
    done = len(rows) <= count
    return {"userList": [user_dict(r.user) for r in rows[:count]],
            "nextSeq": 0 if done else start + count, "isCompleted": done}


def reactions_drop(*, message_pk: int) -> None:
    """Delete a message's reactions (the recall calls it, in its transaction); no event:
    the recall's own tells the devices."""
    Reaction.objects.filter(message_id=message_pk).delete()


def reaction_list_dict(msg: Message, infos: list[ReactionInfo]) -> dict:
    """One message of getMessageReactions' resultList."""
    return {"messageID": message_public_id(msg.pk, msg.time, msg.random),
            "reactionList": [i.as_dict() for i in infos]}
