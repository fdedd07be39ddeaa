"""Friends, friend requests and friend lists: the services (writes) and selectors (reads)
every door calls (WebSocket ops in friends_ws.py, REST views in api/friends.py).

Names and values are Tencent's (shared/tencent-rest.md §7 and §15): `Add_Type_*`,
`Delete_Type_*`, `CheckResult_Type_*`, `Pendency_Type_*`, `Response_Action_*`,
`AddSource_Type_<keyword>`, `Tag_SNS_Custom_<key>`. Every refusal is a ChatError with
Tencent's SNS code, in every door alike: a value that breaks a rule (too long, badly
formed, myself) is 30001 (bad parameters); a missing argument, or one of the wrong JSON
type, is Parley's 910003, as for every op (chat_project.ws.field).

Adding a friend (`friend_add`) follows the target's allow type:
- `AllowType_Type_AllowAny`: added at once. `Add_Type_Single` puts the target in the
  requester's list only; `Add_Type_Both` (the default) puts each in the other's list.
- `AllowType_Type_NeedConfirm`: a pending FriendRequest is made (or refreshed: new
  time, wording and source, unread again) and the answer carries code 30539. It is
  not an error: the Web SDK resolves `addFriend` with `{code: 30539}`.
- `AllowType_Type_DenyAny`: refused with 30516.
- If the target already has the requester in their own list, the target chose the
  relation already: the add goes through at once whatever the allow type.

Answering a request (`friend_request_accept`), as Tencent's SDKs describe it (the
docs of acceptFriendApplication: "Agree: one-way friend"; "AgreeAndAdd: two-way"):
- `Response_Action_Agree`: the requester gets the acceptor in their list, with the
  remark, list name, source and wording the request carried. The acceptor's own list
  does not change: a one-way relation, requester -> acceptor.
- `Response_Action_AgreeAndAdd`: the same, and the acceptor also puts the requester in
  their own list (with the `remark` the acceptor gives): a two-way relation.
The request's own Add_Type is kept as asked, but the acceptor's action decides; so an
Add_Type_Both request that is accepted with Agree becomes one-way.
Refusing and deleting a request remove the same row: the request is gone for both
sides (`deleteFriendApplication` with Pendency_Type_SendOut withdraws my request;
with Pendency_Type_ComeIn it dismisses one sent to me, like a refusal).
A request whose wish is fulfilled some other way (the requester got the target in
their list) is removed too.

Limits and codes: 3,000 friends (30010 for my list, 30014 for the peer's), 32 friend
lists (30011; a list named on add is created when missing), list names 1-30 bytes,
remark 96 bytes, wording 256 bytes, source `AddSource_Type_` + 1-8 letters, custom
field keys `Tag_SNS_Custom_` + 1-8 letters/digits/underscores with string values of at
most 500 bytes (20 keys per friend), 300 pending requests sent (30012). Blocks: 30515
when I block the peer, 30525 when the peer blocks me, for adds and accepts alike.
Adding myself is 30001; an unknown UserID is 30003; a pending request that is not
there is 30614; deleting someone who is not a friend is 31704; putting a non-friend
in a friend list is 32216.

Concurrency: every write takes accounts.locks.lock_user_pairs first, for each pair
whose friendship may change and for each user whose list, lists or count changes (the
pair (u, u) is that user's own lock), then touches rows, then appends to the sync
logs last (sync_publish), which is the global lock order of messaging/persist.py.
A send from A to B takes the same pair lock, so it sees an unfriending that committed
before it, and one that commits after it waits. Batch deletes run in transactions of
at most DELETE_BATCH peers, to keep the number of locks one transaction holds small.

Events, appended to each affected user's sync log (so an offline device gets them on
its next login) and published after commit; each side of a change gets its own, and a
user whose list, lists and requests did not change gets none (a one-way add leaves the
peer's list as it was):
- FRIEND_LIST_UPDATED: the change, not the whole list:
  `{"added": [Friend], "updated": [Friend], "deleted": [userID]}`. A friend whose
  lists (groupList) changed is in `updated`.
- FRIEND_GROUP_LIST_UPDATED: `{"added": [FriendGroup], "updated": [FriendGroup],
  "deleted": [name]}`; a rename is the old name deleted and the new one added.
- FRIEND_APPLICATION_LIST_UPDATED: like the Web SDK, `{"friendApplicationList",
  "unreadCount"}`: the user's pending requests both ways, newest first, at most
  APPLICATION_EVENT_LIMIT of them (getFriendApplicationList has them all), and the
  number of unread requests sent to the user.

App admins (the /v4 door, relationships/v4.py) have two more ways in: `friend_add`
with `force` (ForceAddFlags=1: the target's allow type is skipped, blocks are not), and
`friend_import` (one way, times and custom fields as given, no after-callback).

Sequences (relationships.models.SnsSequence): every publish step moves the owners'
standard/custom/groups/blocklist counters (`bump_sequences`), in the transaction of the
change; friend_get, group_* and black_list_get hand them out as Tencent does.

After-callbacks (tencent-rest.md §14.2), queued in the change's transaction through
accounts.webhook_tasks.after: Sns.CallbackFriendAdd (friend_add: ClientCmd friend_add,
Admin_Account, ForceFlag; friend_request_accept: friend_response), and
Sns.CallbackFriendDelete (one pair per list entry removed). Each service takes the
door's `platform` (OptPlatform); DEFAULT_PLATFORM ("Unknown") when a door names none.

Objects (Web SDK names): Friend `{userID, remark, groupList, source, wording, addTime,
profile, friendCustomField: [{key, value}]}`; FriendApplication `{userID, avatar,
nick, time, source, wording, type}` (type Pendency_Type_ComeIn or _SendOut);
FriendGroup `{name, userIDList, count}`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts import webhook_tasks, webhooks
from accounts.locks import lock_user_pairs
from accounts.models import AllowType, SyncEntry, User
from accounts.selectors import profile_full, users_by_user_ids
from accounts.services import sync_publish
from chat_project.errors import ChatError

from .models import AddType, Block, FriendGroup, FriendRequest, Friendship, SnsSequence
from .selectors import START_INDEX_MAX, check_user_id_list, is_blocked

MAX_FRIENDS = 3000
MAX_FRIEND_GROUPS = 32
MAX_PENDING_SENT = 300
MAX_CUSTOM_FIELDS = 20
APPLICATION_EVENT_LIMIT = 100
DELETE_BATCH = 100
MAX_USER_IDS = 1000  # per call: delete, check, friend-list members (Tencent's limit)
MAX_PROFILE_IDS = 100  # getFriendProfile (Tencent's friend_get_list)
MAX_IMPORT_ITEMS = 100  # friend_import per call (Parley's bound; Tencent names none)
FRIEND_PAGE_DEFAULT = 100
FRIEND_PAGE_MAX = 1000

REMARK_BYTES = 96
WORDING_BYTES = 256
GROUP_NAME_BYTES = 30
CUSTOM_VALUE_BYTES = 500

_SOURCE_RE = re.compile(r"AddSource_Type_[A-Za-z]{1,8}")
_CUSTOM_KEY_RE = re.compile(r"Tag_SNS_Custom_[A-Za-z0-9_]{1,8}")


class DeleteType:
    SINGLE = "Delete_Type_Single"
    BOTH = "Delete_Type_Both"
    values = (SINGLE, BOTH)


class CheckType:
    SINGLE = "CheckResult_Type_Single"
    BOTH = "CheckResult_Type_Both"
    values = (SINGLE, BOTH)


class Relation:
    NONE = "CheckResult_Type_NoRelation"
    A_WITH_B = "CheckResult_Type_AWithB"
    B_WITH_A = "CheckResult_Type_BWithA"
    BOTH_WAY = "CheckResult_Type_BothWay"


class PendencyType:
    COME_IN = "Pendency_Type_ComeIn"
    SEND_OUT = "Pendency_Type_SendOut"
    BOTH = "Pendency_Type_Both"
    values = (COME_IN, SEND_OUT, BOTH)


class ResponseAction:
    AGREE = "Response_Action_Agree"
    AGREE_AND_ADD = "Response_Action_AgreeAndAdd"
    values = (AGREE, AGREE_AND_ADD)


# --- argument checks (30001 names the argument as the Web SDK does) -----------------

def _bad(message: str) -> ChatError:
    return ChatError(30001, message)


def _wrong(message: str) -> ChatError:
    return ChatError(910003, message)


def _text(value, name: str, limit: int, *, default: str | None = "") -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _wrong(f"{name} must be a string")
    if "\x00" in value:
        raise _bad(f"{name} must not hold NUL characters")
    if len(value.encode("utf-8")) > limit:
        raise _bad(f"{name} is longer than {limit} bytes (UTF-8)")
    return value


def _choice(value, name: str, allowed: Iterable[str], *, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise _wrong(f"{name} must be a string: one of {', '.join(allowed)}")
    if value not in tuple(allowed):
        raise _bad(f"{name} must be one of {', '.join(allowed)}")
    return value


def _group_name(value, name: str = "name") -> str:
    if not isinstance(value, str):
        raise _wrong(f"{name} must be a string")
    if not value or "\x00" in value:
        raise _bad(f"{name} must be a non-empty string without NUL characters")
    if len(value.encode("utf-8")) > GROUP_NAME_BYTES:
        raise _bad(f"{name} is longer than {GROUP_NAME_BYTES} bytes (UTF-8)")
    return value


def _user_id_list(value, name: str = "userIDList", *, limit: int = MAX_USER_IDS,
                  allow_empty: bool = False) -> list[str]:
    if allow_empty and (value is None or value == []):
        return []
    return check_user_id_list(value, limit=limit, code=30001, name=name)


def _peer(user: User, user_id, name: str = "userID") -> User:
    """The other user of a one-to-one operation: 30001 for myself, 30003 if unknown."""
    if not isinstance(user_id, str):
        raise _wrong(f"{name} must be a string")
    if user_id == user.user_id:
        raise _bad("that is you")
    peer = User.objects.filter(user_id=user_id).first() \
        if user_id and "\x00" not in user_id else None
    if peer is None:
        raise ChatError(30003, f"no account {user_id!r}")
    return peer


def _failure(user_id: str, code: int, message: str | None = None) -> dict:
    return {"userID": user_id, "code": code, "message": message or ChatError(code).message}


def _resolve(user: User, user_ids: list[str]) -> tuple[dict[str, User], dict[str, dict]]:
    """Known users by UserID, and the failures of the others (30001 me, 30003 unknown)."""
    found = users_by_user_ids(user_ids)
    failures = {}
    for uid in user_ids:
        if uid == user.user_id:
            failures[uid] = _failure(uid, 30001, "that is you")
        elif uid not in found:
            failures[uid] = _failure(uid, 30003)
    return {uid: u for uid, u in found.items() if uid != user.user_id}, failures


# --- views ---------------------------------------------------------------------------

def _groups_prefetch() -> Prefetch:
    return Prefetch("groups", queryset=FriendGroup.objects.only("id", "name").order_by("id"))


def _friendships(owner_pk: int):
    return (Friendship.objects.filter(owner_id=owner_pk).select_related("friend")
            .prefetch_related(_groups_prefetch()))


def friend_view(friendship: Friendship) -> dict:
    """A Friend as the Web SDK has it (plus addTime, Tencent's Tag_SNS_IM_AddTime)."""
    return {
        "userID": friendship.friend.user_id,
        "remark": friendship.remark,
        "groupList": [g.name for g in friendship.groups.all()],
        "source": friendship.add_source,
        "wording": friendship.add_wording,
        "addTime": int(friendship.add_time.timestamp()),
        "profile": profile_full(friendship.friend),
        "friendCustomField": [{"key": k, "value": v} for k, v in sorted(friendship.custom.items())],
    }


def _members_prefetch() -> Prefetch:
    return Prefetch("members", queryset=Friendship.objects.select_related("friend")
                    .only("id", "friend__user_id").order_by("id"))


def friend_group_view(group: FriendGroup) -> dict:
    ids = [m.friend.user_id for m in group.members.all()]
    return {"name": group.name, "userIDList": ids, "count": len(ids)}


def _application_view(request: FriendRequest, viewer_pk: int) -> dict:
    incoming = request.target_id == viewer_pk
    other = request.requester if incoming else request.target
    return {
        "userID": other.user_id, "avatar": other.avatar, "nick": other.nick,
        "time": int(request.created_at.timestamp()), "source": request.add_source,
        "wording": request.add_wording,
        "type": PendencyType.COME_IN if incoming else PendencyType.SEND_OUT,
    }


# --- selectors -----------------------------------------------------------------------

def friend_list(*, user: User, start_index=None, count=None) -> dict:
    """One page of my friends, in the order they were added.

    `{"friendList": [Friend], "nextStartIndex", "isCompleted", "friendNum"}`; pass
    nextStartIndex as startIndex for the next page. Three queries whatever the page
    holds (the count, the page with profiles, the pages' friend lists).
    """
    if start_index is None:
        start_index = 0
    if count is None:
        count = FRIEND_PAGE_DEFAULT
    for name, value in (("startIndex", start_index), ("count", count)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(f"{name} must be an integer")
    if not 0 <= start_index <= START_INDEX_MAX:
        raise _bad(f"startIndex must be from 0 to {START_INDEX_MAX}")
    if not 1 <= count <= FRIEND_PAGE_MAX:
        raise _bad(f"count must be from 1 to {FRIEND_PAGE_MAX}")
    total = Friendship.objects.filter(owner_id=user.pk).count()
    page = list(_friendships(user.pk).order_by("id")[start_index:start_index + count])
    end = start_index + len(page)
    return {"friendList": [friend_view(f) for f in page], "nextStartIndex": end,
            "isCompleted": end >= total, "friendNum": total}


def friend_check(*, user: User, user_ids, check_type=None) -> dict:
    """Relations with each user: `{"successUserIDList": [{userID, code: 0, relation}],
    "failureUserIDList": [{userID, code, message}]}`.

    CheckResult_Type_Single looks at my list only (AWithB or NoRelation);
    CheckResult_Type_Both (the default) at both (BothWay, AWithB, BWithA, NoRelation).
    """
    check_type = _choice(check_type, "type", CheckType.values, default=CheckType.BOTH)
    user_ids = _user_id_list(user_ids)
    found, failures = _resolve(user, user_ids)
    pks = [u.pk for u in found.values()]
    mine = set(Friendship.objects.filter(owner_id=user.pk, friend_id__in=pks)
               .values_list("friend_id", flat=True))
    theirs = set(Friendship.objects.filter(friend_id=user.pk, owner_id__in=pks)
                 .values_list("owner_id", flat=True)) if check_type == CheckType.BOTH else set()
    success = []
    for uid in user_ids:
        if uid in failures:
            continue
        pk = found[uid].pk
        a_b, b_a = pk in mine, pk in theirs
        if a_b and b_a:
            relation = Relation.BOTH_WAY
        elif a_b:
            relation = Relation.A_WITH_B
        elif b_a:
            relation = Relation.B_WITH_A
        else:
            relation = Relation.NONE
        success.append({"userID": uid, "code": 0, "relation": relation})
    return {"successUserIDList": success,
            "failureUserIDList": [failures[uid] for uid in user_ids if uid in failures]}


def friend_profiles(*, user: User, user_ids) -> dict:
    """Friends' full data: `{"friendList": [Friend], "failureUserIDList": [...]}`; a
    UserID that is not in my list fails with 30001 (Tencent's friend_get_list), an
    unknown one with 30003."""
    user_ids = _user_id_list(user_ids, limit=MAX_PROFILE_IDS)
    found, failures = _resolve(user, user_ids)
    rows = {f.friend.user_id: f for f in _friendships(user.pk)
            .filter(friend_id__in=[u.pk for u in found.values()])}
    friends = []
    for uid in user_ids:
        if uid in failures:
            continue
        if uid in rows:
            friends.append(friend_view(rows[uid]))
        else:
            failures[uid] = _failure(uid, 30001, f"{uid} is not in your friend list")
    return {"friendList": friends,
            "failureUserIDList": [failures[uid] for uid in user_ids if uid in failures]}


def friend_request_list(*, user: User, pendency_type=None, limit: int | None = None) -> dict:
    """My pending requests, newest first: `{"friendApplicationList", "unreadCount"}`.

    Pendency_Type_ComeIn: sent to me; Pendency_Type_SendOut: sent by me;
    Pendency_Type_Both (the default): both. unreadCount counts the unread ones sent
    to me, whatever the type asked.
    """
    pendency_type = _choice(pendency_type, "type", PendencyType.values,
                            default=PendencyType.BOTH)
    return _applications(user.pk, pendency_type, limit)


def _applications(user_pk: int, pendency_type: str = PendencyType.BOTH,
                  limit: int | None = None) -> dict:
    which = {PendencyType.COME_IN: Q(target_id=user_pk),
             PendencyType.SEND_OUT: Q(requester_id=user_pk),
             PendencyType.BOTH: Q(target_id=user_pk) | Q(requester_id=user_pk)}[pendency_type]
    rows = (FriendRequest.objects.filter(which).select_related("requester", "target")
            .order_by("-created_at", "-id"))
    if limit is not None:
        rows = rows[:limit]
    unread = FriendRequest.objects.filter(target_id=user_pk, is_read=False).count()
    return {"friendApplicationList": [_application_view(r, user_pk) for r in rows],
            "unreadCount": unread}


def friend_group_list(*, user: User) -> list[dict]:
    """My friend lists, oldest first, each with its members (two queries)."""
    return [friend_group_view(g) for g in FriendGroup.objects.filter(owner_id=user.pk)
            .order_by("id").prefetch_related(_members_prefetch())]


# --- events --------------------------------------------------------------------------

class _Changes:
    """What one transaction changed, per user; `publish` appends the events last."""

    def __init__(self):
        self.friends_added: dict[int, set[int]] = defaultdict(set)  # owner -> friend pks
        self.friends_updated: dict[int, set[int]] = defaultdict(set)
        self.friends_deleted: dict[int, set[str]] = defaultdict(set)  # owner -> UserIDs
        self.groups_added: dict[int, set[str]] = defaultdict(set)  # owner -> names
        self.groups_updated: dict[int, set[str]] = defaultdict(set)
        self.groups_deleted: dict[int, set[str]] = defaultdict(set)
        self.applications: set[int] = set()  # users whose pending requests changed
        # Owners whose friends' standard data (remark, lists) or custom fields changed
        # without a friend coming or going (those count by themselves).
        self.standard_changed: set[int] = set()
        self.custom_changed: set[int] = set()

    def lists_losing(self, friendship_ids: Iterable[int]) -> None:
        """The friend lists holding these friendships (about to go) change."""
        for owner, name in FriendGroup.members.through.objects.filter(
                friendship_id__in=list(friendship_ids)).values_list(
                "friendgroup__owner_id", "friendgroup__name"):
            self.groups_updated[owner].add(name)

    def publish(self) -> None:
        owners = (set(self.friends_added) | set(self.friends_updated) | set(self.friends_deleted)
                  | set(self.groups_added) | set(self.groups_updated)
                  | set(self.groups_deleted) | self.applications)
        bump_sequences(self._sequence_steps())
        events = []
        for pk in sorted(owners):
            added = self.friends_added[pk]
            updated = self.friends_updated[pk] - added
            if added or updated or self.friends_deleted[pk]:
                views = {f.friend_id: friend_view(f) for f in _friendships(pk)
                         .filter(friend_id__in=added | updated)} if added or updated else {}
                events.append((pk, SyncEntry.Kind.FRIEND, "FRIEND_LIST_UPDATED", {
                    "added": [views[p] for p in sorted(added) if p in views],
                    "updated": [views[p] for p in sorted(updated) if p in views],
                    "deleted": sorted(self.friends_deleted[pk]),
                }))
            g_added = self.groups_added[pk]
            g_updated = self.groups_updated[pk] - g_added
            g_deleted = self.groups_deleted[pk] - g_added
            if g_added or g_updated or g_deleted:
                views = {g.name: friend_group_view(g) for g in FriendGroup.objects.filter(
                    owner_id=pk, name__in=g_added | g_updated).prefetch_related(
                    _members_prefetch())}
                events.append((pk, SyncEntry.Kind.FRIEND_GROUP, "FRIEND_GROUP_LIST_UPDATED", {
                    "added": [views[n] for n in sorted(g_added) if n in views],
                    "updated": [views[n] for n in sorted(g_updated) if n in views],
                    "deleted": sorted(g_deleted),
                }))
            if pk in self.applications:
                events.append((pk, SyncEntry.Kind.FRIEND_APPLICATION,
                               "FRIEND_APPLICATION_LIST_UPDATED",
                               _applications(pk, limit=APPLICATION_EVENT_LIMIT)))
        if events:
            sync_publish(events)

    def _sequence_steps(self) -> dict[int, tuple[int, int, int, int]]:
        def who(d):
            return {pk for pk, v in d.items() if v}
        groups = who(self.groups_added) | who(self.groups_updated) | who(self.groups_deleted)
        standard = (who(self.friends_added) | who(self.friends_deleted) | groups
                    | self.standard_changed)
        steps = {}
        for pk in standard | self.custom_changed:
            steps[pk] = (int(pk in standard), int(pk in self.custom_changed),
                         int(pk in groups), 0)
        return steps


def bump_sequences(steps: dict[int, tuple[int, int, int, int]]) -> None:
    """Add (standard, custom, groups, blocklist) steps to owners' SnsSequence rows, in one
    upsert whose rows lock in sorted order (so two writers never deadlock on them).
    Runs inside the change's transaction, before its sync_publish."""
    if not steps:
        return
    pks = sorted(steps)
    table = SnsSequence._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(pks))
    params = [x for pk in pks for x in (pk, *steps[pk])]
    sets = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}"
                     for c in ("standard", "custom", "groups", "blocklist"))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (owner_id, standard, custom, groups, blocklist)"
                       f" VALUES {values} ON CONFLICT (owner_id) DO UPDATE SET {sets}", params)


