"""Queueing a send's pushes (push/tasks.py queue_on_commit): only jobs whose receiver
has a push token are kept in the outbox (PushUnqueued, one INSERT in the send's
transaction) and queued after the commit. A send on PostgreSQL learns who has one in its
own conversations' statement (messaging/persist.py), so nothing more is read; a caller
that does not know has queue_on_commit read it. A send to users without tokens writes
nothing; a task the broker will not take has its row marked refused for the sweep."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat_project import broker
from messaging.commands import Origin, SendCommand
from messaging.services import message_send_many
from push import tasks
from push.models import PushUnqueued
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


def _outbox_writes(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "push_pushunqueued" in q["sql"]]


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


def test_queue_on_commit_reads_the_tokens_when_not_told(
        make_user, queued, django_capture_on_commit_callbacks):
    bob, carol = make_user("bob"), make_user("carol")
    fcm_token(bob)
    jobs = [PushJob(message_id=i, message_key=f"{i}-1-1", receiver_pk=pk, sender_pk=pk,
                    conversation_id="C2Cx", dialog_seq=1, note={})
            for i, pk in enumerate([bob.pk, carol.pk])]
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=True):
        assert tasks.queue_on_commit(jobs) == 1
    assert len(_token_reads(queries)) == 1
    assert [j["receiver_pk"] for j in queued.jobs()] == [bob.pk]
    queued.redis.delete(queued.key)
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=True):
        assert tasks.queue_on_commit(jobs, with_tokens={carol.pk}) == 1
    assert len(queries.captured_queries) == 1  # the outbox's INSERT, nothing read
    assert [j["receiver_pk"] for j in queued.jobs()] == [carol.pk]


def test_the_outbox_row_is_written_in_the_send_and_only_for_receivers_with_a_token(
        make_user, queued, django_capture_on_commit_callbacks):
    """One INSERT for the batch's jobs, in the send's transaction (before its hooks
    run); the task carries the row's id, to delete it when it starts (no worker here:
    the row stays). A send to someone without a token writes nothing."""
    alice, bob, _carol = make_user("alice"), make_user("bob"), make_user("carol")
    fcm_token(bob)
    commands = [SendCommand(origin=Origin.USER, sender=alice, to=to, elements=text(to),
                            random=i) for i, to in enumerate(["bob", "carol", "bob"])]
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=False) as hooks:
        message_send_many(commands)
    assert [q.split(" ", 2)[:2] for q in _outbox_writes(queries)] == \
        [["INSERT", "INTO"]]
    [row] = PushUnqueued.objects.all()
    assert row.task == tasks.push_deliver.name and not row.refused
    assert [j["receiver_pk"] for j in row.args[0]] == [bob.pk, bob.pk]
    for hook in hooks:
        hook()
    assert [j["receiver_pk"] for j in queued.jobs()] == [bob.pk, bob.pk]
    raw = json.loads(queued.redis.lrange(queued.key, 0, -1)[0])
    _args, kwargs, _embed = json.loads(base64.b64decode(raw["body"]))
    assert kwargs == {"outbox": row.pk}
    assert not PushUnqueued.objects.get().refused

    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=True):
        message_send_many([SendCommand(origin=Origin.USER, sender=alice, to="carol",
                                       elements=text("no token"), random=9)])
    assert _outbox_writes(queries) == []
    assert PushUnqueued.objects.count() == 1


def test_a_task_the_broker_will_not_take_has_its_row_marked_refused(
        make_user, queued, django_capture_on_commit_callbacks):
    """The breaker open (a publish failed a moment ago in this process): the hook does
    not try the broker and marks the row refused, one UPDATE; the sweep queues it at
    once, whatever the grace, with the row's id; the row stays until its task starts."""
    alice, bob = make_user("alice"), make_user("bob")
    fcm_token(bob)
    broker.breaker.failed()
    try:
        with CaptureQueriesContext(connection) as queries, \
                django_capture_on_commit_callbacks(execute=True):
            message_send_many([SendCommand(origin=Origin.USER, sender=alice, to="bob",
                                           elements=text("hi"), random=1)])
    finally:
        broker.breaker.reset()
    assert [q.split(" ", 1)[0] for q in _outbox_writes(queries)] == ["INSERT", "UPDATE"]
    [row] = PushUnqueued.objects.all()
    assert row.refused and queued.jobs() == []
    assert tasks.queue_unqueued_pushes() == 1
    assert [j["receiver_pk"] for j in queued.jobs()] == [bob.pk]
    row.refresh_from_db()
    assert not row.refused and row.queued_at is not None
    assert tasks.queue_unqueued_pushes() == 0  # queued a moment ago: its grace runs


def test_the_sweep_queues_each_row_once_per_run_in_batches(make_user, queued, settings):
    """A run takes the rows in batches of `limit`; a row it has queued is not due again
    in the same run, even with no grace, so the run ends."""
    bob = make_user("bob")
    jobs = [[{"receiver_pk": bob.pk, "message_id": i}] for i in range(3)]
    for args in jobs:
        PushUnqueued.objects.create(task=tasks.push_deliver.name, args=[args],
                                    created_at=timezone.now(), refused=True)
    settings.CHAT_PUSH_OUTBOX_GRACE_SECONDS = 0
    assert tasks.queue_unqueued_pushes(limit=2) == 3
    assert [j["message_id"] for j in queued.jobs()] == [0, 1, 2]
    assert PushUnqueued.objects.filter(refused=False, queued_at__isnull=False).count() == 3
