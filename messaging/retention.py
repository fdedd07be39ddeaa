"""The history purge on PostgreSQL, cheap at millions of rows: history past
CHAT_HISTORY_DAYS, measured in bench/purge.py (bench/README.md, "Retention and purging").

messaging.services.history_purge calls it on PostgreSQL (and keeps a portable loop for
the embedded SQLite). What it does differently from a plain batched delete:

- **Four statements per batch**. The first picks the batch on the created_at index,
  locks its messages in id order and returns their ids (one array, the others'
  `%(batch)s`: an import of old rows meanwhile cannot change the batch under its
  locks). The second locks the conversations the batch changes and returns their ids;
  the third deletes and writes them and returns the ids it deleted (one array); the
  fourth deletes those messages' extensions and reactions (below).
- **Plan-proof batch lookup**: `id = ANY(ARRAY(subquery))` is always probed on the
  primary key.
- **Keyset progress** (accounts.retention.purge_in_batches): each batch starts its
  created_at index scan where the previous one ended. A row written meanwhile with an
  older created_at (an import of old messages) is left for the next run.
- **Global lock order** (messaging/persist.py): the batch's messages (by id), then the
  conversations (by owner, peer), then uploads, merged lists, extensions and reactions.
  A recall, a modify, a delete-for-me or an account deletion takes the message before
  the conversation too, so one racing the purge of its message waits for the batch and
  then finds no message (20022), where the purge that took the conversation first
  closed a cycle with it and one of the two failed with "deadlock detected"
  (tests/messaging/test_lock_order.py). A send takes no message and its conversations
  in the same order, so a send to a dialog whose last message is being purged waits
  for one short batch at worst. Within the third statement the conversations it locks
  again come before the uploads and merged lists too (`_AFTER_CONVERSATIONS`: PostgreSQL
  ran the references' writes first). Known gap: a conversation that made a batch
  message its last one between the second and third statements (a delete-for-me of a
  newer message) is locked by the third after those the second holds, whatever their
  (owner, peer) order, so a recall in that dialog can still deadlock with the batch
  (strict xfail in tests/messaging/test_lock_order.py; the recall answers "busy, retry").
- **Unread counts follow**: a conversation whose unread messages the batch deletes (some
  or all) counts unread only what is left of the peer's countable messages
  (messaging.changes `_unread_seqs`'s rule: the unread are the newest `unread_count`
  of them), not the messages that are gone (a badge over an empty chat, or more unread
  than there are messages). Only the receivers' conversations of the batch's
  countable messages are recounted, found through the batch's (receiver, sender) pairs
  on the conversation's unique index, and only those counting unread; each recount
  reads at most its `unread_count` newest messages, the batch excluded with a hashed
  `NOT IN`. The recount (second statement) takes no lock of its own; only the
  conversations whose count goes down are then locked, in (owner, peer) order with
  those whose last message goes. The third statement counts again on its own
  snapshot, taken with those rows locked, so a send, a read or a recall in them that committed meanwhile is
  counted and none can commit until the batch does. (bench/README.md: with half the
  conversations counting 20 unread, the hourly slice.)
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
next: it deletes the lists nothing refers to any more (messaging/merged.py). Their
key-value extensions go too (messaging/extensions.py): the batch's ids are probed on
the small ExtensionHead table (only messages whose extensions were ever written have a
row) and the keys of those found deleted; measured on a synthetic 200,000 messages, 1
in 100 with 5 keys, a 5,000-row batch took 2.4 ms more (4.1 ms against 1.7 ms for the
batch's id scan alone, when it ran in the batch's statement). Their reactions
(messaging/reactions.py) go with them, found by message on the reactions' unique index.
Both go in the fourth statement, after the messages are deleted, given the ids the
third deleted (one array). A write to them holds its message's lock, so the first
statement waits for it to commit and the later ones see what it added; one that comes
after finds no message (tests/messaging/test_purge_races.py).
"""

from __future__ import annotations

from datetime import datetime

from accounts.retention import purge_in_batches

# Counted unread messages of a conversation c: messaging.changes `_unread_seqs`'s rule.
_COUNTED = """m.dialog_id = c.dialog_id AND m.seq > c.cleared_seq
              AND m.sender_id = c.peer_id AND m.receiver_id = c.owner_id
              AND NOT m.is_revoked AND NOT m.excluded_from_unread
              AND NOT m.deleted_by_receiver AND m.id NOT IN (SELECT id FROM doomed)"""

# What is left to read of c's count: at most its unread_count newest counted messages.
_LEFT_TO_READ = f"""(SELECT count(*) FROM (
            SELECT 1 FROM messaging_message m WHERE {_COUNTED}
            ORDER BY m.seq DESC LIMIT c.unread_count) left_to_read)"""

# A batch's first statement: its messages, the oldest on the created_at index, locked
# in id order (the global lock order, messaging/persist.py: messages before
# conversations); their ids come back as one array, %(batch)s to the statements after.
_HISTORY_PICK = """
SELECT array_agg(id) FROM (
    SELECT id FROM messaging_message WHERE id = ANY(ARRAY(
        SELECT id FROM messaging_message
        WHERE created_at >= %(after)s AND created_at < %(before)s
        ORDER BY created_at, id LIMIT %(limit)s))
    ORDER BY id FOR UPDATE
) batch
"""

_DOOMED = """doomed AS MATERIALIZED (
    SELECT id, sender_id, receiver_id, seq,
           NOT is_revoked AND NOT excluded_from_unread AND NOT deleted_by_receiver AS counts
    FROM messaging_message WHERE id = ANY(%(batch)s::bigint[])
)"""

