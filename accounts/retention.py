"""The offline-cache purge on PostgreSQL, cheap at millions of rows (bench/purge.py,
bench/README.md "Retention and purging"), and the batch loop history's purge shares.

One statement per batch with the batch's ids kept in the server, an `id =
ANY(ARRAY(subquery))` lookup that is always probed on the primary key (an `id IN (SELECT
... LIMIT n)` let the planner pick a hash semi-join over a scan of the whole log for
every batch: a quadratic purge), and keyset progress (each batch starts its index scan
where the previous one ended, instead of walking the dead index entries of the rows
already deleted). Each batch is its own short transaction. accounts.services.sync_log_purge
calls this on PostgreSQL and keeps a portable loop for the embedded SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

_SYNC_BATCH = """
WITH gone AS (
    DELETE FROM accounts_syncentry WHERE id = ANY(ARRAY(
        SELECT id FROM accounts_syncentry
        WHERE created_at >= %(after)s AND created_at < %(before)s
        ORDER BY created_at LIMIT %(limit)s))
    RETURNING created_at
)
SELECT count(*), max(created_at) FROM gone
"""

# Entries with a life of their own (MsgLifeTime), on the partial index on expires_at.
_SYNC_EXPIRED_BATCH = """
WITH gone AS (
    DELETE FROM accounts_syncentry WHERE id = ANY(ARRAY(
        SELECT id FROM accounts_syncentry
        WHERE expires_at IS NOT NULL AND expires_at >= %(after)s AND expires_at < %(before)s
        ORDER BY expires_at LIMIT %(limit)s))
    RETURNING expires_at
)
SELECT count(*), max(expires_at) FROM gone
"""


def purge_in_batches(sql: str, before: datetime, batch_size: int, *,
                     pick: str | None = None, lock_first: str | None = None,
                     prepare: str | None = None, then: str | None = None) -> int:
    """Run `sql` batch after batch, each in its own transaction, until a batch comes up
    short; return the rows deleted. `sql` deletes up to %(limit)s rows whose key is in
    [%(after)s, %(before)s), oldest first, and returns (count, newest key deleted).
    `prepare` (no parameters) runs first in each batch's transaction (a SET LOCAL).
    `pick`, with the same parameters, runs next: it locks the batch's rows and returns
    their ids (one array, or NULL for none: the purge is done), which the statements
    after it get as %(batch)s. `lock_first`, with the same parameters, runs before `sql`:
    it locks rows and returns their ids, which `sql` gets as %(locked)s. `then` runs after
    `sql` in the transaction, in a statement (and snapshot) of its own, with `sql`'s third
    column (the ids it deleted, an array) as %(gone)s."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    cutoff = connection.ops.adapt_datetimefield_value(before)
    # The oldest instant of the previous batch's newest row: rows created at that very
    # instant that did not fit in the batch are still picked up (>=).
    after = datetime(1, 1, 1, tzinfo=UTC)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"after": after, "before": cutoff, "limit": batch_size}
            if prepare is not None:
                cursor.execute(prepare)
            if pick is not None:
                cursor.execute(pick, params)
                params["batch"] = cursor.fetchone()[0]
                if not params["batch"]:
                    return total
            if lock_first is not None:
                cursor.execute(lock_first, params)
                params["locked"] = [row[0] for row in cursor.fetchall()]
            cursor.execute(sql, params)
            deleted, newest, *gone = cursor.fetchone()
            if then is not None and deleted:
                cursor.execute(then, {"gone": gone[0]})
        total += deleted
        if deleted < batch_size:
            return total
        after = newest


def sync_log_purge(*, before: datetime, batch_size: int = 5000,
                   now: datetime | None = None) -> int:
    """Delete sync-log entries created before `before`, and entries whose own life
    (`expires_at`, a message's MsgLifeTime) ended before `now`; return how many went.

    PostgreSQL only (accounts.services.sync_log_purge picks it there).
    """
    return (purge_in_batches(_SYNC_BATCH, before, batch_size)
            + purge_in_batches(_SYNC_EXPIRED_BATCH, now or timezone.now(), batch_size))
