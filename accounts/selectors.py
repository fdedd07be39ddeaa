"""Reads for accounts."""

from __future__ import annotations

from collections.abc import Iterable

from .models import SyncEntry, SyncHead, User


def user_by_user_id(user_id: str) -> User | None:
    if not isinstance(user_id, str):
        return None
    return User.objects.filter(user_id=user_id).first()


def users_by_user_ids(user_ids: Iterable[str]) -> dict[str, User]:
    return {u.user_id: u for u in User.objects.filter(user_id__in=list(user_ids))}


# What a send needs of its sender and receiver (messaging/persist.py); the rest of the
# row stays in the database. The pinned query counts of the send catch a deferred field
# that is read after all.
SEND_FIELDS = ("id", "user_id", "nick", "avatar", "is_active", "admin_forbid_type")


def users_for_send(user_ids: Iterable[str]) -> dict[str, User]:
    return {u.user_id: u for u in User.objects.filter(user_id__in=list(user_ids))
            .only(*SEND_FIELDS)}


def sync_head(user_pk: int) -> int:
    return SyncHead.objects.filter(user_id=user_pk).values_list("seq", flat=True).first() or 0


def sync_entries_after(*, user_pk: int, since: int, limit: int = 1000) -> list[SyncEntry]:
    return list(SyncEntry.objects.filter(user_id=user_pk, seq__gt=since)
                .order_by("seq")[:limit])


def profile_brief(user: User) -> dict:
    """The profile a conversation carries (Web SDK Profile subset)."""
    return {"userID": user.user_id, "nick": user.nick, "avatar": user.avatar}


def profile_full(user: User) -> dict:
    return {
        "userID": user.user_id, "nick": user.nick, "avatar": user.avatar,
        "gender": user.gender, "birthday": user.birthday, "location": user.location,
        "selfSignature": user.self_signature, "allowType": user.allow_type,
        "language": user.language, "adminForbidType": user.admin_forbid_type,
        "level": user.level, "role": user.role,
        "profileCustomField": [{"key": k, "value": v} for k, v in user.profile_custom.items()],
    }
