"""batchsendmsg and push to all under faults: every receiver gets the message exactly
once after a worker is killed mid-batch, after a database error inside a chunk, when a
chunk is redone long after it ran (messaging/tasks.py send_to_many,
persist.claim_batch_receipts), and when two runs of one push overlap
(messaging/push_all.py).

The kill and the error are real: a Celery worker process SIGKILLed while a chunk waits
on a lock the test holds, and a chunk whose statement times out on such a lock. The
workers and the /v4 server use a broker key prefix of their own, so their short
visibility timeout never hands out another run's tasks.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import redis
from celery.signals import task_prerun
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, F
from django_celery_beat.models import PeriodicTask

from accounts.models import SyncEntry, User
from messaging.batch_send import message_send_to_many
from messaging.models import BatchChunk, BatchReceipt, Conversation, Message
from messaging.push_all import broadcast_fan_out
from messaging.tasks import purge_history, requeue_lost_tasks, send_to_many
from push import services as push_services
from push.conditions import Condition
from push.models import BroadcastTask
from tests.celery_worker import celery_worker
from tests.conftest import start_server, stop_server
from tests.embedded import run_embedded
from tests.v4client import V4Client

pytestmark = pytest.mark.django_db(transaction=True)

needs_redis = pytest.mark.skipif(not settings.REDIS_URL,
                                 reason="needs REDIS_URL (make test sets it)")


def text_body(s: str) -> list:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": s}}]


def receivers(make_user, n: int) -> list[str]:
    make_user("alice")
    return [make_user(f"r{i:03}", password=None).user_id for i in range(n)]


def delivered(random: int) -> Counter:
    """Messages per receiver of the batch with this MsgRandom."""
    return Counter(dict(Message.objects.filter(random=random).values("receiver__user_id")
                        .annotate(n=Count("id")).values_list("receiver__user_id", "n")))


def assert_exactly_once(random: int, names: list[str]) -> None:
    counts = delivered(random)
    assert set(counts) == set(names), sorted(set(names) - set(counts))[:10]
    assert set(counts.values()) == {1}, {u: n for u, n in counts.items() if n > 1}
    # Nothing else of the receivers' side twice either: one sync entry, one unread.
    ids = Message.objects.filter(random=random).values_list("id", flat=True)
    entries = Counter(SyncEntry.objects.filter(message_id__in=list(ids))
                      .values_list("user__user_id", flat=True))
    assert {entries[u] for u in names} == {1}
    unread = dict(Conversation.objects.filter(owner__user_id__in=names)
                  .values_list("owner__user_id", "unread_count"))
    assert set(unread.values()) == {1}


class HeldPairLock:
    """The receiver's sync-log head, locked on a connection of the test's own and held
    until release(): a chunk with that receiver waits for it (every stored send to a
    user bumps the user's head; batch and broadcast sends take no pair lock)."""

    def __init__(self, sender: str, receiver: str):
        db = connection.settings_dict
        self.conn = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                                    dbname=db["NAME"], autocommit=True)
        pk = User.objects.get(user_id=receiver).pk
        self.conn.execute("INSERT INTO accounts_synchead (user_id, seq) VALUES (%s, 0)"
                          " ON CONFLICT (user_id) DO NOTHING", [pk])
        self.conn.autocommit = False
        self.conn.execute("SELECT 1 FROM accounts_synchead WHERE user_id = %s FOR UPDATE",
                          [pk])

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def wait_for(done, worker, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s\n{worker.log()}"
        if worker.process.poll() is not None:
            raise AssertionError(f"{what}: the worker died\n{worker.log()}")
        time.sleep(0.1)


@pytest.fixture
def batch_env():
    """Settings of the worker and of the /v4 server that queues the chunks."""
    return {"CELERY_BROKER_KEY_PREFIX": f"parley-test-batch-{uuid.uuid4().hex[:8]}.",
            "CHAT_BATCH_CHUNK": "25"}


def v4_server(worker, batch_env):
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="0",
                             CELERY_TASK_DEFAULT_QUEUE=worker.queue, **batch_env)
    return proc, V4Client(url)