def sequences(owner_pk: int) -> dict[str, int]:
    """The owner's sequences: {"standard", "custom", "groups", "blocklist"} (0 if none)."""
    row = SnsSequence.objects.filter(owner_id=owner_pk).values(
        "standard", "custom", "groups", "blocklist").first()
    return row or {"standard": 0, "custom": 0, "groups": 0, "blocklist": 0}


# --- after-callbacks (tencent-rest.md §14.2) -------------------------------------------
# Queued by the services in the change's transaction (accounts.webhook_tasks.after sends
# them after commit, and only when that callback is on), so every door fires them.
# `platform` is the OptPlatform of the door that asked: "RESTAPI" for /v4 and the
# admin, the device's platform for a client; DEFAULT_PLATFORM when a door names none.

DEFAULT_PLATFORM = "Unknown"


def after_friend_add(pairs: list[tuple[User, User]], *, initiator: User, client_cmd: str,
                      admin_account: str = "", force: bool = False,
                     platform: str = DEFAULT_PLATFORM) -> None:
    """Sns.CallbackFriendAdd for the (owner, friend) pairs added, after commit (at once
    when no transaction is open)."""
    if pairs:
        webhook_tasks.after(webhooks.FRIEND_ADD, {
            "PairList": [{"From_Account": a.user_id, "To_Account": b.user_id,
                          "Initiator_Account": initiator.user_id} for a, b in pairs],
            "ClientCmd": client_cmd, "Admin_Account": admin_account,
            "ForceFlag": 1 if force else 0}, platform=platform)


