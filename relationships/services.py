"""Writes of relationships: the app's public surface for every door and other app.

Friends, friend requests and friend lists live in relationships/friends.py, the
blocklist in relationships/blocklist.py; their services are re-exported here. Profile changes pass through here because everyone who has
the user as a friend must learn them, and accounts cannot know friends.
"""

from __future__ import annotations

from django.db import transaction

from accounts import services as account_services
from accounts.models import User
from chat_project.errors import ChatError

from .blocklist import BLOCKLIST_MAX, ItemResult, block_add, block_remove, check_block_target
from .friends import (
    friend_add,
    friend_delete,
    friend_delete_all,
    friend_group_add_members,
    friend_group_create,
    friend_group_delete,
    friend_group_remove_members,
    friend_group_rename,
    friend_request_accept,
    friend_request_delete,
    friend_request_mark_read,
    friend_request_refuse,
    friend_update,
)
from .models import Friendship, SendPolicy

__all__ = [
    # blocklist (relationships/blocklist.py)
    "BLOCKLIST_MAX", "ItemResult", "block_add", "block_remove", "check_block_target",
    # profiles and the send policy (below)
    "profile_update", "send_policy_set",
    # friends, requests and friend lists (relationships/friends.py)
    "friend_add", "friend_delete", "friend_delete_all", "friend_update",
    "friend_request_accept", "friend_request_refuse", "friend_request_delete",
    "friend_request_mark_read", "friend_group_create", "friend_group_delete",
    "friend_group_rename", "friend_group_add_members", "friend_group_remove_members",
]

# --- profiles ---------------------------------------------------------------------------

def profile_update(*, user: User, **fields) -> User:
    """Change the user's own profile (accounts.services.profile_update: the checks and
    codes); PROFILE_UPDATED goes to the user's devices and to the devices of everyone
    who has the user in their friend list, through their sync logs."""
    with transaction.atomic():
        fans = Friendship.objects.filter(friend_id=user.pk).values_list("owner_id", flat=True)
        return account_services.profile_update(user=user, notify_pks=list(fans), **fields)


# --- who may send -----------------------------------------------------------------------

def send_policy_set(*, rule: str) -> SendPolicy:
    """Set the deployment's rule of who may message whom; the next send obeys it
    (every send reads the rule afresh, in its own transaction)."""
    if rule not in SendPolicy.Rule.values:
        raise ChatError(910003, f"rule must be one of {SendPolicy.Rule.values}")
    with transaction.atomic():
        policy = SendPolicy.objects.select_for_update().filter(pk=1).first() or SendPolicy()
        policy.rule = rule
        policy.save()
    return policy
