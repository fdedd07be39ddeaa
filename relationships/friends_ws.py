"""WebSocket ops for friends, named as the Web SDK names them (tencent-rest.md §15.4).

Each op's `data` is the SDK method's options object; its reply is what the SDK's
promise resolves to, with one exception: getFriendList is paged (a list of 3,000
friends with their profiles is too big for one frame), so the JS SDK gathers pages.
Every rule lives in relationships.friends; a key an op does not know is refused (910003)
rather than dropped, so a misspelt option is not taken for a change that was made.

| op | data | reply data |
| --- | --- | --- |
| addFriend | {to, source, wording?, type?, remark?, groupName?} | {userID, code: 0 or 30539, message} |
| deleteFriend | {userIDList, type?} | {successUserIDList: [{userID}], failureUserIDList: [{userID, code, message}]} |
| deleteAllFriends (Parley's) | {type?} | {successUserIDList} |
| checkFriend | {userIDList, type?} | {successUserIDList: [{userID, code, relation}], failureUserIDList} |
| getFriendList | {startIndex?, count?} | {friendList, nextStartIndex, isCompleted, friendNum} |
| getFriendProfile | {userIDList} | {friendList, failureUserIDList} |
| updateFriend | {userID, remark?, friendCustomField?} | Friend |
| getFriendApplicationList | {type?} | {friendApplicationList, unreadCount} |
| acceptFriendApplication | {userID, type, remark?} | {userID} |
| refuseFriendApplication | {userID} | {userID} |
| deleteFriendApplication | {userID, type} | {userID} |
| setFriendApplicationRead | {} | {} |
| getFriendGroupList | {} | [FriendGroup] |
| createFriendGroup | {name, userIDList?} | {friendGroup, failureUserIDList} |
| deleteFriendGroup | {name} | {friendGroup} |
| renameFriendGroup | {oldName, newName} | {friendGroup} |
| addToFriendGroup / removeFromFriendGroup | {name, userIDList} | {friendGroup, failureUserIDList} |
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from channels.db import database_sync_to_async

from accounts import webhooks
from chat_project.errors import ChatError
from chat_project.ws import sync_op

from . import friends


def _only(data: dict, *allowed: str) -> dict:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ChatError(910003, f"unknown option(s): {', '.join(unknown)}")
    return data


def _asked_op(kind: str, args: Callable[[dict], dict]) -> Callable:
    """An op for a client's friend action `kind` that its pre-callback puts to the app first
    (relationships.friends, "the app's say"): the call is built and the answer applied
    on the database thread, and awaited between on the webhooks' call pool, so a slow
    app holds up this socket's op only, not every socket's database work."""
    ask = database_sync_to_async(friends.friend_ask)
    act = database_sync_to_async(friends.CLIENT_ACTIONS[kind])

    async def handler(consumer, data: dict):
        kwargs = args(data)
        platform = getattr(consumer, "platform", None) or "Unknown"
        one = await ask(kind, user=consumer.user, platform=platform,
                        client_ip=getattr(consumer, "client_ip", ""), **kwargs)
        asked = None
        if one is not None:
            call = await asyncio.get_running_loop().run_in_executor(
                webhooks.calls_pool(), webhooks.ask, one)
            asked = (one, call)
        return await act(user=consumer.user, platform=platform, asked=asked, **kwargs)

    handler.__name__ = f"{kind}_friend_op"
    return handler


def _add_args(data: dict) -> dict:
    d = _only(data, "to", "source", "wording", "type", "remark", "groupName")
    return {"to": d.get("to"), "source": d.get("source"), "add_type": d.get("type"),
            "remark": d.get("remark"), "group_name": d.get("groupName"),
            "wording": d.get("wording")}


def _refuse_args(data: dict) -> dict:
    return {"user_id": _only(data, "userID").get("userID")}


add_friend = _asked_op("add", _add_args)


@sync_op
def delete_friend(user, data, platform):
    d = _only(data, "userIDList", "type")
    return friends.friend_delete(user=user, user_ids=d.get("userIDList"),
                                 delete_type=d.get("type"), platform=platform)


@sync_op
def delete_all_friends(user, data, platform):
    d = _only(data, "type")
    return friends.friend_delete_all(user=user, delete_type=d.get("type"), platform=platform)


@sync_op
def check_friend(user, data):
    d = _only(data, "userIDList", "type")
    return friends.friend_check(user=user, user_ids=d.get("userIDList"),
                                check_type=d.get("type"))


@sync_op
def get_friend_list(user, data):
    d = _only(data, "startIndex", "count")
    return friends.friend_list(user=user, start_index=d.get("startIndex"),
                               count=d.get("count"))


@sync_op
def get_friend_profile(user, data):
    d = _only(data, "userIDList")
    return friends.friend_profiles(user=user, user_ids=d.get("userIDList"))


@sync_op
def update_friend(user, data):
    d = _only(data, "userID", "remark", "friendCustomField")
    return friends.friend_update(user=user, user_id=d.get("userID"), remark=d.get("remark"),
                                 custom_fields=d.get("friendCustomField"))


@sync_op
def get_friend_application_list(user, data):
    d = _only(data, "type")
    return friends.friend_request_list(user=user, pendency_type=d.get("type"))


def _accept_args(data: dict) -> dict:
    d = _only(data, "userID", "type", "remark")
    return {"user_id": d.get("userID"), "action": d.get("type"), "remark": d.get("remark")}


accept_friend_application = _asked_op("accept", _accept_args)
refuse_friend_application = _asked_op("refuse", _refuse_args)


@sync_op
def delete_friend_application(user, data):
    d = _only(data, "userID", "type")
    return friends.friend_request_delete(user=user, user_id=d.get("userID"),
                                         pendency_type=d.get("type"))


@sync_op
def set_friend_application_read(user, data):
    _only(data)
    return friends.friend_request_mark_read(user=user)


@sync_op
def get_friend_group_list(user, data):
    _only(data)
    return friends.friend_group_list(user=user)


@sync_op
def create_friend_group(user, data):
    d = _only(data, "name", "userIDList")
    return friends.friend_group_create(user=user, name=d.get("name"),
                                       user_ids=d.get("userIDList"))


@sync_op
def delete_friend_group(user, data):
    d = _only(data, "name")
    return friends.friend_group_delete(user=user, name=d.get("name"))


@sync_op
def rename_friend_group(user, data):
    d = _only(data, "oldName", "newName")
    return friends.friend_group_rename(user=user, old_name=d.get("oldName"),
                                       new_name=d.get("newName"))


@sync_op
def add_to_friend_group(user, data):
    d = _only(data, "name", "userIDList")
    return friends.friend_group_add_members(user=user, name=d.get("name"),
                                            user_ids=d.get("userIDList"))


@sync_op
def remove_from_friend_group(user, data):
    d = _only(data, "name", "userIDList")
    return friends.friend_group_remove_members(user=user, name=d.get("name"),
                                               user_ids=d.get("userIDList"))


OPS = {
    "addFriend": add_friend,
    "deleteFriend": delete_friend,
    "deleteAllFriends": delete_all_friends,
    "checkFriend": check_friend,
    "getFriendList": get_friend_list,
    "getFriendProfile": get_friend_profile,
    "updateFriend": update_friend,
    "getFriendApplicationList": get_friend_application_list,
    "acceptFriendApplication": accept_friend_application,
    "refuseFriendApplication": refuse_friend_application,
    "deleteFriendApplication": delete_friend_application,
    "setFriendApplicationRead": set_friend_application_read,
    "getFriendGroupList": get_friend_group_list,
    "createFriendGroup": create_friend_group,
    "deleteFriendGroup": delete_friend_group,
    "renameFriendGroup": rename_friend_group,
    "addToFriendGroup": add_to_friend_group,
    "removeFromFriendGroup": remove_from_friend_group,
}
