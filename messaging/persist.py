"""The send transaction: a batch of checked messages written with a fixed number of
statements, whatever the batch size, and their events queued for after commit.

The global lock order. Every writer of these rows (a send here, the changes of
messaging/changes.py, the extension and reaction writes, an account deletion, the
history purge, the push task's read) takes them in this order, so concurrent writers
(other ASGI processes, REST, /v4, the console, Celery tasks) never deadlock. This is
the one place it is written; the others refer to it.

1. User-pair locks (accounts.locks, sorted; taken by the pipeline, messaging.services,
   with the relationship rules, before it calls `store_batch`).
2. Dialog rows, sorted by user pair (a read locks its dialog, then its conversations;
   the push task takes its messages' dialogs FOR KEY SHARE before their messages, so a
   read and the push task's deliveries are ordered: messaging/push_now.py).
3. Stored messages, by id: the message a recall or a modify changes, those a
   delete-for-me hides (messaging/changes.py), the message of an extension or reaction
   write (messaging/extensions.py, reactions.py), every message of an account's dialogs
   (messaging/account_delete.py), a purge batch's messages (messaging/retention.py;
   the purge takes no dialog), the push task's read (messaging/push_now.py, shared). A
   send locks none (its messages are new rows).
4. Sync heads, sorted by user, and conversations, sorted by (owner, peer). A send takes
   the sync heads first, a change (changes.py) the conversations first: every writer
   of a conversation holds its dialog's lock, so two of them never meet on it in the
   other order, except the purge, which takes no sync head. The purge holds no dialog,
   so a writer that takes both of a dialog's conversations must take them in (owner,
   peer) order too, even under the dialog's lock (the console's delete from both sides
   took the sender's first and deadlocked with it).
5. The uploads and the merged lists the messages refer to (messaging/upload_refs.py,
   messaging/merged.py; a merged list stored by this send is a new row, locked by
   nobody else).
6. Sync-log entries already written, by id: the copies of a message a recall erases
   (messaging/changes.py, locked as read in id order), and the sync-log purge's batch
   (accounts/retention.py), which deletes in id order (its DELETE probes the primary
   key with the batch's ids, which the index scan sorts) and takes nothing else. A
   recall that wrote its copies in the order its lookup found them (one user's, then
   the other's, 500 a statement) deadlocked with the purge past 500 copies
   (tests/messaging/test_lock_order.py). New entries (a send's, a change's) are new
   rows, locked by nobody else. Only these two lock entries already written, and the
   purge holds nothing else, so a recall may take them before its uploads (5).

A message's extensions and reactions are written only under its lock (3), so their
place among 4 and 5 does not matter (an extension write takes them before the sync
heads, a recall after).

A writer that locked messages before conversations and one that locked them the other
way around (the purge, until it took its messages first) closed a cycle on an old
message: a recall, modify, delete-for-me or account deletion racing its purge failed
with "deadlock detected" (tests/messaging/test_lock_order.py). A deadlock or a
serialization failure that still happens answers "busy, retry" at every door
(chat_project/unavailable.py) and is retried by the tasks (chat_project/task_rules.py).

Per-command options (messaging/commands.py SendCommand): `life_time` sets the
receiver's sync entry's `expires_at` (the replay skips it after that, the purge deletes
it; history keeps the message); `sync_other_machine` 2 writes nothing on the sender's
side (no sync entry, no conversation change, the message is deleted from the sender's
history), 0 writes the sender's entry and conversation but publishes nothing to the
sender's devices; `historical` writes no sync entries and publishes no message event,
counts no unread and marks the message read for the receiver. The origin's rules
(`cmd.rules`, set by the pipeline from messaging.services.SEND_RULES): `dedupe`
IMPORT_KEY dedupes on (msg_seq, random, time) within the dialog, either direction,
instead of the retry window; `backdated` takes `time` as created_at too;
`batch_id` (batchsendmsg's chunks) claims a BatchReceipt per (batch, receiver) in the
same transaction, so a chunk redone however late writes nothing twice
(claim_batch_receipts).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.events import entry_not_sent, publish_on_commit
from accounts.models import SyncEntry
from accounts.services import SyncItem, sync_append
from chat_project import wire
from chat_project.db import prepared_cursor
from push.content import notification_for
from push.pipeline import PushJob
from push.selectors import has_token_sql
from push.tasks import queue_on_commit as push_queue_on_commit

from .commands import SYNC_NOT_SENDER, SYNC_ROAMING_ONLY, Dedupe, SendCommand
from .merged import merged_store, merged_use, uploads_of_lists
from .models import BatchReceipt, Message, RemindType
from .upload_refs import uploads_use
from .views import conversation_dict, message_dict


@dataclass
class _Pending:
    cmd: SendCommand
    key: tuple[int, int]  # (low user pk, high user pk): the dialog
    index: int = 0  # the command's place in the batch
    message: Message | None = None
    result: dict | None = None


def store_batch(commands: list[SendCommand], *, fresh: list | None = None) -> list[dict]:
    """Write checked, storable SendCommands in the caller's transaction (the pipeline
    has applied every rule of their origins, the relationship rules under the pairs'
    locks).

    Returns the sender's view of each message, in the commands' order. A command that
    repeats a stored message (its origin's `dedupe`: by default (sender, receiver,
    random) within CHAT_DEDUP_SECONDS) or one earlier in this batch gets that message
    back and writes nothing (the REST API's sends: within the same second, Dedupe).
    `fresh`, when given, receives (command, message) for each
    message written. A command of a batch (`batch_id`) whose receiver
    that batch has had already, however long ago, gets that message back too.
    """
    now = timezone.now()
    pending = [_Pending(c, tuple(sorted((c.sender.pk, c.receiver.pk))), i)
               for i, c in enumerate(commands)]

    settled: dict[int, dict] = {}  # by command index: answered without a write
    # 0. Batches: a receiver the batch has had already (a chunk redone after a worker
    #     was lost, or retried) gets its stored message back. The receipt's
    #     primary key makes two runs of one chunk take turns; the second finds the first's.
    batched = [p for p in pending if p.cmd.batch_id]
    if batched:
        new = claim_batch_receipts({(p.cmd.batch_id, p.cmd.receiver.pk) for p in batched}, now)
        redone = [p for p in batched
                  if (uuid.UUID(str(p.cmd.batch_id)), p.cmd.receiver.pk) not in new]
        if redone:
            settled.update(_batch_originals(redone))
            pending = [p for p in pending if p.index not in settled]
    if not pending:
        return [settled[i] for i in range(len(commands))]

    # 1. Lock and bump every dialog once, in pair order: seqs for the whole batch.
    per_dialog: dict[tuple[int, int], int] = defaultdict(int)
    for p in pending:
        per_dialog[p.key] += 1
    # 2. Retries: one query for the batch, run under locks its original held too, so
    #    a retry that races its original on another process still finds it: the dialog
    #    rows' locks, taken by the bump, or the user pairs' locks (accounts.locks), which
    #    the pipeline took in an earlier statement for a send under the relationship
    #    rules. Such a send's lookup rides in the bump's statement (PostgreSQL: a round
    #    trip fewer); the others' comes after it. (A send of another origin, which takes
    #    no pair lock, racing it with the same random is another message, not a retry:
    #    a retry comes through its original's door.)
    cutoff = now - timedelta(seconds=settings.CHAT_DEDUP_SECONDS)
    live = [p for p in pending if p.cmd.rules.dedupe in (Dedupe.RETRY_WINDOW,
                                                           Dedupe.SAME_SECOND)]
    retries = {(p.cmd.sender.pk, p.cmd.receiver.pk, p.cmd.random) for p in live}
    if retries and connection.vendor == "postgresql" \
            and all(p.cmd.rules.relationships for p in live):
        dialogs, found = _bump_dialogs(per_dialog, retries=retries, cutoff=cutoff)
        existing = _duplicates(found)
    else:
        dialogs, _ = _bump_dialogs(per_dialog)  # key -> (dialog id, new last_seq)
        existing = _duplicates(_recent_duplicate_ids(retries, cutoff)) if retries else {}
    imports = [p for p in pending if p.cmd.rules.dedupe is Dedupe.IMPORT_KEY]
    if imports:
        existing.update(_import_duplicates(
            {_ident(p, dialogs, 0) for p in imports}))
    written: list[_Pending] = []
    first_in_batch: dict[tuple, _Pending] = {}
    duplicates: list[tuple[_Pending, object]] = []
    now_time = int(now.timestamp())
    for p in pending:
        ident = _ident(p, dialogs, now_time)
        if ident in existing:
            duplicates.append((p, existing[ident]))
        elif ident in first_in_batch:
            duplicates.append((p, first_in_batch[ident]))
        else:
            first_in_batch[ident] = p
            written.append(p)
    unused = defaultdict(int)
    for p, _ in duplicates:
        unused[p.key] += 1
    if unused:  # give back the seqs the retries took, so no gap appears
        _unbump_dialogs({dialogs[k][0]: n for k, n in unused.items()})

    # 3. The messages, seqs in arrival order inside each dialog.
    next_seq = {k: dialogs[k][1] - n + 1 for k, n in per_dialog.items()}
    for p in written:
        cmd = p.cmd
        dialog_id = dialogs[p.key][0]
        msg_time = cmd.time if cmd.time is not None else now_time
        created_at = datetime.fromtimestamp(msg_time, tz=UTC) if cmd.rules.backdated \
            else now
        p.message = Message(
            pk=cmd.message_pk, dialog_id=dialog_id, seq=next_seq[p.key], sender=cmd.sender, receiver=cmd.receiver,
            random=cmd.random, time=msg_time, created_at=created_at, elements=cmd.elements,
            cloud_custom_data=cmd.cloud_custom_data, priority=cmd.priority,
            need_read_receipt=cmd.need_read_receipt, is_system=cmd.rules.system_notice,
            support_extension=cmd.support_extension,
            nick=cmd.sender.nick, avatar=cmd.sender.avatar, excluded_from_unread=cmd.excluded_from_unread,
            excluded_from_last_message=cmd.excluded_from_last_message,
            offline_push_info=cmd.offline_push_info, msg_seq=cmd.msg_seq,
            deleted_by_sender=cmd.sync_other_machine == SYNC_NOT_SENDER
            and cmd.sender.pk != cmd.receiver.pk)
        next_seq[p.key] += 1
    stored_lists: list = []
    if written:
        # Merged lists too large to travel inline are stored now, once (no statement
        # when there are none): the messages carry their downloadKeys.
        light, stored_lists = merged_store(
            [(p.message.elements, p.message.cloud_custom_data, p.cmd.sender.pk)
             for p in written])
        for p, elements in zip(written, light, strict=True):
            p.message.elements = elements
        _insert_messages([p.message for p in written])
        if fresh is not None:
            fresh.extend((p.cmd, p.message) for p in written)

    # 4. Both users' sync logs (one upsert of the heads, one insert of the entries).
    sync_items: list[tuple[_Pending, SyncItem, bool]] = []
    for p in written:
        cmd, msg = p.cmd, p.message
        if cmd.historical:
            continue
        expires = now + timedelta(seconds=cmd.life_time) if cmd.life_time else None
        sync_items.append((p, SyncItem(user_pk=cmd.receiver.pk, kind=SyncEntry.Kind.MESSAGE,
                                       message_id=msg.pk, peer=cmd.sender.user_id,
                                       expires_at=expires), False))
        if cmd.sender.pk != cmd.receiver.pk and cmd.sync_other_machine != SYNC_NOT_SENDER:
            sync_items.append((p, SyncItem(user_pk=cmd.sender.pk, kind=SyncEntry.Kind.MESSAGE,
                                           message_id=msg.pk, peer=cmd.receiver.user_id), True))
    sync_append([item for _, item, _ in sync_items], now=now)

    # 5. Conversations: one row per (owner, peer) touched, folded over the batch, and the
    #    total unread of each owner whose unread grew.
    convs, totals, with_tokens = _upsert_conversations(written, dialogs, now)
    if any(p.cmd.rules.backdated for p in written):
        _newest_last_messages(convs, {(p.cmd.receiver.pk, p.cmd.sender.pk) for p in written
                                      if p.cmd.rules.backdated}
                              | {(p.cmd.sender.pk, p.cmd.receiver.pk) for p in written
                                 if p.cmd.rules.backdated})
    # Files the messages carry are now referred to (no statement when none carries one).
    # (Those of the merged lists they name too: a file in a list stays while it is read.)
    uploads_use([(p.message.pk, p.message.dialog_id, p.message.elements) for p in written],
                also=uploads_of_lists((p.message.pk, p.message.elements) for p in written))
    merged_use([(p.message.pk, p.message.dialog_id, p.message.elements) for p in written],
               stored_lists)

    # 6. Events, queued for after commit; one publish per user for the whole batch.
    events: list[tuple] = []
    # The receivers who chose Discard for the sender: nothing reaches their devices
    # live (the entry is written, for history and a later login, and marked not sent).
    discarded = {key for key, (row, _, _) in convs.items()
                 if row["remind"] == RemindType.DISCARD}
    for p, item, outgoing in sync_items:
        cmd, msg = p.cmd, p.message
        viewer = cmd.sender if outgoing else cmd.receiver
        if not outgoing and (cmd.receiver.pk, cmd.sender.pk) in discarded:
            events.append(entry_not_sent(viewer.pk, item.seq))
            continue
        view = message_dict(msg, viewer_pk=viewer.pk, sender_user_id=cmd.sender.user_id,
                            receiver_user_id=cmd.receiver.user_id)
        own = viewer.pk == cmd.sender.pk
        if own:
            p.result = view
        if outgoing and cmd.sync_other_machine == SYNC_ROAMING_ONLY:
            # Written for a later login, not sent to the devices online now; its
            # marker keeps their chain of seqs whole (accounts/events.py).
            events.append(entry_not_sent(viewer.pk, item.seq))
            continue
        # The sending socket has the message in its reply: it gets no echo.
        events.append((viewer.pk, {"event": "MESSAGE_RECEIVED", "seq": item.seq,
                                   "data": [view]}, cmd.origin_channel if own else None))
    for (owner_pk, _peer_pk), (row, peer_user, last_view_of) in convs.items():
        if (owner_pk, _peer_pk) in discarded:
            continue
        if last_view_of is not None and owner_pk == last_view_of.cmd.sender.pk \
                and owner_pk != last_view_of.cmd.receiver.pk \
                and last_view_of.cmd.sync_other_machine == SYNC_ROAMING_ONLY:
            continue
        last = None
        if row["last_message_id"] is not None and last_view_of is not None:
            p = last_view_of
            last = message_dict(p.message, viewer_pk=owner_pk,
                                sender_user_id=p.cmd.sender.user_id,
                                receiver_user_id=p.cmd.receiver.user_id)
        # What conversation_dict reads, not a Conversation instance: a model's __init__
        # (its foreign keys' defaults) was 5 % of a busy worker's CPU (py-spy, 64 pairs).
        conv = SimpleNamespace(unread_count=row["unread_count"], is_pinned=row["is_pinned"],
                               draft_text=row["draft_text"],
                               peer_read_time=row["peer_read_time"],
                               message_remind_type=row["remind"])
        if last is not None or row["added_unread"]:
            changed = conversation_dict(
                conv, peer_profile=account_selectors.profile_brief(peer_user), last_message=last)
            if last is None:  # the last message did not change: say nothing of it
                del changed["lastMessage"]
            events.append((owner_pk, {"event": "CONVERSATION_LIST_UPDATED", "data": [changed]},
                           None))
    counted = {owner for (owner, _), (row, _, _) in convs.items() if row["added_unread"]}
    for owner_pk in sorted(counted):
        events.append((owner_pk, {"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
                                  "data": totals[owner_pk]}, None))
    publish_on_commit(events)
    push_queue_on_commit(_push_jobs(written, convs, totals, with_tokens),
                         with_tokens=with_tokens)

    for p in written:
        if p.result is None:  # no sync entry on the sender's side: its view, built here
            cmd = p.cmd
            p.result = message_dict(p.message, viewer_pk=cmd.sender.pk,
                                    sender_user_id=cmd.sender.user_id,
                                    receiver_user_id=cmd.receiver.user_id)
    for p, original in duplicates:
        if isinstance(original, _Pending):
            p.result = original.result
        else:
            p.result = message_dict(original, viewer_pk=p.cmd.sender.pk,
                                    sender_user_id=p.cmd.sender.user_id,
                                    receiver_user_id=p.cmd.receiver.user_id)
    settled.update((p.index, p.result) for p in pending)
    return [settled[i] for i in range(len(commands))]


def _push_jobs(written: list[_Pending], convs: dict, totals: dict[int, int],
               with_tokens: set[int] | None) -> list[PushJob]:
    """The offline pushes the batch may cause, decided from what the send has in hand
    (no statement): a stored message to someone else, not historical, not disablePush,
    with something to say, to a receiver whose option for the conversation is
    AcceptAndNotify and who has a push token (`with_tokens`, when known: None means
    push.tasks.queue_on_commit reads them). push.pipeline decides per device after the
    commit. The badge is the receiver's total unread, when this message counted."""
    jobs = []
    for p in written:
        cmd, msg = p.cmd, p.message
        if cmd.historical or cmd.sender.pk == cmd.receiver.pk:
            continue
        if with_tokens is not None and cmd.receiver.pk not in with_tokens:
            continue  # nowhere to push: no notification to build
        found = convs.get((cmd.receiver.pk, cmd.sender.pk))
        if found is not None and found[0]["remind"] != RemindType.ACCEPT_AND_NOTIFY:
            continue
        note = notification_for(
            elements=msg.elements, nick=cmd.sender.nick, sender_user_id=cmd.sender.user_id,
            push_info=cmd.offline_push_info, badge=totals.get(cmd.receiver.pk),
            message_key=msg.public_id, conversation_id=f"C2C{cmd.sender.user_id}")
        if note is None:
            continue
        jobs.append(PushJob(message_id=msg.pk, message_key=msg.public_id,
                            receiver_pk=cmd.receiver.pk, sender_pk=cmd.sender.pk,
                            conversation_id=f"C2C{cmd.sender.user_id}", dialog_seq=msg.seq,
                            note=asdict(note)))
    return jobs


def claim_batch_receipts(pairs: set[tuple], now) -> set[tuple[uuid.UUID, int]]:
    """Record (batch id, receiver pk) pairs as done, in the caller's transaction; return
    those that were not done before. A pair that another open transaction has just
    claimed waits for it (the primary key) and then counts as done if it committed."""
    field = BatchReceipt._meta.get_field("batch_id")
    rows = sorted((uuid.UUID(str(batch)), receiver) for batch, receiver in pairs)
    params: list = []
    for batch, receiver in rows:
        params += [field.get_db_prep_value(batch, connection), receiver, now]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_batchreceipt (batch_id, receiver_id, created_at)"
            f" VALUES {', '.join(['(%s, %s, %s)'] * len(rows))}"
            " ON CONFLICT (batch_id, receiver_id) DO NOTHING RETURNING batch_id, receiver_id",
            params)
        return {(uuid.UUID(str(batch)), receiver) for batch, receiver in cursor.fetchall()}


