"""Key-value extensions of a message (Tencent's "message extensions"): votes, sign-up
lists, notes attached to a sent message by its two participants or the app admin.

Every door calls these services (WebSocket ops in message_ws.py, /v4
openim_msg_ext_http_svc in v4_extensions.py); doors only translate.

Versions. A message's extensions have one counter (ExtensionHead.latest_seq, Tencent's
LatestSeq): each call that writes takes the next version, and every key it writes
carries it as its `seq`. A set or a delete by a participant is a compare-and-set per
key: it names the seq it last saw of that key (0: "I believe it does not exist"); when
the key has moved on, that key is refused with 23001 and the answer carries the key's
stored value and seq, so the client can decide and retry; the other keys of the call
go through (Tencent's per-key answer). The message row is locked for the whole call
(the global lock order: messaging/persist.py), so two concurrent writes of one key are
ordered and exactly one wins. The app admin's
writes (/v4) are not checked, as Tencent documents. A clear-all records ClearSeq (the
version up to which everything a client holds is gone); a read from StartSeq returns
the keys at that version or later, 200 at most, cut at a version boundary
(CompleteFlag 0: read again from the last seq + 1).

Limits (Tencent's): key 1 to 100 bytes, value up to 1,000 bytes, 20 keys a call, 300
keys a message (910050 past it; Tencent documents the limit but no code). Bad
parameters: 10004 (Tencent's "invalid parameter" for these commands).

Who: the message's sender and receiver, while it is in their history (not deleted by
them, not before what they cleared); the app admin for any message. Anyone else, a
recalled message (the recall deletes its extensions with its content) or one purged
from history: 23004, as for a message that does not exist. A message sent without
isSupportExtension: 23002.

Events (to each participant whose history holds the message, logged in the sync log
and replayed at reconnect like the other change events): MESSAGE_EXTENSIONS_UPDATED
{messageID, extensions: [{key, value, seq}]} for the keys written,
MESSAGE_EXTENSIONS_DELETED {messageID, keyList} for the keys deleted or cleared.

Too frequent (Tencent's 23003): at most 200 writes (sets and deletes, each call one,
the app admin's too) a minute on one message, counted once the caller is known to
reach the message, in a window that opens with the minute's first write. The count is
kept in the shared cache (Redis), so it holds across server processes. While Redis is
down or silent the writes fail open, as /v4's rate limits do (chat_project/ratecount.py):
each process counts on its own and holds the limit by itself; what is written is in
PostgreSQL either way. The REST door answers it with HTTP 429.
Not built: Tencent's after-extension webhook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from accounts.models import SyncEntry, User
from accounts.services import sync_publish
from chat_project import ratecount
from chat_project.errors import ChatError

from .models import Conversation, Extension, ExtensionHead, Message
from .selectors import cleared_seqs, in_history
from .views import message_public_id

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 100
MAX_VALUE_BYTES = 1000
MAX_PER_CALL = 20
MAX_PER_MESSAGE = 300
PAGE = 200
WRITES_PER_MINUTE = 200  # on one message (Tencent's)

BAD_PARAMETER = 10004
SEQ_CONFLICT = 23001
NOT_SUPPORTED = 23002
TOO_FREQUENT = 23003
NOT_FOUND = 23004
TOO_MANY = 910050


@dataclass(frozen=True)
class KeyResult:
    """One key of a set or delete: `code` 0, or 23001 with the key's stored value and
    seq (value "" and seq 0 when it does not exist)."""

    key: str
    value: str
    seq: int
    code: int = 0


@dataclass(frozen=True)
class ExtensionPage:
    extensions: list[KeyResult]
    complete: bool
    latest_seq: int
    clear_seq: int


# --- checks ----------------------------------------------------------------------------

def _size(text) -> int:
    """UTF-8 bytes of a string; -1 for what is no string or cannot be stored (a lone
    surrogate, a NUL: PostgreSQL text holds neither)."""
    if not isinstance(text, str) or "\x00" in text:
        return -1
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return -1


def _check_key(key) -> str:
    if not 1 <= _size(key) <= MAX_KEY_BYTES:
        raise ChatError(BAD_PARAMETER, f"a key must be a string of 1 to {MAX_KEY_BYTES} bytes")
    return key


def _check_seq(seq) -> int | None:
    if seq is None:
        return None
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise ChatError(BAD_PARAMETER, "seq must be a non-negative integer")
    return seq


def _check_items(items, *, with_values: bool) -> list[tuple[str, str, int | None]]:
    """(key, value, seq) items: 1 to 20, keys unique."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PER_CALL:
        raise ChatError(BAD_PARAMETER, f"give 1 to {MAX_PER_CALL} extensions a call")
    checked = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 3:
            raise ChatError(BAD_PARAMETER, "an extension is (key, value, seq)")
        key, value, seq = item
        key = _check_key(key)
        if with_values:
            if not 0 <= _size(value) <= MAX_VALUE_BYTES:
                raise ChatError(BAD_PARAMETER,
                                f"a value must be a string of at most {MAX_VALUE_BYTES} bytes")
        checked.append((key, value if with_values else "", _check_seq(seq)))
    if len({k for k, _, _ in checked}) != len(checked):
        raise ChatError(BAD_PARAMETER, "a key is named twice")
    return checked


