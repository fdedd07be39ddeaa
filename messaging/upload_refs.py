"""Which stored messages refer to which uploads, and deleting the files nothing refers to.

An upload (messaging.models.Upload) is referred to by every stored message whose
elements carry its uuid or a link to one of its files (UploadUse rows); a forward is
one more message carrying them, so a file stays while any of them does. Its files are deleted (through
Django's storage API, so local disk and S3 alike) by `uploads_sweep` once its
`delete_after` has passed and no message refers to it:

| how an upload loses its last reference | delete_after |
| --- | --- |
| never sent | CHAT_UPLOAD_UNSENT_SECONDS (a day) after the upload |
| its message recalled, or modified to drop it | now; swept right after the commit |
| its message deleted by both sides (deleteMessage, or a cleared/deleted conversation on each side) | now; swept right after the commit |
| its message purged with history (messaging/retention.py) | now; the hourly sweep |
| its messages deleted with an account (Django's cascade) | by `uploads_reconcile`, a range of ids an hour |

Sending sets delete_after to None. The sweep checks the references again under the
row's lock before deleting anything, so a marking that raced a forward deletes nothing
that is still referred to; and a send that refers to an upload being swept waits for
it and then finds it gone (the message keeps a dead link rather than failing).

Lock order: these rows are taken last, after every lock of the send, change and purge
transactions, in id order (the global lock order: messaging/persist.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import shared_task
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from chat_project import broker
from chat_project.task_rules import RETRY

from .models import Upload, UploadUse

log = logging.getLogger(__name__)

# Element type -> the payload key naming the upload (the Web SDK's keys, as stored; and
# Tencent's MsgContent keys, which a merged message's list may carry).
UPLOAD_KEYS = {
    "TIMImageElem": ("uuid", "UUID"),
    "TIMSoundElem": ("uuid", "UUID"),
    "TIMFileElem": ("uuid", "UUID"),
    "TIMVideoFileElem": ("videoUUID", "VideoUUID"),
}
_UPLOAD_UUID = re.compile(r"[0-9a-f]{32}")
# An upload's storage names (messaging.uploads.upload_folder) are
# uploads/<uuid[:2]>/<uuid>/..., and those of files uploaded before it were
# uploads/<user pk>/<uuid>/...; every storage's URL for a name contains the name: a
# link to the file anywhere in a message (an element a client rebuilt with another
# uuid, a URL pasted in a text or a custom element) names its upload too.
_UPLOAD_LINK = re.compile(r"uploads/(?:[0-9a-f]{2}|\d+)/([0-9a-f]{32})/")


def upload_uuids(elements) -> set[str]:
    """The uploads a message's elements refer to: a file element's uuid, or a link to
    an upload's file in any string, merged messages' lists included.

    Walks the JSON without recursion (a merged message may nest deeply) and keeps only
    strings shaped as our uuids, so junk never reaches a query.
    """
    found: set[str] = set()
    stack = [elements]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "uploads/" in node:
                found.update(_UPLOAD_LINK.findall(node))
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            etype = node.get("type", node.get("MsgType"))
            payload = node.get("payload", node.get("MsgContent"))
            if isinstance(etype, str) and isinstance(payload, dict) and etype in UPLOAD_KEYS:
                for key in UPLOAD_KEYS[etype]:
                    value = payload.get(key)
                    if isinstance(value, str) and _UPLOAD_UUID.fullmatch(value):
                        found.add(value)
            stack.extend(node.values())
    return found


# --- references, inside the caller's transaction ---------------------------------------

def uploads_use(messages: Iterable[tuple[int, int, object]], *,
                also: dict[int, set[str]] | None = None) -> None:
    """Record that these stored messages (pk, dialog pk, elements) refer to the uploads
    they carry, and (`also`, by message pk) to those of the merged lists stored apart
    that they name (messaging.merged.uploads_of_lists).

    No statement at all for messages without files (the usual send); otherwise three:
    lock the uploads (shared, so concurrent forwards of one file do not queue), mark
    them sent, and insert the references. An upload whose files are gone, or that the
    sweep is deleting right now, is skipped.
    """
    also = also or {}
    wanted = [(pk, dialog_pk, uuids) for pk, dialog_pk, elements in messages
              if (uuids := upload_uuids(elements) | also.get(pk, set()))]
    if not wanted:
        return
    every = sorted({u for _, _, uuids in wanted for u in uuids})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, uuid FROM messaging_upload WHERE uuid = ANY(%s)"
                           " AND NOT is_gone ORDER BY id FOR KEY SHARE", [every])
            ids = dict((u, pk) for pk, u in cursor.fetchall())
    else:  # SQLite: one writer at a time, nothing to lock
        ids = dict(Upload.objects.filter(uuid__in=every, is_gone=False)
                   .values_list("uuid", "pk"))
    if not ids:
        return
    Upload.objects.filter(pk__in=sorted(ids.values()), delete_after__isnull=False) \
        .update(delete_after=None)
    UploadUse.objects.bulk_create(
        [UploadUse(upload_id=ids[u], message_id=pk, dialog_id=dialog_pk)
         for pk, dialog_pk, uuids in wanted for u in sorted(uuids) if u in ids],
        ignore_conflicts=True)


def uploads_release(message_pks: Iterable[int], *, keep: dict[int, set[str]] | None = None) -> None:
    """These messages no longer refer to their uploads (recalled, deleted by both sides,
    or modified: `keep` maps a modified message's pk to the uuids of the uploads it
    still refers to). Uploads left with no reference are deleted after the commit."""
    pks = sorted(set(message_pks))
    if not pks:
        return
    uses = list(UploadUse.objects.filter(message_id__in=pks)
                .values_list("pk", "upload_id", "message_id", "upload__uuid"))
    kept = keep or {}
    gone = [(use_pk, upload_pk) for use_pk, upload_pk, message_pk, uuid in uses
            if uuid not in kept.get(message_pk, ())]
    if not gone:
        return
    UploadUse.objects.filter(pk__in=[use_pk for use_pk, _ in gone]).delete()
    _mark_released(sorted({upload_pk for _, upload_pk in gone}))


def hidden_messages(*, dialog_id: int,
                    message_pks: Iterable[int] | None = None) -> tuple[list[int], list[int]]:
    """(messages with uploads, messages with merged lists) of this dialog (or these of
    its messages) that neither side can see any more: each side deleted the message
    (deleteMessage) or cleared its history past it (clearHistoryMessage,
    deleteConversation). One statement for both kinds of reference; the caller releases
    them (messaging/changes.py: uploads_release, merged.merged_release)."""
    only = sorted(set(message_pks)) if message_pks is not None else None
    if only == []:
        return [], []
    hidden = (
        " JOIN messaging_message m ON m.id = u.message_id"
        " LEFT JOIN messaging_conversation cs"
        "  ON cs.owner_id = m.sender_id AND cs.peer_id = m.receiver_id"
        " LEFT JOIN messaging_conversation cr"
        "  ON cr.owner_id = m.receiver_id AND cr.peer_id = m.sender_id"
        " WHERE u.dialog_id = %s"
        "  AND (m.deleted_by_sender OR m.seq <= COALESCE(cs.cleared_seq, 0))"
        "  AND (m.deleted_by_receiver OR m.seq <= COALESCE(cr.cleared_seq, 0))")
    params: list = [dialog_id]
    if only is not None:
        hidden += f" AND m.id IN ({', '.join(['%s'] * len(only))})"
        params += only
    sql = (f"SELECT 0, u.message_id FROM messaging_uploaduse u{hidden}"
           f" UNION SELECT 1, u.message_id FROM messaging_mergeduse u{hidden}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        rows = cursor.fetchall()
    return [pk for kind, pk in rows if kind == 0], [pk for kind, pk in rows if kind == 1]


def _mark_released(upload_pks: list[int]) -> None:
    """Uploads left with no reference by this transaction are deleted after its commit
    (a forward of the same file keeps it: then there is nothing to do)."""
    unused = list(Upload.objects.filter(pk__in=upload_pks, is_gone=False)
                  .filter(~Exists(UploadUse.objects.filter(upload=OuterRef("pk"))))
                  .values_list("pk", flat=True))
    if not unused:
        return
    Upload.objects.filter(pk__in=unused).update(delete_after=timezone.now())
    # The sweep checks again under the lock; a lost task is made up by the hourly one.
    transaction.on_commit(lambda: _queue_delete(unused), robust=True)


def _queue_delete(upload_pks: list[int]) -> None:
    """Queue their deletion; when the broker will not take it (chat_project/broker.py)
    the hourly sweep deletes them (their delete_after is set)."""
    try:
        broker.publish(delete_unused_uploads, (upload_pks,))
    except broker.BROKER_ERRORS as exc:
        log.info("deleting %d unused uploads left to the hourly sweep (%s)",
                 len(upload_pks), exc)


# --- the sweep -------------------------------------------------------------------------

# The daily quota counts the uploads of the last 24 hours (messaging.uploads).
QUOTA_WINDOW = timedelta(days=1)


def uploads_sweep(*, upload_pks: list[int] | None = None, now: datetime | None = None,
                  batch_size: int = 100) -> int:
    """Delete the files of uploads whose delete_after has passed and that no message
    refers to; return how many uploads lost their files. Idempotent, in batches, each
    its own short transaction; rows another sweep holds are skipped.

    An upload still referred to (a forward raced the release) gets delete_after None
    back. A swept upload's row stays (`is_gone`) until the quota window after its
    upload has passed, then goes too.
    """
    now = now or timezone.now()
    swept = 0
    after_pk = 0
    while True:
        with transaction.atomic():
            rows = Upload.objects.select_for_update(skip_locked=True).filter(
                delete_after__lte=now, pk__gt=after_pk).order_by("pk")
            if upload_pks is not None:
                rows = rows.filter(pk__in=upload_pks)
            batch = list(rows[:batch_size])
            if not batch:
                return swept
            after_pk = batch[-1].pk
            used = set(UploadUse.objects.filter(upload__in=batch)
                       .values_list("upload_id", flat=True).distinct())
            if used:
                Upload.objects.filter(pk__in=sorted(used)).update(delete_after=None)
            unused = [u for u in batch if u.pk not in used]
            for upload in unused:
                for name in upload.names:
                    default_storage.delete(name)  # a name already gone is no error
            expired = [u.pk for u in unused if u.created_at + QUOTA_WINDOW <= now]
            Upload.objects.filter(pk__in=expired).delete()
            for upload in unused:
                if upload.pk not in expired:
                    Upload.objects.filter(pk=upload.pk).update(
                        is_gone=True, names=[],
                        delete_after=upload.created_at + QUOTA_WINDOW)
            swept += sum(1 for u in unused if not u.is_gone)
        if len(batch) < batch_size:
            return swept


# Uploads whose ids one reconcile run looks at; the next run takes the next range.
RECONCILE_SPAN = 100_000
_RECONCILE_CURSOR = "uploads:reconcile:after"


def uploads_reconcile(*, span: int = RECONCILE_SPAN, now: datetime | None = None) -> int:
    """Mark for the sweep the uploads no message refers to any more that no release
    marked: an account deleted with its dialogs (v4 account_delete) takes their
    messages and references with it through Django's cascade. One range of ids per run
    (an index probe each), wrapping around; the cursor is kept in the cache, and a lost
    cursor only starts the round again. Returns how many were marked."""
    try:
        after = int(cache.get(_RECONCILE_CURSOR) or 0)
    except Exception:  # a cache that is down costs a restarted round, nothing else
        log.warning("upload reconcile: no cursor from the cache; starting over")
        after = 0
    marked = (Upload.objects.filter(pk__gt=after, pk__lte=after + span,
                                    delete_after__isnull=True, is_gone=False)
              .filter(~Exists(UploadUse.objects.filter(upload=OuterRef("pk"))))
              .update(delete_after=now or timezone.now()))
    newest = Upload.objects.aggregate(newest=Max("pk"))["newest"] or 0
    try:
        cache.set(_RECONCILE_CURSOR, after + span if after + span < newest else 0, None)
    except Exception:
        log.warning("upload reconcile: could not keep the cursor")
    return marked


@shared_task(ignore_result=True, **RETRY)  # idempotent: each run checks again
def delete_unused_uploads(upload_pks: list[int]) -> int:
    """Right after a recall or a deletion: the files of these uploads, if unreferenced."""
    return uploads_sweep(upload_pks=upload_pks)
