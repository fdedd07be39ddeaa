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
the following ones fail at once for `retry_after` seconds before one is tried again: a
burst of publishes during an outage costs one timeout, not one each. A failed call
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

import redis.exceptions
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

log = logging.getLogger(__name__)


class RealtimeUnavailable(Exception):
    """The channel layer could not reach Redis in time (or did not try: it failed a
    moment ago)."""


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args, call_timeout: float = 3.0, retry_after: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.call_timeout = call_timeout
        self.retry_after = retry_after
        self._down_until = 0.0

    async def _bounded(self, name: str, *args, **kwargs):
        if time.monotonic() < self._down_until:
            raise RealtimeUnavailable(f"{name}: Redis failed less than {self.retry_after} s ago")
        try:
            call = getattr(self._get_layer(), name)  # this event loop's layer
            return await asyncio.wait_for(call(*args, **kwargs), self.call_timeout)
        except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
            if time.monotonic() >= self._down_until:
                log.warning("channel layer %s failed: %r", name, exc)
            self._down_until = time.monotonic() + self.retry_after
            raise RealtimeUnavailable(f"{name}: {exc!r}") from exc

    async def new_channel(self, prefix: str = "specific."):
        return await self._bounded("new_channel", prefix)

    async def send(self, channel, message):
        return await self._bounded("send", channel, message)

    async def group_add(self, group, channel):
        return await self._bounded("group_add", group, channel)

    async def group_discard(self, group, channel):
        """Never refused and never raises: the layer forgets the membership in this
        process before it unsubscribes in Redis, and a closing socket must leave every
        group it was in even when Redis is down (the caller could not do better)."""
        try:
            call = self._get_layer().group_discard
            await asyncio.wait_for(call(group, channel), self.call_timeout)
        except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
            self._down_until = time.monotonic() + self.retry_after
            log.warning("channel layer group_discard failed: %r", exc)

    async def group_send(self, group, message):
        return await self._bounded("group_send", group, message)


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
