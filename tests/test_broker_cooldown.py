"""The broker's breaker (chat_project/broker.py) on a real Redis frozen with SIGSTOP:
a failed publish opens it, publishes then fail at once without touching the broker;
after the cooldown one caller tries (the others still fail at once), and a success
closes it. tests/test_broker_breaker.py runs it end to end through a server."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.conf import settings

from accounts.webhook_tasks import purge_webhook_attempts
from chat_project import broker
from tests.redis_server import RedisServer

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


def _publish(conn) -> tuple[str, float]:
    started = time.monotonic()
    try:
        broker.publish(purge_webhook_attempts, (), queue="parley-test-breaker", connection=conn)
        outcome = "queued"
    except broker.BrokerUnavailable:
        outcome = "skipped"
    except broker.BROKER_ERRORS:
        outcome = "failed"
    return outcome, time.monotonic() - started


def test_a_failed_publish_skips_the_broker_for_the_cooldown_then_one_caller_tries(settings):
    settings.CHAT_BROKER_COOLDOWN_SECONDS = 1.5
    redis_server = RedisServer().start()
    app = purge_webhook_attempts.app
    try:
        with app.connection_for_write(redis_server.url) as conn:
            assert _publish(conn)[0] == "queued"
            os.kill(redis_server.proc.pid, signal.SIGSTOP)
            outcome, took = _publish(conn)
            assert outcome == "failed" and took < 3, took  # one REDIS_TIMEOUT, no retries
            assert broker.breaker.is_open()
            outcome, took = _publish(conn)
            assert outcome == "skipped" and took < 0.05, took

            # Cooled down, still frozen: of 4 threads one tries (and fails), the rest
            # do not wait for it.
            time.sleep(1.6)
            results: list[tuple[str, float]] = []
            threads = [threading.Thread(target=lambda: results.append(_publish(conn)))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(o for o, _ in results) == ["failed", "skipped", "skipped", "skipped"]
            assert all(took < 0.05 for o, took in results if o == "skipped"), results
            assert broker.breaker.is_open()

            # Thawed: after the cooldown the next publish tries, succeeds, and closes it.
            os.kill(redis_server.proc.pid, signal.SIGCONT)
            assert _publish(conn)[0] == "skipped"  # the cooldown has not passed yet
            time.sleep(1.6)
            assert _publish(conn)[0] == "queued"
            assert not broker.breaker.is_open()
            assert _publish(conn)[0] == "queued"
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        redis_server.stop()