def after_pairs(command: str, pairs: list[tuple[str, str]], *,
                platform: str = DEFAULT_PLATFORM) -> None:
    """Sns.CallbackFriendDelete / BlackListAdd / BlackListDelete: PairList of UserIDs."""
    if pairs:
        webhook_tasks.after(command, {"PairList": [{"From_Account": a, "To_Account": b}
                                              for a, b in pairs]}, platform=platform)


# --- writes: helpers -----------------------------------------------------------------

def _lock(pairs: Iterable[tuple[int, int]] = (), owners: Iterable[int] = ()) -> None:
    """Pair locks for friendships that may change, and each owner's own lock (u, u) for
    their list, lists and counts; one sorted call, so lockers never deadlock."""
    lock_user_pairs([*pairs, *((pk, pk) for pk in owners)])


def _has_room(owner_pk: int, extra: int = 1) -> bool:
    return Friendship.objects.filter(owner_id=owner_pk).count() + extra <= MAX_FRIENDS


def _check_group_room(owner_pk: int, name: str) -> None:
    if FriendGroup.objects.filter(owner_id=owner_pk, name=name).exists():
        return
    if FriendGroup.objects.filter(owner_id=owner_pk).count() >= MAX_FRIEND_GROUPS:
        raise ChatError(30011)