@needs_redis
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
        make_user, tmp_path, batch_env):
    names = receivers(make_user, 300)  # 12 chunks of 25
    with celery_worker(send_to_many.app, tmp_path, "batch-kill",
                       CHAT_TASK_VISIBILITY_TIMEOUT="4", **batch_env) as worker:
        proc, v4 = v4_server(worker, batch_env)
        try:
            worker.wait_ready()
            # The third chunk (r050-r074) will wait on this lock: the worker is killed
            # in the middle of it, its transaction open, its task not acknowledged.
            lock = HeldPairLock("alice", "r060")
            try:
                answer = v4("openim/batchsendmsg", {
                    "From_Account": "alice", "To_Account": names, "MsgRandom": 4242,
                    "MsgBody": text_body("to everyone")})
                assert answer["ActionStatus"] == "OK", answer
                wait_for(lambda: len(delivered(4242)) >= 50, worker, timeout=30,
                         what="the first two chunks")
                time.sleep(0.5)  # the third one is waiting on the lock now
                assert len(delivered(4242)) == 50
                worker.kill()
            finally:
                lock.release()
            assert len(delivered(4242)) == 50

            restarted = time.monotonic()
            worker.start()
            wait_for(lambda: len(delivered(4242)) == 300, worker, timeout=60,
                     what="all 300 after the restart")
            took = time.monotonic() - restarted
            time.sleep(1)  # anything redone twice would have landed by now
        finally:
            stop_server(proc)
    assert_exactly_once(4242, names)
    assert BatchReceipt.objects.count() == 300
    # The killed chunk came back after the visibility timeout (4 s here, 60 s by default).
    assert took < 30, took


@needs_redis
def test_a_database_error_inside_a_chunk_is_retried_until_all_are_delivered(
        make_user, tmp_path, batch_env):
    names = receivers(make_user, 100)  # 4 chunks of 25
    with celery_worker(send_to_many.app, tmp_path, "batch-retry",
                       CHAT_TASK_STATEMENT_TIMEOUT="0.5", **batch_env) as worker:
        proc, v4 = v4_server(worker, batch_env)
        try:
            worker.wait_ready()
            # The second chunk's statement times out on the held lock: a real
            # OperationalError (QueryCanceled) inside the chunk's transaction.
            lock = HeldPairLock("alice", "r030")
            try:
                answer = v4("openim/batchsendmsg", {
                    "From_Account": "alice", "To_Account": names, "MsgRandom": 4343,
                    "MsgBody": text_body("despite errors")})
                assert answer["ActionStatus"] == "OK", answer
                wait_for(lambda: "statement timeout" in worker.log()
                         and " retry: Retry in " in worker.log(), worker, timeout=30,
                         what="the chunk's failure and its retry")
                # Rolled back whole: none of the chunk was written, no 20005 swallowed.
                assert not delivered(4343).keys() & set(names[25:50])
            finally:
                lock.release()
            wait_for(lambda: len(delivered(4343)) == 100, worker, timeout=60,
                     what="all 100 after the retry")
            time.sleep(1)
        finally:
            stop_server(proc)
    assert_exactly_once(4343, names)


@pytest.fixture
def chunk_runs():
    """The chunks a batch queued, as (args, kwargs) of send_to_many, recorded where
    Celery starts each (its task_prerun signal), so the test can run one again."""
    runs: list[tuple] = []

    def record(sender=None, args=None, kwargs=None, **_):
        if getattr(sender, "name", None) == send_to_many.name:
            runs.append((list(args), dict(kwargs)))

    task_prerun.connect(record, weak=False)
    yield runs
    task_prerun.disconnect(record)


