"""Writes for accounts: users, devices, the sync log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists
from django.utils import timezone

from chat_project import wire
from chat_project.db import prepared_cursor
from chat_project.errors import ChatError

from .events import publish_on_commit
from .models import AllowType, Device, Gender, SyncEntry, SyncHead, User, validate_user_id
from .selectors import profile_full, sync_head
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


def is_app_admin(user_id) -> bool:
    """An app admin's UserID (CHAT_ADMIN_USERS): its UserSig is the key to /v4."""
    return user_id in settings.CHAT_ADMIN_USERS


def signup_open() -> bool:
    """Whether anyone may create an account with a password on the web UI
    (CHAT_OPEN_SIGNUP: on with DEBUG, as `make run` has it; off in production, where the
    integrator's backend imports accounts and issues their UserSigs)."""
    return settings.CHAT_OPEN_SIGNUP


def user_sign_up(*, user_id: str, password: str, nick: str = "") -> User:
    """Open sign-up (the web UI's form). 910009 when sign-up is closed or the UserID is
    an app admin's (who signs up `administrator` would send as the app); else as
    user_create (7003, 910003 if taken)."""
    if not signup_open():
        raise ChatError(910009, "Sign-up is closed on this server.", http_status=403)
    if is_app_admin(user_id):
        raise ChatError(910009, "This UserID is reserved.", http_status=403)
    return user_create(user_id=user_id, password=password, nick=nick)


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


def user_import(*, user_id: str, nick: str = "", avatar: str = "") -> tuple[User, bool]:
    """Create an imported account, or find it: (user, created). A UserID that exists is
    returned as it is (relationships.services.account_import, the /v4 import, updates
    its nick and avatar: their announcement reaches friends, whom accounts cannot know),
    unless the account was signed up on the web UI with a password: then ChatError
    910010 and nothing changes, for an import that adopted it would hand the
    integrator's user to whoever chose the password (they would read everything later
    sent to it). Raises ChatError 7003 for a bad UserID."""
    check_user_id(user_id)
    user = User.objects.filter(user_id=user_id).first()
    if user is not None:
        if user.has_usable_password():
            raise ChatError(910010)
        return user, False
    # A profile's rules (40601 over 500 bytes, 40605 a NUL PostgreSQL cannot store).
    check_profile_fields({"nick": nick, "avatar": avatar})
    try:
        with transaction.atomic():
            user = User(user_id=user_id, nick=nick, avatar=avatar)
            user.set_unusable_password()
            user.save()
            return user, True
    except IntegrityError:  # imported or signed up concurrently: the rule above decides
        return user_import(user_id=user_id, nick=nick, avatar=avatar)


def user_login_with_usersig(*, user_id, usersig) -> User:
    """Check the UserSig (Tencent's codes on failure) and return the user."""
    if not isinstance(user_id, str) or not isinstance(usersig, str):
        raise ChatError(70002, "userID and userSig are required", http_status=401)
    issued = check_usersig(user_id, usersig)
    user = user_get_or_register(user_id=user_id)
    if not user.is_active:
        raise ChatError(70051, "account is disabled", http_status=403)
    # A kick ended it. <=: a UserSig is stamped in whole seconds, and one issued in the
    # second of the kick may have been issued before it.
    if issued <= user.kicked_at:
        raise ChatError(70001, "this UserSig was issued before the user was kicked out; "
                               "log in with a new one", http_status=401)
    return user


def device_login(*, user: User, device_id: str, platform: str) -> Device:
    """Record a device login (one row per device; last seen now). A deviceID is 1 to 64
    printable characters (910003): a longer one was cut to 64, so two devices made one,
    and PostgreSQL cannot store a NUL. Anything else (0, false, "", a number) is
    refused the same way, never taken for "no deviceID"."""
    if not isinstance(device_id, str) or not 1 <= len(device_id) <= 64 \
            or not device_id.isprintable():
        raise ChatError(910003, "deviceID must be 1 to 64 printable characters")
    if platform not in Device.Platform.values:
        platform = Device.Platform.UNKNOWN
    device, created = Device.objects.update_or_create(
        user=user, device_id=device_id,
        defaults={"platform": platform, "last_seen": timezone.now()},
    )
    device.is_new = created  # this account had not seen the device (since_trusted)
    return device