def _befriend(changes: _Changes, *, owner: User, friend: User, now, remark: str = "",
              source: str = "", wording: str = "", group_name: str = "") -> Friendship:
    """Put `friend` in `owner`'s list (rows locked and limits checked by the caller)."""
    friendship = Friendship.objects.create(
        owner=owner, friend=friend, remark=remark, add_source=source, add_wording=wording,
        add_time=now, remark_time=now if remark else None)
    changes.friends_added[owner.pk].add(friend.pk)
    if group_name:
        group = FriendGroup.objects.filter(owner=owner, name=group_name).first()
        if group is None:
            if FriendGroup.objects.filter(owner=owner).count() >= MAX_FRIEND_GROUPS:
                return friendship  # the list was asked for when there was room: skip it
            group = FriendGroup.objects.create(owner=owner, name=group_name)
            changes.groups_added[owner.pk].add(group_name)
        else:
            changes.groups_updated[owner.pk].add(group_name)
        group.members.add(friendship)
    return friendship


def _drop_fulfilled_requests(changes: _Changes, a: User, b: User) -> None:
    """Requests between a and b whose requester now has the target in their list."""
    has = set(Friendship.objects.filter(Q(owner=a, friend=b) | Q(owner=b, friend=a))
              .values_list("owner_id", "friend_id"))
    q = Q(pk__in=[])
    for owner, friend in has:
        q |= Q(requester_id=owner, target_id=friend)
    gone = list(FriendRequest.objects.filter(q).values_list("requester_id", "target_id"))
    if gone:
        FriendRequest.objects.filter(q).delete()
        for requester, target in gone:
            changes.applications.update((requester, target))


def _check_blocks(user: User, peer: User) -> None:
    if is_blocked(owner_pk=user.pk, other_pk=peer.pk):
        raise ChatError(30515)
    if is_blocked(owner_pk=peer.pk, other_pk=user.pk):
        raise ChatError(30525)


def _relation(a: User, b: User) -> tuple[bool, bool]:
    has = set(Friendship.objects.filter(Q(owner=a, friend=b) | Q(owner=b, friend=a))
              .values_list("owner_id", flat=True))
    return a.pk in has, b.pk in has


# --- the app's say: the friend pre-callbacks ----------------------------------------------
#
# A client's friend request (friend_add) and answer to one (friend_request_accept,
# friend_request_refuse) are put to the app first when Sns.CallbackPrevFriendAdd /
# Sns.CallbackPrevFriendResponse is on (accounts/webhooks.py, "the friend
# pre-callbacks"); the /v4 REST API's and the console's are not, as with Tencent. In
# three steps, so that a door may wait for the app where it likes (the socket's waits
# off its process's database thread, relationships/friends_ws.py): `friend_ask` checks
# the arguments as the action will and builds the call, `webhooks.ask` makes it, and the
# service, given the answer (`asked`), refuses before its transaction or goes on.
# `client_action` does the three in the caller's thread (the REST doors).

Asked = tuple  # (webhooks.Ask, webhooks.Call): a call and its outcome

_RESPONSE_REJECT = "Response_Action_Reject"


def _waiting_request(requester: User, target: User) -> None:
    if not FriendRequest.objects.filter(requester=requester, target=target).exists():
        raise ChatError(30614)


def friend_ask(kind: str, *, user: User, platform: str = DEFAULT_PLATFORM,
               client_ip: str = "", **kwargs) -> webhooks.Ask | None:
    """The pre-callback a client's friend action `kind` ("add", "accept", "refuse"; the
    service's own keyword arguments) puts to the app, or None when it is off. Raises what the
    action would for bad arguments, an unknown user or (accept, refuse) no request, so
    the app is asked only about what could go through."""
    if kind not in CLIENT_ACTIONS:
        raise ValueError(f"no friend pre-callback for {kind!r}")
    command = webhooks.PREV_FRIEND_ADD if kind == "add" else webhooks.PREV_FRIEND_RESPONSE
    if not webhooks.is_enabled(command):  # no query: the service checks it all anyway
        return None
    event_time = int(timezone.now().timestamp() * 1000)
    if kind == "add":
        add_type, remark, wording, group_name, peer = _add_args(
            user, kwargs.get("to"), kwargs.get("source"), kwargs.get("add_type"),
            kwargs.get("remark"), kwargs.get("group_name"), kwargs.get("wording"))
        return webhooks.friend_ask(webhooks.PREV_FRIEND_ADD, {
            "Requester_Account": user.user_id, "From_Account": user.user_id,
            "FriendItem": [{"To_Account": peer.user_id, "Remark": remark,
                            "GroupName": group_name, "AddSource": kwargs.get("source"),
                            "AddWording": wording}],
            "AddType": add_type, "ForceAddFlags": 0, "EventTime": event_time},
            platform=platform, client_ip=client_ip)
    if kind == "accept":
        response = _choice(kwargs.get("action"), "type", ResponseAction.values)
        remark = _text(kwargs.get("remark"), "remark", REMARK_BYTES)
    else:
        response, remark = _RESPONSE_REJECT, ""
    requester = _peer(user, kwargs.get("user_id"))
    _waiting_request(requester, user)
    return webhooks.friend_ask(webhooks.PREV_FRIEND_RESPONSE, {
        "Requester_Account": user.user_id, "From_Account": user.user_id,
        "ResponseFriendItem": [{"To_Account": requester.user_id, "Remark": remark,
                                "TagName": "", "ResponseAction": response}],
        "EventTime": event_time}, platform=platform, client_ip=client_ip)


def _app_verdict(asked: Asked | None, peer: User) -> None:
    """Raise the app's refusal of what was asked about `peer`, if it refused."""
    if asked is None:
        return
    refused = webhooks.friend_refusals(*asked).get(peer.user_id)
    if refused is not None:
        raise ChatError(*refused)