def _batch_originals(redone: list[_Pending]) -> dict[int, dict]:
    """The sender's view of each redone batch send's stored message (one query). A
    message deleted since is answered as an unstored one would be (ID 0-time-random)."""
    cmds = [p.cmd for p in redone]
    found = {(m.sender_id, m.receiver_id, m.random, m.time): m
             for m in Message.objects.filter(
                 sender_id__in={c.sender.pk for c in cmds},
                 receiver_id__in={c.receiver.pk for c in cmds},
                 random__in={c.random for c in cmds}, time__in={c.time for c in cmds})}
    out = {}
    for p in redone:
        cmd = p.cmd
        msg = found.get((cmd.sender.pk, cmd.receiver.pk, cmd.random, cmd.time))
        view = message_dict(msg or Message(pk=0, seq=0, sender_id=cmd.sender.pk,
                                           receiver_id=cmd.receiver.pk, random=cmd.random, time=cmd.time,
                                           elements=cmd.elements, nick=cmd.sender.nick,
                                           avatar=cmd.sender.avatar,
                                           cloud_custom_data=cmd.cloud_custom_data),
                            viewer_pk=cmd.sender.pk, sender_user_id=cmd.sender.user_id,
                            receiver_user_id=cmd.receiver.user_id)
        out[p.index] = view
    return out


