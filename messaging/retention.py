"""The history purge on PostgreSQL, cheap at millions of rows: history past
CHAT_HISTORY_DAYS, measured in bench/purge.py (bench/README.md, "Retention and purging").

messaging.services.history_purge calls it on PostgreSQL (and keeps a portable loop for
the embedded SQLite). What it does differently from a plain batched delete:

- **One statement per batch**, the batch's ids kept in the server (a materialised CTE):
  no 5,000 ids fetched into Python and sent back twice as 5,000 placeholders.
- **Plan-proof batch lookup**: `id = ANY(ARRAY(subquery))` is always probed on the
  primary key.
- **Keyset progress** (accounts.retention.purge_in_batches): each batch starts its
  created_at index scan where the previous one ended. A row written meanwhile with an
  older created_at (an import of old messages) is left for the next run.
- **Global lock order**: a conversation whose last message goes is locked in
  (owner, peer) order, the order every send takes them in (messaging/persist.py), so a
  send to a dialog whose last message is being purged waits for one short batch at
  worst and never deadlocks with it.
- **Unread counts follow**: a conversation whose last message goes counts unread only
  what is left of the peer's countable messages (messaging.changes `_unread_seqs`'s
  rule), not the messages that are gone (a badge over an empty chat).
- **No database FK check**: Conversation.last_message has no database constraint (the
  purge clears the references itself, in the same statement); the check at commit
  was most of the purge's time (bench: 25.7 s against 5.5 s for one day, 500,000 rows).

Each batch is its own short transaction, so a send never waits behind the whole purge;
a run cut short leaves a consistent state and the next run carries on. Dialogs and
their seq stay; a conversation whose last message goes keeps its row with no last
message. The purged messages' references to uploads go in the same statement, and
those uploads are marked for the upload sweep (messaging/upload_refs.py), which deletes
the files no other message refers to. Their references to merged lists go the same
way, and those lists are marked for `merged.merged_sweep`, which the purge task runs
next: it deletes the lists nothing refers to any more (messaging/merged.py).
"""

from __future__ import annotations

from datetime import datetime

from accounts.retention import purge_in_batches

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
    UPDATE messaging_conversation c SET last_message_id = NULL,
        unread_count = LEAST(c.unread_count, (
            SELECT count(*) FROM messaging_message m
            WHERE m.dialog_id = c.dialog_id AND m.sender_id = c.peer_id
              AND m.receiver_id = c.owner_id AND m.seq > c.cleared_seq
              AND NOT m.is_revoked AND NOT m.excluded_from_unread
              AND NOT m.deleted_by_receiver
              AND m.id <> ALL(ARRAY(SELECT id FROM doomed))))
    WHERE c.id = ANY(ARRAY(SELECT id FROM locked))
      AND c.last_message_id = ANY(ARRAY(SELECT id FROM doomed))
), unused AS (
    DELETE FROM messaging_uploaduse WHERE message_id = ANY(ARRAY(SELECT id FROM doomed))
    RETURNING upload_id
), released AS (
    UPDATE messaging_upload SET delete_after = now()
    WHERE id = ANY(ARRAY(SELECT upload_id FROM unused)) AND NOT is_gone
), merged_unused AS (
    DELETE FROM messaging_mergeduse WHERE message_id = ANY(ARRAY(SELECT id FROM doomed))
    RETURNING merged_id
), merged_released AS (
    UPDATE messaging_mergedlist SET delete_after = now()
    WHERE id = ANY(ARRAY(SELECT merged_id FROM merged_unused))
), gone AS (
    DELETE FROM messaging_message WHERE id = ANY(ARRAY(SELECT id FROM doomed))
    RETURNING created_at
)
SELECT count(*), max(created_at) FROM gone
"""


def history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    PostgreSQL only (messaging.services.history_purge picks it there): batches on the created_at index,
    one short transaction each; conversations whose last message goes keep their row
    with no last message; dialogs and their seq stay.
    """
    return purge_in_batches(_HISTORY_BATCH, before, batch_size)
