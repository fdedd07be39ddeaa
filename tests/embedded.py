"""Run a script against the embedded defaults (SQLite, no Redis, tasks in process), as
`make run` serves: a fresh database, migrated and seeded, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, _free_port, _wait_port, stop_server

EMBEDDED_SECRET_KEY = "embedded-test-key"  # its CHAT_SECRET_KEY, for signing UserSigs
EMBEDDED_SDKAPPID = 1400000000  # the settings' default


def _embedded_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CHAT_SECRET_KEY",
                        "TEST_DATABASE_NAME", "CHAT_SDKAPPID")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               SECRET_KEY="embedded-test", CHAT_SECRET_KEY=EMBEDDED_SECRET_KEY,
               DJANGO_SETTINGS_MODULE="chat_project.settings")
    return env


def _migrate_and_seed(env) -> None:
    for args in (("manage.py", "migrate", "--noinput"), ("manage.py", "seed_demo", "--quiet")):
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]


def run_embedded(tmp_path, script: str) -> str:
    """Migrate and seed a fresh SQLite database under `tmp_path`, then run `script`
    (Python source) with it; return its standard output (a failure shows stderr)."""
    env = _embedded_env(tmp_path)
    _migrate_and_seed(env)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def start_embedded_server(tmp_path) -> tuple[subprocess.Popen, str]:
    """`make run` in a process of its own: a fresh SQLite database under `tmp_path`,
    migrated and seeded (alice, bob, carol), served by one uvicorn on a free port.
    Its output goes to `tmp_path / "server.log"`. Returns (process, url)."""
    env = _embedded_env(tmp_path)
    _migrate_and_seed(env)
    env.update(DEBUG="1", ALLOWED_HOSTS="127.0.0.1,localhost")  # as `make run` serves
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (the server keeps it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chat_project.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--ws-max-size", "262144", "--ws", "chat_project.wsprotocol:Protocol"],  # as make run
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc)
    except Exception:
        stop_server(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"
