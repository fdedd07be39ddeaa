"""WebSocket ops of the blocklist, named as the Web SDK names them.

Replies are what the Web SDK's promises resolve to: addToBlacklist and
removeFromBlacklist the UserIDs added or removed, getBlacklist the whole list. A batch
in which no UserID succeeded fails with the first item's code (30001 already in or not
in the list, 30003 unknown user, 30013 list full), so a single-user call reads like any
other failed op; the REST door returns every item's result. checkBlacklist is
Parley's (Tencent has it only in REST): {userIDList, type} -> [{userID, relation, code,
message}].
"""

from chat_project.errors import ChatError
from chat_project.ws import sync_op

from . import selectors, services


def _succeeded(results: list) -> list[str]:
    done = [r.user_id for r in results if r.ok]
    if not done:
        first = results[0]
        raise ChatError(first.code, first.message)
    return done


@sync_op
def add_to_blacklist(user, data, platform):
    return _succeeded(services.block_add(owner=user, user_ids=data.get("userIDList"),
                                         platform=platform))


@sync_op
def remove_from_blacklist(user, data, platform):
    return _succeeded(services.block_remove(owner=user, user_ids=data.get("userIDList"),
                                            platform=platform))


@sync_op
def get_blacklist(user, data):
    return selectors.block_user_ids(owner_pk=user.pk)


@sync_op
def check_blacklist(user, data):
    return selectors.block_check(owner=user, user_ids=data.get("userIDList"),
                                 check_type=data.get("type", selectors.BlackCheck.SINGLE))


OPS = {
    "addToBlacklist": add_to_blacklist,
    "removeFromBlacklist": remove_from_blacklist,
    "getBlacklist": get_blacklist,
    "checkBlacklist": check_blacklist,
}