def device_ack(*, user: User, device_id: str, seq: int) -> None:
    """Remember how far a device has processed its user's sync log (910003 for a seq
    that is not one: sync-log seqs are non-negative bigints, and none is past the
    user's sync head). One statement when the ack moves the device forward; the head is
    read again only when it did not (a repeated ack, or a seq past the head)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= 2**63 - 1:
        raise ChatError(910003, "seq must be a non-negative integer")
    moved = Device.objects.filter(
        Exists(SyncHead.objects.filter(user_id=user.pk, seq__gte=seq)),
        user=user, device_id=device_id, acked_seq__lt=seq,
    ).update(acked_seq=seq, last_seen=timezone.now())
    if not moved and seq > sync_head(user.pk):
        raise ChatError(910003, "seq is past the sync log's head")


@dataclass
class SyncItem:
    user_pk: int
    kind: str
    message_id: int | None = None
    peer: str = ""
    payload: dict = field(default_factory=dict)
    # Leaves the offline cache at this instant (a message's MsgLifeTime); None: the
    # cache's own CHAT_OFFLINE_CACHE_DAYS.
    expires_at: datetime | None = None
    seq: int = 0  # filled by sync_append


def sync_append(items: list[SyncItem], *, now: datetime | None = None) -> list[SyncItem]:
    """Append entries to users' sync logs; fills each item's `seq`.

    Must run inside the caller's transaction. One statement on PostgreSQL (the heads'
    upsert and the entries' insert), two elsewhere.
    """
    if not items:
        return items
    now = now or timezone.now()
    counts = Counter(item.user_pk for item in items)
    if connection.vendor == "postgresql":
        _number(items, counts, _append_entries_with_heads(items, counts, now))
    else:
        _number(items, counts, _bump_sync_seq(counts))
        _insert_entries(items, now)
    return items


def _number(items: list[SyncItem], counts: Counter, tops: dict[int, int]) -> None:
    """Each user's items take the seqs up to its new top, in the items' order."""
    next_seq = {pk: tops[pk] - n + 1 for pk, n in counts.items()}
    for item in items:
        item.seq = next_seq[item.user_pk]
        next_seq[item.user_pk] += 1


def sync_publish(events: list[tuple[int, str, str, object]], *, peer: str = "",
                 now: datetime | None = None) -> list[int]:
    """Append events to users' sync logs and send them to their devices after commit.

    Each event is (user_pk, SyncEntry.Kind, event name, data). Runs inside the caller's
    transaction; returns the seqs. A device that was offline gets them on its next login.
    """
    items = [SyncItem(user_pk=pk, kind=kind, peer=peer, payload={"event": name, "data": data})
             for pk, kind, name, data in events]
    sync_append(items, now=now)
    publish_on_commit([(item.user_pk, {"event": item.payload["event"], "seq": item.seq,
                                       "data": item.payload["data"]}) for item in items])
    return [item.seq for item in items]


# Rows are locked in the heads' VALUES order, sorted by user, so concurrent appends for
# overlapping users never deadlock (and messaging/persist.py's lock order holds).
_HEADS_UPSERT = (
    "INSERT INTO accounts_synchead (user_id, seq) VALUES {values}"
    " ON CONFLICT (user_id) DO UPDATE SET seq = accounts_synchead.seq + EXCLUDED.seq"
    " RETURNING user_id, seq")


def _bump_sync_seq(counts: Counter) -> dict[int, int]:
    """Each user's head moved on by their count; returns the new tops."""
    pks = sorted(counts)
    values = ", ".join(["(%s, %s)"] * len(pks))
    with connection.cursor() as cursor:
        cursor.execute(_HEADS_UPSERT.format(values=values),
                       [x for pk in pks for x in (pk, counts[pk])])
        return dict(cursor.fetchall())


