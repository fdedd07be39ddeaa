"""Transaction-scoped locks on pairs of users.

Whatever changes whether A may message B (a block, an unfriending) and every send
from A to B take the pair's lock first, so a send either commits before the change or
sees it: no message is committed after a block. Taken before any row lock, sorted,
so lockers never deadlock (see messaging/persist.py for the whole order).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from chat_project.db import prepared_cursor

_MASK = (1 << 31) - 1


def pair_key(a: int, b: int) -> int:
    low, high = sorted((a, b))
    return ((low & _MASK) << 32) | (high & 0xFFFFFFFF)


def pair_key_sql(a: str, b: str) -> str:
    """`pair_key` of two bigint SQL expressions, for a statement that locks pairs it
    finds itself (accounts.selectors.users_for_send)."""
    return (f"(((LEAST({a}, {b}) & {_MASK}) << 32)"
            f" | (GREATEST({a}, {b}) & {0xFFFFFFFF}))")


def lock_user_pairs(pairs: Iterable[tuple[int, int]]) -> None:
    """Lock each unordered pair of user pks until the transaction ends.

    PostgreSQL: advisory transaction locks, in key order. SQLite: nothing to do; it
    lets one transaction write at a time.
    """
    keys = sorted({pair_key(a, b) for a, b in pairs})
    if not keys or connection.vendor != "postgresql":
        return
    with prepared_cursor() as cursor:
        # unnest keeps the array's (sorted) order, so the locks are taken in it
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k",
                       [keys])
