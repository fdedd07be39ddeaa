"""What the outbox tests share (the after-callbacks' WebhookUnqueued and the push tasks'
PushUnqueued, swept by chat_project/outbox.py): a server killed -9 between a send's
commit and the queuing of its tasks, a worker killed -9 while its statement waits for a
lock the test holds (`lock_waiter`, then `backend_gone`), and a broker of the test's
own for this process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import redis

from accounts.usersig import gen_usersig
from tests.conftest import start_server, stop_server
from tests.redis_server import RedisServer


def _ask(request: urllib.request.Request, answered: list) -> None:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answered.append(response.status)
    except OSError as exc:  # the server died under the request
        answered.append(exc)


def die_before_queuing(request: Callable[[str], urllib.request.Request],
                       committed: Callable[[], bool]) -> None:
    """Make `request(base)` of a real server whose broker (a Redis of its own) is
    frozen, so the change's on_commit hook hangs in its publish; kill the server -9 once
    `committed()` (the change is in the database). Asserts that no answer came."""
    broker = RedisServer().start()
    proc, base = start_server(CELERY_BROKER_URL=broker.url, CELERY_TASK_ALWAYS_EAGER="0")
    answered: list = []
    try:
        os.kill(broker.proc.pid, signal.SIGSTOP)  # the hook's publish hangs
        asker = threading.Thread(target=_ask, args=(request(base), answered))
        asker.start()
        deadline = time.monotonic() + 10
        while not committed():  # committed; the hook is in its publish
            assert time.monotonic() < deadline, "the change never committed"
            time.sleep(0.01)
        proc.kill()
        proc.wait(timeout=10)
        asker.join(timeout=30)
    finally:
        stop_server(proc)
        os.kill(broker.proc.pid, signal.SIGCONT)
        broker.stop()
    assert answered and not isinstance(answered[0], int), answered  # no answer came


def lock_waiter(statement_part: str, timeout: float = 30.0, check=None) -> int:
    """The pid of the backend (of the test database) whose statement, containing
    `statement_part`, waits for a lock; waits until there is one (`check()`, e.g. a
    worker's, raises when what should get there died)."""
    deadline = time.monotonic() + timeout
    while True:
        pid = lock_waiting(statement_part)
        if pid is not None:
            return pid
        if check is not None:
            check(deadline)
        assert time.monotonic() < deadline, f"no statement with {statement_part!r} waits"
        time.sleep(0.02)


def lock_waiting(statement_part: str) -> int | None:
    """The pid of a backend (of the test database) whose statement, containing
    `statement_part`, waits for a lock now; None if none does."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            " AND strpos(query, %s) > 0", [statement_part])
        row = cursor.fetchone()
    return row[0] if row else None


def backend_gone(pid: int, timeout: float = 30.0) -> None:
    """Until the backend `pid` has ended. A killed client's backend waiting for a lock
    lives on until it gets the lock and its statement ends; then it finds its client
    gone, rolls back its transaction (and its locks go with it) and exits."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return
        assert time.monotonic() < deadline, f"backend {pid} did not end"
        time.sleep(0.02)


def send_and_die_before_queuing() -> None:
    """alice sends bob "hi" (random 7) and the server dies in the send's hook
    (die_before_queuing)."""
    from messaging.models import Message

    def send(base: str) -> urllib.request.Request:
        return urllib.request.Request(
            f"{base}/api/v1/messages/", method="POST",
            data=json.dumps({"to": "bob", "random": 7, "elements": [
                {"type": "TIMTextElem", "payload": {"text": "hi"}}]}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"UserSig alice:{gen_usersig('alice')}"})

    die_before_queuing(send, Message.objects.exists)


@contextmanager
def own_broker(settings, queue_setting: str):
    """Celery's broker in this process moved to a redis-server of the test's own, with a
    queue of its own (named in the setting `queue_setting`, e.g. CHAT_WEBHOOK_QUEUE);
    yields (server, a client of it, the queue's key)."""
    from chat_project.celery import app

    server = RedisServer().start()
    old = app.conf.broker_url

    def point_at(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None  # the connections of the old broker are not used again
        app.amqp._producer_pool = None

    queue = f"outbox-{uuid.uuid4().hex[:8]}"
    setattr(settings, queue_setting, queue)
    prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
    point_at(server.url)
    try:
        yield server, redis.Redis.from_url(server.url), prefix + queue
    finally:
        point_at(old)
        server.stop()
