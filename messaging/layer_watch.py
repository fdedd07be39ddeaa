"""Catch-up after a channel-layer outage.

When Redis goes away and comes back, each process's pub/sub connection resubscribes
(redis-py does on reconnect), but what was published meanwhile is gone. A device learns
of the loss from the next event's `prevSeq` and asks `sync`; this covers the case where
no next event comes. One probe per process (per event loop) sends a message to itself
through the layer every CHAT_LAYER_PROBE_SECONDS while sockets are logged in; after a
probe failed and one succeeds again, every logged-in socket of the process gets
`chat.resync`, and one that has not had everything up to its user's sync head sends
the rest (messaging/consumers.py, chat_resync). No cost while the layer is healthy
beyond the probe itself.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from channels.layers import get_channel_layer
from django.conf import settings

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
        interval = settings.CHAT_LAYER_PROBE_SECONDS
        timeout = max(settings.CHAT_PUBLISH_TIMEOUT, 5.0)
        channel, broken = None, False
        while self.sockets:
            await asyncio.sleep(interval)
            try:
                if channel is None:
                    channel = await asyncio.wait_for(layer.new_channel(), timeout)
                await asyncio.wait_for(layer.send(channel, {"type": "probe"}), timeout)
                await asyncio.wait_for(layer.receive(channel), timeout)
            except Exception:  # Redis away, or the probe lost: the layer is not whole
                if not broken:
                    log.warning("channel layer probe failed; sockets catch up when it is back")
                channel, broken = None, True  # a cancelled receive drops the channel
                continue
            if broken:
                broken = False
                sockets = list(self.sockets)
                log.warning("channel layer back; %d sockets catch up", len(sockets))
                for consumer in sockets:
                    try:
                        await asyncio.wait_for(
                            layer.send(consumer.channel_name, {"type": "chat.resync"}), timeout)
                    except Exception:
                        log.exception("resync of %s failed", consumer.channel_name)


_watches: dict[asyncio.AbstractEventLoop, LayerWatch] = {}


def watch(consumer) -> None:
    """Count this logged-in socket among those to catch up after an outage."""
    loop = asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        found = _watches[loop] = LayerWatch()
    found.add(consumer)
