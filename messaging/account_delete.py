"""What a deleted account's peers lose in messaging: their conversation with it (the
dialog cascades with the account, accounts/devices.py user_delete). Their devices get
`CONVERSATION_LIST_UPDATED [{conversationID, isDeleted: true}]` in their sync log, as a
deleteConversation would send, and the new unread total live where it moved (one
query for all of them: an account may have many peers)."""

from __future__ import annotations

from django.db.models import Sum

from accounts.models import SyncEntry, User

from .models import Conversation


def peers_lose_conversation(user: User):
    """Before the delete: the peers holding a conversation with `user` in their list.
    Returns the part that runs after it (accounts.devices.on_user_delete)."""
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
