"""Writes of relationships: the app's public surface for every door and other app.

Friends, friend requests and friend lists live in relationships/friends.py, the
blocklist in relationships/blocklist.py; their services are re-exported here. Profile changes pass through here because everyone who has
the user as a friend must learn them, and accounts cannot know friends.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts import webhook_tasks, webhooks
from accounts.models import AdminForbidType, SyncEntry, User
from accounts.selectors import profile_full
from chat_project.errors import ChatError

from .blocklist import BLOCKLIST_MAX, ItemResult, block_add, block_remove, check_block_target
from .friends import (
    DEFAULT_PLATFORM,
    after_friend_add,
    friend_add,
    friend_delete,
    friend_delete_all,
    friend_group_add_members,
    friend_group_create,
    friend_group_delete,
    friend_group_remove_members,
    friend_group_rename,
    friend_groups_add,
    friend_groups_delete,
    friend_import,
    friend_request_accept,
    friend_request_delete,
    friend_request_mark_read,
    friend_request_refuse,
    friend_update,
    sequences,
)
from .models import Friendship, SendPolicy
from .selectors import COLUMN_PROFILE_TAGS

__all__ = [
    # blocklist (relationships/blocklist.py)
    "BLOCKLIST_MAX", "ItemResult", "block_add", "block_remove", "check_block_target",
    # profiles, account import and the send policy (below)
    "profile_update", "account_import", "send_policy_set", "ADMIN_PROFILE_FIELDS",
    # friends, requests and friend lists (relationships/friends.py)
    "DEFAULT_PLATFORM", "after_friend_add", "sequences", "friend_import", "friend_groups_add",
    "friend_groups_delete",
    "friend_add", "friend_delete", "friend_delete_all", "friend_update",
    "friend_request_accept", "friend_request_refuse", "friend_request_delete",
    "friend_request_mark_read", "friend_group_create", "friend_group_delete",
    "friend_group_rename", "friend_group_add_members", "friend_group_remove_members",
]

# --- profiles ---------------------------------------------------------------------------

# Profile fields only an app admin sets (Tencent's AdminForbidType, Level, Role): the
# /v4 door passes them. accounts.services.profile_update does not take them (yet), so
# they are checked and written here, in the same transaction and the same event.
ADMIN_PROFILE_FIELDS = ("admin_forbid_type", "level", "role")
_INT_COLUMN_MAX = 2**31 - 1  # level and role are PositiveIntegerField


def check_admin_fields(fields: dict) -> None:
    for name, value in fields.items():
        if name == "admin_forbid_type":
            if value not in AdminForbidType.values:
                raise ChatError(40605, f"adminForbidType must be one of {AdminForbidType.values}")
        elif isinstance(value, bool) or not isinstance(value, int) \
                or not 0 <= value <= _INT_COLUMN_MAX:
            raise ChatError(40605, f"{name} must be an integer from 0 to {_INT_COLUMN_MAX}")


def profile_update(*, user: User, operator: str | None = None,
                   platform: str = DEFAULT_PLATFORM, **fields) -> User:
    """Change the user's own profile (accounts.services.profile_update: the checks and
    codes); PROFILE_UPDATED goes to the user's devices and to the devices of everyone
    who has the user in their friend list, through their sync logs.

    `fields` are accounts' profile columns, plus ADMIN_PROFILE_FIELDS. After commit,
    Profile.CallbackPortraitSet carries the items set (`ProfileItem: [{Tag, Value}]`),
    `Operator_Account` (the app admin via /v4, else the user) and OptPlatform
    `platform`.
    """
    admin = {name: fields.pop(name) for name in ADMIN_PROFILE_FIELDS if name in fields}
    check_admin_fields(admin)
    account_services.check_profile_fields(fields)
    if not fields and not admin:
        return user
    with transaction.atomic():
        fans = list(Friendship.objects.filter(friend_id=user.pk)
                    .values_list("owner_id", flat=True))
        if admin:
            User.objects.filter(pk=user.pk).update(**admin, profile_updated_at=timezone.now())
            for name, value in admin.items():
                setattr(user, name, value)
        if fields:
            user = account_services.profile_update(user=user, notify_pks=fans, **fields)
        else:  # only admin fields: the same event accounts' update would send
            profile = [profile_full(user)]
            account_services.sync_publish(
                [(pk, SyncEntry.Kind.PROFILE, "PROFILE_UPDATED", profile)
                 for pk in [user.pk, *sorted(set(fans) - {user.pk})]])
        items = [{"Tag": COLUMN_PROFILE_TAGS[name], "Value": value}
                 for name, value in {**fields, **admin}.items() if name in COLUMN_PROFILE_TAGS]
        items += [{"Tag": key, "Value": value}
                  for key, value in fields.get("profile_custom", {}).items()]
        webhook_tasks.after(webhooks.PORTRAIT_SET, {
            "Operator_Account": operator or user.user_id, "From_Account": user.user_id,
            "EventTime": int(time.time() * 1000), "ProfileItem": items}, platform=platform)
    return user


# Profile fields an import sets (Tencent's Nick and FaceUrl).
IMPORT_PROFILE_FIELDS = ("nick", "avatar")


def account_import(*, user_id: str, nick: str = "", avatar: str = "",
                   operator: str | None = None,
                   platform: str = DEFAULT_PLATFORM) -> tuple[User, bool]:
    """Import an account (/v4 account_import, multiaccount_import): (user, created).

    A UserID that does not exist is created with this nick and avatar
    (accounts.services.user_import: 7003 a bad UserID, 40601/40605 a bad value). One
    that exists gets them, as Tencent's import updates an existing account, through
    profile_update: its devices and its friends' learn it (PROFILE_UPDATED) and
    Profile.CallbackPortraitSet fires, as for any profile change. One signed up on the
    web UI with a password is refused (910010) and nothing changes.

    An empty nick or avatar is "not given": an import never blanks a profile (backends
    import on every login with whatever defaults they hold; portrait_set clears a
    field). Values the account already has change nothing and announce nothing.
    """
    user, created = account_services.user_import(user_id=user_id, nick=nick, avatar=avatar)
    if created:
        return user, True
    given = {"nick": nick, "avatar": avatar}
    changes = {name: given[name] for name in IMPORT_PROFILE_FIELDS
               if given[name] and given[name] != getattr(user, name)}
    if changes:
        user = profile_update(user=user, operator=operator, platform=platform, **changes)
    return user, False


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