# Conversations whose last message the batch deletes.
_LAST_GOES = """SELECT l.id FROM messaging_conversation l
                 WHERE l.last_message_id = ANY(ARRAY(SELECT id FROM doomed))"""

# Both statements run with bitmap scans off (SET LOCAL: this batch's transaction only).
# The recount's estimate of a pair's messages is 1 row, so the planner reads the whole
# dialog through a bitmap and sorts it, where walking the (dialog, seq) index backwards
# stops after unread_count of them: 0.23 against 0.09 ms a conversation (bench, 2,502 a
# batch). Every other lookup here is an index scan on an id list anyway.
_HISTORY_PLAN = "SET LOCAL enable_bitmapscan = off"

# The second: the conversations the batch changes, locked in (owner, peer) order. The recount takes no lock and looks only at the receivers' conversations of
# the batch's counted messages (its (receiver, sender) pairs, on the conversation's
# unique index) that count some unread.
_HISTORY_LOCK = f"""
WITH {_DOOMED}, recount AS MATERIALIZED (
    SELECT c.id, c.unread_count > {_LEFT_TO_READ} AS goes_down
    FROM (SELECT receiver_id, sender_id, max(seq) AS seq FROM doomed
          WHERE counts AND receiver_id <> sender_id GROUP BY 1, 2) pair
    JOIN messaging_conversation c ON c.owner_id = pair.receiver_id
                                 AND c.peer_id = pair.sender_id
    WHERE c.unread_count > 0 AND pair.seq > c.cleared_seq
)
SELECT c.id FROM messaging_conversation c
WHERE c.id = ANY(ARRAY(SELECT id FROM recount WHERE goes_down UNION ALL {_LAST_GOES}))
ORDER BY c.owner_id, c.peer_id
FOR UPDATE
"""

# The sub-statements of one statement run in an order PostgreSQL does not promise (it
# ran the messages' delete, then the merged lists', then the uploads', and only then
# locked the conversations of `locked`). The references' deletes wait for `cleared` with
# this condition, evaluated once before their first row (an InitPlan), so the new
# conversations are locked before any upload or merged list (messaging/persist.py: 4
# before 5): a recall that held such a conversation and then locked a merged list of
# the batch to release it deadlocked with the purge (tests/messaging/test_lock_order.py).
_AFTER_CONVERSATIONS = "(SELECT count(*) FROM cleared) >= 0"

# The third: a snapshot taken with those rows locked (a send, a read or a recall in
# these conversations waits for the batch), so the counts it writes are exact. `locked`
# takes again what the second statement locked, and the conversations that made one of
# the batch's messages their last one meanwhile (a delete-for-me or an import that
# moved it back to an older message), in the same order.
_HISTORY_BATCH = f"""
WITH {_DOOMED}, locked AS MATERIALIZED (
    SELECT c.id FROM messaging_conversation c
    WHERE c.id = ANY(ARRAY(SELECT unnest(%(locked)s::bigint[]) UNION ALL {_LAST_GOES}))
    ORDER BY c.owner_id, c.peer_id
    FOR UPDATE
), cleared AS (
    UPDATE messaging_conversation c SET
        last_message_id = CASE WHEN c.last_message_id IN (SELECT id FROM doomed)
                               THEN NULL ELSE c.last_message_id END,
        unread_count = LEAST(c.unread_count, {_LEFT_TO_READ})
    WHERE c.id = ANY(ARRAY(SELECT id FROM locked))
    RETURNING c.id
), unused AS (
    DELETE FROM messaging_uploaduse WHERE message_id = ANY(ARRAY(SELECT id FROM doomed))
    AND {_AFTER_CONVERSATIONS}
    RETURNING upload_id
), released AS (
    UPDATE messaging_upload SET delete_after = now()
    WHERE id = ANY(ARRAY(SELECT upload_id FROM unused)) AND NOT is_gone
), merged_unused AS (
    DELETE FROM messaging_mergeduse WHERE message_id = ANY(ARRAY(SELECT id FROM doomed))
    AND {_AFTER_CONVERSATIONS}
    RETURNING merged_id
), merged_released AS (
    UPDATE messaging_mergedlist SET delete_after = now()
    WHERE id = ANY(ARRAY(SELECT merged_id FROM merged_unused))
), gone AS (
    DELETE FROM messaging_message WHERE id = ANY(ARRAY(SELECT id FROM doomed))
    RETURNING id, created_at
)
SELECT count(*), max(created_at), array_agg(id) FROM gone
"""

# The fourth: the batch's extensions and reactions, in a statement of their own (its own
# snapshot, taken once the messages are deleted). A write to them (extensions_set,
# reaction_add) holds its message's lock, so the first statement waited for it to
# commit; a write that comes after the first finds no message (23004).
_HISTORY_AFTER = """
WITH heads_gone AS (
    DELETE FROM messaging_extensionhead WHERE message_id = ANY(%(gone)s::bigint[])
    RETURNING message_id
), extensions_gone AS (
    DELETE FROM messaging_extension
    WHERE message_id = ANY(ARRAY(SELECT message_id FROM heads_gone))
)
DELETE FROM messaging_reaction WHERE message_id = ANY(%(gone)s::bigint[])
"""


def history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    PostgreSQL only (messaging.services.history_purge picks it there): batches on the
    created_at index, one short transaction of four statements each; conversations whose
    last message goes keep their row with no last message; those whose counted unread
    messages go count what is left; dialogs and their seq stay.
    """
    return purge_in_batches(_HISTORY_BATCH, before, batch_size, pick=_HISTORY_PICK,
                            lock_first=_HISTORY_LOCK, prepare=_HISTORY_PLAN,
                            then=_HISTORY_AFTER)
