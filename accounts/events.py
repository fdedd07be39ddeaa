"""Realtime fan-out: events leave only after the transaction that made them commits.

Every device socket of a user joins the group `user_group(pk)`. Services call
`publish_on_commit`; the channel layer is a hint that something changed, never the
store (the sync log is), so a dropped publish costs latency, not a message.

A door running on an event loop (the WebSocket consumer) may wrap a service call in
`capture_events()` and send the captured events itself, on its own loop, instead of
each commit hopping back to the loop from the database thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

_captured: contextvars.ContextVar[list | None] = contextvars.ContextVar("parley_events",
                                                                      default=None)


def user_group(user_pk: int) -> str:
    return f"user.{user_pk}"


def layer_message(event: dict, *, exclude_channel: str | None = None) -> dict:
    """The channel-layer message whose `type` names the consumer handler."""
    return {"type": "chat.event", "event": event, "exclude": exclude_channel}


def publish_on_commit(items: Iterable[tuple[int, dict]], *,
                      exclude_channel: str | None = None) -> None:
    """After commit, send each (user_pk, event frame) to all that user's devices."""
    batch = [(user_group(pk), layer_message(ev, exclude_channel=exclude_channel))
             for pk, ev in items]
    if batch:
        transaction.on_commit(lambda: _dispatch(batch))


def publish_now(items: Iterable[tuple[int, dict]], *, exclude_channel: str | None = None) -> None:
    """Send events that are not in the sync log (typing, status) right away."""
    _dispatch([(user_group(pk), layer_message(ev, exclude_channel=exclude_channel))
               for pk, ev in items])


def _dispatch(batch: list[tuple[str, dict]]) -> None:
    buf = _captured.get()
    if buf is not None:
        buf.extend(batch)
        return
    try:
        async_to_sync(send_batch)(batch)
    except Exception:  # the sync log has it; a reconnect or the next event catches up
        log.exception("realtime publish failed")


async def send_batch(batch: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in batch:
        try:
            await layer.group_send(group, message)
        except Exception:
            log.exception("realtime publish to %s failed", group)


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