def client_action(kind: str, *, user: User, platform: str = DEFAULT_PLATFORM,
                  client_ip: str = "", **kwargs) -> dict:
    """A client's friend action `kind` ("add", "accept", "refuse"), the app asked first
    when its pre-callback is on; the call waits in the caller's thread."""
    one = friend_ask(kind, user=user, platform=platform, client_ip=client_ip, **kwargs)
    asked = (one, webhooks.ask(one)) if one is not None else None
    return CLIENT_ACTIONS[kind](user=user, platform=platform, asked=asked, **kwargs)


# --- writes: friends -----------------------------------------------------------------

def _add_args(user: User, to, source, add_type, remark, group_name, wording) -> tuple:
    """friend_add's arguments checked (30001, 910003, 30003): (add type, remark, wording,
    list name, peer)."""
    add_type = _choice(add_type, "type", AddType.values, default=AddType.BOTH)
    if not isinstance(source, str):
        raise _wrong("source must be a string: AddSource_Type_ and 1 to 8 letters")
    if not _SOURCE_RE.fullmatch(source):
        raise _bad("source must be AddSource_Type_ followed by 1 to 8 letters")
    remark = _text(remark, "remark", REMARK_BYTES)
    wording = _text(wording, "wording", WORDING_BYTES)
    group_name = _group_name(group_name, "groupName") if group_name not in (None, "") else ""
    return add_type, remark, wording, group_name, _peer(user, to, "to")


def friend_add(*, user: User, to, source, add_type=None, remark=None, group_name=None,
               wording=None, force: bool = False, admin_account: str = "",
               platform: str = DEFAULT_PLATFORM,
               collect: list[tuple[User, User]] | None = None,
               asked: Asked | None = None) -> dict:
    """Add `to` as a friend, as their allow type says (see the module docstring).

    `force` (Tencent's ForceAddFlags=1, for app admins: /v4 friend_add) skips the
    target's allow type: no request waits, DenyAny does not refuse, and Add_Type_Both
    puts the requester in the target's list too. Blocks still refuse (30515, 30525).
    `admin_account` is the app admin acting (Sns.CallbackFriendAdd's Admin_Account).
    With `collect`, the (owner, friend) pairs added are appended to it instead of
    firing Sns.CallbackFriendAdd: a batch fires one callback for all its pairs
    (`after_friend_add`), as Tencent's friend_add does.

    `asked`: the app's answer to this request's Sns.CallbackPrevFriendAdd (a client's
    request: `client_action`); a refusal raises its code before anything is written.

    Returns `{"userID", "code", "message"}`: code 0 when added, 30539 when a request
    now waits for the peer. Raises 30001 (bad argument, myself, already in my list),
    30003, 30010, 30011, 30012, 30014, 30515, 30516, 30525, 38000-39000 (the app).
    """
    add_type, remark, wording, group_name, peer = _add_args(
        user, to, source, add_type, remark, group_name, wording)
    _app_verdict(asked, peer)
    now = timezone.now()
    changes = _Changes()
    with transaction.atomic():
        _lock([(user.pk, peer.pk)], [user.pk, peer.pk])
        _check_blocks(user, peer)
        mine, theirs = _relation(user, peer)
        if mine:
            raise _bad(f"{peer.user_id} is already in your friend list")
        allow_type = AllowType.ALLOW_ANY if force else \
            User.objects.filter(pk=peer.pk).values_list("allow_type", flat=True)[0]
        if not theirs and allow_type == AllowType.DENY_ANY:
            raise ChatError(30516)
        if not _has_room(user.pk):
            raise ChatError(30010)
        if group_name:
            _check_group_room(user.pk, group_name)
        if not theirs and allow_type == AllowType.NEED_CONFIRM:
            pending = FriendRequest.objects.filter(requester=user).exclude(target=peer).count()
            if pending >= MAX_PENDING_SENT:
                raise ChatError(30012)
            FriendRequest.objects.update_or_create(
                requester=user, target=peer,
                defaults={"add_type": add_type, "remark": remark, "group_name": group_name,
                          "add_source": source, "add_wording": wording, "created_at": now,
                          "is_read": False})
            changes.applications.update((user.pk, peer.pk))
            changes.publish()
            return {"userID": peer.user_id, "code": 30539, "message": ChatError(30539).message}
        both = add_type == AddType.BOTH and not theirs
        if both and not _has_room(peer.pk):
            raise ChatError(30014)
        _befriend(changes, owner=user, friend=peer, now=now, remark=remark, source=source,
                  wording=wording, group_name=group_name)
        pairs = [(user, peer)]
        if both:
            _befriend(changes, owner=peer, friend=user, now=now, source=source, wording=wording)
            pairs.append((peer, user))
        _drop_fulfilled_requests(changes, user, peer)
        changes.publish()
        if collect is not None:
            collect.extend(pairs)
        else:
            after_friend_add(pairs, initiator=user, client_cmd="friend_add",
                             admin_account=admin_account, force=force, platform=platform)
    return {"userID": peer.user_id, "code": 0, "message": ""}


def _check_import(item: dict) -> dict:
    """One friend_import item, checked before any lock: 30001 for a bad value."""
    source = item.get("source")
    if not isinstance(source, str) or not _SOURCE_RE.fullmatch(source):
        raise _bad("AddSource must be AddSource_Type_ followed by 1 to 8 letters")
    names = item.get("group_names")
    names = [] if names is None else names
    if not isinstance(names, list):
        raise _bad("GroupName must be a list of friend-list names")
    out = {"source": source, "remark": _text(item.get("remark"), "remark", REMARK_BYTES),
           "wording": _text(item.get("wording"), "wording", WORDING_BYTES),
           "names": list(dict.fromkeys(_group_name(n, "GroupName") for n in names)),
           "custom": _custom_values(item.get("custom") or {})}
    for name, key in (("AddTime", "add_time"), ("RemarkTime", "remark_time")):
        value = item.get(key)
        if value is None:
            out[key] = None
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise _bad(f"{name} must be Unix seconds")
        else:
            out[key] = datetime.fromtimestamp(value, tz=UTC)
    return out


def friend_import(*, user: User, items: list[dict]) -> list[dict]:
    """Import friends into my list as they were in another system (Tencent's
    friend_import): one way, whatever their allow types, with the add time and remark
    time given (Unix seconds; now when absent), the friend lists named (created when
    missing) and custom fields ({Tag_SNS_Custom_<key>: str}). No after-callback fires
    (as with Tencent); events and sequences as for any add.

    `items`: `{"to", "source", "remark"?, "remark_time"?, "group_names"?, "wording"?,
    "add_time"?, "custom"?}`, at most MAX_IMPORT_ITEMS. One result per item, in order:
    `{"userID", "code", "message"}`, code 0 when imported, else 30001 (bad value,
    myself, already in my list or earlier in the batch), 30003, 30010, 30011, 30515,
    30525. The whole batch is one transaction with a bounded number of statements
    (not a transaction per friend): an import of many friends is quick.
    """
    if not isinstance(items, list) or len(items) > MAX_IMPORT_ITEMS:
        raise _bad(f"give a list of at most {MAX_IMPORT_ITEMS} friends to import")
    results: list[dict | None] = [None] * len(items)
    wanted: list[tuple[int, str, dict]] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        to = item.get("to") if isinstance(item, dict) else None
        if not isinstance(to, str) or not to or "\x00" in to:
            results[n] = _failure(str(to or ""), 30001, "To_Account is missing or not a UserID")
            continue
        try:
            data = _check_import(item)
        except ChatError as exc:
            results[n] = _failure(to, exc.code, exc.message)
            continue
        if to == user.user_id or to in seen:
            results[n] = _failure(to, 30001, "that is you" if to == user.user_id
                                  else f"{to} is earlier in this import")
            continue
        seen.add(to)
        wanted.append((n, to, data))
    peers = users_by_user_ids([to for _, to, _ in wanted])
    for n, to, _ in wanted:
        if to not in peers:
            results[n] = _failure(to, 30003)
    wanted = [w for w in wanted if w[1] in peers]
    if wanted:
        _import_rows(user, wanted, peers, results)
    return results


