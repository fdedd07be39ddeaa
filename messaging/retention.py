"""Retention purges that stay cheap at millions of rows: history past CHAT_HISTORY_DAYS and
the offline cache (sync log) past CHAT_OFFLINE_CACHE_DAYS.

Drop-in replacements for `messaging.services.history_purge` and
`accounts.services.sync_log_purge` (same signatures, same results), measured in
bench/purge.py (see bench/README.md, "Retention and purging"). What they do differently:

- **One statement per batch**, the batch's ids kept in the server (a materialised CTE):
  no 5,000 ids fetched into Python and sent back twice as 5,000 placeholders.
- **Plan-proof batch lookup**: `id = ANY(ARRAY(subquery))` is always probed on the
  primary key. `id IN (SELECT ... LIMIT n)`, as the sync-log purge had it, lets the
  planner pick a hash semi-join over a sequential scan of the *whole* table for every
  batch when the table is small enough for that to look cheaper (seen at 1M sync entries:
  each batch of 5,000 read all of them), which makes a purge quadratic.
- **Keyset progress**: each batch starts its created_at index scan where the previous one
  ended, instead of walking again over the index entries of the rows already deleted
  (they stay in the index until VACUUM). A row written meanwhile with an older
  created_at (an import of old messages) is left for the next run.
- **Global lock order**: a conversation whose last message goes is locked in
  (owner, peer) order, the order every send takes them in (messaging/persist.py), so a
  send to a dialog whose last message is being purged waits for one short batch at
  worst and never deadlocks with it.

Each batch is its own short transaction (autocommit between batches), so a send never
waits behind the whole purge; a run cut short leaves a consistent state and the next
run carries on. Dialogs and their seq stay; a conversation whose last message goes keeps
its row with no last message (as the FK's SET_NULL would do).

This module only runs SQL on the tables of messaging and accounts: `sync_log_purge`
belongs to accounts (which may import no other app) and can move there as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

_HISTORY_BATCH = """
WITH doomed AS MATERIALIZED (
    SELECT id FROM messaging_message
    WHERE created_at >= %(after)s AND created_at < %(before)s
    ORDER BY created_at LIMIT %(limit)s
), locked AS MATERIALIZED (
    SELECT c.id FROM messaging_conversation c
    WHERE c.last_message_id = ANY(ARRAY(SELECT id FROM doomed))
    ORDER BY c.owner_id, c.peer_id
    FOR UPDATE
), cleared AS (
    UPDATE messaging_conversation SET last_message_id = NULL
    WHERE id = ANY(ARRAY(SELECT id FROM locked))
      AND last_message_id = ANY(ARRAY(SELECT id FROM doomed))
), gone AS (
    DELETE FROM messaging_message WHERE id = ANY(ARRAY(SELECT id FROM doomed))
    RETURNING created_at
)
SELECT count(*), max(created_at) FROM gone
"""

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


def _purge(sql: str, before: datetime, batch_size: int) -> int:
    """Run `sql` batch after batch, each in its own transaction, until a batch comes up
    short; return the rows deleted. `sql` deletes up to %(limit)s rows whose key is in
    [%(after)s, %(before)s), oldest first, and returns (count, newest key deleted)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    cutoff = connection.ops.adapt_datetimefield_value(before)
    # The oldest instant of the previous batch's newest row: rows created at that very
    # instant that did not fit in the batch are still picked up (>=).
    after = datetime(1, 1, 1, tzinfo=UTC)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, {"after": after, "before": cutoff, "limit": batch_size})
            deleted, newest = cursor.fetchone()
        total += deleted
        if deleted < batch_size:
            return total
        after = newest


def history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    Same contract as messaging.services.history_purge: batches on the created_at index,
    one short transaction each; conversations whose last message goes keep their row
    with no last message; dialogs and their seq stay.
    """
    return _purge(_HISTORY_BATCH, before, batch_size)


def sync_log_purge(*, before: datetime, batch_size: int = 5000,
                   now: datetime | None = None) -> int:
    """Delete sync-log entries created before `before`, and entries whose own life
    (`expires_at`, a message's MsgLifeTime) ended before `now`; return how many went.

    Same contract as accounts.services.sync_log_purge, whose batch lookup could turn into
    a sequential scan of the whole log per batch (see the module docstring).
    """
    return (_purge(_SYNC_BATCH, before, batch_size)
            + _purge(_SYNC_EXPIRED_BATCH, now or timezone.now(), batch_size))