def _ident(p: _Pending, dialogs: dict, now_time: int) -> tuple:
    """What makes two sends the same message (Dedupe): (sender, receiver, random) for a
    client's send (within CHAT_DEDUP_SECONDS), the same and its time in seconds for one
    of the REST API's, ("import", dialog, msg_seq, random, time) for an import (either
    direction, any age)."""
    cmd = p.cmd
    if cmd.rules.dedupe is Dedupe.IMPORT_KEY:
        return ("import", dialogs[p.key][0], cmd.msg_seq, cmd.random, cmd.time)
    if cmd.rules.dedupe is Dedupe.SAME_SECOND:
        return (cmd.sender.pk, cmd.receiver.pk, cmd.random,
                cmd.time if cmd.time is not None else now_time)
    return (cmd.sender.pk, cmd.receiver.pk, cmd.random)


def _import_duplicates(idents: set[tuple]) -> dict:
    """Messages already stored under these import keys (importmsg's dedupe)."""
    dialog_ids = sorted({i[1] for i in idents})
    randoms = sorted({i[3] for i in idents})
    found = {}
    for m in Message.objects.filter(dialog_id__in=dialog_ids, random__in=randoms,
                                    time__in=sorted({i[4] for i in idents})).order_by("pk"):
        found.setdefault(("import", m.dialog_id, m.msg_seq, m.random, m.time), m)
    return {i: found[i] for i in idents if i in found}


