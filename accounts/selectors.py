"""Reads for accounts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from chat_project.db import prepared_cursor

from .locks import pair_key_sql
from .models import SyncEntry, SyncHead, User


def could_exist(user_id) -> bool:
    # A NUL byte cannot be in a UserID (validate_user_id), and PostgreSQL refuses it in
    # a query: such a string names nobody, and never reaches the database.
    return isinstance(user_id, str) and "\x00" not in user_id


def user_by_user_id(user_id: str) -> User | None:
    if not could_exist(user_id):
        return None
    return User.objects.filter(user_id=user_id).first()


def users_by_user_ids(user_ids: Iterable[str]) -> dict[str, User]:
    wanted = [u for u in user_ids if could_exist(u)]
    return {u.user_id: u for u in User.objects.filter(user_id__in=wanted)}


# What a send needs of its sender and receiver (messaging/persist.py); the rest of the
# row stays in the database. The pinned query counts of the send catch a deferred field
# that is read after all.
SEND_FIELDS = ("id", "user_id", "nick", "avatar", "is_active", "admin_forbid_type",
               "c2c_mute_until", "session_epoch")


# PostgreSQL: one array parameter, so the statement's text is the same for any number of
# users and it is prepared once per connection (chat_project/db.py).
# The columns in the model's order: what Model.from_db expects of a partial row.
_SEND_COLUMNS = [(f.attname, f.column) for f in User._meta.concrete_fields
                 if f.attname in SEND_FIELDS]
_SEND_NAMES = [name for name, _ in _SEND_COLUMNS]
_USERS_FOR_SEND_PG = (
    f"SELECT {', '.join(column for _, column in _SEND_COLUMNS)}"
    " FROM accounts_user WHERE user_id = ANY(%s::varchar[])")
# The same read, and the locks of the pairs (UserID, UserID) among the users found, taken
# in key order (accounts.locks): the aggregate reads its subquery's rows in the order
# given. `u` is read once; `l`'s one row (the count) joins every user row.
_USERS_FOR_SEND_LOCKING_PG = (
    f"WITH u AS MATERIALIZED ({_USERS_FOR_SEND_PG}),"
    " l AS (SELECT count(pg_advisory_xact_lock(o.k)) AS n FROM ("
    f"  SELECT DISTINCT {pair_key_sql('a.id', 'b.id')} AS k"
    "   FROM unnest(%s::varchar[], %s::varchar[]) AS p(a, b)"
    "   JOIN u a ON a.user_id = p.a JOIN u b ON b.user_id = p.b ORDER BY k) o)"
    f" SELECT {', '.join(f'u.{column}' for _, column in _SEND_COLUMNS)} FROM u, l")


def users_for_send(user_ids: Iterable[str], *,
                   lock_pairs: Iterable[tuple[str, str]] = ()) -> dict[str, User]:
    """The users of a send, by UserID, with SEND_FIELDS.

    `lock_pairs`, (UserID, UserID) pairs: on PostgreSQL the same statement also takes the
    locks of those pairs of the users it finds (accounts.locks.lock_user_pairs, one round
    trip fewer per send). Anything read under those locks needs a later statement: this
    one's snapshot predates them. SQLite has no locks to take (lock_user_pairs)."""
    wanted = sorted({u for u in user_ids if could_exist(u)})
    if connection.vendor != "postgresql":
        return {u.user_id: u for u in User.objects.filter(user_id__in=wanted)
                .only(*SEND_FIELDS)}
    pairs = sorted({(a, b) for a, b in lock_pairs if could_exist(a) and could_exist(b)})
    with prepared_cursor() as cursor:
        if pairs:
            cursor.execute(_USERS_FOR_SEND_LOCKING_PG,
                           [wanted, [a for a, _ in pairs], [b for _, b in pairs]])
        else:
            cursor.execute(_USERS_FOR_SEND_PG, [wanted])
        rows = cursor.fetchall()
    users = (User.from_db(DEFAULT_DB_ALIAS, _SEND_NAMES, row) for row in rows)
    return {user.user_id: user for user in users}


