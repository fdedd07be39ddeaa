"""Group commit for the realtime door.

Sends that arrive on one ASGI process while a commit is in flight queue up and go
to `message_send_many` together: one hop to the database thread and one commit for
the lot, instead of one each. A lone send goes at once (no waiting for company).
The pipeline is the same one every door uses; only the batching is here.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async

from accounts.events import capture_events, send_batch
from chat_project.errors import ChatError
from chat_project.unavailable import error_for

from .commands import SendCommand
from .services import message_send_many

MAX_BATCH = 64


class SendBatcher:
    def __init__(self) -> None:
        self._queue: list[tuple[SendCommand, asyncio.Future]] = []
        self._running = False

    async def send(self, cmd: SendCommand) -> dict:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((cmd, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        result = await future
        if isinstance(result, ChatError):
            raise result
        return result

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    with capture_events() as events:
                        results = await _send_many([cmd for cmd, _ in batch])
                except Exception as exc:  # never leave a sender waiting
                    results = [exc if isinstance(exc, ChatError) else error_for(exc)] \
                        * len(batch)
                    events = []
                # Replies first: the sender's round trip ends as soon as it commits.
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                await send_batch(events)
        finally:
            self._running = False


@database_sync_to_async
def _send_many(commands: list[SendCommand]) -> list:
    return message_send_many(commands)


_batchers: dict[asyncio.AbstractEventLoop, SendBatcher] = {}


def batcher() -> SendBatcher:
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = SendBatcher()
    return found