def _retry_lookup_sql(n: int) -> str:
    """The ids of messages stored since a cutoff (first parameter) with one of `n`
    (sender, receiver, random) (the rest)."""
    rows = ", ".join(["(%s, %s, %s)"] * n)
    return ("SELECT id FROM messaging_message WHERE created_at >= %s"
            f" AND (sender_id, receiver_id, random) IN ({rows})")


def _retry_lookup_params(idents: set[tuple[int, int, int]], cutoff) -> list:
    return [cutoff, *(x for ident in sorted(idents) for x in ident)]


def _recent_duplicate_ids(idents: set[tuple[int, int, int]], cutoff) -> list[int]:
    """Messages stored since `cutoff` with these (sender, receiver, random)."""
    with prepared_cursor() as cursor:
        cursor.execute(_retry_lookup_sql(len(idents)), _retry_lookup_params(idents, cutoff))
        return [row[0] for row in cursor.fetchall()]


def _duplicates(ids: list[int]) -> dict:
    """The messages of a retry lookup's ids, by (sender, receiver, random), the newest
    of them, and by (sender, receiver, random, time) (`_ident`)."""
    found: dict = {}
    if not ids:  # the usual case: the lookup was one cheap index probe, no rows
        return found
    for m in Message.objects.filter(pk__in=ids).order_by("pk"):
        found[(m.sender_id, m.receiver_id, m.random)] = m
        found[(m.sender_id, m.receiver_id, m.random, m.time)] = m
    return found


