"""What a message's offline push says now, for push: a modify's new text for the
deliveries still to be sent (messaging.changes.message_modify), and the delivery task's
read of its batch's messages as they are when it makes their deliveries
(push.pipeline.read_messages_with, registered in apps.py: push does not import
messaging).

A message's first push task may run after the message changed (a queue backed up
behind a slow vendor): the job it carries was built at the send. The task reads its
messages here, in the transaction that makes their deliveries, locked shared (FOR KEY
SHARE, in id order, as a send locks merged lists) so that a modify, a recall or a
deletion of one of them (each takes the message FOR UPDATE first) either commits
before the read, and is read, or waits until the deliveries are committed, and then
finds them (message_renote, the withdrawals). The same statement reads whether the
receiver has read the message already (on another device, while the task waited): a
message read is not pushed.

A read takes no message lock: it locks the dialog (FOR UPDATE), then, in its next
statement, its conversations, asking whether they have pushes to withdraw
(push.selectors.open_deliveries_sql). So the task first locks its messages' dialogs
(FOR KEY SHARE, by user pair, as a send and messaging/persist.py's lock order take
them; a send's bump of the dialog, FOR NO KEY UPDATE, does not wait for it). A read
either locked the dialog first, and the task's read of the messages, a statement
after, sees it committed (not pushed), or waits for the deliveries to be committed
and its conversations' statement, taken after that, finds them (withdrawn). Before,
a read that committed while the task made the deliveries saw none of them, and the
push went out for a message already read.
"""

from __future__ import annotations

from django.db import connection

from accounts.models import User
from push.content import notification_for
from push.providers.base import Notification

from .models import Conversation, Dialog, Message


def push_note(msg: Message, sender_user_id: str) -> Notification | None:
    """The notification of `msg` as it is now (as a first push renders it, the badge
    aside), or None when it has nothing to push."""
    return notification_for(
        elements=msg.elements, nick=msg.nick, sender_user_id=sender_user_id,
        push_info=msg.offline_push_info, badge=None, message_key=msg.public_id,
        conversation_id=f"C2C{sender_user_id}")


_COLUMNS = (
    "m.id, m.time, m.random, m.is_revoked, m.deleted_by_receiver, m.is_modified, m.nick,"
    # the content only of a modified message: the others are pushed as sent
    " CASE WHEN m.is_modified THEN m.elements END AS elements,"
    " CASE WHEN m.is_modified THEN m.offline_push_info END AS offline_push_info,"
    " u.user_id AS sender_user_id,"
    # read by its receiver already (on another device, while the task waited)
    " EXISTS (SELECT 1 FROM {conversations} c WHERE c.owner_id = m.receiver_id"
    " AND c.peer_id = m.sender_id AND c.read_seq >= m.seq) AS is_read")


# The messages' dialogs, locked shared before the messages are read (see above). One
# row back: the locks are what is wanted.
_LOCK_DIALOGS = (
    f"SELECT count(*) FROM (SELECT 1 FROM {Dialog._meta.db_table} d WHERE d.id IN"
    f" (SELECT m.dialog_id FROM {Message._meta.db_table} m WHERE m.id = ANY(%s))"
    " ORDER BY d.user_low_id, d.user_high_id FOR KEY SHARE) locked")


def pushes_now(message_ids: list[int]) -> dict[int, Notification | None]:
    """push.pipeline's MessagesNow: of these messages, those changed since their send,
    with their notification now (a modified one) or None (recalled, deleted by its
    receiver, read by its receiver already, gone, or modified into nothing to push).
    Two statements: their dialogs locked, then the messages read and locked."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    columns = _COLUMNS.format(conversations=Conversation._meta.db_table)
    tables = (f"FROM {Message._meta.db_table} m JOIN {User._meta.db_table} u"
              " ON u.id = m.sender_id")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_DIALOGS, [ids])
        rows = Message.objects.raw(f"SELECT {columns} {tables} WHERE m.id = ANY(%s)"
                                   " ORDER BY m.id FOR KEY SHARE OF m", [ids])
    else:  # SQLite: one writer at a time, nothing to lock
        marks = ", ".join("%s" for _ in ids)
        rows = Message.objects.raw(f"SELECT {columns} {tables} WHERE m.id IN ({marks})"
                                   " ORDER BY m.id", ids)
    found = set()
    changed: dict[int, Notification | None] = {}
    for msg in rows:
        found.add(msg.pk)
        if msg.is_revoked or msg.deleted_by_receiver or msg.is_read:
            changed[msg.pk] = None
        elif msg.is_modified:
            changed[msg.pk] = push_note(msg, msg.sender_user_id)
    changed.update({pk: None for pk in ids if pk not in found})
    return changed
