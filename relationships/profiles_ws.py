"""WebSocket ops of profiles that reach beyond one's own account: updateMyProfile (a
change goes to one's friends too), getUserProfile, and searchUsers (Parley's: the
Web SDK's searchCloudUsers is a paid cloud search with another shape).

getMyProfile stays in accounts/ws_ops.py: it needs nobody else.
"""

from accounts.selectors import profile_full
from accounts.services import profile_fields_from_wire
from chat_project.ws import sync_op

from . import selectors, services


@sync_op
def update_my_profile(user, data, platform):
    user.refresh_from_db()
    return profile_full(services.profile_update(user=user, platform=platform,
                                                **profile_fields_from_wire(data)))


@sync_op
def get_user_profile(user, data):
    """{userIDList} (at most 100) -> their profiles; unknown UserIDs are left out."""
    return selectors.profiles_get(user_ids=data.get("userIDList"))


@sync_op
def search_users(user, data):
    """{keyword, count?} -> {userList: profiles}: UserID prefix or nick substring."""
    return {"userList": selectors.user_search(keyword=data.get("keyword"),
                                              count=data.get("count", 20))}


OPS = {
    "updateMyProfile": update_my_profile,
    "getUserProfile": get_user_profile,
    "searchUsers": search_users,
}