_MESSAGE_COLUMNS = ("dialog_id", "seq", "sender_id", "receiver_id", "random", "time",
                    "created_at", "elements", "cloud_custom_data", "priority",
                    "need_read_receipt", "is_system", "is_revoked", "is_modified", "nick",
                    "avatar", "excluded_from_unread", "excluded_from_last_message",
                    "offline_push_info", "msg_seq", "deleted_by_sender",
                    "deleted_by_receiver", "support_extension")
_JSON_COLUMNS = {"elements", "offline_push_info"}


# Each column's type, for PostgreSQL's insert from one JSON array of rows.
_MESSAGE_TYPES = {"dialog_id": "bigint", "seq": "bigint", "sender_id": "bigint",
                  "receiver_id": "bigint", "random": "bigint", "time": "bigint",
                  "created_at": "timestamptz", "elements": "jsonb", "cloud_custom_data": "text",
                  "priority": "varchar", "need_read_receipt": "boolean", "is_system": "boolean",
                  "is_revoked": "boolean", "is_modified": "boolean", "nick": "varchar",
                  "avatar": "varchar", "excluded_from_unread": "boolean",
                  "excluded_from_last_message": "boolean", "offline_push_info": "jsonb",
                  "msg_seq": "bigint", "deleted_by_sender": "boolean",
                  "deleted_by_receiver": "boolean", "support_extension": "boolean"}