def items_from_wire(extensions, key_list=None, *, with_values: bool) -> list | None:
    """The socket's and native REST's `extensions` ([{key, value, seq?}]; a delete's
    [{key, seq}]) or a delete's `keyList` (each at seq 0) as the services' (key, value,
    seq) items; None: a delete naming no key (clear all). Shapes are checked here,
    keys, values and seqs by the services."""
    if extensions is None and not with_values and key_list is not None:
        if not isinstance(key_list, list) or len(key_list) > MAX_PER_CALL:
            raise ChatError(BAD_PARAMETER, f"keyList must hold at most {MAX_PER_CALL} keys")
        return [(k, "", 0) for k in key_list]
    if extensions is None:
        if with_values:
            raise ChatError(BAD_PARAMETER, "extensions is missing")
        return None
    if not isinstance(extensions, list) or len(extensions) > MAX_PER_CALL \
            or not all(isinstance(e, dict) for e in extensions):
        raise ChatError(BAD_PARAMETER,
                        f"extensions must be a list of at most {MAX_PER_CALL} objects")
    return [(e.get("key"), e.get("value") if with_values else "", e.get("seq", 0))
            for e in extensions]


# --- access ----------------------------------------------------------------------------

def _in_history(msg: Message, user_pk: int) -> bool:
    """Whether the message is in this participant's history (selectors.in_history)."""
    peer_pk = msg.receiver_id if user_pk == msg.sender_id else msg.sender_id
    return in_history(msg, user_pk, cleared_seqs(user_pk, [peer_pk]).get(peer_pk))


def _access_message(message_pk: int, actor: User | None, *, lock: bool,
                    expect_from: str | None, expect_to: str | None) -> Message:
    """The message, locked when `lock`, if the actor may touch its extensions. Its
    content is not read (nothing here uses it), nor its users unless a /v4 caller names
    them: this runs twice a write (the count, then under the lock)."""
    query = Message.objects.filter(pk=message_pk).defer(
        "elements", "cloud_custom_data", "offline_push_info", "nick", "avatar")
    if expect_from is not None or expect_to is not None:
        query = query.select_related("sender", "receiver")
    if lock:
        query = query.select_for_update(of=("self",))
    msg = query.first()
    if msg is None or msg.is_revoked \
            or (expect_from is not None and msg.sender.user_id != expect_from) \
            or (expect_to is not None and msg.receiver.user_id != expect_to) \
            or (actor is not None and (actor.pk not in (msg.sender_id, msg.receiver_id)
                                       or not _in_history(msg, actor.pk))):
        raise ChatError(NOT_FOUND, "message not found")
    if not msg.support_extension:
        raise ChatError(NOT_SUPPORTED, "the message was not sent with isSupportExtension")
    return msg


def _head(msg: Message) -> ExtensionHead:
    """The message's version row, made on its first write (the message lock is held)."""
    head = ExtensionHead.objects.filter(message_id=msg.pk).first()
    return head if head is not None else ExtensionHead(message_id=msg.pk)


def audience(msg: Message) -> list[int]:
    """The participants whose history holds the message, as `_in_history` has it (not
    deleted by them, not before what they cleared; one query): those its extension and
    reaction events go to (messaging/reactions.py too). One who cleared the conversation
    got them before, though they could read neither (23004)."""
    cleared = dict(Conversation.objects.filter(dialog_id=msg.dialog_id)
                   .values_list("owner_id", "cleared_seq"))
    return [pk for pk in dict.fromkeys((msg.sender_id, msg.receiver_id))
            if in_history(msg, pk, cleared.get(pk))]


def _publish(msg: Message, event: str, data: dict) -> None:
    data = {"messageID": message_public_id(msg.pk, msg.time, msg.random), **data}
    sync_publish([(pk, SyncEntry.Kind.EXTENSION, event, data) for pk in audience(msg)])


_WINDOW_SECONDS = 60


def _check_write_rate(msg: Message) -> None:
    """Count one write on the message (chat_project/ratecount.py); 23003 past
    WRITES_PER_MINUTE in its window. Called before the write's transaction, once the
    caller is known to reach the message: no Redis call is made holding the message's
    lock, and nobody else can spend a message's writes. The key names the message by
    pk, time and random, so a test database made again (pks from 1) never meets an old
    count."""
    key = f"extwrites:{msg.pk}:{msg.time}:{msg.random}"
    if ratecount.count(key, _WINDOW_SECONDS) > WRITES_PER_MINUTE:
        raise ChatError(TOO_FREQUENT, f"too frequent: at most {WRITES_PER_MINUTE} extension"
                                      f" writes a minute on one message; wait a little",
                        http_status=429)


# --- services --------------------------------------------------------------------------