def _import_rows(user: User, wanted: list, peers: dict[str, User], results: list) -> None:
    pks = [peers[to].pk for _, to, _ in wanted]
    now = timezone.now()
    changes = _Changes()
    with transaction.atomic():
        _lock([(user.pk, pk) for pk in pks], [user.pk])
        blocks = set(Block.objects.filter(Q(owner_id=user.pk, blocked_id__in=pks)
                                          | Q(owner_id__in=pks, blocked_id=user.pk))
                     .values_list("owner_id", "blocked_id"))
        have = set(Friendship.objects.filter(owner_id=user.pk, friend_id__in=pks)
                   .values_list("friend_id", flat=True))
        count = Friendship.objects.filter(owner_id=user.pk).count()
        groups = {g.name: g for g in FriendGroup.objects.filter(owner=user)}
        rows, lists = [], []
        for n, to, data in wanted:
            peer = peers[to]
            code = (30515 if (user.pk, peer.pk) in blocks else 30525
                    if (peer.pk, user.pk) in blocks else 30001 if peer.pk in have
                    else 30010 if count >= MAX_FRIENDS else 0)
            new = [name for name in data["names"] if name not in groups]
            if not code and len(groups) + len(new) > MAX_FRIEND_GROUPS:
                code = 30011
            if code:
                results[n] = _failure(to, code, f"{to} is already in your friend list"
                                      if code == 30001 else None)
                continue
            for name in new:
                groups[name] = FriendGroup.objects.create(owner=user, name=name)
                changes.groups_added[user.pk].add(name)
            count += 1
            remark = data["remark"]
            rows.append(Friendship(
                owner=user, friend=peer, remark=remark, add_source=data["source"],
                add_wording=data["wording"], add_time=data["add_time"] or now,
                remark_time=(data["remark_time"] or now) if remark else None,
                custom=data["custom"]))
            lists.append(data["names"])
            if data["custom"]:
                changes.custom_changed.add(user.pk)
            changes.friends_added[user.pk].add(peer.pk)
            results[n] = {"userID": to, "code": 0, "message": ""}
        if not rows:
            return
        Friendship.objects.bulk_create(rows)
        if not all(row.pk for row in rows):  # a backend that returns no ids
            ids = dict(Friendship.objects.filter(owner=user, friend_id__in=[
                r.friend_id for r in rows]).values_list("friend_id", "id"))
            for row in rows:
                row.pk = ids[row.friend_id]
        through = FriendGroup.members.through
        through.objects.bulk_create([through(friendgroup_id=groups[name].pk,
                                             friendship_id=row.pk)
                                     for row, names in zip(rows, lists, strict=True)
                                     for name in names])
        for names in lists:
            changes.groups_updated[user.pk].update(names)
        done = [row.friend_id for row in rows]
        fulfilled = list(FriendRequest.objects.filter(requester=user, target_id__in=done)
                         .values_list("target_id", flat=True))
        if fulfilled:
            FriendRequest.objects.filter(requester=user, target_id__in=fulfilled).delete()
            changes.applications.update([user.pk, *fulfilled])
        changes.publish()


def friend_delete(*, user: User, user_ids, delete_type=None,
                  platform: str = DEFAULT_PLATFORM) -> dict:
    """Delete friends: Delete_Type_Single takes them out of my list; Delete_Type_Both
    (the default, as in the Web SDK) also takes me out of theirs.

    `{"successUserIDList": [{userID}], "failureUserIDList": [{userID, code, message}]}`,
    in the order asked; 31704 when there was nothing to delete (Single: not in my list;
    Both: neither has the other). At most 1,000 UserIDs.
    """
    delete_type = _choice(delete_type, "type", DeleteType.values, default=DeleteType.BOTH)
    user_ids = _user_id_list(user_ids)
    found, failures = _resolve(user, user_ids)
    done: set[str] = set()
    peers = [found[uid] for uid in user_ids if uid not in failures]
    for i in range(0, len(peers), DELETE_BATCH):
        chunk = peers[i:i + DELETE_BATCH]
        deleted = _delete_batch(user, chunk, delete_type, platform)
        for peer in chunk:
            if peer.pk in deleted:
                done.add(peer.user_id)
            else:
                failures[peer.user_id] = _failure(peer.user_id, 31704)
    return {"successUserIDList": [{"userID": uid} for uid in user_ids if uid in done],
            "failureUserIDList": [failures[uid] for uid in user_ids if uid in failures]}


def friend_delete_all(*, user: User, delete_type=None,
                      platform: str = DEFAULT_PLATFORM) -> dict:
    """Empty my friend list (Delete_Type_Single, the default, as Tencent's
    friend_delete_all); Delete_Type_Both also takes me out of everyone's list.

    Runs in transactions of DELETE_BATCH peers. Returns `{"successUserIDList"}`.
    """
    delete_type = _choice(delete_type, "type", DeleteType.values, default=DeleteType.SINGLE)
    done: list[str] = []
    while True:
        pks = list(Friendship.objects.filter(owner_id=user.pk).order_by("id")
                   .values_list("friend_id", flat=True)[:DELETE_BATCH])
        if delete_type == DeleteType.BOTH and len(pks) < DELETE_BATCH:
            pks += list(Friendship.objects.filter(friend_id=user.pk).exclude(owner_id__in=pks)
                        .order_by("id").values_list("owner_id", flat=True)
                        [:DELETE_BATCH - len(pks)])
        if not pks:
            return {"successUserIDList": [{"userID": uid} for uid in done]}
        peers = list(User.objects.filter(pk__in=pks))
        deleted = _delete_batch(user, peers, delete_type, platform)
        if not deleted:  # removed concurrently meanwhile: look again
            continue
        done += [p.user_id for p in peers if p.pk in deleted]


def _delete_batch(user: User, peers: list[User], delete_type: str,
                  platform: str = DEFAULT_PLATFORM) -> set[int]:
    """One transaction: delete the relations with these peers; the pks done.
    Sns.CallbackFriendDelete gets one pair per list entry removed."""
    if not peers:
        return set()
    by_pk = {p.pk: p for p in peers}
    changes = _Changes()
    with transaction.atomic():
        owners = [user.pk] + (list(by_pk) if delete_type == DeleteType.BOTH else [])
        _lock([(user.pk, pk) for pk in by_pk], owners)
        q = Q(owner_id=user.pk, friend_id__in=list(by_pk))
        if delete_type == DeleteType.BOTH:
            q |= Q(owner_id__in=list(by_pk), friend_id=user.pk)
        rows = list(Friendship.objects.filter(q).values_list("id", "owner_id", "friend_id"))
        if not rows:
            return set()
        changes.lists_losing([r[0] for r in rows])
        Friendship.objects.filter(pk__in=[r[0] for r in rows]).delete()
        deleted = set()
        pairs = []
        for _, owner, friend in rows:
            if owner == user.pk:
                changes.friends_deleted[user.pk].add(by_pk[friend].user_id)
                deleted.add(friend)
                pairs.append((user.user_id, by_pk[friend].user_id))
            else:
                changes.friends_deleted[owner].add(user.user_id)
                deleted.add(owner)
                pairs.append((by_pk[owner].user_id, user.user_id))
        changes.publish()
        after_pairs(webhooks.FRIEND_DELETE, pairs, platform=platform)
    return deleted


