"""Status announcements (accounts/announcer.py) on a real channel layer and Redis: sent
together, in order, and sent again when the layer could not take them in time."""

from __future__ import annotations

import asyncio
import os

import pytest

from accounts import announcer, presence
from chat_project.redis_bounds import BoundedPubSubChannelLayer

USERS = range(2_000_001, 2_000_301)  # 300 users no other test has


@pytest.fixture
def layers(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    prefix = f"parley-test-{os.getpid()}-announce"

    def make(**kw):
        return BoundedPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix, **kw)
    return make


async def _subscribe(receiver) -> str:
    channel = await receiver.new_channel()
    for pk in USERS:
        await receiver.group_add(presence.status_group(pk), channel)
    return channel


async def _received(receiver, channel: str, count: int) -> list[tuple[str, int]]:
    got = []
    while len(got) < count:
        message = await asyncio.wait_for(receiver.receive(channel), 10)
        got += [(i["userID"], i["statusType"]) for i in message["items"]]
    return got


def _queue_of(layer):
    """The shard's lock: while it is held, every call to the shard waits behind it."""
    return layer._get_layer()._shards[0]._lock


def _announce_all(layer) -> None:
    """Each user Online, then the first one Offline (EXPECTED, in this order)."""
    for pk in USERS:
        announcer.announce(layer, pk, f"u{pk}", presence.STATUS_ONLINE)
    announcer.announce(layer, USERS[0], f"u{USERS[0]}", presence.STATUS_OFFLINE)


EXPECTED = [(f"u{pk}", 1) for pk in USERS] + [(f"u{USERS[0]}", 2)]


def test_announcements_arrive_in_order_with_custom_statuses(layers):
    presence.set_custom_status(USERS[1], "at lunch")

    async def go():
        layer, receiver = layers(), layers()
        channel = await _subscribe(receiver)
        _announce_all(layer)
        assert await _received(receiver, channel, len(EXPECTED)) == EXPECTED
        await layer.flush(), await receiver.flush()

    try:
        asyncio.run(go())
    finally:
        presence.set_custom_status(USERS[1], "")


def test_announcements_queued_past_the_limit_are_sent_again(layers, settings):
    """Every call to the shard queued behind one that holds its lock past the layer's
    time limit (as 10,000 sockets logging in at once do): the announcements made
    meanwhile fail once, and arrive when the queue moves, in order, each once."""
    settings.CHAT_STATUS_RETRY_SECONDS = 30

    async def go():
        layer, receiver = layers(call_timeout=0.5, retry_after=0.2), layers()
        channel = await _subscribe(receiver)
        async with _queue_of(layer):
            _announce_all(layer)
            await asyncio.sleep(1.5)  # three times the limit: the first try gave up
        assert await _received(receiver, channel, len(EXPECTED)) == EXPECTED
        with pytest.raises(TimeoutError):  # and nothing twice
            await asyncio.wait_for(receiver.receive(channel), 1)
        await layer.flush(), await receiver.flush()

    asyncio.run(go())


def test_announcements_past_the_retry_window_are_dropped_with_a_warning(
        layers, settings, caplog):
    settings.CHAT_STATUS_RETRY_SECONDS = 0.3

    async def go():
        layer, receiver = layers(call_timeout=0.2, retry_after=0.2), layers()
        channel = await _subscribe(receiver)
        async with _queue_of(layer):
            announcer.announce(layer, USERS[0], f"u{USERS[0]}", presence.STATUS_ONLINE)
            await asyncio.sleep(1.0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(receiver.receive(channel), 1)
        await layer.flush(), await receiver.flush()

    with caplog.at_level("WARNING", logger="accounts.announcer"):
        asyncio.run(go())
    assert "1 status announcements dropped" in caplog.text
