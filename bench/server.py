"""The server under test, started as production would, and what we read about it.

`Server` drops and recreates the `parley_bench` database (nothing else), migrates it,
runs uvicorn with several workers (uvloop, httptools) on a free port of 127.0.0.1, and
always stops it. `Probe` reads what the machine says about the server: worker RSS and
CPU from /proc, PostgreSQL's per-database counters and its backends' CPU, Redis's
command counts and CPU.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "parley_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc ----------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (its threads included)."""
    f = _stat_fields(pid)
    return None if f is None else (int(f[11]) + int(f[12])) / CLK_TCK


def sys_seconds(pid: int) -> float | None:
    """System (kernel) CPU seconds of one process: syscalls, loopback TCP included."""
    f = _stat_fields(pid)
    return None if f is None else int(f[12]) / CLK_TCK


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (every thread's list)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(x) for x in text.split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    for _ in range(10_000):
        if not todo:
            break
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_url_for(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def redis_url_for(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def empty_redis_db(url: str) -> int:
    """A Redis database number (15 down to 1) that holds no key: the bench server's cache
    goes there, away from other processes' cache keys on the same Redis. BENCH_REDIS_DB
    names one instead (a shared machine where each user has their own number)."""
    if os.environ.get("BENCH_REDIS_DB"):
        return int(os.environ["BENCH_REDIS_DB"])
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(redis_url_for(url, db), socket_timeout=5)
        try:
            if client.dbsize() == 0:
                return db
        finally:
            client.close()
    raise RuntimeError("no empty Redis database (1-15) for the bench server's cache")


def tree_state() -> str:
    """HEAD plus the uncommitted changes outside bench/: did the server's code change?"""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    diff = subprocess.run(["git", "diff", "HEAD", "--", ".", ":(exclude)bench"], cwd=ROOT,
                          capture_output=True).stdout
    return f"{head[:12]}+{hashlib.sha1(diff).hexdigest()[:12]}"


def admin_conninfo(database_url: str) -> str:
    """The same server and role, the maintenance database."""
    return make_conninfo(database_url.replace("postgres://", "postgresql://", 1),
                         dbname="postgres")


# --- the server -----------------------------------------------------------------------

class Server:
    def __init__(self, *, database_url: str, redis_url: str, workers: int, log_path: Path,
                 run_id: str, socket_rate: int, db_name: str = BENCH_DB,
                 app: str = "chat_project.asgi:application", app_dir: Path = ROOT,
                 extra_env: dict | None = None, migrate: list[str] | None = None,
                 own_redis_db: bool = True, ws: str = "chat_project.wsprotocol:Protocol"):
        """`db_name`, `app`, `app_dir`, `extra_env` and `migrate` (the command that makes
        the schema, run in `app_dir`) let another ASGI app be started the same way
        (bench/minimal_consumer.py); the defaults are Parley's production start. An app
        that keeps nothing in Redis but channel-layer traffic (`own_redis_db=False`) gets
        `redis_url` as it is, and nothing is emptied at the end. `ws` is uvicorn's
        `--ws` (Parley's protocol, as README's production command; "auto" for uvicorn's)."""
        self.database_url = database_url
        self.db_name, self.app, self.app_dir, self.ws = db_name, app, app_dir, ws
        self.migrate = migrate or [sys.executable, "manage.py", "migrate", "--noinput"]
        self.redis_url = redis_url
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.sdkappid = int(os.environ.get("CHAT_SDKAPPID") or 1400000001)
        self.chat_key = secrets.token_hex(32)
        # Cache keys carry no per-deployment prefix: give this server a Redis database
        # of its own, or a key cached by another process (a test's send policy) leaks in.
        self.redis_db = empty_redis_db(redis_url) if own_redis_db else None
        self.env = dict(os.environ)
        self.env.update({
            "DATABASE_URL": db_url_for(database_url, db_name),
            "REDIS_URL": redis_url if self.redis_db is None
            else redis_url_for(redis_url, self.redis_db),
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "CHAT_SECRET_KEY": self.chat_key,
            "CHAT_SDKAPPID": str(self.sdkappid),
            "CHANNEL_PREFIX": f"parley-bench-{run_id}",
            "CHAT_SOCKET_RATE": str(socket_rate),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.known_workers: set[int] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def reset_database(self) -> None:
        """Drop and create `parley_bench` (only that one), then migrate it."""
        with psycopg.connect(admin_conninfo(self.database_url), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.db_name}")
        done = subprocess.run(self.migrate, cwd=self.app_dir,
                              env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app,
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
             "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
             "--ws-max-size", "262144", "--ws", self.ws],  # as README's production command
            cwd=self.app_dir, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
        )
        self._wait_ready(60.0)

    def _wait_ready(self, timeout: float) -> None:
        """Until it answers HTTP and every worker has finished importing (CPU still)."""
        deadline = time.monotonic() + timeout
        answered = False
        while time.monotonic() < deadline and not answered:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/")
                answered = conn.getresponse().status < 500
                conn.close()
            except OSError:
                time.sleep(0.1)
        if not answered:
            raise RuntimeError(f"server did not answer in {timeout:.0f} s; see {self.log_path}")
        last = None
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            now = {pid: cpu_seconds(pid) for pid in pids}
            if len(pids) >= self.workers and last is not None and last.keys() == now.keys() \
                    and all((now[p] or 0) - (last[p] or 0) < 0.02 for p in now):
                break
            last = now
            time.sleep(0.3)
        self.known_workers = set(self.worker_pids())

    def worker_pids(self) -> list[int]:
        """The processes serving requests: uvicorn's workers, or the lone process."""
        if self.proc is None:
            return []
        kids = [pid for pid in children(self.proc.pid) if _is_python(pid)]
        return kids or [self.proc.pid]

    def rss_kb(self) -> dict:
        """RSS of the workers including their children; the supervisor apart."""
        workers = self.worker_pids()
        total = sum(rss_kb(p) for w in workers for p in [w, *descendants(w)])
        master = rss_kb(self.proc.pid) if self.proc and self.proc.pid not in workers else 0
        return {"workers_kb": total, "master_kb": master,
                "per_worker_kb": {str(w): rss_kb(w) for w in workers}}

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) or 0.0 for pid in self.worker_pids()}

    def restarted_workers(self) -> set[int]:
        """Workers that appeared since start (uvicorn replaces a worker that died)."""
        return set(self.worker_pids()) - self.known_workers

    def stop(self) -> None:
        """SIGTERM the supervisor, then SIGKILL whatever of its session is left."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for pid in pids:  # only processes of the session we started
            try:
                if os.getpgid(pid) == self.proc.pid:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
        self.proc = None
        # The database was empty when we chose it: what is there now is this server's
        # cache, and the next run's fresh PostgreSQL database would not match it.
        if self.redis_db is None:
            return
        client = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    def log_summary(self, limit: int = 5) -> dict:
        """How many warnings/errors the server logged, and the first distinct lines."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return {"lines": 0, "tracebacks": 0, "first": []}
        first: list[str] = []
        for line in lines:
            if line and not line.startswith(" ") and line not in first \
                    and not line.startswith("Traceback"):
                first.append(line[:200])
            if len(first) >= limit:
                break
        return {"lines": len(lines), "tracebacks": sum(1 for x in lines if x.startswith("Traceback")),
                "first": first}


def _is_python(pid: int) -> bool:
    """uvicorn's workers, not a helper such as multiprocessing's resource tracker."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "resource_tracker" not in cmd


# --- what PostgreSQL and Redis say ----------------------------------------------------

class Probe:
    """Snapshots of counters that, differenced over a window, say what a message cost."""

    def __init__(self, server: Server):
        self.server = server
        self.pg = psycopg.connect(admin_conninfo(server.database_url), autocommit=True)
        self.redis = redis.Redis.from_url(server.redis_url, socket_timeout=5)
        self.redis_pid = int(self.redis.info("server").get("process_id", 0))

    def versions(self) -> dict:
        pg = self.pg.execute("SHOW server_version").fetchone()[0]
        autovacuum = self.pg.execute("SHOW autovacuum").fetchone()[0]
        return {"postgresql": pg.split()[0], "pg_autovacuum": autovacuum,
                "redis": self.redis.info("server")["redis_version"]}

    def analyze(self) -> None:
        """ANALYZE the bench database, as autovacuum would have in production (it may be
        off on a test machine: without statistics the planner picks poor indexes)."""
        with psycopg.connect(self.server.env["DATABASE_URL"].replace("postgres://",
                                                                       "postgresql://", 1),
                             autocommit=True) as conn:
            conn.execute("ANALYZE")

    def snapshot(self) -> dict:
        row = self.pg.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,"
            " tup_fetched, tup_returned FROM pg_stat_database WHERE datname = %s",
            [self.server.db_name]).fetchone()
        backends = [r[0] for r in self.pg.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.server.db_name])]
        cmdstats = self.redis.info("commandstats")
        rcpu = self.redis.info("cpu")
        busy, total = machine_cpu()
        return {
            "t": time.monotonic(),
            "pg": dict(zip(("commits", "rollbacks", "inserted", "updated", "deleted",
                            "fetched", "returned"), row or (0,) * 7, strict=True)),
            "pg_backend_cpu": {pid: cpu_seconds(pid) or 0.0 for pid in backends},
            "redis_cmds": {k.removeprefix("cmdstat_"): v.get("calls", 0)
                           for k, v in cmdstats.items()},
            "redis_cpu": float(rcpu.get("used_cpu_user", 0)) + float(rcpu.get("used_cpu_sys", 0)),
            "server_cpu": self.server.cpu(),
            "server_sys": {pid: sys_seconds(pid) or 0.0 for pid in self.server.worker_pids()},
            "machine_busy": busy,
            "machine_total": total,
            "rss": self.server.rss_kb(),
        }

    def close(self) -> None:
        self.pg.close()
        self.redis.close()


def diff(a: dict, b: dict) -> dict:
    """What happened between two snapshots (CPU in seconds, counters as counts)."""
    wall = b["t"] - a["t"]
    pg_cpu = sum(b["pg_backend_cpu"][p] - a["pg_backend_cpu"][p]
                 for p in b["pg_backend_cpu"] if p in a["pg_backend_cpu"])
    srv = {p: b["server_cpu"][p] - a["server_cpu"].get(p, 0.0) for p in b["server_cpu"]}
    return {
        "wall_s": wall,
        "pg": {k: b["pg"][k] - a["pg"][k] for k in b["pg"]},
        "pg_backends_cpu_s": pg_cpu,
        "redis_cmds": {k: v - a["redis_cmds"].get(k, 0) for k, v in b["redis_cmds"].items()
                       if v - a["redis_cmds"].get(k, 0)},
        "redis_cpu_s": b["redis_cpu"] - a["redis_cpu"],
        "server_cpu_s": sum(srv.values()),
        "server_sys_s": sum(b["server_sys"][p] - a["server_sys"].get(p, 0.0)
                            for p in b["server_sys"]),
        "server_cpu_per_worker_s": {str(p): v for p, v in srv.items()},
        "machine_busy_s": b["machine_busy"] - a["machine_busy"],
        "machine_total_s": b["machine_total"] - a["machine_total"],
    }


def versions_of_tools() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("Django", "channels", "channels-redis", "uvicorn", "uvloop", "websockets",
                 "redis", "psycopg"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "?"
    return out