def friend_update(*, user: User, user_id, remark=None, custom_fields=None,
                  groups=None) -> dict:
    """Change a friend's remark, custom fields (`friendCustomField`: a list of
    `{key: "Tag_SNS_Custom_<key>", value: str}`; an empty value removes the key) and/or
    friend lists (`groups`: the names of the lists the friend is in afterwards, created
    when missing; Tencent's Tag_SNS_IM_Group).

    Returns the Friend. 30001 for a bad value or someone not in my list, 30011 when new
    lists would pass 32; 910003 when nothing is given.
    """
    if remark is None and custom_fields is None and groups is None:
        raise _wrong("nothing to change: give remark or friendCustomField")
    remark = _text(remark, "remark", REMARK_BYTES, default=None)
    custom = _custom_fields(custom_fields) if custom_fields is not None else {}
    if groups is not None:
        if not isinstance(groups, list):
            raise _wrong("groups must be a list of friend-list names")
        groups = list(dict.fromkeys(_group_name(n, "groups") for n in groups))
    peer = _peer(user, user_id)
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        # the row lock holds off a block that would delete the friendship meanwhile
        friendship = Friendship.objects.select_for_update().filter(owner=user, friend=peer) \
            .first()
        if friendship is None:
            raise _bad(f"{peer.user_id} is not in your friend list")
        fields = []
        if remark is not None:
            friendship.remark, friendship.remark_time = remark, timezone.now()
            fields += ["remark", "remark_time"]
            changes.standard_changed.add(user.pk)
        if custom:
            merged = dict(friendship.custom)
            for key, value in custom.items():
                if value == "":
                    merged.pop(key, None)
                else:
                    merged[key] = value
            if len(merged) > MAX_CUSTOM_FIELDS:
                raise _bad(f"a friend holds at most {MAX_CUSTOM_FIELDS} custom fields")
            friendship.custom = merged
            fields.append("custom")
            changes.custom_changed.add(user.pk)
        if fields:
            friendship.save(update_fields=fields)
            changes.friends_updated[user.pk].add(peer.pk)
        if groups is not None:
            _set_groups(changes, user, friendship, groups)
        changes.publish()
    return friend_view(_friendships(user.pk).get(pk=friendship.pk))


def _set_groups(changes: _Changes, user: User, friendship: Friendship,
                names: list[str]) -> None:
    """Put the friendship in exactly these lists of the owner's (created when missing;
    30011 past 32). Caller holds the owner's lock."""
    current = {g.name: g for g in FriendGroup.objects.filter(owner=user)}
    missing = [n for n in names if n not in current]
    if len(current) + len(missing) > MAX_FRIEND_GROUPS:
        raise ChatError(30011)
    for name in missing:
        current[name] = FriendGroup.objects.create(owner=user, name=name)
        changes.groups_added[user.pk].add(name)
    inside = set(FriendGroup.objects.filter(owner=user, members=friendship)
                 .values_list("name", flat=True))
    for name in set(names) - inside:
        current[name].members.add(friendship)
        changes.groups_updated[user.pk].add(name)
    for name in inside - set(names):
        current[name].members.remove(friendship)
        changes.groups_updated[user.pk].add(name)
    if set(names) != inside:
        changes.friends_updated[user.pk].add(friendship.friend_id)


def _custom_values(value) -> dict[str, str]:
    """{Tag_SNS_Custom_<key>: str} as friend_import takes them (30001 if broken)."""
    if not isinstance(value, dict):
        raise _bad("custom fields must map Tag_SNS_Custom_<key> to a string")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _CUSTOM_KEY_RE.fullmatch(key):
            raise _bad("a custom field is Tag_SNS_Custom_ followed by 1 to 8 letters, "
                       "digits or underscores")
        if not isinstance(item, str):
            raise _bad(f"{key} must be a string")
        out[key] = _text(item, key, CUSTOM_VALUE_BYTES)
    if len(out) > MAX_CUSTOM_FIELDS:
        raise _bad(f"a friend holds at most {MAX_CUSTOM_FIELDS} custom fields")
    return {k: v for k, v in out.items() if v != ""}


def _custom_fields(value) -> dict[str, str]:
    shape = "friendCustomField must be a list of {key, value} with string values"
    if not isinstance(value, list):
        raise _wrong(shape)
    out = {}
    for item in value:
        if not isinstance(item, dict) or set(item) != {"key", "value"} \
                or not isinstance(item["key"], str) or not isinstance(item["value"], str):
            raise _wrong(shape)
        key = item["key"]
        if not _CUSTOM_KEY_RE.fullmatch(key):
            raise _bad("a friendCustomField key is Tag_SNS_Custom_ followed by 1 to 8 "
                       "letters, digits or underscores")
        out[key] = _text(item["value"], key, CUSTOM_VALUE_BYTES)
    return out


# --- writes: requests ----------------------------------------------------------------

def friend_request_accept(*, user: User, user_id, action, remark=None,
                          platform: str = DEFAULT_PLATFORM, asked: Asked | None = None) -> dict:
    """Accept the request `user_id` sent me (see the module docstring for Agree and
    AgreeAndAdd). `remark` is mine for the requester, used with AgreeAndAdd.
    Sns.CallbackFriendAdd fires with ClientCmd friend_response, the requester as
    Initiator_Account.

    `asked`: the app's answer to this answer's Sns.CallbackPrevFriendResponse (a
    client's: `client_action`).

    Returns `{"userID"}` (the requester). Raises 30001, 30003, 30010 (my
    list is full, AgreeAndAdd), 30014 (the requester's is), 30515, 30525, 30614,
    38000-39000 (the app).
    """
    action = _choice(action, "type", ResponseAction.values)
    remark = _text(remark, "remark", REMARK_BYTES)
    requester = _peer(user, user_id)
    _app_verdict(asked, requester)
    now = timezone.now()
    changes = _Changes()
    with transaction.atomic():
        _lock([(user.pk, requester.pk)], [user.pk, requester.pk])
        request = FriendRequest.objects.filter(requester=requester, target=user).first()
        if request is None:
            raise ChatError(30614)
        _check_blocks(user, requester)
        theirs, mine = _relation(requester, user)
        add_back = action == ResponseAction.AGREE_AND_ADD and not mine
        if not theirs and not _has_room(requester.pk):
            raise ChatError(30014)
        if add_back and not _has_room(user.pk):
            raise ChatError(30010)
        pairs = []
        if not theirs:
            _befriend(changes, owner=requester, friend=user, now=now, remark=request.remark,
                      source=request.add_source, wording=request.add_wording,
                      group_name=request.group_name)
            pairs.append((requester, user))
        if add_back:
            _befriend(changes, owner=user, friend=requester, now=now, remark=remark,
                      source=request.add_source, wording=request.add_wording)
            pairs.append((user, requester))
        request.delete()
        changes.applications.update((user.pk, requester.pk))
        _drop_fulfilled_requests(changes, user, requester)
        changes.publish()
        after_friend_add(pairs, initiator=requester, client_cmd="friend_response",
                          platform=platform)
    return {"userID": requester.user_id}


def friend_request_refuse(*, user: User, user_id, platform: str = DEFAULT_PLATFORM,
                          asked: Asked | None = None) -> dict:
    """Refuse the request `user_id` sent me; it is gone for both (30614 if none).
    `asked`: as friend_request_accept's (ResponseAction Response_Action_Reject).
    Returns `{"userID"}`."""
    requester = _peer(user, user_id)
    _app_verdict(asked, requester)
    _request_remove(requester=requester, target=user)
    return {"userID": requester.user_id}


def friend_request_delete(*, user: User, user_id, pendency_type) -> dict:
    """Delete a pending request: Pendency_Type_ComeIn, one `user_id` sent me;
    Pendency_Type_SendOut, one I sent `user_id` (a withdrawal). 30614 if none.
    Returns `{"userID"}`."""
    pendency_type = _choice(pendency_type, "type",
                            (PendencyType.COME_IN, PendencyType.SEND_OUT))
    peer = _peer(user, user_id)
    if pendency_type == PendencyType.COME_IN:
        _request_remove(requester=peer, target=user)
    else:
        _request_remove(requester=user, target=peer)
    return {"userID": peer.user_id}


