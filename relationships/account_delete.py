"""What a deleted account's peers lose in relationships: the friend (and its place in
their friend lists), the pending request either way, the block. The rows cascade with
the account (accounts/devices.py user_delete); the peers' devices get the events each
change would have sent (relationships/friends.py, blocklist.py) in their sync logs, and
their SnsSequence counters move."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from accounts.models import SyncEntry, User

from .friends import (
    APPLICATION_EVENT_LIMIT,
    _applications,
    _members_prefetch,
    bump_sequences,
    friend_group_view,
)
from .models import Block, FriendGroup, FriendRequest, Friendship
from .selectors import block_user_ids


def peers_lose_relationships(user: User):
    """Before the delete: who has `user` as a friend, in a friend list, in a pending
    request or in their blocklist. Returns the part that runs after it
    (accounts.devices.on_user_delete)."""
    friend_of = set(Friendship.objects.filter(friend=user).values_list("owner_id", flat=True))
    groups: dict[int, set[str]] = defaultdict(set)
    for owner, name in FriendGroup.members.through.objects.filter(
            friendship__friend=user).values_list("friendgroup__owner_id", "friendgroup__name"):
        groups[owner].add(name)
    blockers = set(Block.objects.filter(blocked=user).values_list("owner_id", flat=True))
    requests = set()
    for requester, target in FriendRequest.objects.filter(
            Q(requester=user) | Q(target=user)).values_list("requester_id", "target_id"):
        requests.add(target if requester == user.pk else requester)
    for pks in (friend_of, blockers, requests):  # the account's own rows go with it
        pks.discard(user.pk)
    groups.pop(user.pk, None)

    def after() -> tuple[list, list]:
        bump_sequences({pk: (int(pk in friend_of or pk in groups), 0, int(pk in groups),
                             int(pk in blockers))
                        for pk in friend_of | set(groups) | blockers})
        events = []
        for pk in sorted(friend_of):
            events.append((pk, SyncEntry.Kind.FRIEND, "FRIEND_LIST_UPDATED",
                           {"added": [], "updated": [], "deleted": [user.user_id]}))
        for pk in sorted(groups):
            views = FriendGroup.objects.filter(owner_id=pk, name__in=groups[pk]).order_by(
                "id").prefetch_related(_members_prefetch())
            events.append((pk, SyncEntry.Kind.FRIEND_GROUP, "FRIEND_GROUP_LIST_UPDATED",
                           {"added": [], "updated": [friend_group_view(g) for g in views],
                            "deleted": []}))
        for pk in sorted(blockers):
            events.append((pk, SyncEntry.Kind.BLACKLIST, "BLACKLIST_UPDATED",
                           block_user_ids(owner_pk=pk)))
        for pk in sorted(requests):
            events.append((pk, SyncEntry.Kind.FRIEND_APPLICATION,
                           "FRIEND_APPLICATION_LIST_UPDATED",
                           _applications(pk, limit=APPLICATION_EVENT_LIMIT)))
        return events, []

    return after
