"""The embedded default (`make run`: SQLite, one uvicorn process) serves a few people
at once: concurrent writes wait their turn instead of failing "database is locked".

Each request runs in a thread of its own with its own SQLite connection. A deferred
transaction that reads, then writes, fails at once when another writer committed in
between (the busy timeout cannot help it); immediate transactions take the write lock
at BEGIN and wait (chat_project/settings.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import quote

import pytest
from django.conf import settings

from accounts.usersig import gen_usersig
from tests.conftest import ROOT, _free_port, _wait_port, stop_server

pytestmark = pytest.mark.e2e

KEY = "embedded-test-key"
USERS = ("alice", "bob", "carol", "administrator")


def embedded_server(tmp_path):
    """Migrate and seed a fresh SQLite database, then serve it as `make run` does."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CHAT_SECRET_KEY",
                        "TEST_DATABASE_NAME")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DEBUG="1",
               SECRET_KEY="embedded-test", CHAT_SECRET_KEY=KEY,
               CHAT_SDKAPPID=str(settings.CHAT_SDKAPPID), MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="chat_project.settings", PYTHONUNBUFFERED="1")
    for args in (["migrate", "--noinput"], ["seed_demo", "--quiet"]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed with the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chat_project.asgi:application", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--ws-max-size", "262144", "--ws", "chat_project.wsprotocol:Protocol"],  # as make run
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_port(port, proc)
    return proc, log, f"http://127.0.0.1:{port}"


def post(base: str, user: str, path: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig {user}:{gen_usersig(user, key=KEY)}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_concurrent_writes_on_the_embedded_server(tmp_path):
    proc, log, base = embedded_server(tmp_path)
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client(me: str, n: int):
        peers = [u for u in USERS if u != me]
        for i in range(n):
            peer = peers[i % len(peers)]
            conv = quote(f"C2C{peer}", safe="")
            for path, body in (
                ("messages/", {"to": peer, "random": i + 1, "elements": [
                    {"type": "TIMTextElem", "payload": {"text": f"{me} {i}"}}]}),
                (f"conversations/{conv}/pin/", {"isPinned": i % 2 == 0}),
                (f"conversations/{conv}/draft/", {"draftText": f"draft {i}"}),
                (f"conversations/{conv}/delete/", {"clearHistoryMessage": i % 3 == 0}),
            ):
                status = post(base, me, path, body)
                with lock:
                    statuses[(path.split("/")[-2] or path, status)] += 1

    try:
        threads = [threading.Thread(target=client, args=(me, 12))
                   for me in USERS for _ in range(2)]  # two clients per user
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        stop_server(proc)
        log.close()
    server_errors = {k: v for k, v in statuses.items() if k[1] >= 500}
    assert not server_errors, (statuses, (tmp_path / "server.log").read_text()[-3000:])
    assert sum(statuses.values()) == len(USERS) * 2 * 12 * 4
    assert all(status < 400 for (_, status) in statuses), statuses
