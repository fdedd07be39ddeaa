"""Shared fixtures. Tests talk to real PostgreSQL and Redis (see Makefile TEST_ENV).

`live_server_url` starts a real ASGI server (uvicorn, in its own process) against the
test database; tests that use it must also use `transactional_db` so what they write
is committed and visible to the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import user_create
from accounts.usersig import gen_usersig

ROOT = Path(__file__).resolve().parent.parent


def _flush_retrying_deadlocks():
    """The end of a transactional test TRUNCATEs every table while a shared live server
    may still be finishing a transaction of the test's last moments (a socket closing,
    a reconnect): PostgreSQL then breaks the deadlock by failing one side, sometimes
    the TRUNCATE, and the next test would start with the last one's rows. Try again."""
    from django.core.management.base import CommandError
    from django.core.management.commands import flush

    handle = flush.Command.handle

    def handle_retrying(self, **options):
        for attempt in range(5):
            try:
                return handle(self, **options)
            except CommandError as exc:
                if "deadlock" not in str(exc.__cause__) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    flush.Command.handle = handle_retrying


_flush_retrying_deadlocks()


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(user_id: str | None = None, *, nick: str = "", avatar: str = "",
             password: str | None = "pw-123456"):
        if user_id is None:
            counter["n"] += 1
            user_id = f"user{counter['n']}"
        return user_create(user_id=user_id, password=password, nick=nick or user_id.title(),
                           avatar=avatar)

    return make


@pytest.fixture
def usersig():
    return gen_usersig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def server_env(**extra) -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "CHAT_SECRET_KEY": settings.CHAT_SECRET_KEY,
        "CHAT_SDKAPPID": str(settings.CHAT_SDKAPPID),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNEL_PREFIX": f"parley-test-{os.getpid()}",
        "CACHE_PREFIX": f"parley-test-{os.getpid()}",
        "MEDIA_ROOT": str(ROOT / "media" / "test"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


# uvicorn's flags as README's production command has them: frames over 256 KB refused.
UVICORN_FLAGS = ("--ws-max-size", "262144", "--ws", "chat_project.wsprotocol:Protocol")


def start_server(*, uvicorn_flags=UVICORN_FLAGS, port: int | None = None,
                 **extra_env) -> tuple[subprocess.Popen, str]:
    """Start uvicorn on `port` (a free one by default) against the test database;
    return (process, url)."""
    port = port or _free_port()
    cache = ROOT / ".pytest_cache"
    log = open(cache / f"live-server-{port}.log", "w") if cache.is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chat_project.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *uvicorn_flags],
        cwd=ROOT, env=server_env(**extra_env), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, proc)
    except Exception:
        stop_server(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """A real uvicorn process serving Parley on a free port, shared by the session."""
    proc, url = start_server()
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def connect(live_server_url):
    """Open real WebSocket clients to the live server: `connect("alice", deviceID=...)`
    logs in (and waits for SDK_READY); `connect()` leaves the socket logged out."""
    from tests.wsclient import WsClient

    clients = []

    def make(user_id: str | None = None, **login_extra):
        client = WsClient(live_server_url)
        clients.append(client)
        if user_id is not None:
            client.login(user_id, gen_usersig(user_id), **login_extra)
            client.wait_event("SDK_READY")
        return client

    yield make
    for client in clients:
        try:
            # Read what is waiting first: a client whose receive queue is full cannot
            # read the server's close frame, and would wait out the close timeout.
            client.drain(quiet=0.01)
        except Exception:
            pass
        try:
            client.close()
        except Exception:
            pass


@pytest.fixture
def v4(live_server_url):
    """A /v4 client signed as the app admin: `v4("openim/sendmsg", {...})` -> answer."""
    from tests.v4client import V4Client

    return V4Client(live_server_url)


@pytest.fixture(autouse=True)
def _broker_breaker_closed():
    """No test starts with the broker's breaker left open by another's failed publish
    (chat_project/broker.py: the state is the process's)."""
    from chat_project.broker import breaker

    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture(autouse=True)
def _isolated_redis_names(settings):
    """This test process's channel layer and cache names, shared with its live servers
    and no other run's; the cache is emptied of this process's keys around each test."""
    from django.core.cache import cache

    if settings.REDIS_URL:
        prefix = f"parley-test-{os.getpid()}"
        layers = dict(settings.CHANNEL_LAYERS)
        layers["default"] = dict(layers["default"], CONFIG=dict(
            layers["default"]["CONFIG"], prefix=prefix))
        settings.CHANNEL_LAYERS = layers
        settings.CACHES = {"default": dict(settings.CACHES["default"], KEY_PREFIX=prefix)}
    _clear_cache(cache)
    yield
    _clear_cache(cache)


def _clear_cache(cache) -> None:
    # A test's rolled-back writes must not survive in the cache (e.g. the send policy).
    # Only this process's keys: `cache` is a proxy, so look at the backend behind it
    # (a cache.clear() on Redis would FLUSHDB the other worker's keys mid-test).
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    elif isinstance(cache, RedisCache):  # also chat_project.redis_bounds' subclass
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