def _insert_entries(items: list[SyncItem], now: datetime) -> None:
    params: list = []
    for item in items:
        params += [item.user_pk, item.seq, item.kind, item.message_id, item.peer,
                   wire.dumps(item.payload), now, _adapt_expiry(item)]
    row = "(%s, %s, %s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:  # raw: the ORM's bulk_create is the costlier half
        cursor.execute(
            "INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload,"
            f" created_at, expires_at) VALUES {', '.join([row] * len(items))}", params)


# PostgreSQL: the heads' upsert and the entries' insert in one statement, the heads passed
# as two arrays and the entries as one JSON array of rows (in the items' order, `ord`):
# the statement's text is the same whatever the batch, so it is prepared once
# (chat_project/db.py); psycopg converts one string instead of an array per column (a
# VALUES list of a row per entry was a new text per batch size, re-parsed on every call
# past 50 parameters: a fifth of a busy worker's CPU, bench/README.md "fourth round").
_APPEND_WITH_HEADS = (
    "WITH h AS (INSERT INTO accounts_synchead (user_id, seq)"
    "  SELECT * FROM unnest(%s::bigint[], %s::bigint[])"
    "  ON CONFLICT (user_id) DO UPDATE SET seq = accounts_synchead.seq + EXCLUDED.seq"
    "  RETURNING user_id, seq),"
    " e AS (INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload,"
    "  created_at, expires_at)"
    "  SELECT v.user_id, h.seq - v.n_after, v.kind, v.message_id, v.peer, v.payload,"
    "   %s::timestamptz, v.expires_at"
    "  FROM jsonb_to_recordset(%s::jsonb) AS v(ord int, user_id bigint, n_after bigint,"
    "   kind varchar, message_id bigint, peer varchar, payload jsonb, expires_at timestamptz)"
    "  JOIN h ON h.user_id = v.user_id ORDER BY v.ord)"
    " SELECT user_id, seq FROM h")


def _append_entries_with_heads(items: list[SyncItem], counts: Counter,
                               now: datetime) -> dict[int, int]:
    """PostgreSQL: the heads' upsert and the entries' insert in one statement (a
    data-modifying CTE); returns the new tops. Each entry's seq is its user's new top
    less how many of that user's items follow it; entries are inserted in the items'
    order, as the two statements elsewhere insert them. The heads are locked in user
    order (the sorted array), as `_bump_sync_seq` does."""
    pks = sorted(counts)
    left = Counter(counts)
    rows = []
    for i, item in enumerate(items):
        left[item.user_pk] -= 1
        rows.append({"ord": i, "user_id": item.user_pk, "n_after": left[item.user_pk],
                     "kind": item.kind, "message_id": item.message_id, "peer": item.peer,
                     "payload": item.payload, "expires_at": item.expires_at})
    with prepared_cursor() as cursor:
        cursor.execute(_APPEND_WITH_HEADS,
                       [pks, [counts[pk] for pk in pks], now, wire.dumps(rows)])
        return dict(cursor.fetchall())


def _adapt_expiry(item: SyncItem):
    return connection.ops.adapt_datetimefield_value(item.expires_at) \
        if item.expires_at is not None else None


# --- profile --------------------------------------------------------------------------

# Tencent's byte limits (tencent-rest.md §6), measured in UTF-8.
_PROFILE_TEXT_BYTES = {"nick": 500, "avatar": 500, "self_signature": 500, "location": 16}
_PROFILE_CHOICES = {"gender": Gender.values, "allow_type": AllowType.values}
# Tencent's uint32 fields.
_PROFILE_UINTS = {"birthday": 2**32 - 1, "language": 2**32 - 1}
PROFILE_FIELDS = (*_PROFILE_TEXT_BYTES, *_PROFILE_CHOICES, *_PROFILE_UINTS, "profile_custom")
# Errors name fields as clients do (Web SDK names), not as the columns are called.
_PROFILE_WIRE_NAMES = {"self_signature": "selfSignature", "allow_type": "allowType",
                       "profile_custom": "profileCustomField"}

