"""What a deleted account's peers lose in messaging: their conversation with it (the
dialog cascades with the account, accounts/devices.py user_delete). Their devices get
`CONVERSATION_LIST_UPDATED [{conversationID, isDeleted: true}]` in their sync log, as a
deleteConversation would send, and the new unread total live where it moved (one
query for all of them: an account may have many peers).

Before anything is deleted, the account's dialogs and then their messages are locked
(FOR UPDATE: the dialogs by user pair, then the messages by id: the global lock order,
messaging/persist.py); the conversations and sync heads come after, in the cascade.
The history purge takes a batch's messages before its conversations too, so a deletion
racing the purge of one of its messages waits for the batch, or the batch for it
(tests/messaging/test_lock_order.py). A write to a message's extensions or reactions
(messaging/extensions.py, messaging/reactions.py) holds the message's lock and then takes the sync heads of its two people: the delete
took the account's sync head first and then waited for the message, and one of the two
failed with "deadlock detected" (the account_delete, or the write with its rows left
behind). Now a write in flight commits first and the delete's statements see its rows;
a write after it waits and finds no message (23004).
(tests/messaging/test_purge_races.py)"""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, Sum

from accounts.models import SyncEntry, User

from .models import Conversation, Dialog, Message

# One row back, however many messages: the locks are what is wanted.
_LOCK_MESSAGES = f"""
SELECT count(*) FROM (
    SELECT 1 FROM {Message._meta.db_table} WHERE dialog_id = ANY(%s) ORDER BY id FOR UPDATE
) locked"""


def _lock_messages(user: User) -> None:
    """The account's dialogs, then their messages, locked until the delete commits."""
    # In the order every send takes dialogs (messaging/persist.py): by user pair.
    dialogs = list(Dialog.objects.filter(Q(user_low=user) | Q(user_high=user))
                   .order_by("user_low", "user_high").select_for_update()
                   .values_list("pk", flat=True))
    if not dialogs or connection.vendor != "postgresql":  # SQLite: one writer at a time
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_MESSAGES, [sorted(dialogs)])


def peers_lose_conversation(user: User):
    """Before the delete: the peers holding a conversation with `user` in their list.
    Returns the part that runs after it (accounts.devices.on_user_delete). Locks the
    account's dialogs and messages first (the module's docstring says why)."""
    _lock_messages(user)
    owners = dict(Conversation.objects.filter(peer=user, is_hidden=False)
                  .exclude(owner=user).values_list("owner_id", "unread_count"))
    cid = f"C2C{user.user_id}"

    def after() -> tuple[list, list]:
        events = [(pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                   [{"conversationID": cid, "isDeleted": True}]) for pk in sorted(owners)]
        moved = sorted(pk for pk, unread in owners.items() if unread > 0)
        now = dict(Conversation.objects.filter(owner_id__in=moved, unread_count__gt=0)
                   .values("owner_id").annotate(n=Sum("unread_count"))
                   .values_list("owner_id", "n")) if moved else {}
        totals = [(pk, {"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED", "data": now.get(pk, 0)})
                  for pk in moved]
        return events, totals

    return after