def sync_head(user_pk: int) -> int:
    return SyncHead.objects.filter(user_id=user_pk).values_list("seq", flat=True).first() or 0


def sync_entries_after(*, user_pk: int, since: int, limit: int = 1000) -> list[SyncEntry]:
    return list(SyncEntry.objects.filter(user_id=user_pk, seq__gt=since)
                .order_by("seq")[:limit])


# The offline cache is the sync log, bounded (PROTOCOL.md, Session step 3): entries
# older than CHAT_OFFLINE_CACHE_DAYS are gone, and of the message entries of one peer
# only the newest OFFLINE_CACHE_PER_PEER are replayed; the older ones stay in history.
OFFLINE_CACHE_PER_PEER = 100


def offline_cache_cutoff():
    """Entries created before this have left the offline cache (purged or not yet)."""
    return timezone.now() - timedelta(days=getattr(settings, "CHAT_OFFLINE_CACHE_DAYS", 7))


def oldest_cached_seq(user_pk: int) -> int | None:
    """The seq of the user's oldest entry still in the offline cache, None if none is.

    An entry whose own life (`expires_at`) ended still counts until the purge deletes
    it: it was left out on purpose, nothing was lost. Once purged, a device whose
    `since` is before it gets SYNC_RESET, which costs it a reload, not a message."""
    return SyncEntry.objects.filter(user_id=user_pk, created_at__gte=offline_cache_cutoff()) \
        .order_by("seq").values_list("seq", flat=True).first()


def _cached_entries(*, user_pk: int, since: int, upto: int | None):
    """Entries in the cache: younger than the cache's days, and not past their own
    life (a message sent with MsgLifeTime N > 0 leaves after N seconds)."""
    qs = SyncEntry.objects.filter(user_id=user_pk, seq__gt=since,
                                  created_at__gte=offline_cache_cutoff()) \
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    return qs


def offline_cache_after(*, user_pk: int, since: int, upto: int | None = None,
                        limit: int = 500, per_peer_cut: bool = True) -> list[SyncEntry]:
    """The offline cache after `since` (up to `upto`), in seq order, one query.

    Expired entries are left out, and so are the message entries of a peer beyond its
    newest OFFLINE_CACHE_PER_PEER: each message entry is ranked by
    ROW_NUMBER() OVER (PARTITION BY kind, peer ORDER BY seq DESC). The rank of an entry
    counts only the same peer's entries at or after it, so it does not depend on `since`:
    paging with `since` = the last seq of the previous page keeps the same cut, as long
    as `upto` stays put (the consumer passes the head it read at login).

    `per_peer_cut=False` keeps every message entry: for entries a socket should have
    sent its device live (a lost publish), which its device was online for and has
    nowhere else (messaging/consumers.py, _replay).
    """
    entries = _cached_entries(user_pk=user_pk, since=since, upto=upto)
    if per_peer_cut:
        entries = entries \
            .annotate(peer_rank=Window(RowNumber(), partition_by=[F("kind"), F("peer")],
                                       order_by=F("seq").desc())) \
            .filter(~Q(kind=SyncEntry.Kind.MESSAGE) | Q(peer_rank__lte=OFFLINE_CACHE_PER_PEER))
    return list(entries.order_by("seq")[:limit])


def offline_cache_dropped(*, user_pk: int, since: int, upto: int | None = None) -> dict[str, int]:
    """Per peer, how many message entries after `since` the per-peer cap leaves out of
    a replay (they stay in history). One query; peers with nothing dropped are absent."""
    rows = _cached_entries(user_pk=user_pk, since=since, upto=upto) \
        .filter(kind=SyncEntry.Kind.MESSAGE).values("peer").annotate(n=Count("pk")) \
        .filter(n__gt=OFFLINE_CACHE_PER_PEER).values_list("peer", "n")
    return {peer: n - OFFLINE_CACHE_PER_PEER for peer, n in rows}


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
