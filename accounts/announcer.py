"""Status announcements from the socket door: USER_STATUS_UPDATED to the sockets
subscribed to a user whose first socket came or whose last one went.

A consumer hands its announcement here and goes on (`announce`); one task per event
loop sends what has gathered: the custom statuses in one Redis read, the announcements
in one pipelined publish per channel-layer shard (chat_project/redis_bounds.py,
group_send_many), in the order they were made, so a user's Online never overtakes
their Offline from the same process.

Why not a publish per socket: 10,000 sockets logging in at once queued 10,000 publishes
one by one behind each shard's lock, next to the sockets' own subscribes; a fifth to a
third of them waited past the layer's time limit and were dropped, and their
subscribers never learned those users had come online (bench/README.md "Issue 13,
seventh round"). Here they share round trips, and what could not be sent is sent again:
a shard that refused or timed out is retried after `retry_after`, in order, ahead of
newer announcements, for up to CHAT_STATUS_RETRY_SECONDS; only then is it dropped, with
one warning line for the lot. Pending announcements are bounded per process
(MAX_PENDING, the oldest dropped first), so a long Redis outage costs bounded memory.

A closing socket waits for its Offline to leave (`settle`, up to CHAT_PUBLISH_TIMEOUT):
a server shutting down closes every socket, then stops its event loop, and what was
still queued then would be lost with nobody to announce it later (the presence entries
are gone, so the purge of lapsed ones never sees them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings

from . import presence
from .devices import status_to_subscribers

log = logging.getLogger(__name__)

BATCH = 500  # announcements per publish round trip
MAX_PENDING = 50_000  # per event loop


@dataclass(slots=True, eq=False)
class _Item:
    user_pk: int
    user_id: str
    status_type: int
    since: float  # monotonic time it was made
    done: asyncio.Future  # True once published, False if dropped


class _Announcer:
    def __init__(self, loop: asyncio.AbstractEventLoop, layer):
        self.loop, self.layer = loop, layer
        self.pending: deque[_Item] = deque()
        self.task: asyncio.Task | None = None
        self.dropped = 0

    def add(self, item: _Item) -> None:
        if len(self.pending) >= MAX_PENDING:
            self._drop(self.pending.popleft())
        self.pending.append(item)
        if self.task is None:
            self.task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.pending:
                batch = [self.pending.popleft() for _ in range(min(BATCH, len(self.pending)))]
                try:
                    failed, why = await self._send(batch)
                except Exception as exc:  # a bug: the batch is tried again, not lost
                    log.exception("status announcements failed")
                    failed, why = batch, repr(exc)
                again = {id(item) for item in failed}
                for item in batch:
                    if id(item) not in again and not item.done.done():
                        item.done.set_result(True)
                if failed:
                    self._requeue(failed, why)
                    await asyncio.sleep(getattr(self.layer, "retry_after", 1.0))
                if self.dropped:
                    log.warning("%d status announcements dropped: %s", self.dropped, why)
                    self.dropped = 0
        finally:
            self.task = None

    async def _send(self, batch: list[_Item]) -> tuple[list[_Item], str]:
        """Send a batch; return the items to try again, and why they failed."""
        try:
            customs = await presence.custom_statuses_of(sorted({i.user_pk for i in batch}))
        except Exception as exc:  # noqa: BLE001 - presence Redis out: the whole batch waits
            return batch, f"custom statuses not read: {exc!r}"
        messages = [status_to_subscribers(i.user_pk, i.user_id, i.status_type,
                                          customs[i.user_pk]) for i in batch]
        many = getattr(self.layer, "group_send_many", None)
        if many is not None:  # Redis: a pipelined round trip per shard
            failed = await many(messages)
            if not failed:
                return [], ""
            return ([i for i, (group, _) in zip(batch, messages, strict=True)
                     if self.layer.group_shard(group) in failed],
                    "; ".join(repr(exc) for exc in failed.values()))
        for n, (group, message) in enumerate(messages):  # another layer (embedded)
            try:
                await self.layer.group_send(group, message)
            except Exception as exc:  # noqa: BLE001
                return batch[n:], repr(exc)
        return [], ""

    def _requeue(self, failed: list[_Item], why: str) -> None:
        """Put the failed items back in front, in their order; drop those that have
        waited past CHAT_STATUS_RETRY_SECONDS."""
        limit = time.monotonic() - settings.CHAT_STATUS_RETRY_SECONDS
        keep = []
        for item in failed:
            if item.since >= limit:
                keep.append(item)
            else:
                self._drop(item)
        self.pending.extendleft(reversed(keep))
        while len(self.pending) > MAX_PENDING:
            self._drop(self.pending.popleft())

    def _drop(self, item: _Item) -> None:
        self.dropped += 1
        if not item.done.done():
            item.done.set_result(False)


_announcers: dict[int, _Announcer] = {}


def announce(layer, user_pk: int, user_id: str, status_type: int) -> asyncio.Future:
    """Queue USER_STATUS_UPDATED (Online or Offline, with the user's custom status as it
    is when sent) for the sockets subscribed to the user. From the event loop; returns
    at once, with a future that becomes True when it is published (False if dropped):
    a closing socket waits on it for a moment (`settle`), so that a server shutting down
    still says its users went offline."""
    loop = asyncio.get_running_loop()
    announcer = _announcers.get(id(loop))
    if announcer is None or announcer.loop is not loop or announcer.layer is not layer:
        announcer = _announcers[id(loop)] = _Announcer(loop, layer)
    done = loop.create_future()
    announcer.add(_Item(user_pk, user_id, status_type, time.monotonic(), done))
    return done


async def settle(done: asyncio.Future, timeout: float) -> bool:
    """Wait up to `timeout` seconds for an announcement to be published; it stays queued
    (and retried) after that. True if it was published."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(done)
    except TimeoutError:
        return False
