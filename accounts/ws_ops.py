"""WebSocket ops of accounts, named as the Web SDK names them.

updateMyProfile is in relationships/profiles_ws.py: a change reaches the user's
friends too, and accounts does not know friends.

| op | data | reply data |
| --- | --- | --- |
| getMyProfile | {} | the profile |
| getUserStatus | {userIDList} (at most 500) | {successUserList: [{userID, statusType, customStatus}], failureUserList: [{userID, code, message}]} |
| subscribeUserStatus | {userIDList} | {failureUserList}; the socket gets USER_STATUS_UPDATED when one of them comes online or goes offline, or sets a custom status (at most 200 users per socket) |
| unsubscribeUserStatus | {userIDList?} (none: all) | {failureUserList} |
| setSelfStatus | {customStatus} (at most 100 bytes; "" clears) | {userID, statusType, customStatus}; the user's devices and subscribers get USER_STATUS_UPDATED |

statusType: 1 online, 2 offline, 3 never logged in. USER_STATUS_UPDATED's data is the
list [{userID, statusType, customStatus}], as the Web SDK hands it to its listener.
"""

from channels.db import database_sync_to_async

from chat_project.errors import ChatError
from chat_project.ws import field, sync_op

from . import devices, presence
from .selectors import profile_full, users_by_user_ids

STATUS_QUERY_MAX = 500
SUBSCRIPTIONS_MAX = 200


@sync_op
def get_my_profile(user, data):
    user.refresh_from_db()
    return profile_full(user)


def _user_id_list(data: dict, *, required: bool = True, limit: int = STATUS_QUERY_MAX):
    ids = field(data, "userIDList", list, required=required)
    if ids is None:
        return None
    if not all(isinstance(i, str) and i for i in ids):
        raise ChatError(910003, "userIDList must be a list of UserIDs")
    if len(ids) > limit:
        raise ChatError(910003, f"userIDList has more than {limit} UserIDs")
    return list(dict.fromkeys(ids))


@sync_op
def get_user_status(user, data):
    return presence.user_status_list(_user_id_list(data))


@sync_op
def set_self_status(user, data):
    return devices.self_status_set(user=user, custom_status=field(data, "customStatus", str))


def _unknown(user_id: str) -> dict:
    return {"userID": user_id, "code": 70107, "message": "UserID does not exist"}


async def subscribe_user_status(consumer, data):
    ids = _user_id_list(data, limit=SUBSCRIPTIONS_MAX)
    found = await database_sync_to_async(users_by_user_ids)(ids)
    subs: dict = consumer.status_subs
    failure = []
    for user_id in ids:
        user = found.get(user_id)
        if user is None:
            failure.append(_unknown(user_id))
        elif user.pk not in subs and len(subs) >= SUBSCRIPTIONS_MAX:
            failure.append({"userID": user_id, "code": 910003,
                            "message": f"at most {SUBSCRIPTIONS_MAX} subscriptions per socket"})
        elif user.pk not in subs:
            subs[user.pk] = user_id
            await consumer.channel_layer.group_add(presence.status_group(user.pk),
                                                   consumer.channel_name)
    return {"failureUserList": failure}


async def unsubscribe_user_status(consumer, data):
    ids = _user_id_list(data, required=False, limit=SUBSCRIPTIONS_MAX)
    subs: dict = consumer.status_subs
    by_id = {user_id: pk for pk, user_id in subs.items()}
    failure = []
    if ids is None:
        ids = list(by_id)
    for user_id in ids:
        pk = by_id.get(user_id)
        if pk is None:
            failure.append({"userID": user_id, "code": 910004,
                            "message": "not subscribed to this user"})
            continue
        del subs[pk]
        await consumer.channel_layer.group_discard(presence.status_group(pk),
                                                   consumer.channel_name)
    return {"failureUserList": failure}


OPS = {
    "getMyProfile": get_my_profile,
    "getUserStatus": get_user_status,
    "setSelfStatus": set_self_status,
    "subscribeUserStatus": subscribe_user_status,
    "unsubscribeUserStatus": unsubscribe_user_status,
}
