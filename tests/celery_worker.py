"""A real Celery worker for the tests about tasks: a queue of the test's own (so no
other run's worker takes its tasks), started against the test database and Redis,
stopped and its queue deleted afterwards. `kill()` and `start()` play a worker lost
and a new one taking the same queue (tests of late acknowledgement).

    with celery_worker(purge_history.app, tmp_path, "purge") as worker:
        worker.run_until(lambda: done(), lambda: purge_history.apply_async(queue=worker.queue))
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, server_env


class Worker:
    def __init__(self, queue: str, log_path: Path, env: dict):
        self.queue, self.log_path, self.env = queue, log_path, env
        self.process: subprocess.Popen | None = None
        self.runs = 0
        self.transport_options: dict = {}

    def start(self) -> None:
        """Start a worker process on the queue (again, after `kill`); its output is
        appended to the log. A new run's readiness is `wait_ready`'s."""
        self.runs += 1
        with open(self.log_path, "a") as log:
            log.write(f"\n--- run {self.runs} ---\n")
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "chat_project", "worker", "--pool",
                 "solo", "-l", "info", "-Q", self.queue, "-n", f"{self.queue}-{self.runs}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to acknowledge or give anything back."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text()

    def current_log(self) -> str:
        """The output of the latest run only."""
        return self.log().rsplit(f"--- run {self.runs} ---", 1)[-1]

    def check(self, deadline: float) -> None:
        """Fail (showing the worker's log) if it died or the time is up."""
        assert self.process.poll() is None, self.log()
        assert time.monotonic() < deadline, self.log()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker listens: a send racing its start can be lost (seen in CI)."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.current_log():
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
def celery_worker(app, tmp_path: Path, name: str, **env: str):
    """A worker on a queue of its own; `env` adds to its environment (settings)."""
    queue = f"parley-test-{name}-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / f"worker-{name}.log"
    log_path.write_text("")
    worker = Worker(queue, log_path, server_env(CELERY_TASK_ALWAYS_EAGER="0",
                                                CELERY_TASK_DEFAULT_QUEUE=queue, **env))
    worker.start()
    broker_queue = app.amqp.queues[queue]
    options = dict(app.conf.broker_transport_options)
    if env.get("CELERY_BROKER_KEY_PREFIX"):  # the worker's keys, not this process's
        options["global_keyprefix"] = env["CELERY_BROKER_KEY_PREFIX"]
    worker.transport_options = options  # to send to this worker: connection_for_write
    try:
        # Declared first: the Redis transport drops what is sent to an unbound queue.
        with app.connection_for_write(transport_options=options) as conn:
            broker_queue(conn.default_channel).declare()
        yield worker
    finally:
        worker.stop()
        with app.connection_for_write(transport_options=options) as conn:
            broker_queue(conn.default_channel).delete()
