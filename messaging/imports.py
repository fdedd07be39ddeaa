"""Importing history from another system (/v4 openim/importmsg, tencent-rest.md §3.3).

An imported message goes through the one send pipeline (messaging.services) as an
`Origin.IMPORT` send: its time and created_at are the caller's MsgTimeStamp (the dialog's
seq still grows, so a page of getMessageList shows imports in the order they were
imported, while admin_getroammsg orders by MsgTimeStamp, then MsgSeq); the key that
makes two imports the same message is (MsgSeq, MsgRandom, MsgTimeStamp) in the dialog,
whichever way From/To point, and a later import never overwrites the first. No webhook,
no relationship or mute check (SEND_RULES); the conversations of both sides are updated.

`realtime` (SyncFromOldSystem 5, or 1 as older clients send): unread for the receiver,
delivered to both users' devices like a message sent now. Not realtime (2):
historical, read already, no unread, no sync entries, no message event (the
conversations still change, and say so).

An import older than CHAT_HISTORY_DAYS lands in history but leaves it at the next
hourly purge, as Tencent's roaming store keeps 7 days by default.
"""

from __future__ import annotations

from accounts.models import User
from chat_project.errors import ChatError

from .commands import SYNC_ALL, Origin, SendCommand
from .services import message_send_many


def message_import(*, sender: User, to: str, elements: list, random: int, time: int,
                   realtime: bool, msg_seq: int | None = None,
                   cloud_custom_data: str = "") -> dict:
    """Import one message; return it as the sender sees it (the stored one when the
    import key repeats). Raises ChatError."""
    [result] = message_send_many([SendCommand(
        origin=Origin.IMPORT, sender=sender, to=to, elements=elements, random=random,
        time=time, msg_seq=msg_seq, cloud_custom_data=cloud_custom_data,
        historical=not realtime, sync_other_machine=SYNC_ALL)])
    if isinstance(result, ChatError):
        raise result
    return result
