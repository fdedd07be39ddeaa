"""PostgreSQL connections under a burst of requests, with and without the pool.

    .venv/bin/python bench/db_pool.py                 # 3 rounds of 200, each mode
    .venv/bin/python bench/db_pool.py --rounds 5 --concurrency 300 --modes pool

For each mode it starts a server as production would (uvicorn, 2 workers, uvloop,
httptools, DEBUG off) against a PostgreSQL cluster of its own (`initdb` in a temporary
directory, its own port, `max_connections` 100, so no other PostgreSQL user is
disturbed) and a Redis of its own, then fires `--concurrency` concurrent
`GET /api/v1/conversations/` (a user with 20 conversations) at the same moment, several
rounds, with stdlib threads (one connection each). It prints, per mode: the answers by
HTTP status, 5xx count, p50/p99 latency, the most PostgreSQL connections held by the
server during the rounds and those still held 3 s after the last one.

Modes:
- `pool`: the default settings (psycopg pool, DB_POOL_MAX_SIZE 10 per worker).
- `persistent`: no pool, CONN_MAX_AGE=600 (Parley before the pool: one connection per
  request thread, kept).
- `per-request`: no pool, CONN_MAX_AGE=0 (Django's default: one connection per request).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import free_port  # noqa: E402

MODES = {
    "pool": {},
    "persistent": {"DB_POOL": "0", "CONN_MAX_AGE": "600"},
    "per-request": {"DB_POOL": "0", "CONN_MAX_AGE": "0"},
}
PG_BIN = Path(shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl").parent
APP_NAME = "parley-db-pool-bench"


# --- a PostgreSQL cluster and a Redis of our own ---------------------------------------

def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class Postgres:
    def __init__(self, max_connections: int):
        self.dir = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.port = free_port()
        self.max_connections = max_connections

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8"])
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"),
                      "-w", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
                      f" -c max_connections={self.max_connections} -c fsync=off", "start"])

    def stop(self) -> None:
        try:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m",
                          "immediate", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=db,
                               autocommit=True)


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- the server -------------------------------------------------------------------------

SEED = r"""
import django; django.setup()
from accounts.services import user_create
from messaging.services import message_send
alice = user_create(user_id="alice", password=None, nick="Alice", avatar="")
for i in range(20):
    user_create(user_id=f"peer{i}", password=None, nick=f"Peer {i}", avatar="")
    message_send(sender=alice, to=f"peer{i}", random=i + 1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": f"hello {i}"}}])
"""


def base_env(pg: Postgres, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_POOL", "CONN_MAX_AGE", "DATABASE_URL", "REDIS_URL"))}
    env.update({
        "DATABASE_URL": pg.url("parley_bench") + f"?application_name={APP_NAME}",
        "REDIS_URL": redis_url, "DEBUG": "0", "SECRET_KEY": "db-pool-bench",
        "CHAT_SECRET_KEY": "db-pool-bench-key", "CHAT_SDKAPPID": "1400000001",
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
    })
    return env


def prepare(pg: Postgres, env: dict) -> None:
    with pg.connect() as conn:
        conn.execute("CREATE DATABASE parley_bench")
    for args in (["manage.py", "migrate", "--noinput"], ["-c", SEED]):
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])


def start_server(env: dict, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - the server's lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chat_project.asgi:application", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "2", "--loop", "uvloop", "--http",
         "httptools", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            conn.close()
            time.sleep(2)  # both workers up
            return proc, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=5)


# --- the burst --------------------------------------------------------------------------

def usersig(user_id: str) -> str:
    import TLSSigAPIv2

    return TLSSigAPIv2.TLSSigAPIv2(1400000001, "db-pool-bench-key").gen_sig(user_id)


def one_get(port: int, auth: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/api/v1/conversations/", headers={"Authorization": auth})
        response = conn.getresponse()
        response.read()
        conn.close()
        status = response.status
    except OSError:
        status = 0  # no answer at all
    return status, time.perf_counter() - started


def burst(port: int, auth: str, n: int) -> list[tuple[int, float]]:
    results: list = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        results[i] = one_get(port, auth)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def held(pg: Postgres) -> int:
    with pg.connect() as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            [APP_NAME]).fetchone()[0]


def run_mode(name: str, pg: Postgres, redis_url: str, args, log_dir: Path) -> dict:
    env = base_env(pg, redis_url)
    env.update(MODES[name])
    proc, port = start_server(env, log_dir / f"db-pool-{name}-server.log")
    auth = f"UserSig alice:{usersig('alice')}"
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], held(pg))
            except psycopg.OperationalError:  # the cluster is out of connections too
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = []
    try:
        for _ in range(args.rounds):
            results += burst(port, auth, args.concurrency)
            time.sleep(0.5)
        stop.set()
        sampler.join()
        time.sleep(3)
        after = held(pg)
    finally:
        stop.set()
        stop_server(proc)
    statuses = Counter(s for s, _ in results)
    ms = sorted(t * 1000 for _, t in results)
    return {"mode": name, "requests": len(results), "statuses": dict(sorted(statuses.items())),
            "5xx": sum(v for s, v in statuses.items() if s >= 500),
            "no_answer": statuses.get(0, 0),
            "p50_ms": statistics.median(ms), "p99_ms": ms[int(len(ms) * 0.99) - 1],
            "peak_held": peak[0], "held_after_3s": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--max-connections", type=int, default=100)
    parser.add_argument("--modes", default="pool,persistent,per-request")
    args = parser.parse_args()
    log_dir = ROOT / "bench" / "results"
    log_dir.mkdir(exist_ok=True)
    pg, redis = Postgres(args.max_connections), Redis()
    rows = []
    try:
        pg.start()
        redis.start()
        prepare(pg, base_env(pg, redis.url))
        for name in args.modes.split(","):
            rows.append(run_mode(name, pg, redis.url, args, log_dir))
            print(rows[-1], flush=True)
    finally:
        redis.stop()
        pg.stop()
    print(f"\n{args.rounds} rounds of {args.concurrency} concurrent GET /api/v1/conversations/,"
          f" uvicorn 2 workers, PostgreSQL max_connections {args.max_connections}\n")
    print("| mode | requests | 5xx | no answer | p50 ms | p99 ms | PG connections peak |"
          " held 3 s after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['mode']} | {r['requests']} | {r['5xx']} | {r['no_answer']} |"
              f" {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['peak_held']} |"
              f" {r['held_after_3s']} |")


if __name__ == "__main__":
    main()
