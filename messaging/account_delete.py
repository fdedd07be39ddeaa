"""What a deleted account's peers lose in messaging: their conversation with it (the
dialog cascades with the account, accounts/devices.py user_delete). Their devices get
`CONVERSATION_LIST_UPDATED [{conversationID, isDeleted: true}]` in their sync log, as a
deleteConversation would send, and the new unread total live where it moved."""

from __future__ import annotations

from accounts.models import SyncEntry, User

from .models import Conversation
from .selectors import total_unread_pk


def peers_lose_conversation(user: User):
    """Before the delete: the peers holding a conversation with `user` in their list.
    Returns the part that runs after it (accounts.devices.on_user_delete)."""
    owners = dict(Conversation.objects.filter(peer=user, is_hidden=False)
                  .values_list("owner_id", "unread_count"))
    cid = f"C2C{user.user_id}"

    def after() -> tuple[list, list]:
        events = [(pk, SyncEntry.Kind.CONVERSATION, "CONVERSATION_LIST_UPDATED",
                   [{"conversationID": cid, "isDeleted": True}]) for pk in sorted(owners)]
        totals = [(pk, {"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
                        "data": total_unread_pk(pk)})
                  for pk in sorted(owners) if owners[pk] > 0]
        return events, totals

    return after
