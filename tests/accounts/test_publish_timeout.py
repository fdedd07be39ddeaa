"""A Redis that accepts and never answers does not hold up a send: the publish after
commit gives up after CHAT_PUBLISH_TIMEOUT, the send answers, and the socket door's
batch drain goes on to the next sends. (The devices catch up from the sync log.)"""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connections

from messaging.batching import batcher
from messaging.commands import Origin, SendCommand
from messaging.models import Message
from messaging.services import message_send
from tests.redis_server import SilentServer

pytestmark = pytest.mark.django_db(transaction=True)


def text(s):
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


@pytest.fixture
def hung_redis(settings):
    server = SilentServer()
    layers = dict(settings.CHANNEL_LAYERS)
    layers["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # As production configures it: no socket timeout of the layer's own.
        "CONFIG": {"hosts": [{"address": server.url, "socket_timeout": None}]},
    }
    settings.CHANNEL_LAYERS = layers
    settings.CHAT_PUBLISH_TIMEOUT = 0.5
    yield server
    server.close()


def in_thread(fn, limit: float):
    """fn() in a thread; its result, or AssertionError if it has not returned by `limit`
    seconds (a hang: without the timeout it never returns)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc
        finally:
            connections.close_all()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"no answer within {limit}s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_committed_send_answers_when_redis_hangs(make_user, hung_redis, caplog):
    alice, _ = make_user("alice"), make_user("bob")
    sent = in_thread(lambda: message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("hi"),
                                          random=1), limit=20)
    assert sent["elements"] == text("hi")
    assert Message.objects.filter(receiver__user_id="bob").count() == 1
    assert "timed out" in caplog.text


def test_the_socket_doors_batch_drain_goes_on_when_redis_hangs(make_user, hung_redis):
    alice, _ = make_user("alice"), make_user("bob")

    async def three_sends_one_after_another():
        out = []
        for n in range(3):  # each waits for the drain that the stuck publish holds
            out.append(await batcher().send(SendCommand(origin=Origin.USER, sender=alice, to="bob",
                                                        elements=text(f"m{n}"), random=n)))
        return out

    results = in_thread(lambda: async_to_sync(three_sends_one_after_another)(), limit=30)
    assert [r["elements"] for r in results] == [text("m0"), text("m1"), text("m2")]
    assert Message.objects.filter(receiver__user_id="bob").count() == 3


def test_a_kick_that_cannot_reach_the_sockets_answers_busy(make_user, hung_redis, client):
    """The kick is committed (an older UserSig no longer logs in) but its layer message
    timed out: the caller hears "busy, retry" (/v4: 60008), not OK with the sockets
    still open; a retry kicks again."""
    from accounts import devices
    from chat_project.redis_bounds import RealtimeUnavailable
    from chat_project.unavailable import V4_BUSY_CODE
    from tests.v4client import V4Client

    alice = make_user("alice")
    with pytest.raises(RealtimeUnavailable):
        in_thread(lambda: devices.user_kick(user=alice), limit=20)
    assert devices.session_epoch_of(alice.pk) == 1

    url = V4Client("").url("im_open_login_svc/kick")
    answer = in_thread(lambda: client.post(url, data=b'{"UserID": "alice"}',
                                           content_type="application/json").json(), limit=20)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", V4_BUSY_CODE), answer
    assert devices.session_epoch_of(alice.pk) == 2


def test_an_operators_kick_that_cannot_reach_the_sockets_says_so_and_is_audited(
        make_user, hung_redis):
    from accounts import devices
    from accounts.models import AuditEntry
    from tests.console import staff_client

    alice = make_user("alice")
    operator = staff_client("ops", "operator")
    response = in_thread(lambda: operator.post(
        "/admin/accounts/user/", {"action": "kick_action", "_selected_action": [alice.pk]},
        follow=True), limit=20)
    assert response.status_code == 200
    assert b"Kicked out 1 user(s)" in response.content
    assert b"open sockets of alice were not told to close" in response.content
    assert devices.session_epoch_of(alice.pk) == 1
    assert AuditEntry.objects.filter(action="kick", target="alice").count() == 1
