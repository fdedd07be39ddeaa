"""Group commit for the realtime door.

Sends that arrive on one ASGI process while a commit is in flight queue up and go
through the pipeline together: one hop to the database thread and one commit for the
lot, instead of one each. A lone send goes at once (no waiting for company). The
pipeline is the same one every door uses (messaging.services); only the batching, and
where its phases wait, are here.

Where the before-send webhook waits. Channels runs every socket's database work of a
process in one thread (`database_sync_to_async`), so a send that waited there for the
app's answer held every other send and read of the process for up to the callback's
timeout. A batch's hop now runs the phases that need the database only:
`message_send_before` (checks, the reserved pks, the asks; no call) and
`message_send_commit` for the sends that need no answer. Each send that waits for the
app leaves the batch: its call is awaited on the webhooks' call pool (threads that
only wait on the network: accounts.webhooks.calls_pool), and once answered it comes
back through the queue like a new send, for a later hop that records the attempt,
applies the verdict and commits it with whatever else is queued then. Only that send's
sender waits for it. A retry of a send being asked about (messaging/asking.py) leaves
the batch too and waits, off the database thread, for that send's outcome.

Why not run the before-send phase in a thread of its own (`sync_to_async(
thread_sensitive=False)`): each such thread opens a database connection of its own, and
nothing there closes it (Django closes connections at the end of a request, which a
thread of the executor never sees): it would hold one of the pool's DB_POOL_MAX_SIZE
connections for as long as the thread lives, or with DB_POOL=0 one PostgreSQL
connection per thread (PERF-NOTES.md: 40 of them ran PostgreSQL out). The split keeps
the database on the one thread and opens no connection: the only extra cost of a send
the app is asked about is the second hop, and with the before-send webhook off a batch
takes one hop, as before.

Order: a socket handles its frames one at a time (the consumer awaits each reply), so
one device's sends still commit in the order it sent them; sends of different sockets
that wait for the app commit as their answers come.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from channels.db import database_sync_to_async

from accounts import webhooks
from accounts.events import capture_events, send_batch
from accounts.models import WebhookAttempt
from chat_project.errors import ChatError
from chat_project.unavailable import BUSY_CODE, error_for

from . import asking
from .commands import SendCommand
from .services import SendBatch, message_send_before, message_send_commit

MAX_BATCH = 64


@dataclass
class _Queued:
    cmd: SendCommand
    future: asyncio.Future
    answered: tuple[SendBatch, webhooks.Call] | None = None  # back from the app


class SendBatcher:
    def __init__(self) -> None:
        self._queue: list[_Queued] = []
        self._running = False
        self._calls: set[asyncio.Task] = set()  # held: the loop keeps only weak references

    async def send(self, cmd: SendCommand) -> dict:
        future = asyncio.get_running_loop().create_future()
        self._enqueue(_Queued(cmd, future))
        result = await future
        if isinstance(result, ChatError):
            raise result
        return result

    def _enqueue(self, item: _Queued) -> None:
        self._queue.append(item)
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                waiting: list[SendBatch] = []
                following: list[SendCommand] = []
                try:
                    with capture_events() as events:
                        results, waiting, following = await _send_step(
                            [q.cmd for q in batch if q.answered is None],
                            [q.answered for q in batch if q.answered is not None])
                except Exception as exc:  # never leave a sender waiting
                    error = exc if isinstance(exc, ChatError) else error_for(exc)
                    results = {id(q.cmd): error for q in batch}
                    asking.settle([q.cmd for q in batch], [error] * len(batch))
                    events = []
                futures = {id(q.cmd): q.future for q in batch}
                for one in waiting:
                    self._ask(one, futures.pop(id(one.commands[0])))
                for cmd in following:
                    self._follow(cmd, futures.pop(id(cmd)))
                # Replies first: the sender's round trip ends as soon as it commits.
                for key, future in futures.items():
                    if not future.done():
                        future.set_result(results[key])
                await send_batch(events)
        finally:
            self._running = False

    def _ask(self, batch: SendBatch, future: asyncio.Future) -> None:
        task = asyncio.get_running_loop().create_task(self._call(batch, future))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _follow(self, cmd: SendCommand, future: asyncio.Future) -> None:
        task = asyncio.get_running_loop().create_task(self._await_lead(cmd, future))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _await_lead(self, cmd: SendCommand, future: asyncio.Future) -> None:
        """A retry of a send the app is being asked about gets that send's outcome
        (messaging/asking.py), waited for here, off the database thread; sent afresh
        when that send was another process's and is gone without an outcome."""
        try:
            result = await cmd.follows.wait()
        except TimeoutError:
            result = ChatError(BUSY_CODE)
        except asking.LeadLost:
            cmd.follows = None
            self._enqueue(_Queued(cmd, future))
            return
        if not future.done():
            future.set_result(result)

    async def _call(self, batch: SendBatch, future: asyncio.Future) -> None:
        """Wait for the app's answer off the database thread, then queue the send again."""
        [(_, ask)] = batch.asks
        try:
            call = await asyncio.get_running_loop().run_in_executor(
                webhooks.calls_pool(), webhooks.ask, ask)
        except Exception as exc:  # the pool shut down: a failed call, as the policy says
            call = webhooks.Call(url=webhooks.without_sign(ask.url), outcome=WebhookAttempt.Outcome.FAILED,
                                 error=f"{type(exc).__name__}: {exc}"[:500])
        self._enqueue(_Queued(batch.commands[0], future, (batch, call)))


@database_sync_to_async
def _send_step(fresh: list[SendCommand],
               answered: list[tuple[SendBatch, webhooks.Call]]
               ) -> tuple[dict[int, dict | ChatError], list[SendBatch], list[SendCommand]]:
    """One hop: the before-send phase of the new sends, the app's answers for the sends
    back from it, and one commit for all that need no more answer. Returns the results
    (by id of the command), the sends that wait for the app, and the retries that wait
    for a send being asked about (messaging/asking.py)."""
    batch = message_send_before(fresh)
    waiting = batch.take_waiting()
    following = list(batch.take_following().values())
    for one, call in answered:
        one.answer([call])
    ready = SendBatch.joined([batch, *(one for one, _ in answered)])
    results = message_send_commit(ready) if ready.commands else []
    return ({id(cmd): res for cmd, res in zip(ready.commands, results, strict=True)},
            waiting, following)


_batchers: dict[asyncio.AbstractEventLoop, SendBatcher] = {}


def batcher() -> SendBatcher:
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = SendBatcher()
    return found