def _request_remove(*, requester: User, target: User) -> None:
    changes = _Changes()
    with transaction.atomic():
        _lock([(requester.pk, target.pk)])
        deleted, _ = FriendRequest.objects.filter(requester=requester, target=target).delete()
        if not deleted:
            raise ChatError(30614)
        changes.applications.update((requester.pk, target.pk))
        changes.publish()


def friend_request_mark_read(*, user: User) -> dict:
    """Every request sent to me is read (setFriendApplicationRead); my devices learn the
    new unreadCount (0) unless nothing was unread."""
    changes = _Changes()
    with transaction.atomic():
        if FriendRequest.objects.filter(target=user, is_read=False).update(is_read=True):
            changes.applications.add(user.pk)
            changes.publish()
    return {}


# --- writes: friend lists ------------------------------------------------------------

def _group_for_update(user: User, name: str) -> FriendGroup:
    group = FriendGroup.objects.filter(owner=user, name=name).first()
    if group is None:
        raise _bad(f"no friend list named {name!r}")
    return group


def _members(user: User, user_ids: list[str]) -> tuple[dict[str, Friendship], dict[str, dict]]:
    """My friendships with these users, and failures for the rest (32216 not a friend)."""
    found, failures = _resolve(user, user_ids)
    # Row locks: a friendship cannot be deleted (a block) while it joins a list.
    rows = {f.friend.user_id: f for f in Friendship.objects.select_for_update(of=("self",))
            .filter(owner=user, friend_id__in=[u.pk for u in found.values()])
            .select_related("friend")}
    for uid in user_ids:
        if uid not in failures and uid not in rows:
            failures[uid] = _failure(uid, 32216)
    return rows, failures


def _group_answer(user: User, name: str, user_ids: list[str], failures: dict) -> dict:
    group = FriendGroup.objects.filter(owner=user, name=name).prefetch_related(
        _members_prefetch()).get()
    return {"friendGroup": friend_group_view(group),
            "failureUserIDList": [failures[uid] for uid in user_ids if uid in failures]}


def friend_group_create(*, user: User, name, user_ids=None) -> dict:
    """Create a friend list, with those of `user_ids` who are my friends in it.

    `{"friendGroup", "failureUserIDList"}` (32216 not a friend, 30003 unknown).
    30001 for a bad or taken name, 30011 when I have 32 lists already.
    """
    name = _group_name(name)
    user_ids = _user_id_list(user_ids, allow_empty=True)
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        if FriendGroup.objects.filter(owner=user, name=name).exists():
            raise _bad(f"you have a friend list named {name!r} already")
        if FriendGroup.objects.filter(owner=user).count() >= MAX_FRIEND_GROUPS:
            raise ChatError(30011)
        group = FriendGroup.objects.create(owner=user, name=name)
        rows, failures = _members(user, user_ids)
        group.members.add(*rows.values())
        changes.groups_added[user.pk].add(name)
        changes.friends_updated[user.pk].update(f.friend_id for f in rows.values())
        changes.publish()
        return _group_answer(user, name, user_ids, failures)


def friend_group_delete(*, user: User, name) -> dict:
    """Delete a friend list (its members stay friends). `{"friendGroup"}` as it was."""
    name = _group_name(name)
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        group = _group_for_update(user, name)
        answer = _group_answer(user, name, [], {})
        changes.friends_updated[user.pk].update(
            group.members.values_list("friend_id", flat=True))
        group.delete()
        changes.groups_deleted[user.pk].add(name)
        changes.publish()
    return {"friendGroup": answer["friendGroup"]}


def friend_group_rename(*, user: User, old_name, new_name) -> dict:
    """Rename a friend list. `{"friendGroup"}`; 30001 if the old name is unknown or the
    new one taken or bad."""
    old_name = _group_name(old_name, "oldName")
    new_name = _group_name(new_name, "newName")
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        group = _group_for_update(user, old_name)
        if new_name != old_name:
            if FriendGroup.objects.filter(owner=user, name=new_name).exists():
                raise _bad(f"you have a friend list named {new_name!r} already")
            group.name = new_name
            group.save(update_fields=["name"])
            changes.groups_deleted[user.pk].add(old_name)
            changes.groups_added[user.pk].add(new_name)
            changes.friends_updated[user.pk].update(
                group.members.values_list("friend_id", flat=True))
            changes.publish()
        return {"friendGroup": _group_answer(user, new_name, [], {})["friendGroup"]}


def friend_group_add_members(*, user: User, name, user_ids) -> dict:
    """Put friends in a friend list (already there: fine). `{"friendGroup",
    "failureUserIDList"}` with 32216 for those who are not my friends."""
    name = _group_name(name)
    user_ids = _user_id_list(user_ids)
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        group = _group_for_update(user, name)
        rows, failures = _members(user, user_ids)
        present = set(group.members.values_list("id", flat=True))
        new = [f for f in rows.values() if f.pk not in present]
        if new:
            group.members.add(*new)
            changes.groups_updated[user.pk].add(name)
            changes.friends_updated[user.pk].update(f.friend_id for f in new)
            changes.publish()
        return _group_answer(user, name, user_ids, failures)


def friend_group_remove_members(*, user: User, name, user_ids) -> dict:
    """Take friends out of a friend list. `{"friendGroup", "failureUserIDList"}`:
    32216 not a friend, 30001 a friend who is not in this list."""
    name = _group_name(name)
    user_ids = _user_id_list(user_ids)
    changes = _Changes()
    with transaction.atomic():
        _lock(owners=[user.pk])
        group = _group_for_update(user, name)
        rows, failures = _members(user, user_ids)
        present = set(group.members.values_list("id", flat=True))
        gone = []
        for uid, friendship in rows.items():
            if friendship.pk in present:
                gone.append(friendship)
            else:
                failures[uid] = _failure(uid, 30001, f"{uid} is not in the list {name!r}")
        if gone:
            group.members.remove(*gone)
            changes.groups_updated[user.pk].add(name)
            changes.friends_updated[user.pk].update(f.friend_id for f in gone)
            changes.publish()
        return _group_answer(user, name, user_ids, failures)


def friend_groups_add(*, user: User, names, user_ids=None) -> dict:
    """Create several friend lists at once (Tencent's group_add), each holding those of
    `user_ids` who are my friends; all or none (one transaction). `{"failureUserIDList"}`
    (32216 not a friend, 30003 unknown, 30001 myself), as friend_group_create's."""
    if not isinstance(names, list) or not names:
        raise _bad("GroupName must be a non-empty list of names")
    names = list(dict.fromkeys(_group_name(n, "GroupName") for n in names))
    user_ids = _user_id_list(user_ids, allow_empty=True)
    failures: dict[str, dict] = {}
    with transaction.atomic():
        for name in names:
            answer = friend_group_create(user=user, name=name, user_ids=user_ids)
            failures.update({f["userID"]: f for f in answer["failureUserIDList"]})
    return {"failureUserIDList": [failures[uid] for uid in user_ids if uid in failures]}


def friend_groups_delete(*, user: User, names) -> dict:
    """Delete several friend lists at once (Tencent's group_delete), all or none; 30001
    when one is not there. `{}`."""
    if not isinstance(names, list) or not names:
        raise _bad("GroupName must be a non-empty list of names")
    names = list(dict.fromkeys(_group_name(n, "GroupName") for n in names))
    with transaction.atomic():
        for name in names:
            friend_group_delete(user=user, name=name)
    return {}


# The services a client's friend action runs (`client_action`, friends_ws.py).
CLIENT_ACTIONS = {"add": friend_add, "accept": friend_request_accept,
                  "refuse": friend_request_refuse}