@pytest.mark.parametrize("life", [None, 0], ids=["stored", "online-only"])
def test_a_chunk_redone_long_after_writes_and_publishes_nothing_twice(
        make_user, connect, chunk_runs, life):
    """Past the 10-minute retry window (CHAT_DEDUP_SECONDS) the batch's receipts
    still know the receivers it has had, stored or online-only."""
    names = receivers(make_user, 6)
    socket = connect("r001")
    alice = User.objects.get(user_id="alice")
    elements = [{"type": "TIMTextElem", "payload": {"text": "once"}}]
    app_conf = send_to_many.app.conf
    app_conf.task_always_eager = True  # the chunks run here, in process
    try:
        message_send_to_many(sender=alice, to=names, elements=elements, random=99,
                             life_time=life)
        assert len(chunk_runs) == 1
        first = [e for e in socket.drain(quiet=0.5) if e.get("event") == "MESSAGE_RECEIVED"]
        assert [e["data"][0]["random"] for e in first] == [99]
        # An hour later (as far as the retry window can tell), the chunk runs again.
        Message.objects.update(created_at=F("created_at") - timedelta(hours=1))
        args, kwargs = chunk_runs[0]
        send_to_many.apply(args=args, kwargs=kwargs).get()
    finally:
        app_conf.task_always_eager = False
    again = [e for e in socket.drain(quiet=0.5) if e.get("event") == "MESSAGE_RECEIVED"]
    assert again == []
    assert BatchReceipt.objects.count() == 6
    if life is None:
        assert_exactly_once(99, names)
    else:
        assert not Message.objects.exists()


def test_a_batch_past_the_history_is_not_written(make_user, chunk_runs, settings):
    """A chunk whose batch is older than CHAT_HISTORY_DAYS (its receipts are purged
    with that history) is dropped, not written as a second copy."""
    names = receivers(make_user, 3)
    alice = User.objects.get(user_id="alice")
    app_conf = send_to_many.app.conf
    app_conf.task_always_eager = True
    try:
        message_send_to_many(sender=alice, to=names, random=5,
                             elements=[{"type": "TIMTextElem", "payload": {"text": "x"}}])
        args, kwargs = chunk_runs[0]
        settings.CHAT_HISTORY_DAYS = 0
        purge_history.apply().get()
        assert not Message.objects.exists() and not BatchReceipt.objects.exists()
        assert send_to_many.apply(args=args, kwargs=kwargs).get() == 0
    finally:
        app_conf.task_always_eager = False
    assert not Message.objects.exists()


# --- push to all (messaging/push_all.py) -------------------------------------------------

@needs_redis
def test_a_worker_killed_mid_push_loses_nothing_and_doubles_nothing(
        make_user, tmp_path, batch_env):
    make_user("administrator", password=None)
    names = [make_user(f"p{i:03}", password=None).user_id for i in range(120)]
    with celery_worker(send_to_many.app, tmp_path, "push-kill", CHAT_PUSH_CHUNK="20",
                       CHAT_TASK_VISIBILITY_TIMEOUT="4", **batch_env) as worker:
        proc, v4 = v4_server(worker, batch_env)
        try:
            worker.wait_ready()
            lock = HeldPairLock("administrator", "p050")  # the third page waits on it
            try:
                answer = v4("all_member_push/im_push", {
                    "MsgRandom": 4444, "MsgLifeTime": 600,
                    "MsgBody": text_body("to all members")})
                assert answer["ErrorCode"] == 0, answer
                wait_for(lambda: len(delivered(4444)) >= 40, worker, timeout=30,
                         what="the first two pages")
                time.sleep(0.5)
                assert len(delivered(4444)) == 40
                worker.kill()
            finally:
                lock.release()
            worker.start()
            wait_for(lambda: BroadcastTask.objects.get().state == "done", worker,
                     timeout=60, what="the push done after the restart")
            time.sleep(1)
        finally:
            stop_server(proc)
    counts = delivered(4444)
    assert set(counts) == set(names) and set(counts.values()) == {1}
    task = BroadcastTask.objects.get()
    assert (task.matched, task.delivered, task.failed) == (120, 120, 0)


def test_two_runs_of_one_push_at_once_send_each_page_once(make_user, settings):
    """The broker hands a task out again while a run of it still goes on (held past the
    visibility timeout): the runs take turns on the task's row, page by page."""
    settings.CHAT_PUSH_CHUNK = 10
    admin = make_user("administrator", password=None)
    names = [make_user(f"q{i:02}", password=None).user_id for i in range(40)]
    with transaction.atomic():
        task, _ = push_services.broadcast_create(
            sender=admin, elements=[{"type": "TIMTextElem", "payload": {"text": "twice?"}}],
            msg_random=4545, lifetime=600, condition=Condition())
    lock = HeldPairLock("administrator", "q15")  # both runs meet on the second page

    def run():
        try:
            broadcast_fan_out(BroadcastTask.objects.select_related("sender").get(pk=task.pk))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1)
    lock.release()
    for t in threads:
        t.join(30)
    counts = delivered(4545)
    assert set(counts) == set(names) and set(counts.values()) == {1}
    task.refresh_from_db()
    assert (task.state, task.matched, task.delivered) == ("done", 40, 40)


