"""Catch-up after a channel-layer outage.

When Redis goes away and comes back, each process's pub/sub connection resubscribes
(redis-py does on reconnect), but what was published meanwhile is gone. A device learns
of the loss from the next event's `prevSeq` and asks `sync`; this covers the case where
no next event comes. One probe per process (per event loop) sends a message to itself
through the layer every CHAT_LAYER_PROBE_SECONDS while sockets are logged in; after a
probe failed and one succeeds again, every logged-in socket of the process gets
`chat.resync`, and one that has not had everything up to its user's sync head sends
the rest (messaging/consumers.py, chat_resync), and the current status of each user it
subscribed to (a USER_STATUS_UPDATED published meanwhile is gone as well). No cost while
the layer is healthy beyond the probe itself.

The same loop sweeps the layer's subscriptions: an unsubscribe that ran out of time (a
closing storm) leaves Redis subscribed to a name this process has forgotten, and the
sweep removes it (chat_project/redis_bounds.py, `sweep`).

With the layer sharded over several Redis servers (REDIS_CHANNEL_URLS), one shard can
go while the others stay: the probe has a channel on each shard and probes them all at
once, and when one comes back, the sockets whose channel or groups live on it catch up.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer
from django.conf import settings

from accounts.presence import status_group

log = logging.getLogger(__name__)


class LayerWatch:
    def __init__(self) -> None:
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.task: asyncio.Task | None = None

    def add(self, consumer) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        layer = get_channel_layer()
        shards = getattr(layer, "shard_count", 1)
        interval = settings.CHAT_LAYER_PROBE_SECONDS
        timeout = max(settings.CHAT_PUBLISH_TIMEOUT, 5.0)
        channels: list[str | None] = [None] * shards
        broken = [False] * shards
        while self.sockets:
            await asyncio.sleep(interval)
            # A shard that failed is probed with a short wait for the echo: the first
            # probe after it is back often goes out before this process's subscriptions
            # are (a lost probe), and a false "still down" costs nothing there.
            results = await asyncio.gather(*(
                _probe(layer, shard, channels, timeout, 1.0 if broken[shard] else timeout)
                for shard in range(shards)))
            back = set()
            for shard, ok in enumerate(results):
                if not ok:
                    if not broken[shard]:
                        log.warning("channel layer probe failed (shard %d of %d); sockets "
                                    "catch up when it is back", shard, shards)
                    broken[shard] = True
                elif broken[shard]:
                    broken[shard] = False
                    back.add(shard)
            if back:
                sockets = [c for c in list(self.sockets) if _uses(layer, c, back)]
                log.warning("channel layer back (shards %s); %d sockets catch up",
                            sorted(back), len(sockets))
                for consumer in sockets:
                    try:
                        await asyncio.wait_for(
                            layer.send(consumer.channel_name, {"type": "chat.resync"}), timeout)
                    except Exception:
                        log.exception("resync of %s failed", consumer.channel_name)
            await _sweep(layer)
        await _sweep(layer)  # the last sockets are gone: what their closing left behind


async def _sweep(layer) -> None:
    """Unsubscribe what timed-out unsubscribes left subscribed in Redis
    (chat_project/redis_bounds.py, `sweep`)."""
    sweep = getattr(layer, "sweep", None)
    if sweep is None:
        return
    try:
        removed = await sweep()
    except Exception:
        log.exception("channel layer sweep failed")
        return
    if removed:
        log.warning("channel layer: %d subscriptions this process no longer uses removed "
                    "(their unsubscribes were queued or ran out of time)", removed)


async def _probe(layer, shard: int, channels: list, timeout: float, wait: float) -> bool:
    """Send a message to this process through one shard and read it back."""
    try:
        if channels[shard] is None:
            made = layer.new_channel(shard=shard) if len(channels) > 1 else layer.new_channel()
            channels[shard] = await asyncio.wait_for(made, timeout)
        await asyncio.wait_for(layer.send(channels[shard], {"type": "probe"}), timeout)
    except Exception:  # Redis away: the channel (if any) stays subscribed for the next try
        return False
    try:
        await asyncio.wait_for(layer.receive(channels[shard]), wait)
    except Exception:  # the probe lost: a cancelled receive drops the channel
        channels[shard] = None
        return False
    return True


def _uses(layer, consumer, shards: set[int]) -> bool:
    """The socket's channel or one of its groups (its own, or those of the users whose
    status it follows) lives on one of these shards."""
    if getattr(layer, "shard_count", 1) == 1:
        return True
    groups = list(getattr(consumer, "groups_joined", []))
    groups += [status_group(pk) for pk in getattr(consumer, "status_subs", {})]
    return layer.shard_of(consumer.channel_name) in shards or any(
        layer.group_shard(group) in shards for group in groups)


_watches: dict[asyncio.AbstractEventLoop, LayerWatch] = {}


def watch(consumer) -> None:
    """Count this logged-in socket among those to catch up after an outage."""
    loop = asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        found = _watches[loop] = LayerWatch()
    found.add(consumer)
