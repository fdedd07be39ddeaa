"""The blocklist: block and unblock in batches (Tencent's black_list_add/_delete,
tencent-rest.md §8; the Web SDK's addToBlacklist/removeFromBlacklist).

A block ends the friendship both ways and cancels pending friend requests both ways,
in the same transaction. From then on the blocked user's messages to the blocker fail
with 20007 (relationships.selectors.send_refusals, asked inside the send transaction).

Lock order, as everywhere (messaging/persist.py): user-pair locks first, then rows, then
the sync log (one sync_publish, last). The pair lock (owner, blocked) is the one every
send between the two takes, so a send commits wholly before a block or sees it. Each
user's own lock (u, u), as relationships/friends.py takes it for a change of u's lists,
is taken too: the owner's, so one owner's blocklist writes run one at a time and the
1,000 limit holds; each target's, since their friend list and friend lists may lose
the owner. A batch runs in transactions of BATCH_CHUNK users, to bound the number of
locks one transaction holds.

Events use the shapes of relationships/friends.py: FRIEND_LIST_UPDATED
`{added, updated, deleted}` (here only `deleted`: UserIDs), FRIEND_GROUP_LIST_UPDATED
`{added, updated, deleted}` (the friend lists that lost a member, in `updated`),
FRIEND_APPLICATION_LIST_UPDATED `{friendApplicationList, unreadCount}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts import webhooks
from accounts.locks import lock_user_pairs
from accounts.models import SyncEntry, User
from accounts.selectors import users_by_user_ids
from accounts.services import sync_publish
from chat_project.errors import ChatError

from .friends import (
    APPLICATION_EVENT_LIMIT,
    DEFAULT_PLATFORM,
    after_pairs,
    bump_sequences,
    friend_group_view,
    friend_request_list,
)
from .models import Block, FriendGroup, FriendRequest, Friendship
from .selectors import block_user_ids, check_user_id_list

BLOCKLIST_MAX = 1000
BATCH_MAX = 1000
BATCH_CHUNK = 100


@dataclass(frozen=True)
class ItemResult:
    """One UserID's outcome in a batch (Tencent's ResultItem: To_Account, ResultCode,
    ResultInfo)."""

    user_id: str
    code: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0

    def as_dict(self) -> dict:
        return {"userID": self.user_id, "code": self.code, "message": self.message}


def check_block_target(*, owner: User, user_id: str, target: User | None,
                       blocked_pks: set[int], count: int) -> None:
    """May `owner` add `target` to a blocklist that holds `blocked_pks` (`count` in all)?

    30003 unknown user, 30001 oneself or already blocked, 30013 the list is full.
    """
    if target is None:
        raise ChatError(30003, f"no user {user_id!r}")
    if target.pk == owner.pk:
        raise ChatError(30001, "you cannot block yourself")
    if target.pk in blocked_pks:
        raise ChatError(30001, f"{user_id!r} is already in the blocklist")
    if count >= BLOCKLIST_MAX:
        raise ChatError(30013)


def block_add(*, owner: User, user_ids, platform: str = DEFAULT_PLATFORM) -> list[ItemResult]:
    """Add users to the owner's blocklist; one result per distinct UserID, in order.

    For the ones added: their friendships with the owner end both ways (with their
    places in friend lists) and pending requests between them are deleted. Events,
    through the sync log: BLACKLIST_UPDATED (the whole new list of UserIDs) to the
    owner; FRIEND_LIST_UPDATED to each user whose friend list lost someone,
    FRIEND_GROUP_LIST_UPDATED to each whose friend lists lost a member, and
    FRIEND_APPLICATION_LIST_UPDATED to both sides of a cancelled request.

    After-callbacks (`platform` is the OptPlatform): Sns.CallbackBlackListAdd with a
    pair per user added, and Sns.CallbackFriendDelete with a pair per friend-list entry
    the block removed (Parley's choice: an app that mirrors friendships from the
    callbacks stays right).
    """
    ids = check_user_id_list(user_ids, limit=BATCH_MAX, code=30001)
    targets = users_by_user_ids(ids)
    results: dict[str, ItemResult] = {}
    for i in range(0, len(ids), BATCH_CHUNK):
        results.update(_block_chunk(owner, ids[i:i + BATCH_CHUNK], targets, platform))
    return [results[uid] for uid in ids]


def _block_chunk(owner: User, ids: list[str], targets: dict[str, User],
                 platform: str) -> dict[str, ItemResult]:
    found = [targets[uid] for uid in ids if uid in targets]
    with transaction.atomic():
        _lock(owner, found)
        # Taken after the locks: later than the commit of every send it must follow.
        now = timezone.now()
        count = Block.objects.filter(owner_id=owner.pk).count()
        blocked = set(Block.objects.filter(owner_id=owner.pk, blocked_id__in=[t.pk for t in found])
                      .values_list("blocked_id", flat=True))
        results: dict[str, ItemResult] = {}
        added: list[User] = []
        for uid in ids:
            target = targets.get(uid)
            try:
                check_block_target(owner=owner, user_id=uid, target=target,
                                   blocked_pks=blocked, count=count)
            except ChatError as exc:
                results[uid] = ItemResult(uid, exc.code, exc.message)
                continue
            blocked.add(target.pk)
            count += 1
            added.append(target)
            results[uid] = ItemResult(uid)
        if added:
            Block.objects.bulk_create([Block(owner=owner, blocked=t, created_at=now)
                                       for t in added])
            by_pk = {owner.pk: owner, **{t.pk: t for t in added}}
            unfriended, regrouped = _end_friendships(owner, by_pk)
            unrequested = _cancel_requests(owner.pk, list(by_pk))
            _publish(owner.pk, by_pk, unfriended=unfriended, regrouped=regrouped,
                     unrequested=unrequested)
            after_pairs(webhooks.BLACKLIST_ADD, [(owner.user_id, t.user_id) for t in added],
                        platform=platform)
            after_pairs(webhooks.FRIEND_DELETE,
                        [(by_pk[pk].user_id, uid) for pk in sorted(unfriended)
                         for uid in unfriended[pk]], platform=platform)
    return results


def block_remove(*, owner: User, user_ids,
                 platform: str = DEFAULT_PLATFORM) -> list[ItemResult]:
    """Take users off the owner's blocklist; one result per distinct UserID (30003
    unknown user, 30001 not in the list). The owner's devices get BLACKLIST_UPDATED,
    the app Sns.CallbackBlackListDelete (a pair per user removed).
    Nothing else comes back: friendships and requests ended by the block stay ended."""
    ids = check_user_id_list(user_ids, limit=BATCH_MAX, code=30001)
    targets = users_by_user_ids(ids)
    results: dict[str, ItemResult] = {}
    for i in range(0, len(ids), BATCH_CHUNK):
        chunk = ids[i:i + BATCH_CHUNK]
        found = [targets[uid] for uid in chunk if uid in targets]
        with transaction.atomic():
            _lock(owner, found, targets_too=False)
            present = set(Block.objects.filter(owner_id=owner.pk,
                                               blocked_id__in=[t.pk for t in found])
                          .values_list("blocked_id", flat=True))
            removed = []
            for uid in chunk:
                target = targets.get(uid)
                if target is None:
                    results[uid] = ItemResult(uid, 30003, f"no user {uid!r}")
                elif target.pk not in present:
                    results[uid] = ItemResult(uid, 30001, f"{uid!r} is not in the blocklist")
                else:
                    removed.append(target.pk)
                    results[uid] = ItemResult(uid)
            if removed:
                Block.objects.filter(owner_id=owner.pk, blocked_id__in=removed).delete()
                _publish(owner.pk, {}, unfriended={}, regrouped={}, unrequested=set())
                after_pairs(webhooks.BLACKLIST_DELETE,
                            [(owner.user_id, uid) for uid in chunk
                             if results[uid].ok], platform=platform)
    return [results[uid] for uid in ids]


def _lock(owner: User, targets: list[User], *, targets_too: bool = True) -> None:
    """One sorted call: each (owner, target) pair, the owner's own lock, and (for a block,
    which may change the targets' friend lists) each target's own lock."""
    pairs = [(owner.pk, owner.pk), *((owner.pk, t.pk) for t in targets)]
    if targets_too:
        pairs += [(t.pk, t.pk) for t in targets]
    lock_user_pairs(pairs)


def _end_friendships(owner: User, by_pk: dict[int, User]
                     ) -> tuple[dict[int, list[str]], dict[int, set[str]]]:
    """Delete the friendships between the owner and the others in `by_pk`, both ways
    (friend-list memberships go with them). Returns, per user whose list changed, the
    UserIDs taken out of it, and per user, the names of their friend lists that lost a
    member."""
    others = [pk for pk in by_pk if pk != owner.pk]
    both_ways = (Q(owner_id=owner.pk, friend_id__in=others)
                 | Q(owner_id__in=others, friend_id=owner.pk))
    rows = list(Friendship.objects.filter(both_ways).values_list("id", "owner_id", "friend_id"))
    unfriended: dict[int, list[str]] = {}
    regrouped: dict[int, set[str]] = {}
    if not rows:
        return unfriended, regrouped
    ids = [r[0] for r in rows]
    for group_owner, name in FriendGroup.members.through.objects.filter(
            friendship_id__in=ids).values_list("friendgroup__owner_id", "friendgroup__name"):
        regrouped.setdefault(group_owner, set()).add(name)
    Friendship.objects.filter(pk__in=ids).delete()
    for _, row_owner, friend in sorted(rows):
        unfriended.setdefault(row_owner, []).append(by_pk[friend].user_id)
    return unfriended, regrouped


def _cancel_requests(owner_pk: int, pks: list[int]) -> set[int]:
    """Delete pending requests between the owner and `pks`, both directions; return
    everyone whose application list changed (both sides of each)."""
    both_ways = (Q(requester_id=owner_pk, target_id__in=pks)
                 | Q(requester_id__in=pks, target_id=owner_pk))
    sides = list(FriendRequest.objects.filter(both_ways).values_list("requester_id", "target_id"))
    if sides:
        FriendRequest.objects.filter(both_ways).delete()
    return {pk for pair in sides for pk in pair}


def _publish(owner_pk: int, by_pk: dict[int, User], *, unfriended: dict[int, list[str]],
             regrouped: dict[int, set[str]], unrequested: set[int]) -> None:
    """One sync_publish for the whole change, so its sync heads lock in one sorted
    statement (two statements could deadlock against another writer's). The sequences
    (relationships.models.SnsSequence) move first, in one sorted upsert too."""
    steps = {owner_pk: [0, 0, 0, 1]}
    for pk in unfriended:
        steps.setdefault(pk, [0, 0, 0, 0])[0] = 1
    for pk in regrouped:
        step = steps.setdefault(pk, [0, 0, 0, 0])
        step[0] = step[2] = 1
    bump_sequences({pk: tuple(step) for pk, step in steps.items()})
    items = [(owner_pk, SyncEntry.Kind.BLACKLIST, "BLACKLIST_UPDATED",
              block_user_ids(owner_pk=owner_pk))]
    for pk in sorted(unfriended):
        items.append((pk, SyncEntry.Kind.FRIEND, "FRIEND_LIST_UPDATED",
                      {"added": [], "updated": [], "deleted": sorted(unfriended[pk])}))
    for pk in sorted(regrouped):
        groups = (FriendGroup.objects.filter(owner_id=pk, name__in=regrouped[pk])
                  .order_by("id").prefetch_related(Prefetch(
                      "members", Friendship.objects.select_related("friend").order_by("id"))))
        items.append((pk, SyncEntry.Kind.FRIEND_GROUP, "FRIEND_GROUP_LIST_UPDATED",
                      {"added": [], "updated": [friend_group_view(g) for g in groups],
                       "deleted": []}))
    for pk in sorted(unrequested):
        items.append((pk, SyncEntry.Kind.FRIEND_APPLICATION, "FRIEND_APPLICATION_LIST_UPDATED",
                      friend_request_list(user=by_pk[pk], limit=APPLICATION_EVENT_LIMIT)))
    sync_publish(items)