# --- what the broker loses (messaging.tasks.requeue_lost_tasks) ------------------------------

@needs_redis
def test_chunks_and_pushes_the_broker_lost_are_queued_again(make_user, tmp_path, batch_env):
    """Queued tasks gone from Redis (as after a Redis restart without persistence, or a
    worker killed between taking a task and recording it): the periodic sweep finds
    them not done in the database and queues them again, once."""
    make_user("administrator", password=None)
    names = receivers(make_user, 60)
    prefix = batch_env["CELERY_BROKER_KEY_PREFIX"]
    env = {**batch_env, "CHAT_TASK_VISIBILITY_TIMEOUT": "3"}
    with celery_worker(send_to_many.app, tmp_path, "lost", **env) as worker:
        proc, v4 = v4_server(worker, env)
        try:
            worker.wait_ready()
            worker.kill()  # nobody takes the tasks off the queue
            answer = v4("openim/batchsendmsg", {
                "From_Account": "alice", "To_Account": names, "MsgRandom": 4646,
                "MsgBody": text_body("lost and found")})
            assert answer["ActionStatus"] == "OK", answer
            assert v4("all_member_push/im_push", {
                "MsgRandom": 4747, "MsgLifeTime": 600,
                "MsgBody": text_body("to all")})["ErrorCode"] == 0
            broker = redis.Redis.from_url(settings.REDIS_URL)
            assert broker.llen(prefix + worker.queue) == 4  # 3 chunks of 25, 1 push
            broker.delete(prefix + worker.queue)  # the broker loses them
            broker.close()

            worker.start()
            worker.wait_ready()
            time.sleep(3.5)  # past the grace (the visibility timeout)
            assert not delivered(4646) and not delivered(4747)
            with send_to_many.app.connection_for_write(
                    transport_options=worker.transport_options) as conn:
                requeue_lost_tasks.apply_async(queue=worker.queue, connection=conn)
            wait_for(lambda: len(delivered(4646)) == 60
                     and BatchChunk.objects.filter(done_at=None).count() == 0
                     and BroadcastTask.objects.get().state == "done", worker,
                     timeout=30, what="the lost chunks and push, queued again")
            time.sleep(1)
        finally:
            stop_server(proc)
    assert_exactly_once(4646, names)
    pushed = delivered(4747)
    assert set(pushed) == {*names, "alice"} and set(pushed.values()) == {1}
    assert "queued again 3 batch chunks and 1 pushes" in worker.log()


@pytest.mark.django_db
def test_the_sweep_is_scheduled_every_30_seconds():
    task = PeriodicTask.objects.select_related("interval").get(
        task="messaging.tasks.requeue_lost_tasks")
    assert task.enabled and (task.interval.every, task.interval.period) == (30, "seconds")


EMBEDDED_BATCH = r"""
import django; django.setup()
from accounts.models import User
from messaging.models import BatchChunk, BatchReceipt, Message
from messaging.batch_send import message_send_to_many
from messaging.tasks import send_to_many
alice = User.objects.get(user_id="alice")
text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
for life in (None, 0):
    _, unknown = message_send_to_many(sender=alice, to=["bob", "ghost"], elements=text,
                                      random=9, life_time=life)
    assert unknown == ["ghost"], unknown
chunks = list(BatchChunk.objects.order_by("pk"))
assert len(chunks) == 2 and all(c.done_at for c in chunks)
for c in chunks:  # redone, the receipts alone guarding (no chunk id)
    send_to_many.delay(c.sender_id, c.receivers, c.options, batch_id=str(c.batch_id))
assert Message.objects.filter(random=9).count() == 1
assert BatchReceipt.objects.count() == 2
print("embedded batch ok")
"""


def test_the_embedded_default_runs_batches_once_too(tmp_path):
    """SQLite, tasks in process: the receipts' upsert and the chunks work there too."""
    assert "embedded batch ok" in run_embedded(tmp_path, EMBEDDED_BATCH)