# The rows travel as one JSON array (one parameter, written by orjson): the statement's
# text is the same whatever the batch, so it is prepared once (chat_project/db.py), and
# psycopg has one string to pass instead of an array per column to type and convert
# (a quarter of a lone send's Python time, bench/README.md "fifth round"). A pk reserved
# before the transaction (the before-send webhook was told its MsgKey) is written as
# given; the others take the identity's next value.
_MESSAGE_INSERT_PG = (
    f"INSERT INTO messaging_message (id, {', '.join(_MESSAGE_COLUMNS)})"
    " SELECT COALESCE(v.id, nextval(pg_get_serial_sequence('messaging_message', 'id'))),"
    f" {', '.join(f'v.{c}' for c in _MESSAGE_COLUMNS)}"
    " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, "
    + ", ".join(f"{c} {_MESSAGE_TYPES[c]}" for c in _MESSAGE_COLUMNS)
    + ") RETURNING id, dialog_id, seq")


def _insert_messages(messages: list[Message]) -> None:
    """One INSERT for the batch; fills each message's pk (the ORM's bulk_create costs a
    quarter of the send's CPU in query building)."""
    if connection.vendor == "postgresql":
        payload = wire.dumps([{"id": m.pk, **{c: getattr(m, c) for c in _MESSAGE_COLUMNS}}
                           for m in messages])
        with prepared_cursor() as cursor:
            cursor.execute(_MESSAGE_INSERT_PG, [payload])
            pks = {(dialog_id, seq): pk for pk, dialog_id, seq in cursor.fetchall()}
        for m in messages:
            m.pk = pks[(m.dialog_id, m.seq)]
        return
    row = ", ".join("%s" for _ in _MESSAGE_COLUMNS)
    # SQLite: a pk given is written as given (no sequence to take one from here).
    preset = any(m.pk for m in messages)
    columns = ("id", *_MESSAGE_COLUMNS) if preset else _MESSAGE_COLUMNS
    rows: list[str] = []
    params: list = []
    for m in messages:
        if preset:
            rows.append(f"(%s, {row})" if m.pk else f"(NULL, {row})")
            if m.pk:
                params.append(m.pk)
        else:
            rows.append(f"({row})")
        for column in _MESSAGE_COLUMNS:
            value = getattr(m, column)
            if column in _JSON_COLUMNS:
                value = None if value is None else wire.dumps(value)
            params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO messaging_message ({', '.join(columns)})"
            f" VALUES {', '.join(rows)} RETURNING id", params)
        for m, (pk,) in zip(messages, cursor.fetchall(), strict=True):
            m.pk = pk


def _bump_dialogs(per_dialog: dict[tuple[int, int], int], *,
                  retries: set[tuple[int, int, int]] | None = None,
                  cutoff=None) -> tuple[dict, list[int]]:
    """Lock and bump each dialog (key -> (dialog id, new last_seq)). With `retries`
    (PostgreSQL), the same statement also runs the retry lookup (`_retry_lookup_sql`),
    whose ids it returns: its snapshot predates the dialogs' locks, so the caller holds
    locks that keep an original from committing unseen (store_batch, step 2)."""
    keys = sorted(per_dialog)
    values = ", ".join(["(%s, %s, %s)"] * len(keys))
    params = [x for k in keys for x in (k[0], k[1], per_dialog[k])]
    bump = (f"INSERT INTO messaging_dialog (user_low_id, user_high_id, last_seq) VALUES {values}"
            " ON CONFLICT (user_low_id, user_high_id)"
            " DO UPDATE SET last_seq = messaging_dialog.last_seq + EXCLUDED.last_seq"
            " RETURNING user_low_id, user_high_id, id, last_seq")
    if retries:  # the duplicates' rows have no key: (NULL, NULL, message id, NULL)
        bump = (f"WITH d AS ({bump}) SELECT user_low_id, user_high_id, id, last_seq FROM d"
                f" UNION ALL SELECT NULL, NULL, id, NULL FROM ({_retry_lookup_sql(len(retries))}) r")
        params += _retry_lookup_params(retries, cutoff)
    with prepared_cursor() as cursor:
        cursor.execute(bump, params)
        rows = cursor.fetchall()
    return ({(low, high): (did, seq) for low, high, did, seq in rows if low is not None},
            [did for low, _, did, _ in rows if low is None])


def _unbump_dialogs(by_id: dict[int, int]) -> None:
    with connection.cursor() as cursor:
        for dialog_id, n in sorted(by_id.items()):
            cursor.execute("UPDATE messaging_dialog SET last_seq = last_seq - %s WHERE id = %s",
                           [n, dialog_id])


