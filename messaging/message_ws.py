"""WebSocket ops on stored messages and conversations, named as the Web SDK names them.

Each op is a thin translation to a service in messaging/changes.py; the consumer
(messaging/consumers.py) merges OPS last, so an op here replaces the consumer's own.

| op | data | reply data |
| --- | --- | --- |
| `revokeMessage` | `{messageID}` | the message, `isRevoked: true`, no content (20016 after 2 min, 20022 not yours, 20023 already) |
| `modifyMessage` | `{messageID, elements?, cloudCustomData?, version?}` | the message, `isModified: true` (20028 when `version` is stale) |
| `deleteMessage` | `{messageIDList}` (1 to 30, one conversation) | `{messageIDList}` |
| `deleteConversation` | `{conversationID, clearHistoryMessage?: true}` or `{conversationIDList: [...]}` | `{conversationIDList}` |
| `clearHistoryMessage` | `{conversationID}` | `{conversationID}` |
| `pinConversation` | `{conversationID, isPinned}` | `{conversationID}` (51012 over 50 pinned) |
| `setConversationDraft` | `{conversationID, draftText}` | `{}` |
| `setMessageRead` | `{conversationID}` | `{}` |
| `sendMessageReadReceipt` | `{messageIDList}` (messages received, one conversation) | `{}` |
| `setMessageRemindType` | `{userIDList (1 to 30), messageRemindType: AcceptAndNotify, AcceptNotNotify or Discard}` | `{}`; the conversations show `messageRemindType` (910021, 910022, 20003) |
| `setAllReceiveMessageOpt` | `{opt: 0 / "AcceptAndNotify" or 2 / "AcceptNotNotify", startHour, startMinute, startSecond (UTC), duration (s, ≤ 86400)}` | getAllReceiveMessageOpt's reply (910020) |
| `getAllReceiveMessageOpt` | `{}` | `{allReceiveMessageOpt, startHour, startMinute, startSecond, duration}` |
| `downloadMergerMessage` | `{downloadKey}` (a stored merged message's, messaging/merged.py) | `{messageList}`; 20022 to anyone without the message in their history, as for a key that does not exist |
| `setMessageExtensions` | `{messageID, extensions: [{key, value, seq?}]}` (1 to 20; `seq`: the key's version as last seen, 0 or absent for a new key) | `{extensions: [{code, key, value, seq}]}`: code 0, or 23001 with the stored value and seq (messaging/extensions.py); 23003 over 200 writes a minute on the message |
| `getMessageExtensions` | `{messageID, startSeq?}` | `{extensions: [{key, value, seq}], isCompleted, latestSeq, clearSeq}` (200 a page; next page from the last seq + 1) |
| `deleteMessageExtensions` | `{messageID, extensions?: [{key, seq}]}` or `{messageID, keyList?: [key]}` (seq 0); neither: clear all | `{extensions: [{code, key, value, seq}]}` (23003 as for a set) |
| `addMessageReaction` | `{messageID, reactionID}` (1 to 100 bytes) | `{}` (23007 made already, 23005 over 20 reaction IDs on the message, 20023 recalled: messaging/reactions.py) |
| `removeMessageReaction` | `{messageID, reactionID}` | `{}` (23008 not made) |
| `getMessageReactions` | `{messageIDList (1 to 20), maxUserCountPerReaction? (0 to 10, default 10)}` | `{resultList: [{messageID, reactionList: [{reactionID, totalUserCount, partialUserList: [{userID, nick, avatar}], reactedByMyself}]}]}` |
| `getAllUserListOfMessageReaction` | `{messageID, reactionID, nextSeq? (0 first), count? (1 to 100, default 20)}` | `{userList: [{userID, nick, avatar}], nextSeq, isCompleted}` |
| `typing` | `{to, typing?: true}` | `{}`; the peer's online devices get `TYPING` {from, conversationID, typing} (not stored; nothing when the peer may not be messaged) |

Events these cause (each with its sync-log seq, replayed on reconnect):
`MESSAGE_REVOKED` [message], `MESSAGE_MODIFIED` [message], `MESSAGE_DELETED`
{conversationID, messageIDList} (the caller's other devices), `CONVERSATION_LIST_UPDATED`
(a deleted conversation is `{conversationID, isDeleted: true}`), `MESSAGE_READ_BY_PEER`
[{conversationID, peerReadSeq, peerReadTime, messageIDList?}], followed by the reader's
peer's conversation in `CONVERSATION_LIST_UPDATED` (its new `peerReadTime`),
`MESSAGE_EXTENSIONS_UPDATED` {messageID, extensions: [{key, value, seq}]} and
`MESSAGE_EXTENSIONS_DELETED` {messageID, keyList} (both participants' devices),
`MESSAGE_REACTIONS_UPDATED` {messageID, reactionList: [the reaction that changed, as
that user sees it; totalUserCount 0 when nobody holds it any more]} (both people's
devices, the acting one too).
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat_project.errors import ChatError
from push import services as push_services

from . import changes, extensions, merged, reactions
from .views import extension_page_dict, extension_results_dict


def _platform(consumer) -> str:
    return getattr(consumer, "platform", None) or "Web"


async def _call(fn, **kwargs):
    return await database_sync_to_async(fn)(**kwargs)


def _peer(data: dict):
    return changes.peer_for(data.get("conversationID"))


async def op_revoke_message(consumer, data):
    pk = changes.message_pk(data.get("messageID"))
    return await _call(changes.message_revoke, message_pk=pk, actor=consumer.user,
                       platform=_platform(consumer))


async def op_modify_message(consumer, data):
    pk = changes.message_pk(data.get("messageID"))
    kwargs = {k: data[w] for w, k in (("elements", "elements"),
                                      ("cloudCustomData", "cloud_custom_data")) if w in data}
    return await _call(changes.message_modify, message_pk=pk, actor=consumer.user,
                       version=data.get("version"), **kwargs)


async def op_delete_message(consumer, data):
    return await _call(changes.messages_delete, user=consumer.user,
                       message_ids=data.get("messageIDList"))


def _delete_conversations(user, ids, clear):
    peers = [changes.peer_for(cid) for cid in ids]
    return [changes.conversation_delete(user=user, peer=p, clear_history=clear)["conversationID"]
            for p in peers]


async def op_delete_conversation(consumer, data):
    ids = data.get("conversationIDList")
    if ids is None:
        ids = [data.get("conversationID")]
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise ChatError(910003, "conversationIDList must hold 1 to 100 conversation IDs")
    clear = data.get("clearHistoryMessage", True)
    done = await database_sync_to_async(_delete_conversations)(consumer.user, ids, clear)
    return {"conversationIDList": done}


async def op_clear_history_message(consumer, data):
    return await database_sync_to_async(
        lambda: changes.conversation_clear_history(user=consumer.user, peer=_peer(data)))()


async def op_pin_conversation(consumer, data):
    return await database_sync_to_async(
        lambda: changes.conversation_pin(user=consumer.user, peer=_peer(data),
                                         is_pinned=data.get("isPinned")))()


async def op_set_conversation_draft(consumer, data):
    return await database_sync_to_async(
        lambda: changes.conversation_set_draft(user=consumer.user, peer=_peer(data),
                                               draft_text=data.get("draftText")))()


async def op_set_message_read(consumer, data):
    return await database_sync_to_async(
        lambda: changes.conversation_mark_read(user=consumer.user, peer=_peer(data),
                                               platform=_platform(consumer)))()


async def op_send_message_read_receipt(consumer, data):
    pks = changes.message_pks(data.get("messageIDList"))
    return await _call(changes.message_read_receipt, user=consumer.user, message_pks=pks,
                       platform=_platform(consumer))


async def op_typing(consumer, data):
    from .services import typing_send

    return await _call(typing_send, sender=consumer.user, to=data.get("to"),
                       typing=data.get("typing", True))


async def op_set_message_remind_type(consumer, data):
    return await _call(changes.conversation_remind_set, user=consumer.user,
                       user_ids=data.get("userIDList"),
                       remind_type=data.get("messageRemindType"))


async def op_set_all_receive_message_opt(consumer, data):
    return await _call(push_services.receive_option_set, user=consumer.user,
                       opt=data.get("opt"), start_hour=data.get("startHour", 0),
                       start_minute=data.get("startMinute", 0),
                       start_second=data.get("startSecond", 0),
                       duration=data.get("duration", 0))


async def op_get_all_receive_message_opt(consumer, data):
    return await _call(push_services.receive_option_get, user=consumer.user)


async def op_set_message_extensions(consumer, data):
    pk = changes.message_pk(data.get("messageID"))
    items = extensions.items_from_wire(data.get("extensions"), with_values=True)
    return extension_results_dict(await _call(extensions.extensions_set, message_pk=pk,
                                              actor=consumer.user, items=items))


async def op_delete_message_extensions(consumer, data):
    pk = changes.message_pk(data.get("messageID"))
    items = extensions.items_from_wire(data.get("extensions"), data.get("keyList"),
                                       with_values=False)
    return extension_results_dict(await _call(extensions.extensions_delete, message_pk=pk,
                                              actor=consumer.user, items=items))


async def op_get_message_extensions(consumer, data):
    pk = changes.message_pk(data.get("messageID"))
    return extension_page_dict(await _call(extensions.extensions_get, message_pk=pk,
                                           actor=consumer.user,
                                           start_seq=data.get("startSeq", 0)))


async def op_add_message_reaction(consumer, data):
    await _call(reactions.reaction_add, message_pk=changes.message_pk(data.get("messageID")),
                actor=consumer.user, reaction_id=data.get("reactionID"))
    return {}


async def op_remove_message_reaction(consumer, data):
    await _call(reactions.reaction_remove,
                message_pk=changes.message_pk(data.get("messageID")),
                actor=consumer.user, reaction_id=data.get("reactionID"))
    return {}


async def op_get_message_reactions(consumer, data):
    ids = data.get("messageIDList")
    if not isinstance(ids, list) or not 1 <= len(ids) <= reactions.MAX_MESSAGES:
        raise ChatError(reactions.BAD_PARAMETER,
                        f"messageIDList must hold 1 to {reactions.MAX_MESSAGES} message IDs")
    got = await _call(reactions.reactions_get, message_pks=[changes.message_pk(i) for i in ids],
                      actor=consumer.user,
                      max_users=data.get("maxUserCountPerReaction", reactions.MAX_USERS_SHOWN))
    return {"resultList": [reactions.reaction_list_dict(m, infos) for m, infos in got]}


async def op_get_all_user_list_of_message_reaction(consumer, data):
    return await _call(reactions.reaction_users,
                       message_pk=changes.message_pk(data.get("messageID")),
                       actor=consumer.user, reaction_id=data.get("reactionID"),
                       next_seq=data.get("nextSeq", 0),
                       count=data.get("count", reactions.USER_PAGE_DEFAULT))


async def op_download_merger_message(consumer, data):
    return await _call(merged.access_merged_list, user=consumer.user,
                       download_key=data.get("downloadKey"))


OPS: dict = {
    "revokeMessage": op_revoke_message,
    "modifyMessage": op_modify_message,
    "deleteMessage": op_delete_message,
    "deleteConversation": op_delete_conversation,
    "clearHistoryMessage": op_clear_history_message,
    "pinConversation": op_pin_conversation,
    "setConversationDraft": op_set_conversation_draft,
    "setMessageRead": op_set_message_read,
    "sendMessageReadReceipt": op_send_message_read_receipt,
    "typing": op_typing,
    "setMessageRemindType": op_set_message_remind_type,
    "setAllReceiveMessageOpt": op_set_all_receive_message_opt,
    "getAllReceiveMessageOpt": op_get_all_receive_message_opt,
    "downloadMergerMessage": op_download_merger_message,
    "setMessageExtensions": op_set_message_extensions,
    "getMessageExtensions": op_get_message_extensions,
    "deleteMessageExtensions": op_delete_message_extensions,
    "addMessageReaction": op_add_message_reaction,
    "removeMessageReaction": op_remove_message_reaction,
    "getMessageReactions": op_get_message_reactions,
    "getAllUserListOfMessageReaction": op_get_all_user_list_of_message_reaction,
}
