"""WebSocket ops of accounts, named as the Web SDK names them.

updateMyProfile is in relationships/profiles_ws.py: a change reaches the user's
friends too, and accounts does not know friends.
"""

from chat_project.ws import sync_op

from .selectors import profile_full


@sync_op
def get_my_profile(user, data):
    user.refresh_from_db()
    return profile_full(user)


OPS = {
    "getMyProfile": get_my_profile,
}
