"""Merged messages (TIMRelayElem) whose list is stored apart, once, behind a downloadKey.

A merged message whose list would put it over 12 KB (messaging.elements.lists_go_apart)
is written with its list in a MergedList row and its element carrying that row's
`downloadKey` instead of `messageList`, as Tencent's SDK does; a smaller one travels
whole. Either way the list is at most 300 messages and 200 KB (910013, 910014).

| what | how |
| --- | --- |
| store | `merged_store`, in the send transaction, before the message is inserted: a failed send leaves no row, a retry (same random) gets the stored message back and stores nothing; the same list sent to many in one batch is stored once per batch (batchsendmsg: per chunk of CHAT_BATCH_CHUNK receivers) |
| refer | `merged_use`: a MergedUse row per stored message and list its elements name (its own list, a forwarded downloadKey, or one nested in its inline list); a MergedNest row per list and list its messages name |
| read | `access_merged_list` (downloadMergerMessage, GET /api/v1/merged/<key>/): a user may read a list when a message referring to it, or to a list that nests it (at any depth), is in their history: sent or received, not recalled, not deleted by them, not cleared. Anyone else gets 20022, as for a key that does not exist |
| forward | a sent element with only a downloadKey (createForwardMessage of a stored merged message), or a list nesting one: the sender must be able to read the key (`check_merged_access`, origins with SendRules.merged_access), else 20022 |
| delete | `merged_release` (recall, modify, a message deleted by both sides, found with `upload_refs.hidden_messages`) deletes, in the same transaction, the lists nothing refers to any more, and then the lists only they nested. The history purge deletes the references in its own statement and marks the lists; `merged_sweep` (after the purge, and hourly with the upload sweep) deletes the marked lists nothing refers to; `merged_reconcile` (hourly) marks those an account's deletion left behind |

Lock order: list rows are taken last, after the upload rows (messaging/upload_refs.py),
in id order: a send's FOR KEY SHARE on the lists it refers to, a release's FOR UPDATE
on the lists and everything they nest. A send that refers to a list being deleted
waits, then finds it gone (the message keeps a dead key, read as not found).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from chat_project.errors import ChatError

from .elements import (
    MAX_MERGED_MESSAGES,
    MERGED_KEY_LENGTH,
    is_merged_key,
    json_size,
    lists_go_apart,
)
from .models import MergedList, MergedNest, MergedUse
from .upload_refs import upload_uuids

log = logging.getLogger(__name__)

# 24 random bytes, 32 URL-safe characters.
_KEY_BYTES = MERGED_KEY_LENGTH * 3 // 4

NOT_FOUND = "no merged message with this downloadKey"


def new_key() -> str:
    return secrets.token_urlsafe(_KEY_BYTES)


def merged_keys(elements) -> set[str]:
    """The downloadKeys a message's elements name: a TIMRelayElem's `downloadKey` (or
    Tencent's `JsonMsgKey`), inline lists included, at any depth. Walks without
    recursion and keeps only strings shaped as our keys, so junk never reaches a query."""
    found: set[str] = set()
    stack = [elements]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            etype = node.get("type", node.get("MsgType"))
            payload = node.get("payload", node.get("MsgContent"))
            if etype == "TIMRelayElem" and isinstance(payload, dict):
                for name in ("downloadKey", "JsonMsgKey"):
                    if is_merged_key(payload.get(name)):
                        found.add(payload[name])
            stack.extend(v for v in node.values() if isinstance(v, list | dict))
    return found


# --- who may read ----------------------------------------------------------------------

# The lists named, then every list nesting them (at any depth); a start is readable when
# one of its chain has a message in the user's history.
_READABLE = """
WITH RECURSIVE up(start, id) AS (
    SELECT id, id FROM messaging_mergedlist WHERE key IN ({keys})
    UNION
    SELECT up.start, n.parent_id FROM messaging_mergednest n JOIN up ON n.child_id = up.id
)
SELECT DISTINCT l.key FROM up
JOIN messaging_mergedlist l ON l.id = up.start
JOIN messaging_mergeduse u ON u.merged_id = up.id
JOIN messaging_message m ON m.id = u.message_id
LEFT JOIN messaging_conversation c ON c.owner_id = %s
    AND c.peer_id = CASE WHEN m.sender_id = %s THEN m.receiver_id ELSE m.sender_id END
WHERE u.dialog_id IN (SELECT d.id FROM messaging_dialog d
                      WHERE d.user_low_id = %s OR d.user_high_id = %s)
  AND NOT m.is_revoked AND m.seq > COALESCE(c.cleared_seq, 0)
  AND ((m.sender_id = %s AND NOT m.deleted_by_sender)
       OR (m.receiver_id = %s AND NOT m.deleted_by_receiver))
"""


def readable_keys(user_pk: int, keys: Iterable[str]) -> set[str]:
    """Which of these downloadKeys the user may read (one query; none for no key)."""
    keys = sorted({k for k in keys if is_merged_key(k)})
    if not keys:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_READABLE.format(keys=", ".join(["%s"] * len(keys))),
                       [*keys, *([user_pk] * 6)])
        return {row[0] for row in cursor.fetchall()}


def check_merged_access(*, user_pk: int, elements, known: Iterable[str] = ()) -> None:
    """Every downloadKey a message about to be sent (or modified) names, apart from
    those it names already (`known`), must be one the user may read: 20022 otherwise,
    the answer for a key that does not exist. No query for a message without keys."""
    keys = merged_keys(elements) - set(known)
    if len(keys) > MAX_MERGED_MESSAGES:  # bounds the check's query and the nest rows
        raise ChatError(910013, f"a merged message names {len(keys)} stored merged "
                                f"messages; at most {MAX_MERGED_MESSAGES}")
    if keys and keys - readable_keys(user_pk, keys):
        raise ChatError(20022, f"a merged message's downloadKey: {NOT_FOUND}")


def access_merged_list(*, user, download_key) -> dict:
    """`{messageList}` of a stored merged message the user has in their history; 20022
    (404) for anyone else, and for a key that does not exist."""
    if not isinstance(download_key, str):
        raise ChatError(910003, "downloadKey must be a string")
    if is_merged_key(download_key) and readable_keys(user.pk, [download_key]):
        row = MergedList.objects.filter(key=download_key).values_list("messages", flat=True) \
            .first()
        if row is not None:
            return {"messageList": row}
    raise ChatError(20022, NOT_FOUND, http_status=404)


def list_counts(keys: Iterable[str]) -> dict[str, int]:
    """Messages in each stored list, by downloadKey (Tencent's MsgNum); no query for
    no key."""
    keys = sorted({k for k in keys if is_merged_key(k)})
    if not keys:
        return {}
    return dict(MergedList.objects.filter(key__in=keys).values_list("key", "count"))


def list_uploads(keys: Iterable[str]) -> dict[str, set[str]]:
    """The uploads each stored list refers to (nested lists' included), by
    downloadKey; no query for no key."""
    keys = sorted({k for k in keys if is_merged_key(k)})
    if not keys:
        return {}
    return {k: set(u) for k, u in MergedList.objects.filter(key__in=keys)
            .values_list("key", "uploads")}


def uploads_of_lists(messages: Iterable[tuple[int, object]]) -> dict[int, set[str]]:
    """For stored messages (pk, elements): the uploads of the stored lists they name,
    by message pk (upload_refs.uploads_use's `also`). One query, none when no message
    names a list."""
    named = {pk: keys for pk, elements in messages if (keys := merged_keys(elements))}
    if not named:
        return {}
    found = list_uploads(set().union(*named.values()))
    return {pk: set().union(*(found.get(k, set()) for k in keys)) for pk, keys in named.items()}


# --- store and refer, inside the send transaction --------------------------------------

def merged_store(items: list[tuple[list[dict], str, int | None]]
                 ) -> tuple[list[list[dict]], list[MergedList]]:
    """For each (checked elements, cloudCustomData, creator pk): the elements to write,
    with the lists of a message that would be over 12 KB stored and replaced by their
    downloadKeys; and the lists stored. Identical lists of one call (a batch of one
    message to many) are stored once. No statement when no list goes apart; no lock on
    an existing row (the lists these nest are recorded by `merged_use`, last)."""
    out: list[list[dict]] = []
    rows: dict[str, MergedList] = {}  # the list's JSON -> its row
    now = None
    for elements, ccd, creator_pk in items:
        if not lists_go_apart(elements, ccd):
            out.append(elements)
            continue
        now = now or timezone.now()
        new = []
        for e in elements:
            payload = e["payload"]
            if e["type"] != "TIMRelayElem" or "messageList" not in payload:
                new.append(e)
                continue
            messages = payload["messageList"]
            text = json.dumps(messages, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True)
            row = rows.get(text)
            if row is None:
                row = rows[text] = MergedList(key=new_key(), messages=messages,
                                              count=len(messages), bytes=json_size(messages),
                                              creator_id=creator_pk, created_at=now)
            light = {k: v for k, v in payload.items() if k != "messageList"}
            light["downloadKey"] = row.key
            new.append({"type": e["type"], "payload": light})
        out.append(new)
    if not rows:
        return out, []
    # The files its messages carry, and those of the lists it nests (read unlocked: a
    # nested list that goes meanwhile had no reader left to keep its files for).
    nested = {text: merged_keys(row.messages) for text, row in rows.items()}
    inner = list_uploads(set().union(*nested.values()))
    for text, row in rows.items():
        row.uploads = sorted(upload_uuids(row.messages)
                             | set().union(*(inner.get(k, set()) for k in nested[text])))
    made = MergedList.objects.bulk_create(rows.values())
    if any(m.pk is None for m in made):  # a backend that returns no ids
        ids = dict(MergedList.objects.filter(key__in=[m.key for m in made])
                   .values_list("key", "pk"))
        for m in made:
            m.pk = ids[m.key]
    return out, made


def _lock_keys(keys: Iterable[str]) -> dict[str, int]:
    """The lists with these keys that exist, locked shared (FOR KEY SHARE: concurrent
    forwards of one list do not queue; a deletion waits for them), in id order."""
    every = sorted(set(keys))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, key FROM messaging_mergedlist WHERE key = ANY(%s)"
                           " ORDER BY id FOR KEY SHARE", [every])
            return {k: pk for pk, k in cursor.fetchall()}
    # SQLite: one writer at a time, nothing to lock
    return dict(MergedList.objects.filter(key__in=every).values_list("key", "pk"))


def merged_use(messages: Iterable[tuple[int, int, object]],
               stored: Iterable[MergedList] = ()) -> None:
    """Record that these stored messages (pk, dialog pk, elements) refer to the lists
    their elements name, and that the lists `merged_store` just stored nest the lists
    their messages name. The lists referred to are locked shared first, in id order,
    after every other lock of the transaction. No statement for messages naming none
    (the usual send)."""
    wanted = [(pk, dialog_pk, keys) for pk, dialog_pk, elements in messages
              if (keys := merged_keys(elements))]
    nested = [(m.pk, keys) for m in stored if (keys := merged_keys(m.messages))]
    if not wanted and not nested:
        return
    ids = _lock_keys([k for _, _, keys in wanted for k in keys]
                     + [k for _, keys in nested for k in keys])
    if not ids:
        return
    if wanted:
        MergedUse.objects.bulk_create(
            [MergedUse(merged_id=ids[k], message_id=pk, dialog_id=dialog_pk)
             for pk, dialog_pk, keys in wanted for k in sorted(keys) if k in ids],
            ignore_conflicts=True)
    if nested:
        MergedNest.objects.bulk_create(
            [MergedNest(parent_id=parent, child_id=ids[k])
             for parent, keys in nested for k in sorted(keys) if k in ids],
            ignore_conflicts=True)


# --- release and delete ------------------------------------------------------------------

def merged_release(message_pks: Iterable[int], *, keep: dict[int, object] | None = None) -> None:
    """These messages no longer refer to their lists (recalled, deleted by both sides,
    or modified: `keep` maps a modified message's pk to its new elements, whose keys
    it still names). Lists left with no reference are deleted now, in this transaction."""
    pks = sorted(set(message_pks))
    if not pks:
        return
    uses = list(MergedUse.objects.filter(message_id__in=pks)
                .values_list("pk", "merged_id", "message_id", "merged__key"))
    kept = {pk: merged_keys(elements) for pk, elements in (keep or {}).items()}
    gone = [(use_pk, merged_pk) for use_pk, merged_pk, message_pk, key in uses
            if key not in kept.get(message_pk, ())]
    if not gone:
        return
    MergedUse.objects.filter(pk__in=[use_pk for use_pk, _ in gone]).delete()
    _delete_unreferenced(sorted({merged_pk for _, merged_pk in gone}))


_DESCENDANTS = """
WITH RECURSIVE down(id) AS (
    SELECT id FROM messaging_mergedlist WHERE id IN ({ids})
    UNION
    SELECT n.child_id FROM messaging_mergednest n JOIN down ON n.parent_id = down.id
)
SELECT id FROM down ORDER BY id
"""


def _delete_unreferenced(list_pks: list[int]) -> list[int]:
    """Delete these lists if no message refers to them and no list nests them, then the
    lists only they nested; return the ids still referred to. Locks the lists and all
    they nest first, in id order (one order for every deleter)."""
    if not list_pks:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_DESCENDANTS.format(ids=", ".join(["%s"] * len(list_pks))), list_pks)
        closure = [row[0] for row in cursor.fetchall()]
    present = set(MergedList.objects.select_for_update().filter(pk__in=closure)
                  .order_by("pk").values_list("pk", flat=True))
    pending = sorted(set(list_pks) & present)
    deleted: set[int] = set()
    while pending:
        used = set(MergedUse.objects.filter(merged_id__in=pending)
                   .values_list("merged_id", flat=True)) \
            | set(MergedNest.objects.filter(child_id__in=pending)
                  .values_list("child_id", flat=True))
        gone = [pk for pk in pending if pk not in used]
        if not gone:
            break
        children = set(MergedNest.objects.filter(parent_id__in=gone)
                       .values_list("child_id", flat=True))
        MergedNest.objects.filter(parent_id__in=gone).delete()
        # Nothing else refers to them (checked above, under the lock): a plain DELETE,
        # where the ORM's would load each 200 KB list to cascade.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM messaging_mergedlist WHERE id IN"
                           f" ({', '.join(['%s'] * len(gone))})", gone)
        deleted.update(gone)
        pending = sorted(children & present - deleted)
    return sorted(set(list_pks) & present - deleted)


def merged_sweep(*, now: datetime | None = None, batch_size: int = 100) -> int:
    """Delete the lists the history purge marked (delete_after passed) that nothing
    refers to any more, and what only they nested; return how many marked lists went.
    In batches, each its own short transaction."""
    now = now or timezone.now()
    swept = 0
    after_pk = 0
    while True:
        with transaction.atomic():
            # Not locked here: _delete_unreferenced locks them with all they nest in
            # one statement, in id order, as every deleter does (no deadlock).
            batch = list(MergedList.objects.filter(delete_after__lte=now, pk__gt=after_pk)
                         .order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not batch:
                return swept
            after_pk = batch[-1]
            kept = _delete_unreferenced(batch)
            if kept:  # referred to again (a forward) or still nested: not garbage
                MergedList.objects.filter(pk__in=kept).update(delete_after=None)
            swept += len(batch) - len(kept)
        if len(batch) < batch_size:
            return swept


# Lists whose ids one reconcile run looks at; the next run takes the next range.
RECONCILE_SPAN = 100_000
_RECONCILE_CURSOR = "merged:reconcile:after"


def merged_reconcile(*, span: int = RECONCILE_SPAN, now: datetime | None = None) -> int:
    """Mark for the sweep the lists nothing refers to that no release marked: an
    account deleted with its dialogs takes their messages and references with it
    through Django's cascade. (A list is written with its first reference in one
    transaction, so a committed list without one is garbage.) One range of ids per run,
    wrapping around, as upload_refs.uploads_reconcile does; returns how many it marked."""
    try:
        after = int(cache.get(_RECONCILE_CURSOR) or 0)
    except Exception:  # a cache that is down costs a restarted round, nothing else
        log.warning("merged list reconcile: no cursor from the cache; starting over")
        after = 0
    marked = (MergedList.objects.filter(pk__gt=after, pk__lte=after + span,
                                        delete_after__isnull=True)
              .filter(~Exists(MergedUse.objects.filter(merged=OuterRef("pk"))))
              .filter(~Exists(MergedNest.objects.filter(child=OuterRef("pk"))))
              .update(delete_after=now or timezone.now()))
    newest = MergedList.objects.aggregate(newest=Max("pk"))["newest"] or 0
    try:
        cache.set(_RECONCILE_CURSOR, after + span if after + span < newest else 0, None)
    except Exception:
        log.warning("merged list reconcile: could not keep the cursor")
    return marked