# Custom fields: Tag_Profile_Custom_<Key>, the key 1 to 8 letters, the value a string of
# at most 500 bytes. Tencent has operators declare the keys (at most 20 per app); here a
# user may hold at most 20 keys, and setting a key to "" removes it.
PROFILE_CUSTOM_PREFIX = "Tag_Profile_Custom_"
PROFILE_CUSTOM_MAX_KEYS = 20
_PROFILE_CUSTOM_VALUE_BYTES = 500


# The Web SDK's names of the fields a user may set, and their columns.
PROFILE_WIRE_FIELDS = {"nick": "nick", "avatar": "avatar", "gender": "gender",
                       "birthday": "birthday", "location": "location",
                       "selfSignature": "self_signature", "allowType": "allow_type",
                       "language": "language", "profileCustomField": "profile_custom"}


def profile_fields_from_wire(data: dict) -> dict:
    """updateMyProfile's options (Web SDK names) as profile_update's keyword arguments."""
    unknown = sorted(set(data) - set(PROFILE_WIRE_FIELDS))
    if unknown:
        raise ChatError(910003, f"{', '.join(unknown)}: not a profile field a user may set")
    fields = {PROFILE_WIRE_FIELDS[name]: value for name, value in data.items()}
    if "profile_custom" in fields:
        fields["profile_custom"] = profile_custom_from_wire(fields["profile_custom"])
    return fields


def profile_custom_from_wire(items) -> dict:
    """The Web SDK's `profileCustomField: [{key, value}]` as {tag: value} (a later item
    with the same key wins). 910003 if it is not a list of such objects."""
    if not isinstance(items, list):
        raise ChatError(910003, "profileCustomField must be a list of {key, value}")
    out = {}
    for item in items:
        if not isinstance(item, dict) or set(item) != {"key", "value"} \
                or not isinstance(item["key"], str):
            raise ChatError(910003, "each profileCustomField item must be {key, value}")
        out[item["key"]] = item["value"]
    return out


def check_profile_custom_key(key) -> str:
    """40009 unless `key` names a custom field: Tag_Profile_Custom_ and 1 to 8 letters."""
    suffix = key[len(PROFILE_CUSTOM_PREFIX):] if isinstance(key, str) \
        and key.startswith(PROFILE_CUSTOM_PREFIX) else ""
    if not (1 <= len(suffix) <= 8 and suffix.isascii() and suffix.isalpha()):
        raise ChatError(40009, f"{key!r} is not a custom profile field "
                               "(Tag_Profile_Custom_ and 1 to 8 letters)")
    return key


def check_profile_fields(fields: dict) -> dict:
    """Validate profile changes; 40601 for a value too long, 40605 for a bad value,
    40009 for a custom field that cannot exist."""
    for name, value in fields.items():
        wire = _PROFILE_WIRE_NAMES.get(name, name)
        if name in _PROFILE_TEXT_BYTES:
            # PostgreSQL cannot store NUL in text, and no profile field needs it.
            if not isinstance(value, str) or "\x00" in value:
                raise ChatError(40605, f"{wire} must be a string")
            limit = _PROFILE_TEXT_BYTES[name]
            if len(value.encode("utf-8")) > limit:
                raise ChatError(40601, f"{wire} is longer than {limit} bytes (UTF-8)")
        elif name in _PROFILE_CHOICES:
            if value not in _PROFILE_CHOICES[name]:
                raise ChatError(40605, f"{wire} must be one of {_PROFILE_CHOICES[name]}")
        elif name in _PROFILE_UINTS:
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 0 <= value <= _PROFILE_UINTS[name]:
                raise ChatError(40605, f"{wire} must be an integer from 0 to "
                                       f"{_PROFILE_UINTS[name]}")
        elif name == "profile_custom":
            if not isinstance(value, dict):
                raise ChatError(910003, "profile_custom must map custom tags to values")
            for key, item in value.items():
                check_profile_custom_key(key)
                if not isinstance(item, str) or "\x00" in item:
                    raise ChatError(40605, f"{key} must be a string")
                if len(item.encode("utf-8")) > _PROFILE_CUSTOM_VALUE_BYTES:
                    raise ChatError(40601, f"{key} is longer than "
                                           f"{_PROFILE_CUSTOM_VALUE_BYTES} bytes (UTF-8)")
        else:
            raise ChatError(910003, f"{wire} is not a profile field a user may set")
    return fields


