"""A real Celery worker for the tests about tasks: a queue of the test's own (so no
other run's worker takes its tasks), started against the test database and Redis,
stopped and its queue deleted afterwards.

    with celery_worker(purge_history.app, tmp_path, "purge") as worker:
        worker.run_until(lambda: done(), lambda: purge_history.apply_async(queue=worker.queue))
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, server_env


class Worker:
    def __init__(self, queue: str, process: subprocess.Popen, log_path: Path):
        self.queue, self.process, self.log_path = queue, process, log_path

    def log(self) -> str:
        return self.log_path.read_text()

    def check(self, deadline: float) -> None:
        """Fail (showing the worker's log) if it died or the time is up."""
        assert self.process.poll() is None, self.log()
        assert time.monotonic() < deadline, self.log()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker listens: a send racing its start can be lost (seen in CI)."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            self.check(deadline)
            time.sleep(0.1)

    def run_until(self, done: Callable[[], bool], send: Callable[[], object], *,
                  timeout: float = 90, resend_every: float = 15, poll: float = 0.2) -> None:
        """Send (once the worker is ready) and wait for `done()`. For idempotent tasks
        the send is repeated every `resend_every` seconds, in case one was lost."""
        self.wait_ready()
        deadline = time.monotonic() + timeout
        next_send = time.monotonic()
        while not done():
            self.check(deadline)
            if time.monotonic() >= next_send:
                send()
                next_send = time.monotonic() + resend_every
            time.sleep(poll)


@contextmanager
def celery_worker(app, tmp_path: Path, name: str):
    queue = f"parley-test-{name}-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / f"worker-{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chat_project", "worker", "--pool", "solo",
             "-l", "info", "-Q", queue, "-n", f"{queue}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=server_env(CELERY_TASK_ALWAYS_EAGER="0"),
            stdout=log, stderr=subprocess.STDOUT)
    broker_queue = app.amqp.queues[queue]
    try:
        # Declared first: the Redis transport drops what is sent to an unbound queue.
        with app.connection_for_write() as conn:
            broker_queue(conn.default_channel).declare()
        yield Worker(queue, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with app.connection_for_write() as conn:
            broker_queue(conn.default_channel).delete()
