"""Queueing a send's pushes after its commit (push/tasks.py queue_on_commit, queue_now):
only jobs whose receiver has a push token are queued. A send on PostgreSQL learns who
has one in its own conversations' statement (messaging/persist.py), so nothing is read
after the commit; a caller that does not know asks queue_now to read it."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.commands import Origin, SendCommand
from messaging.services import message_send_many
from push import tasks
from push.pipeline import PushJob

from .pipeline_helpers import fcm_token, text

pytestmark = pytest.mark.django_db


class BrokerQueue:
    """A Celery queue of this test's own on the real broker (Redis): the push tasks go
    there, and `jobs()` reads what was queued (kombu's messages, as a worker would get
    them), without running them."""

    def __init__(self, name: str):
        self.name = name
        prefix = tasks.push_deliver.app.conf.broker_transport_options.get("global_keyprefix", "")
        self.key = f"{prefix}{name}"
        self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)

    def jobs(self) -> list[dict]:
        out = []
        for raw in reversed(self.redis.lrange(self.key, 0, -1)):  # LPUSHed: oldest last
            message = json.loads(raw)
            assert message["headers"]["task"] == tasks.push_deliver.name
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            out.extend(args[0])
        return out


@pytest.fixture
def queued(settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "the tests' broker is Redis"
    queue = BrokerQueue(f"push-queue-test-{uuid.uuid4().hex}")
    settings.CHAT_PUSH_QUEUE = queue.name
    yield queue
    queue.redis.delete(queue.key)


def _token_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith('SELECT "push_pushtoken"')]


def test_a_send_queues_the_receivers_with_a_token_and_reads_nothing_after_commit(
        make_user, queued, django_capture_on_commit_callbacks):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    fcm_token(bob)
    commands = [SendCommand(origin=Origin.USER, sender=s, to=to, elements=text(f"m{i}"),
                            random=i)
                for i, (s, to) in enumerate([(alice, "bob"), (alice, "carol"), (carol, "bob"),
                                             (bob, "alice")])]
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=True):
        results = message_send_many(commands)
    assert all(isinstance(r, dict) for r in results)
    assert [(j["receiver_pk"], j["sender_pk"]) for j in queued.jobs()] == \
        [(bob.pk, alice.pk), (bob.pk, carol.pk)]
    assert _token_reads(queries) == []


def test_queue_now_reads_the_tokens_when_not_told(make_user, queued):
    bob, carol = make_user("bob"), make_user("carol")
    fcm_token(bob)
    jobs = [PushJob(message_id=i, message_key=f"{i}-1-1", receiver_pk=pk, sender_pk=pk,
                    conversation_id="C2Cx", dialog_seq=1, note={})
            for i, pk in enumerate([bob.pk, carol.pk])]
    with CaptureQueriesContext(connection) as queries:
        assert tasks.queue_now(jobs) == 1
    assert len(_token_reads(queries)) == 1
    assert [j["receiver_pk"] for j in queued.jobs()] == [bob.pk]
    queued.redis.delete(queued.key)
    with CaptureQueriesContext(connection) as queries:
        assert tasks.queue_now(jobs, with_tokens={carol.pk}) == 1
    assert queries.captured_queries == []
    assert [j["receiver_pk"] for j in queued.jobs()] == [carol.pk]
