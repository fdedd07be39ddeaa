"""asyncio's Queue and Event without their empty deques: what each socket holds for its
whole life, most of it idle.

An `asyncio.Queue` is four `collections.deque`s (items, getters, putters, and the
`join()` event's waiters) and an `asyncio.Event` one; an empty deque keeps its first
block, ~740 bytes traced each. A socket has two queues (uvicorn's receive queue,
chat_project/wsprotocol.py; its channel's queue in the channel layer,
chat_project/redis_bounds.py) and one event (uvicorn's "writable"): ~6.7 KB per socket
of empty deques (tracemalloc, bench/README.md "Issue 13, fourth round"). These hold nothing while
nothing is waiting or queued. They do what their users call: `put_nowait`, `get`,
`get_nowait`, `empty`, `qsize`; `set`, `clear`, `is_set`, `wait`. Unbounded, as the
queues they replace; no `join`/`task_done` (neither user calls them).
"""

from __future__ import annotations

import asyncio
from collections import deque


class LeanQueue:
    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: deque | None = None  # a deque only while something is queued
        self._getters: list[asyncio.Future] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return False

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._wake_one()

    async def put(self, item) -> None:
        self.put_nowait(item)

    def get_nowait(self):
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self):
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if self._getters and getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_one()  # it was woken, then cancelled: wake another reader
                raise
        return self.get_nowait()

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not getters:
            self._getters = None


class LeanEvent:
    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
            return True
        finally:
            if self._waiters and fut in self._waiters:
                self._waiters.remove(fut)
