"""Events leave after commit, one publish per user, and reach the user's group."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from accounts.events import capture_events, decoded, publish_now, user_group
from messaging.commands import Origin
from messaging.services import message_send


def text(s):
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


@pytest.mark.django_db
def test_one_layer_message_per_user_and_nothing_before_commit(
        make_user, django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    with capture_events() as sent:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("hi"), random=1,
                         origin_channel="origin!")
        assert sent == []  # not committed yet: nothing left
        for callback in callbacks:
            callback()
    groups = [group for group, _ in sent]
    assert sorted(groups) == sorted([user_group(alice.pk), user_group(bob.pk)])
    to_bob = dict(sent)[user_group(bob.pk)]
    assert [f["event"] for f in decoded(to_bob)] == [
        "MESSAGE_RECEIVED", "CONVERSATION_LIST_UPDATED", "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"]
    to_alice = dict(sent)[user_group(alice.pk)]
    assert [f["event"] for f in decoded(to_alice)] == [
        "MESSAGE_RECEIVED", "CONVERSATION_LIST_UPDATED"]
    # the sending socket skips only the echo of its own message
    assert to_alice["skip"] == ["origin!", None]


@pytest.mark.django_db
def test_a_message_that_leaves_the_last_message_alone_says_nothing_of_it(
        make_user, django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("first"), random=1)
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("quiet"), random=2,
                     excluded_from_last_message=True)
    conv = next(f for f in decoded(dict(sent)[user_group(bob.pk)])
                if f["event"] == "CONVERSATION_LIST_UPDATED")["data"][0]
    assert conv["unreadCount"] == 2 and "lastMessage" not in conv


def test_publishing_from_a_thread_that_runs_an_event_loop_still_arrives(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis channel layer")

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(424242), channel)
        try:
            publish_now([(424242, {"event": "TYPING", "data": {"from": "x"}})])  # sync call
            got = await asyncio.wait_for(layer.receive(channel), 5)
        finally:
            await layer.group_discard(user_group(424242), channel)
        return got

    got = asyncio.run(scenario())
    assert got["type"] == "chat.events" and decoded(got)[0]["event"] == "TYPING"
