"""The channel layer and the cache, with a time limit on every call to Redis.

The channel layer:

channels_redis's pub/sub layer waits as long as redis-py lets it. Its receiver reads
with its own 0.1 s timeout, so a `socket_timeout` on the connection does not race it
(the race of channels_redis#422 is the list-based layer's 5 s blocking pop, which this
layer does not use); settings give every connection a `socket_timeout`, so a Redis that
accepts and never answers fails a call instead of hanging it.

That alone still lets one silent Redis stall a process: the layer sends each shard's
commands one at a time under a lock, so a queue of publishes waits a timeout each. So
here every `send`, `group_send`, `group_add`, `group_discard` and `new_channel` is also
bounded as a whole (lock wait included) by `call_timeout`, and once a call has failed,
the following ones to the same Redis fail at once for `retry_after` seconds before one
is tried again: a burst of publishes during an outage costs one timeout, not one each.
A call that runs out of time is not yet proof of an outage: a login storm of 10,000
sockets queues its subscribes and status publishes behind the shard's lock, and the last
ones pass the limit with Redis answering all along (marking the shard down then refused
every call for `retry_after`, thousands of them: bench/README.md "Issue 13, sixth
round"). So a timed-out call asks Redis a PING outside the queue: answered, the call
fails alone; not answered within `call_timeout`, the shard is down.
With several Redis servers (REDIS_CHANNEL_URLS: channels-redis shards channel and group
names over them), each shard has its own connection, timeout and "failed a moment ago"
state: a dead shard refuses the calls that go to it, not the others. A failed call
raises `RealtimeUnavailable` (except `group_discard`, which logs: a closing socket
leaves its groups whatever Redis does). Nothing is lost by failing: the sync log holds
every event and devices catch up from it (accounts/events.py).

The cache: Django's RedisCache with the connection's `socket_timeout`, and the same
"failed a moment ago, fail at once" rule: a caller that reads the cache on every
request (the webhook configuration, the /v4 rate limiter) pays one timeout per
`retry_after` seconds during an outage, not one per call. A skipped call raises
redis-py's ConnectionError, as a refused connection would.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid

import redis.exceptions
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from chat_project.leanqueue import LeanQueue

log = logging.getLogger(__name__)

PROBE_TIMEOUT_MIN = 1.0  # seconds a PING may take before a timed-out call marks its shard down


class RealtimeUnavailable(Exception):
    """The channel layer could not reach Redis in time (or did not try: it failed a
    moment ago)."""


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    """The pub/sub layer with every call bounded, per shard.

    With several `hosts`, channels-redis shards by name: each channel and each group
    lives on the host its name hashes to (CRC32, `channels_redis.utils._consistent_hash`;
    the same host in every process that lists the same hosts in the same order). The
    connections, their locks and their time limits are per host, so the "failed a
    moment ago" rule is per host too: one dead shard refuses only the calls that go to
    it. A new channel is named so that it lands on a shard that has not just failed
    (its name is random anyway)."""

    def __init__(self, *args, hosts=None, call_timeout: float = 3.0, retry_after: float = 1.0,
                 probe_timeout: float | None = None, **kwargs):
        super().__init__(*args, hosts=hosts, **kwargs)
        self.shard_count = len(decode_hosts(hosts))
        self.call_timeout = call_timeout
        # The PING that tells a queue from an outage waits in Redis behind whatever the
        # queue sent it; a short call limit (tests, impatient settings) would read a busy
        # Redis as a dead one. Never less than a second.
        self.probe_timeout = (max(call_timeout, PROBE_TIMEOUT_MIN)
                              if probe_timeout is None else probe_timeout)
        self.retry_after = retry_after
        self._down_until = [0.0] * self.shard_count

    # --- which shard ----------------------------------------------------------------------

    def shard_of(self, channel: str) -> int:
        """The index in `hosts` of the shard a channel name (or a group's channel name)
        lives on, as channels-redis picks it."""
        return _consistent_hash(channel, self.shard_count)

    def group_shard(self, group: str) -> int:
        return self.shard_of(self._get_layer()._get_group_channel_name(group))

    def shard_down(self, shard: int) -> bool:
        """The shard failed less than `retry_after` seconds ago (calls to it fail at once)."""
        return time.monotonic() < self._down_until[shard]

    # --- the bounded calls ----------------------------------------------------------------

    async def _bounded(self, shard: int, name: str, *args):
        call = getattr(self._get_layer(), name)  # this event loop's layer
        return await self._bounded_call(shard, name, lambda: call(*args))

    async def _bounded_call(self, shard: int, name: str, make):
        if self.shard_down(shard):
            raise RealtimeUnavailable(
                f"{name}: Redis shard {shard} failed less than {self.retry_after} s ago")
        try:
            async with asyncio.timeout(self.call_timeout):  # no task of its own, as wait_for
                return await make()
        except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
            raise RealtimeUnavailable(await self._failed(shard, name, exc)) from exc

    async def _failed(self, shard: int, name: str, exc: Exception) -> str:
        """Why a call to the shard failed. A timeout is only a queue when Redis answers
        a PING (`_answers`): the shard stays up. Otherwise, or on a refused connection or
        a Redis error, the shard is down for `retry_after` seconds."""
        if isinstance(exc, TimeoutError) and await self._answers(shard):
            return f"{name} (shard {shard}): queued past {self.call_timeout} s behind other calls"
        self._mark_down(shard, name, exc)
        return f"{name} (shard {shard}): {exc!r}"

    async def _answers(self, shard: int) -> bool:
        """Whether the shard's Redis answers a PING within `probe_timeout`, asked on a
        connection of the shard's pool outside its lock, so not behind the queue. One
        probe per shard and event loop at a time: the calls that time out while it is
        out share its answer."""
        layer = self._get_layer()
        if not hasattr(layer, "parley_probes"):
            layer.parley_probes = {}
        probe = layer.parley_probes.get(shard)
        if probe is None or probe.done():
            probe = layer.parley_probes[shard] = asyncio.ensure_future(
                self._ping(layer._shards[shard]))
        return await asyncio.shield(probe)

    async def _ping(self, connection) -> bool:
        try:
            async with asyncio.timeout(self.probe_timeout):
                connection._ensure_redis()
                await connection._redis.ping()
        except Exception:  # noqa: BLE001 - any failure: no answer
            return False
        return True

    def _mark_down(self, shard: int, name: str, exc: Exception) -> None:
        if not self.shard_down(shard):
            log.warning("channel layer %s failed on shard %d: %r", name, shard, exc)
        self._down_until[shard] = time.monotonic() + self.retry_after

    async def new_channel(self, prefix: str = "specific.", *, shard: int | None = None):
        """A new specific channel of this process; on `shard` when given (the layer
        probe has one per shard), else on a shard that has not just failed."""
        layer = self._get_layer()
        for _ in range(100 * self.shard_count):
            channel = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
            index = self.shard_of(channel)
            if index == shard or (shard is None and not self.shard_down(index)):
                break
        try:
            await self._bounded_call(index, "new_channel",
                                     lambda: self._subscribe(layer, channel))
        except RealtimeUnavailable:
            layer.channels.pop(channel, None)  # never subscribed: no queue left behind
            raise
        return channel

    @staticmethod
    async def _subscribe(layer, channel: str) -> None:
        """channels-redis's `_subscribe_to_channel`, with a LeanQueue for the channel's
        messages instead of an asyncio.Queue (~3 KB of empty deques per socket,
        chat_project/leanqueue.py); the layer only puts to it and gets from it."""
        layer.channels[channel] = LeanQueue()
        await layer._get_shard(channel).subscribe(channel)

    async def send(self, channel, message):
        return await self._bounded(self.shard_of(channel), "send", channel, message)

    async def group_add(self, group, channel):
        return await self._bounded(self.group_shard(group), "group_add", group, channel)

    async def group_discard(self, group, channel):
        """Never refused and never raises: the layer forgets the membership in this
        process before it unsubscribes in Redis, and a closing socket must leave every
        group it was in even when Redis is down (the caller could not do better).

        A timeout is judged as every bounded call's (`_failed`): thousands of sockets
        closing at once queue their unsubscribes behind the shard's lock, and the last
        ones pass the limit with Redis well (seen at 10,000 sockets: the shard marked
        down, and sockets opening in the next `retry_after` refused with 1013); Redis
        answers the PING, so the shard stays up. A silent Redis, a refused connection or
        a Redis error marks it down."""
        shard = self.group_shard(group)
        try:
            call = self._get_layer().group_discard
            await asyncio.wait_for(call(group, channel), self.call_timeout)
        except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
            log.warning("channel layer group_discard not done: %s",
                        await self._failed(shard, "group_discard", exc))

    async def group_send(self, group, message):
        return await self._bounded(self.group_shard(group), "group_send", group, message)

    async def sweep(self) -> int:
        """Unsubscribe, on each shard, the names this process no longer has a channel or
        a group for; return how many.

        An unsubscribe that ran out of time (`group_discard` in a closing storm, or a
        consumer's channel dropped as it ends) has already been forgotten here, but
        Redis keeps the subscription: that shard's connection would go on receiving the
        group's messages, to drop them, for as long as it lives (322-1,361 unsubscribes
        ran out of time when 10,000 sockets closed at once). Called by the layer watch
        every few seconds.
        Each shard is checked under its lock, so a name that a `group_add` takes again
        meanwhile is seen as live and kept; a shard that is down or busy past
        `call_timeout` is left for the next sweep."""
        layer = self._get_layer()
        removed = 0
        for index, shard in enumerate(layer._shards):
            if shard._pubsub is None or self.shard_down(index):
                continue
            try:
                async with asyncio.timeout(self.call_timeout), shard._lock:
                    pubsub = shard._pubsub
                    held = shard._subscribed_to | _names(pubsub.channels)
                    held -= _names(pubsub.pending_unsubscribe_channels)  # on their way
                    stale = [name for name in held
                             if name not in layer.groups and name not in layer.channels]
                    if stale:
                        await shard._pubsub.unsubscribe(*stale)
                        shard._subscribed_to.difference_update(stale)
                        removed += len(stale)
            except (TimeoutError, OSError, redis.exceptions.RedisError):
                continue
        return removed

    async def group_send_many(self, batch: list[tuple[str, dict]]) -> dict[int, Exception]:
        """Publish (group, message) pairs: each shard's in their order, in one pipelined
        round trip (channels-redis's group_send is a round trip per message, one at a
        time per shard, and a send batch publishes two per message), the shards at once.
        Each shard's share is bounded as one call (`call_timeout`, "failed a moment
        ago"). Never raises: returns the shards that failed, with why."""
        layer = self._get_layer()
        by_shard: dict[int, list[tuple[str, bytes]]] = {}
        for group, message in batch:
            channel = layer._get_group_channel_name(group)
            by_shard.setdefault(self.shard_of(channel), []).append(
                (channel, self.serialize(message)))

        async def publish(index: int, items: list[tuple[str, bytes]]) -> None:
            shard = layer._shards[index]  # its lock orders it with its other commands
            async with shard._lock:
                shard._ensure_redis()
                pipe = shard._redis.pipeline(transaction=False)
                for channel, payload in items:
                    pipe.publish(channel, payload)
                await pipe.execute()

        shards = sorted(by_shard)
        if len(shards) == 1:  # the usual case: no task per shard
            try:
                await self._bounded_call(shards[0], f"group_send of {len(batch)}",
                                         functools.partial(publish, shards[0], by_shard[shards[0]]))
            except Exception as exc:
                return {shards[0]: exc}
            return {}
        results = await asyncio.gather(
            *(self._bounded_call(i, f"group_send of {len(by_shard[i])}",
                                 functools.partial(publish, i, by_shard[i])) for i in shards),
            return_exceptions=True)
        failed = {}
        for index, result in zip(shards, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, Exception):
                failed[index] = result
        return failed


def _names(keys) -> set[str]:
    """redis-py's pub/sub names (bytes or str) as str."""
    return {k.decode() if isinstance(k, bytes) else k for k in keys}


# --- the cache --------------------------------------------------------------------------

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def _guarded(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if time.monotonic() < self.down_until:
            raise redis.exceptions.ConnectionError(
                f"cache {method.__name__}: Redis failed less than {self.retry_after} s ago")
        try:
            return method(self, *args, **kwargs)
        except _REDIS_DOWN as exc:
            if time.monotonic() >= self.down_until:
                log.warning("cache %s failed: %r", method.__name__, exc)
            self.down_until = time.monotonic() + self.retry_after
            raise
    return call


class _GuardedClient(RedisCacheClient):
    down_until = 0.0
    retry_after = 5.0


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr",
              "set_many", "delete_many", "clear"):
    setattr(_GuardedClient, _name, _guarded(getattr(RedisCacheClient, _name)))


class BoundedRedisCache(RedisCache):
    """RedisCache whose calls fail at once for `OPTIONS["retry_after"]` seconds after
    one failed (timeouts come from OPTIONS' socket_timeout/socket_connect_timeout)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._options = dict(self._options)
        self._retry_after = float(self._options.pop("retry_after", 5.0))
        self._class = _GuardedClient

    @functools.cached_property
    def _cache(self):
        client = self._class(self._servers, **self._options)
        client.retry_after = self._retry_after
        return client
