"""The broker's breaker (chat_project/broker.py) on a real Redis frozen with SIGSTOP:
a failed publish opens it, publishes then fail at once without touching the broker;
after the cooldown no caller tries: they all still fail at once while a thread of the
process checks the broker, which closes the breaker once the broker answers.
tests/test_broker_breaker.py runs it end to end through a server."""

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


def _wait_closed(conn, timeout: float) -> list[tuple[str, float]]:
    """Publish every 0.1 s until one is queued; return what each publish did."""
    results = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        results.append(_publish(conn))
        if results[-1][0] == "queued":
            break
        time.sleep(0.1)
    return results


def test_a_failed_publish_skips_the_broker_and_no_caller_pays_the_probe(settings):
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

            # Cooled down, still frozen: 4 threads at once, then publishes for three
            # more cooldowns (the probes fail meanwhile): none waits for the broker.
            time.sleep(1.6)
            results: list[tuple[str, float]] = []
            threads = [threading.Thread(target=lambda: results.append(_publish(conn)))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + 3 * 1.5
            while time.monotonic() < deadline:
                results.append(_publish(conn))
                time.sleep(0.05)
            assert {o for o, _ in results} == {"skipped"}, results
            assert max(took for _, took in results) < 0.05, results
            assert broker.breaker.is_open()

            # Thawed: the next probe finds it, and publishes go to the broker again.
            os.kill(redis_server.proc.pid, signal.SIGCONT)
            after = _wait_closed(conn, timeout=1.5 + 3 + 2)
            assert after[-1][0] == "queued", after
            assert all(took < 0.05 for o, took in after if o == "skipped"), after
            assert not broker.breaker.is_open()
            assert _publish(conn)[0] == "queued"
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        redis_server.stop()