def profile_update(*, user: User, notify_pks: Iterable[int] = (), **fields) -> User:
    """Change the user's own profile; every device of the user gets PROFILE_UPDATED
    (through the sync log, so a device that is offline learns it on its next login),
    and so do the devices of the users in `notify_pks` (relationships passes the
    user's friends: accounts cannot know them).

    `fields` are column names (nick, avatar, gender, birthday, location,
    self_signature, allow_type, language, profile_custom); only those given change.
    `profile_custom` maps Tag_Profile_Custom_<Key> to a value and is merged into the
    custom fields the user has ("" removes a key).
    """
    changes = check_profile_fields(fields)
    if not changes:
        return user
    with transaction.atomic():
        if "profile_custom" in changes:
            # Merged under the row lock, so concurrent changes of other keys both stay.
            current = User.objects.select_for_update().filter(pk=user.pk) \
                .values_list("profile_custom", flat=True).get()
            merged = {**(current or {}), **changes["profile_custom"]}
            merged = {k: v for k, v in merged.items() if v != ""}
            if len(merged) > PROFILE_CUSTOM_MAX_KEYS:
                raise ChatError(40605, f"at most {PROFILE_CUSTOM_MAX_KEYS} custom fields")
            changes = {**changes, "profile_custom": merged}
        for name, value in changes.items():
            setattr(user, name, value)
        user.save(update_fields=[*changes, "profile_updated_at"])
        profile = [profile_full(user)]
        audience = [user.pk, *sorted(set(notify_pks) - {user.pk})]
        # One call, so every sync head is locked in one sorted statement.
        sync_publish([(pk, SyncEntry.Kind.PROFILE, "PROFILE_UPDATED", profile)
                      for pk in audience])
    return user


def sync_log_purge(*, before: datetime, batch_size: int = 5000,
                   now: datetime | None = None) -> int:
    """Delete sync-log entries created before `before`, and entries whose own life
    (`expires_at`, a message's MsgLifeTime) ended before `now`; return how many went.

    On PostgreSQL the set-based purge of accounts/retention.py (measured at millions of
    rows); elsewhere (the embedded SQLite) the portable loop below.
    """
    if connection.vendor == "postgresql":
        from .retention import sync_log_purge as purge_on_postgresql

        return purge_on_postgresql(before=before, batch_size=batch_size, now=now)
    return sync_log_purge_portable(before=before, batch_size=batch_size, now=now)


def sync_log_purge_portable(*, before: datetime, batch_size: int = 5000,
                            now: datetime | None = None) -> int:
    """Delete sync-log entries created before `before`, and entries whose own life
    (`expires_at`, a message's MsgLifeTime) ended before `now`; return how many went.

    Batches are picked on an index and each is its own short transaction, so a send
    appending to the log never waits behind the whole purge, and no table is loaded
    into Python: old entries on created_at (one DELETE per batch), expired ones on the
    partial index over expires_at, which holds only entries with a life of their own
    (their ids first, then a DELETE only when there are some). Two passes, not one
    OR: with an OR the planner scans the table (measured: 17 s for 400,000 of
    1,000,000 rows, against about 1 s per pass on the indexes).
    """
    table = connection.ops.quote_name(SyncEntry._meta.db_table)
    old = (f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"
           f" WHERE created_at < %s ORDER BY created_at LIMIT %s)")
    expired = (f"SELECT id FROM {table} WHERE expires_at IS NOT NULL AND expires_at < %s"
               f" ORDER BY expires_at LIMIT %s")
    cutoff = connection.ops.adapt_datetimefield_value(before)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(old, [cutoff, batch_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            break
    cutoff = connection.ops.adapt_datetimefield_value(now or timezone.now())
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(expired, [cutoff, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(f"DELETE FROM {table} WHERE id IN"
                               f" ({', '.join(['%s'] * len(ids))})", ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total