_CONVERSATION_UPSERT = (
    "INSERT INTO messaging_conversation (owner_id, peer_id, dialog_id, last_message_id,"
    " unread_count, read_seq, peer_read_seq, peer_read_time, is_pinned, draft_text, updated_at,"
    " cleared_seq, is_hidden)"
    " {rows}"
    " ON CONFLICT (owner_id, peer_id) DO UPDATE SET"
    "  last_message_id = COALESCE(EXCLUDED.last_message_id,"
    "                             messaging_conversation.last_message_id),"
    "  unread_count = messaging_conversation.unread_count + CASE"
    "   WHEN messaging_conversation.message_remind_type = 'Discard' THEN 0"
    "   ELSE EXCLUDED.unread_count END,"
    "  read_seq = CASE WHEN EXCLUDED.read_seq > messaging_conversation.read_seq"
    "             THEN EXCLUDED.read_seq ELSE messaging_conversation.read_seq END,"
    "  updated_at = CASE WHEN EXCLUDED.last_message_id IS NULL"
    "               THEN messaging_conversation.updated_at ELSE EXCLUDED.updated_at END,"
    "  is_hidden = CASE WHEN EXCLUDED.last_message_id IS NULL"
    "              THEN messaging_conversation.is_hidden ELSE FALSE END"
    " RETURNING owner_id, peer_id, unread_count, is_pinned, draft_text, peer_read_time,"
    "  last_message_id, message_remind_type"
)


# PostgreSQL: the upsert, the totals and who has a push token (push.tasks.queue_on_commit's
# question, asked of every owner: each push's receiver is one) in one statement. The
# CTE's writes are not visible to the rest of the statement (it reads the table as it
# was), so an owner's total is its other conversations' unread, from the table, plus its
# upserted rows' new unread. That is what a statement after the upsert would read: any
# other writer of an owner's unread appends to the owner's sync log in its transaction,
# and this send holds the owner's sync head since sync_append, so such a writer
# committed before this statement began or commits after this send does.
_CONVERSATION_UPSERT_WITH_TOTALS = (
    "WITH c AS ({upsert}),"
    " o AS (SELECT c.owner_id, COALESCE(SUM(c.unread_count) FILTER (WHERE c.unread_count > 0),"
    "  0) + (SELECT COALESCE(SUM(t.unread_count), 0) FROM messaging_conversation t"
    "   WHERE t.owner_id = c.owner_id AND t.unread_count > 0 AND NOT EXISTS ("
    "    SELECT 1 FROM c x WHERE x.owner_id = t.owner_id AND x.peer_id = t.peer_id)) AS total"
    "  FROM c WHERE c.owner_id = ANY(%s::bigint[]) GROUP BY c.owner_id)"
    " SELECT c.owner_id, c.peer_id, c.unread_count, c.is_pinned, c.draft_text,"
    "  c.peer_read_time, c.last_message_id, c.message_remind_type, o.total,"
    f"  {has_token_sql('c.owner_id')}"
    " FROM c LEFT JOIN o ON o.owner_id = c.owner_id"
)


# The rows as one JSON array, in key order (`_MESSAGE_INSERT_PG` says why): the same
# statement text whatever the batch.
_CONVERSATION_ROW = ("owner_id", "peer_id", "dialog_id", "last_message_id", "unread_count",
                     "read_seq")
_CONVERSATIONS_PG = _CONVERSATION_UPSERT_WITH_TOTALS.format(upsert=_CONVERSATION_UPSERT.format(
    rows="SELECT v.owner_id, v.peer_id, v.dialog_id, v.last_message_id, v.unread_count,"
         " v.read_seq, 0, 0, FALSE, '', %s::timestamptz, 0, FALSE"
         " FROM jsonb_to_recordset(%s::jsonb) AS v(owner_id bigint, peer_id bigint,"
         " dialog_id bigint, last_message_id bigint, unread_count int, read_seq bigint)"))


