"""Reads of relationships, and the question every send asks: may A message B?"""

from __future__ import annotations

from django.db.models import Case, Q, Value, When

from accounts.models import User
from accounts.selectors import profile_full, users_by_user_ids
from accounts.services import PROFILE_CUSTOM_PREFIX
from chat_project.db import prepared_cursor
from chat_project.errors import ChatError

from .models import Block, Friendship, SendPolicy


def _pairs_q(field_a: str, field_b: str, pairs: set[tuple[int, int]]) -> Q:
    q = Q()
    for a, b in pairs:
        q |= Q(**{field_a: a, field_b: b})
    return q


def send_refusals(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], ChatError]:
    """For (sender pk, receiver pk) pairs, the ones that may not send, with the error.

    20007 the receiver blocked the sender; under a friends-only rule, 20009 neither has
    the other, 20010 the receiver does not have the sender, 20011 the sender does not
    have the receiver (the last two only when the rule asks for two-way friends).
    At most two queries for any number of pairs. Call it inside the send transaction,
    after the pairs' locks (accounts.locks), so a block that commits first is seen.
    """
    wanted = {(s, r) for s, r in pairs if s != r}
    if not wanted:
        return {}
    refused: dict[tuple[int, int], ChatError] = {}
    rule, blocked = _rule_and_blocks({(r, s) for s, r in wanted})
    for s, r in wanted:
        if (r, s) in blocked:
            refused[(s, r)] = ChatError(20007)
    rest = wanted - set(refused)
    if rule == SendPolicy.Rule.ANYONE or not rest:
        return refused
    both_ways = rest | {(r, s) for s, r in rest}
    has = set(Friendship.objects.filter(_pairs_q("owner_id", "friend_id", both_ways))
              .values_list("owner_id", "friend_id"))
    for s, r in rest:
        sender_has, receiver_has = (s, r) in has, (r, s) in has
        if not sender_has and not receiver_has:
            refused[(s, r)] = ChatError(20009)
        elif rule == SendPolicy.Rule.FRIENDS_BOTH and not receiver_has:
            refused[(s, r)] = ChatError(20010)
        elif rule == SendPolicy.Rule.FRIENDS_BOTH and not sender_has:
            refused[(s, r)] = ChatError(20011)
    return refused


def _rule_and_blocks(owner_blocked: set[tuple[int, int]]) -> tuple[str, set]:
    """The send rule and which (owner, blocked) pairs are blocks, in one statement."""
    pairs = sorted(owner_blocked)
    rows = ", ".join(["(%s, %s)"] * len(pairs))
    with prepared_cursor() as cursor:
        cursor.execute(
            "SELECT p.rule, b.owner_id, b.blocked_id FROM"
            " (SELECT (SELECT rule FROM relationships_sendpolicy WHERE id = 1) AS rule) p"
            " LEFT JOIN relationships_block b"
            f" ON (b.owner_id, b.blocked_id) IN ({rows})",
            [x for pair in pairs for x in pair])
        found = cursor.fetchall()
    rule = found[0][0] or SendPolicy.Rule.ANYONE
    return rule, {(o, b) for _, o, b in found if o is not None}


def is_blocked(*, owner_pk: int, other_pk: int) -> bool:
    """Has `owner` blocked `other`?"""
    return Block.objects.filter(owner_id=owner_pk, blocked_id=other_pk).exists()


# --- shared checks of the doors' batches ----------------------------------------------

def check_user_id_list(value, *, limit: int, code: int, name: str = "userIDList") -> list[str]:
    """A batch of UserIDs from a door: a list of strings, 1 to `limit` of them, duplicates
    dropped (first kept). 910003 for the wrong types; `code` (the API family's "bad
    parameters", 30001 for relationships, 40001 for profiles) for an empty or long list."""
    if not isinstance(value, list):
        raise ChatError(910003, f"{name} must be a list of UserIDs")
    if any(not isinstance(item, str) for item in value):
        raise ChatError(910003, f"{name} must hold UserID strings")
    if not value:
        raise ChatError(code, f"{name} is empty")
    if len(value) > limit:
        raise ChatError(code, f"{name} holds more than {limit} UserIDs")
    if any("\x00" in item for item in value):  # no UserID holds one (nor can PostgreSQL)
        raise ChatError(code, f"{name} holds a UserID with a NUL character")
    return list(dict.fromkeys(value))


# No list is near this long; a larger OFFSET would overflow PostgreSQL's bigint.
START_INDEX_MAX = 2**31 - 1


