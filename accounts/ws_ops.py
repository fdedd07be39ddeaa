"""WebSocket ops of accounts, named as the Web SDK names them."""

from chat_project.ws import sync_op

from .selectors import profile_full
from .services import profile_fields_from_wire, profile_update


@sync_op
def get_my_profile(user, data):
    user.refresh_from_db()
    return profile_full(user)


@sync_op
def update_my_profile(user, data):
    user.refresh_from_db()
    return profile_full(profile_update(user=user, **profile_fields_from_wire(data)))


OPS = {
    "getMyProfile": get_my_profile,
    "updateMyProfile": update_my_profile,
}
