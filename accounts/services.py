"""Writes for accounts: users, devices, the sync log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat_project.errors import ChatError

from .models import Device, SyncEntry, User, validate_user_id
from .usersig import check_usersig


def check_user_id(user_id) -> str:
    try:
        validate_user_id(user_id)
    except ValidationError:
        raise ChatError(7003) from None
    return user_id


def user_create(*, user_id: str, password: str | None = None, nick: str = "",
                avatar: str = "") -> User:
    """Register an account. Raises ChatError 7003 for a bad UserID, 910003 if taken."""
    check_user_id(user_id)
    try:
        with transaction.atomic():
            user = User(user_id=user_id, nick=nick, avatar=avatar)
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
    except IntegrityError:
        raise ChatError(910003, f"UserID {user_id!r} is taken") from None
    return user


def user_get_or_register(*, user_id: str) -> User:
    """As with Tencent, a valid UserSig for a UserID that was never imported registers it."""
    check_user_id(user_id)
    user = User.objects.filter(user_id=user_id).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User(user_id=user_id)
            user.set_unusable_password()
            user.save()
            return user
    except IntegrityError:  # registered concurrently by another device
        return User.objects.get(user_id=user_id)


def user_login_with_usersig(*, user_id, usersig) -> User:
    """Check the UserSig (Tencent's codes on failure) and return the user."""
    if not isinstance(user_id, str) or not isinstance(usersig, str):
        raise ChatError(70002, "userID and userSig are required", http_status=401)
    check_usersig(user_id, usersig)
    user = user_get_or_register(user_id=user_id)
    if not user.is_active:
        raise ChatError(70051, "account is disabled", http_status=403)
    return user


def device_login(*, user: User, device_id: str, platform: str) -> Device:
    """Record a device login (one row per device; last seen now)."""
    if platform not in Device.Platform.values:
        platform = Device.Platform.UNKNOWN
    device, _ = Device.objects.update_or_create(
        user=user, device_id=device_id[:64],
        defaults={"platform": platform, "last_seen": timezone.now()},
    )
    return device


def device_ack(*, user: User, device_id: str, seq: int) -> None:
    """Remember how far a device has processed its user's sync log."""
    Device.objects.filter(user=user, device_id=device_id, acked_seq__lt=seq).update(
        acked_seq=seq, last_seen=timezone.now()
    )


@dataclass
class SyncItem:
    user_pk: int
    kind: str
    message_id: int | None = None
    peer: str = ""
    payload: dict = field(default_factory=dict)
    seq: int = 0  # filled by sync_append


def sync_append(items: list[SyncItem], *, now: datetime | None = None) -> list[SyncItem]:
    """Append entries to users' sync logs; fills each item's `seq`.

    Must run inside the caller's transaction. Users' counters are locked in primary-key
    order, so concurrent appends for overlapping users never deadlock.
    """
    if not items:
        return items
    now = now or timezone.now()
    counts = Counter(item.user_pk for item in items)
    tops = _bump_sync_seq(counts)
    next_seq = {pk: tops[pk] - n + 1 for pk, n in counts.items()}
    rows = []
    for item in items:
        item.seq = next_seq[item.user_pk]
        next_seq[item.user_pk] += 1
        rows.append(SyncEntry(user_id=item.user_pk, seq=item.seq, kind=item.kind,
                              message_id=item.message_id, peer=item.peer,
                              payload=item.payload, created_at=now))
    SyncEntry.objects.bulk_create(rows)
    return items


def _bump_sync_seq(counts: Counter) -> dict[int, int]:
    pks = sorted(counts)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE accounts_user u SET sync_seq = u.sync_seq + v.n"
                " FROM (SELECT id FROM accounts_user WHERE id = ANY(%s)"
                "       ORDER BY id FOR UPDATE) l,"
                "      unnest(%s::bigint[], %s::int[]) AS v(id, n)"
                " WHERE u.id = l.id AND v.id = u.id RETURNING u.id, u.sync_seq",
                [pks, pks, [counts[pk] for pk in pks]],
            )
            tops = dict(cursor.fetchall())
        else:  # SQLite: one writer at a time, so order is already safe
            tops = {}
            for pk in pks:
                cursor.execute(
                    "UPDATE accounts_user SET sync_seq = sync_seq + %s WHERE id = %s"
                    " RETURNING sync_seq", [counts[pk], pk])
                tops[pk] = cursor.fetchone()[0]
    if len(tops) != len(pks):
        raise ChatError(20003)
    return tops