def _upsert_conversations(fresh: list[_Pending], dialogs: dict,
                          now) -> tuple[dict, dict, set[int] | None]:
    """Fold the batch per (owner, peer): unread added, newest last message, read position.
    Returns the rows by (owner, peer), the total unread (`_unread_totals`) of each owner
    whose unread grew, and the owners who have a push token: one statement on PostgreSQL;
    elsewhere two, and None for the tokens (push.tasks.queue_on_commit reads them)."""
    folded: dict[tuple[int, int], dict] = {}
    for p in fresh:
        cmd, msg = p.cmd, p.message
        self_send = cmd.sender.pk == cmd.receiver.pk
        sides = [(cmd.receiver, cmd.sender, not self_send and not cmd.excluded_from_unread
                  and not cmd.historical)]
        if not self_send and cmd.sync_other_machine != SYNC_NOT_SENDER:
            sides.append((cmd.sender, cmd.receiver, False))
        for owner, peer, counts in sides:
            entry = folded.setdefault((owner.pk, peer.pk), {
                "peer": peer, "dialog_id": dialogs[p.key][0], "unread": 0, "read_seq": 0,
                "last": None})
            entry["unread"] += 1 if counts else 0
            if owner.pk == cmd.sender.pk or cmd.historical:  # one's own messages are read
                entry["read_seq"] = max(entry["read_seq"], msg.seq)
            if not cmd.excluded_from_last_message:
                entry["last"] = p
    if not folded:
        return {}, {}, set()
    keys = sorted(folded)  # the rows are locked in this order
    values = [(owner_pk, peer_pk, e["dialog_id"],
               e["last"].message.pk if e["last"] is not None else None, e["unread"],
               e["read_seq"])
              for owner_pk, peer_pk in keys for e in [folded[(owner_pk, peer_pk)]]]
    postgresql = connection.vendor == "postgresql"
    with prepared_cursor() as cursor:
        if postgresql:
            # Owners whose unread may grow (a Discard row's does not: known after the upsert).
            adding = sorted({owner_pk for (owner_pk, _), e in folded.items() if e["unread"]})
            cursor.execute(_CONVERSATIONS_PG, [
                now, wire.dumps([dict(zip(_CONVERSATION_ROW, row, strict=True))
                                 for row in values]), adding])
            rows = cursor.fetchall()
        else:
            cursor.execute(
                _CONVERSATION_UPSERT.format(rows="VALUES " + ", ".join(
                    ["(%s, %s, %s, %s, %s, %s, 0, 0, FALSE, '', %s, 0, FALSE)"] * len(keys))),
                [x for row in values for x in (*row, now)])
            rows = [(*row, None, None) for row in cursor.fetchall()]
    out = {}
    found: dict[int, int] = {}
    with_tokens: set[int] = set()
    for (owner_pk, peer_pk, unread, pinned, draft, peer_read_time, last_id, remind, total,
         has_token) in rows:
        if total is not None:
            found[owner_pk] = int(total)
        if has_token:
            with_tokens.add(owner_pk)
        e = folded[(owner_pk, peer_pk)]
        out[(owner_pk, peer_pk)] = (
            {"unread_count": unread, "is_pinned": pinned, "draft_text": draft,
             "peer_read_time": peer_read_time, "last_message_id": last_id,
             "added_unread": e["unread"] > 0 and remind != RemindType.DISCARD,
             "remind": remind},
            e["peer"], e["last"])
    counted = {owner_pk for (owner_pk, _), (row, _, _) in out.items() if row["added_unread"]}
    if not postgresql:
        return out, _unread_totals(counted), None
    return out, {pk: found[pk] for pk in sorted(counted)}, with_tokens


def _newest_last_messages(convs: dict, keys: set[tuple[int, int]]) -> None:
    """After an import, each conversation's last message is its newest by time (an
    import may be older than what the conversation shows), as its owner sees the
    dialog. One statement, only for batches with imports. A conversation whose last
    message is not one of this batch's then says nothing of it in its event."""
    keys = sorted(k for k in keys if k in convs)
    if not keys:
        return
    pairs = ", ".join(["(%s, %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_conversation AS c SET last_message_id = ("
            " SELECT m.id FROM messaging_message m WHERE m.dialog_id = c.dialog_id"
            "  AND NOT m.excluded_from_last_message AND m.seq > c.cleared_seq"
            "  AND ((m.sender_id = c.owner_id AND NOT m.deleted_by_sender)"
            "       OR (m.receiver_id = c.owner_id AND NOT m.deleted_by_receiver))"
            "  ORDER BY m.time DESC, m.seq DESC LIMIT 1)"
            f" WHERE (c.owner_id, c.peer_id) IN ({pairs})"
            " RETURNING owner_id, peer_id, last_message_id",  # unqualified: SQLite
            [x for k in keys for x in k])
        for owner_pk, peer_pk, last_id in cursor.fetchall():
            row, peer_user, last_of = convs[(owner_pk, peer_pk)]
            row["last_message_id"] = last_id
            if last_of is not None and last_of.message.pk != last_id:
                convs[(owner_pk, peer_pk)] = (row, peer_user, None)


def _unread_totals(owner_pks: set[int]) -> dict[int, int]:
    if not owner_pks:
        return {}
    pks = sorted(owner_pks)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT owner_id, COALESCE(SUM(unread_count), 0) FROM messaging_conversation"
            f" WHERE owner_id IN ({', '.join(['%s'] * len(pks))}) AND unread_count > 0"
            " GROUP BY owner_id", pks)
        found = dict(cursor.fetchall())
    return {pk: int(found.get(pk, 0)) for pk in pks}


def batch_receipts_purge(*, before, batch_size: int = 10000) -> int:
    """Delete batch receipts created before `before` (with the history they guard), in
    short transactions of `batch_size` rows; return how many."""
    cutoff = connection.ops.adapt_datetimefield_value(before)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM messaging_batchreceipt WHERE (batch_id, receiver_id) IN"
                " (SELECT batch_id, receiver_id FROM messaging_batchreceipt"
                "  WHERE created_at < %s LIMIT %s)", [cutoff, batch_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            return total
