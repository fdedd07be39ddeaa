"""Run a script against the embedded defaults (SQLite, no Redis, tasks in process), as
`make run` serves: a fresh database, migrated and seeded, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def run_embedded(tmp_path, script: str) -> str:
    """Migrate and seed a fresh SQLite database under `tmp_path`, then run `script`
    (Python source) with it; return its standard output (a failure shows stderr)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CHAT_SECRET_KEY",
                        "TEST_DATABASE_NAME")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               SECRET_KEY="embedded-test", CHAT_SECRET_KEY="embedded-test-key",
               DJANGO_SETTINGS_MODULE="chat_project.settings")

    def run(*args):
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    run("manage.py", "migrate", "--noinput")
    run("manage.py", "seed_demo", "--quiet")
    return run("-c", script)