def check_page(start_index, max_limited, *, most: int) -> tuple[int, int]:
    """StartIndex and MaxLimited of a paged list (910003 wrong type, 30001 out of range)."""
    for name, value in (("startIndex", start_index), ("maxLimited", max_limited)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ChatError(910003, f"{name} must be an integer")
    if not 0 <= start_index <= START_INDEX_MAX:
        raise ChatError(30001, f"startIndex must be from 0 to {START_INDEX_MAX}")
    if not 1 <= max_limited <= most:
        raise ChatError(30001, f"maxLimited must be from 1 to {most}")
    return start_index, max_limited


# --- blocklist ------------------------------------------------------------------------

BLOCKLIST_PAGE_MAX = 1000


class BlackCheck:
    """Tencent's black_list_check types and relations (tencent-rest.md §8)."""

    SINGLE = "BlackCheckResult_Type_Single"
    BOTH = "BlackCheckResult_Type_Both"
    TYPES = (SINGLE, BOTH)
    BOTH_WAY = "BlackCheckResult_Type_BothWay"
    A_WITH_B = "BlackCheckResult_Type_AWithB"
    B_WITH_A = "BlackCheckResult_Type_BWithA"
    NO = "BlackCheckResult_Type_NO"


def block_user_ids(*, owner_pk: int) -> list[str]:
    """The owner's whole blocklist as UserIDs, oldest first (what getBlacklist resolves
    to, and BLACKLIST_UPDATED carries). One query; at most 1,000 entries."""
    return list(Block.objects.filter(owner_id=owner_pk).order_by("created_at", "pk")
                .values_list("blocked__user_id", flat=True))


def block_list(*, owner, start_index=0, max_limited=100) -> dict:
    """A page of the owner's blocklist, oldest first, with each entry's add time.

    `nextStartIndex` is where the next page starts (0 when this page is the last, as
    Tencent's StartIndex). One query, however long the page.
    """
    start, size = check_page(start_index, max_limited, most=BLOCKLIST_PAGE_MAX)
    rows = list(Block.objects.filter(owner_id=owner.pk).order_by("created_at", "pk")
                .values_list("blocked__user_id", "created_at")[start:start + size + 1])
    more = len(rows) > size
    return {
        "blackList": [{"userID": uid, "addTime": int(at.timestamp())}
                      for uid, at in rows[:size]],
        "nextStartIndex": start + size if more else 0,
        "isCompleted": not more,
    }


def block_check(*, owner, user_ids, check_type) -> list[dict]:
    """Tencent's black_list_check: for each UserID, is it in the owner's blocklist
    (Single: AWithB or NO), or also the other way round (Both: BothWay, AWithB, BWithA,
    NO). An unknown UserID gets code 30003 and relation NO. Two queries."""
    ids = check_user_id_list(user_ids, limit=1000, code=30001)
    if check_type not in BlackCheck.TYPES:
        raise ChatError(30001, f"checkType must be one of {list(BlackCheck.TYPES)}")
    users = users_by_user_ids(ids)
    pks = [u.pk for u in users.values()]
    q = Q(owner_id=owner.pk, blocked_id__in=pks)
    if check_type == BlackCheck.BOTH:
        q |= Q(owner_id__in=pks, blocked_id=owner.pk)
    rows = set(Block.objects.filter(q).values_list("owner_id", "blocked_id")) if pks else set()
    out = []
    for uid in ids:
        user = users.get(uid)
        if user is None:
            out.append({"userID": uid, "relation": BlackCheck.NO, "code": 30003,
                        "message": f"no user {uid!r}"})
            continue
        a_with_b = (owner.pk, user.pk) in rows
        b_with_a = (user.pk, owner.pk) in rows
        if a_with_b and b_with_a:
            relation = BlackCheck.BOTH_WAY
        elif a_with_b:
            relation = BlackCheck.A_WITH_B
        elif b_with_a:
            relation = BlackCheck.B_WITH_A
        else:
            relation = BlackCheck.NO
        out.append({"userID": uid, "relation": relation, "code": 0, "message": ""})
    return out


# --- profiles of others -----------------------------------------------------------------
# Reads of accounts' profiles that the relationships doors serve (getUserProfile, user
# search); kept here, next to the friends who will be shown them.

PROFILES_BATCH_MAX = 100
USER_SEARCH_MAX = 50


def profiles_get(*, user_ids) -> list[dict]:
    """Full profiles of up to 100 users, in the order asked; unknown UserIDs are left
    out (as the Web SDK's getUserProfile). One query."""
    ids = check_user_id_list(user_ids, limit=PROFILES_BATCH_MAX, code=40001)
    users = users_by_user_ids(ids)
    return [profile_full(users[uid]) for uid in ids if uid in users]


def user_search(*, keyword, count=20) -> list[dict]:
    """Active users whose UserID starts with `keyword` or whose nick contains it (case
    folded), exact UserID first, then by UserID; at most `count` (1 to 50). One query.

    A nick `contains` match scans; fine for a deployment's user table of modest size,
    and bounded by the limit. (At millions of users: a trigram index on nick.)
    """
    if not isinstance(keyword, str) or not keyword.strip():
        raise ChatError(910003, "search must be a non-empty string")
    if isinstance(count, bool) or not isinstance(count, int):
        raise ChatError(910003, "count must be an integer")
    if not 1 <= count <= USER_SEARCH_MAX:
        raise ChatError(40001, f"count must be from 1 to {USER_SEARCH_MAX}")
    keyword = keyword.strip()
    if "\x00" in keyword or len(keyword) > 500:
        raise ChatError(40001, "search is too long or holds NUL")
    users = (User.objects.filter(is_active=True)
             .filter(Q(user_id__istartswith=keyword) | Q(nick__icontains=keyword))
             .annotate(exact=Case(When(user_id=keyword, then=Value(0)), default=Value(1)))
             .order_by("exact", "user_id")[:count])
    return [profile_full(u) for u in users]


# --- Tencent's tags (tencent-rest.md §6, §7) ----------------------------------------------
# The /v4 door names profile and friend fields by tag; these tables map them onto the
# Web SDK names the services and views use (accounts.selectors.profile_full,
# relationships.friends.friend_view) and onto the profile columns.

PROFILE_TAGS = {  # tag -> (profile_full key, User column)
    "Tag_Profile_IM_Nick": ("nick", "nick"),
    "Tag_Profile_IM_Gender": ("gender", "gender"),
    "Tag_Profile_IM_BirthDay": ("birthday", "birthday"),
    "Tag_Profile_IM_Location": ("location", "location"),
    "Tag_Profile_IM_SelfSignature": ("selfSignature", "self_signature"),
    "Tag_Profile_IM_AllowType": ("allowType", "allow_type"),
    "Tag_Profile_IM_Language": ("language", "language"),
    "Tag_Profile_IM_Image": ("avatar", "avatar"),
    "Tag_Profile_IM_AdminForbidType": ("adminForbidType", "admin_forbid_type"),
    "Tag_Profile_IM_Level": ("level", "level"),
    "Tag_Profile_IM_Role": ("role", "role"),
}
PROFILE_UINT_TAGS = frozenset({"Tag_Profile_IM_BirthDay", "Tag_Profile_IM_Language",
                               "Tag_Profile_IM_Level", "Tag_Profile_IM_Role"})
COLUMN_PROFILE_TAGS = {column: tag for tag, (_, column) in PROFILE_TAGS.items()}

SNS_TAGS = {  # tag -> friend_view key
    "Tag_SNS_IM_Group": "groupList",
    "Tag_SNS_IM_Remark": "remark",
    "Tag_SNS_IM_AddSource": "source",
    "Tag_SNS_IM_AddWording": "wording",
    "Tag_SNS_IM_AddTime": "addTime",
}
SNS_CUSTOM_PREFIX = "Tag_SNS_Custom_"


def is_profile_tag(tag) -> bool:
    return isinstance(tag, str) and (tag in PROFILE_TAGS or (
        tag.startswith(PROFILE_CUSTOM_PREFIX) and len(tag) > len(PROFILE_CUSTOM_PREFIX)))


def is_sns_tag(tag) -> bool:
    return isinstance(tag, str) and (tag in SNS_TAGS or (
        tag.startswith(SNS_CUSTOM_PREFIX) and len(tag) > len(SNS_CUSTOM_PREFIX)))


def profile_tag_items(profile: dict, tags: list[str]) -> list[dict]:
    """`[{Tag, Value}]` of a profile (profile_full's shape) for these tags, in order; a
    custom field the user has not set reads as ""."""
    custom = {item["key"]: item["value"] for item in profile["profileCustomField"]}
    return [{"Tag": tag, "Value": profile[PROFILE_TAGS[tag][0]] if tag in PROFILE_TAGS
             else custom.get(tag, "")} for tag in tags]


def friend_tag_items(friend: dict, tags: list[str] | None = None, *,
                     standard: bool = True, custom: bool = True) -> list[dict]:
    """`[{Tag, Value}]` of a Friend (friend_view's shape). With `tags`, those (profile and
    SNS tags alike; an unset one reads as "", an unset list as []); without, every
    standard tag that holds something (AddTime always) and every custom field, as
    friend_get answers."""
    fields = {item["key"]: item["value"] for item in friend["friendCustomField"]}
    if tags is not None:
        out = []
        for tag in tags:
            if tag in SNS_TAGS:
                out.append({"Tag": tag, "Value": friend[SNS_TAGS[tag]]})
            elif tag.startswith(SNS_CUSTOM_PREFIX):
                out.append({"Tag": tag, "Value": fields.get(tag, "")})
            else:
                out.extend(profile_tag_items(friend["profile"], [tag]))
        return out
    out = []
    if standard:
        out += [{"Tag": tag, "Value": friend[key]} for tag, key in SNS_TAGS.items()
                if friend[key] or tag == "Tag_SNS_IM_AddTime"]
    if custom:
        out += [{"Tag": key, "Value": value} for key, value in sorted(fields.items())]
    return out