def extensions_set(*, message_pk: int, actor: User | None, items,
                   expect_from: str | None = None,
                   expect_to: str | None = None) -> list[KeyResult]:
    """Set keys of a message's extensions: `items` are (key, value, seq) with seq the
    version the caller last saw of the key (0 or None: not there; the admin's, actor
    None, are not checked). Returns one KeyResult per item, in order."""
    checked = _check_items(items, with_values=True)
    _check_write_rate(_access_message(message_pk, actor, lock=False, expect_from=expect_from,
                                      expect_to=expect_to))
    with transaction.atomic():
        msg = _access_message(message_pk, actor, lock=True, expect_from=expect_from,
                              expect_to=expect_to)
        stored = {e.key: e for e in Extension.objects.filter(message_id=msg.pk)}
        head = _head(msg)
        new_seq = head.latest_seq + 1
        results: list[KeyResult] = []
        writes: list[Extension] = []
        for key, value, seq in checked:
            now = stored.get(key)
            now_seq = now.seq if now is not None else 0
            if actor is not None and (seq or 0) != now_seq:
                results.append(KeyResult(key, now.value if now else "", now_seq, SEQ_CONFLICT))
                continue
            writes.append(Extension(message_id=msg.pk, key=key, value=value, seq=new_seq))
            results.append(KeyResult(key, value, new_seq))
        added = sum(1 for w in writes if w.key not in stored)
        if len(stored) + added > MAX_PER_MESSAGE:
            raise ChatError(TOO_MANY, f"a message holds at most {MAX_PER_MESSAGE} extensions")
        if writes:
            Extension.objects.bulk_create(writes, update_conflicts=True,
                                          unique_fields=["message", "key"],
                                          update_fields=["value", "seq"])
            head.latest_seq = new_seq
            head.save()
            _publish(msg, "MESSAGE_EXTENSIONS_UPDATED", {"extensions": [
                {"key": w.key, "value": w.value, "seq": w.seq} for w in writes]})
        return results


def extensions_delete(*, message_pk: int, actor: User | None, items=None,
                      expect_from: str | None = None,
                      expect_to: str | None = None) -> list[KeyResult]:
    """Delete keys (`items`: (key, value ignored, seq) as for a set; a key that is not
    there is done already, code 0 and seq 0), or all of them (`items` None: the clear
    records ClearSeq). Returns one KeyResult per item (the clear: per key deleted)."""
    checked = None if items is None else _check_items(items, with_values=False)
    _check_write_rate(_access_message(message_pk, actor, lock=False, expect_from=expect_from,
                                      expect_to=expect_to))
    with transaction.atomic():
        msg = _access_message(message_pk, actor, lock=True, expect_from=expect_from,
                              expect_to=expect_to)
        stored = {e.key: e for e in Extension.objects.filter(message_id=msg.pk)}
        results: list[KeyResult] = []
        if checked is None:
            gone = sorted(stored)
            results = [KeyResult(k, "", stored[k].seq) for k in gone]
            head = _head(msg)
            if head.clear_seq != head.latest_seq or gone:
                head.clear_seq = head.latest_seq
                head.save()
        else:
            gone = []
            for key, _, seq in checked:
                now = stored.get(key)
                if now is None:
                    results.append(KeyResult(key, "", 0))
                elif actor is not None and (seq or 0) != now.seq:
                    results.append(KeyResult(key, now.value, now.seq, SEQ_CONFLICT))
                else:
                    gone.append(key)
                    results.append(KeyResult(key, "", now.seq))
        if gone:
            Extension.objects.filter(message_id=msg.pk, key__in=gone).delete()
            _publish(msg, "MESSAGE_EXTENSIONS_DELETED", {"keyList": gone})
        return results


def extensions_get(*, message_pk: int, actor: User | None, start_seq=0,
                   expect_from: str | None = None,
                   expect_to: str | None = None) -> ExtensionPage:
    """The keys at version `start_seq` or later, oldest version first, at most 200.
    The message is locked while they are read, so LatestSeq and ClearSeq are those of
    the keys returned (a write in between would make them disagree)."""
    start = _check_seq(start_seq) or 0
    with transaction.atomic():
        msg = _access_message(message_pk, actor, lock=True, expect_from=expect_from,
                              expect_to=expect_to)
        head = ExtensionHead.objects.filter(message_id=msg.pk).first()
        rows = list(Extension.objects.filter(message_id=msg.pk, seq__gte=start)
                    .order_by("seq", "key")[:PAGE + 1])
    complete = len(rows) <= PAGE
    if not complete:
        # Cut at a version boundary (a call writes at most 20 keys, all at one version),
        # so reading again from the last seq + 1 misses nothing.
        last = rows[PAGE].seq
        rows = [r for r in rows[:PAGE] if r.seq != last]
    return ExtensionPage(
        extensions=[KeyResult(r.key, r.value, r.seq) for r in rows], complete=complete,
        latest_seq=head.latest_seq if head else 0, clear_seq=head.clear_seq if head else 0)


def extensions_drop(*, message_pk: int) -> None:
    """Delete a message's extensions with its content (the recall calls it, in its
    transaction); no event: the recall's own tells the devices."""
    Extension.objects.filter(message_id=message_pk).delete()
    ExtensionHead.objects.filter(message_id=message_pk).delete()
