"""Realtime fan-out: events leave only after the transaction that made them commits.

Every device socket of a user joins the group `user_group(pk)`. Services call
`publish_on_commit`; the channel layer is a hint that something changed, never the
store (the sync log is), so a dropped publish costs latency, not a message.

A door running on an event loop (the WebSocket consumer) may wrap a service call in
`capture_events()` and send the captured events itself, on its own loop, instead of
each commit hopping back to the loop from the database thread.

Loss is detected, not only tolerated: a user's seqs are dense (sync_append) and every
entry is published, as a frame or, when no device may have it now, as a marker
(`entry_not_sent`), so a socket that sees seq N arrive without N - 1 knows a publish
was lost, and tells its device through the frame's `prevSeq` (messaging/consumers.py
chat_events); the device then asks `sync`. A publish waits at most
CHAT_PUBLISH_TIMEOUT seconds for Redis: a stuck Redis costs the devices a `sync`, never
a send its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from chat_project import replicas, wire
from chat_project.redis_bounds import RealtimeUnavailable

log = logging.getLogger(__name__)

_captured: contextvars.ContextVar[list | None] = contextvars.ContextVar("parley_events",
                                                                      default=None)


# A frame's skip value meaning "no socket": the entry is in the log for a later login
# (SyncOtherMachine omitted), and its marker keeps the chain of seqs whole.
NO_DEVICE = "*"


def user_group(user_pk: int) -> str:
    return f"user.{user_pk}"


def entry_not_sent(user_pk: int, seq: int) -> tuple:
    """A publish item for a sync-log entry that no device online gets now."""
    return (user_pk, {"seq": seq}, NO_DEVICE)


def with_prev_seq(text: str, prev_seq: int) -> str:
    """An encoded event frame (a JSON object) with `prevSeq` added, without decoding it."""
    return f'{text[:-1]},"prevSeq":{prev_seq}}}'


def _batch(items: Iterable[tuple]) -> list:
    """Group frames by user: one layer message (one Redis PUBLISH) per user, not per frame.

    An item is (user_pk, frame) or (user_pk, frame, skip_channel): the socket
    `skip_channel` (the one that made the change and has the answer in its reply) does
    not get that frame; NO_DEVICE: no socket does (`entry_not_sent`). Each frame is
    encoded to JSON text once, here, and every device's socket sends that text as it is
    (plus its `prevSeq`); `seqs` keeps each frame's sync-log seq for the consumer's
    bookkeeping. The layer message's `type` names the consumer handler.
    """
    per_user: dict[int, dict] = {}
    for item in items:
        pk, frame = item[0], item[1]
        entry = per_user.setdefault(pk, {"type": "chat.events", "frames": [], "seqs": [],
                                         "skip": []})
        entry["frames"].append(wire.dumps(frame))
        entry["seqs"].append(frame.get("seq"))
        entry["skip"].append(item[2] if len(item) > 2 else None)
    for entry in per_user.values():
        if not any(entry["skip"]):
            del entry["skip"]
    return [(user_group(pk), entry) for pk, entry in per_user.items()]


def decoded(layer_message: dict) -> list[dict]:
    """The frames of a `chat.events` layer message as objects (for tests and tools)."""
    return [wire.loads(text) for text in layer_message["frames"]]


def publish_on_commit(items: Iterable[tuple]) -> None:
    """After commit, send each (user_pk, event frame[, skip_channel]) to the user's devices.

    Their changes are then these users' writes: with read replicas, their reads stay on
    the primary until a replica has replayed them (chat_project/replicas.py)."""
    items = list(items)
    batch = _batch(items)
    if batch:
        replicas.remember_writes(item[0] for item in items)
        transaction.on_commit(lambda: _dispatch(batch))


def publish_now(items: Iterable[tuple]) -> None:
    """Send events that are not in the sync log (typing, status, online-only) right away."""
    _dispatch(_batch(items))


def _dispatch(batch: list[tuple[str, dict]]) -> bool:
    """Publish from sync code; whether every message reached the channel layer (a
    captured batch is the capturing door's to send, and counts as sent)."""
    buf = _captured.get()
    if buf is not None:
        buf.extend(batch)
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: a sync thread with no loop of its own
        return _send_sync(batch)
    # A loop runs in this thread (e.g. a sync caller inside async code): async_to_sync
    # refuses to run here, so publish from a helper thread.
    sent: list[bool] = []
    worker = threading.Thread(target=lambda: sent.append(_send_sync(batch)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    return bool(sent and sent[0])


def _send_sync(batch: list[tuple[str, dict]]) -> bool:
    try:
        return async_to_sync(send_batch)(batch) == 0
    except Exception:  # the sync log has it; a reconnect or the next event catches up
        log.exception("realtime publish failed")
        return False


async def send_batch(batch: list[tuple[str, dict]]) -> int:
    """Publish, in order, within CHAT_PUBLISH_TIMEOUT: a Redis that accepts and never
    answers must not hold up the caller (a send's answer, the socket door's next batch).
    On Redis the whole batch is one pipelined round trip per shard, bounded as a whole
    (chat_project/redis_bounds.py, group_send_many); on another layer each publish is
    bounded, and after one timeout the rest is dropped, not waited for in turn. What is
    not published is in the sync log; the devices catch up by `sync`.

    Returns how many of the messages may not have been published (0: all were)."""
    layer = get_channel_layer()
    if layer is None or not batch:
        return 0
    timeout = settings.CHAT_PUBLISH_TIMEOUT
    many = getattr(layer, "group_send_many", None)  # Redis: one round trip per shard
    if many is not None:
        try:
            async with asyncio.timeout(timeout):
                failed = await many(batch)
        except TimeoutError:
            log.error("realtime publish of %d timed out after %ss", len(batch), timeout)
            return len(batch)
        for shard, exc in failed.items():
            log.error("realtime publish to shard %d failed: %r", shard, exc)
        return len(batch) if failed else 0
    unsent = 0
    for i, (group, message) in enumerate(batch):
        try:
            await asyncio.wait_for(layer.group_send(group, message), timeout)
        except TimeoutError:
            log.error("realtime publish to %s timed out after %ss; %d more not published",
                      group, timeout, len(batch) - i - 1)
            return unsent + len(batch) - i
        except Exception:
            log.exception("realtime publish to %s failed", group)
            unsent += 1
    return unsent


@contextlib.contextmanager
def capture_events():
    """Collect the events published by services called inside this block (also across
    sync_to_async threads, which copy the context); the caller sends them."""
    buf: list = []
    token = _captured.set(buf)
    try:
        yield buf
    finally:
        _captured.reset(token)


def layer_send_now(batch: list[tuple[str, dict]], *, required: bool = False) -> None:
    """Send raw layer messages [(group, message)] now, from sync code (kicks, status
    events: the message's `type` names the consumer handler, e.g. "chat.kick").

    `required`: a batch the sockets must get (a kick: the sync log holds nothing that
    would tell them later). When it could not be published, RealtimeUnavailable is
    raised, which every door answers as "busy, retry" (chat_project/unavailable.py),
    instead of a success that left the sockets as they were."""
    if batch and not _dispatch(batch) and required:
        raise RealtimeUnavailable(f"{len(batch)} layer message(s) could not be published")


def layer_send_on_commit(batch: list[tuple[str, dict]], *, required: bool = False) -> None:
    """As layer_send_now, after the current transaction commits (with `required`, an
    unpublished batch makes the commit's caller raise: the change is committed, and
    the door answers "busy, retry")."""
    if batch:
        transaction.on_commit(lambda: layer_send_now(batch, required=required))
