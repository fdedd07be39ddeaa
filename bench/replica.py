"""A read replica, for real: history pages through the router against the primary alone.

    .venv/bin/python bench/replica.py                 # 400 pages per side, 2 rounds
    .venv/bin/python bench/replica.py --pages 1000 --rounds 3

Everything it talks to is its own, in a temporary directory, and always stopped: a
PostgreSQL primary (`initdb`, its own port), a streaming standby made from it with
`pg_basebackup -R` (its own port), and Parley as production starts it (uvicorn) on the
shared Redis (a database of its own). tests/test_replica.py uses the same pieces
(`ReplicaRig`).

The bench runs two servers on the same primary, one with DATABASE_REPLICA_URLS set to
the standby and one without, and reads the same history page over REST from each in
turn (one client, closed loop), for a user with no recent write (the page comes from
the replica) and for one who has just written (the router asks the replica how far it
has replayed, then reads from it). It prints the medians and p99s and their ratios to
the primary-only server in the same round: the machine is shared, quote the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import TLSSigAPIv2  # noqa: E402
from faults import PgCluster, _as_postgres  # noqa: E402
from server import BENCH_DB, Server, db_url_for, free_port  # noqa: E402

ADMIN = "administrator"


class Standby(PgCluster):
    """A hot standby of `primary`, streaming from it, on its own port."""

    def __init__(self, root: Path, primary: PgCluster):
        self.dir = root / "standby"
        self.dir.mkdir(mode=0o700)
        self.port = free_port()
        self.bin = primary.bin
        self.primary = primary
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def start(self) -> None:
        """Made once with pg_basebackup -R (standby.signal, primary_conninfo), then run."""
        if not (self.dir / "PG_VERSION").exists():
            subprocess.run([*_as_postgres(), str(self.bin / "pg_basebackup"), "-D", str(self.dir),
                            "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                            "-R", "-X", "stream", "--no-sync"],
                           check=True, capture_output=True, timeout=300)
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                f"-c max_connections=100 -c hot_standby=on")
        self._ctl("-w", "-o", opts, "start")

    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={BENCH_DB}"

    def sql(self, query: str):
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query).fetchone()

    def pause(self) -> None:
        self.sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 20
        while self.sql("SELECT pg_get_wal_replay_pause_state()")[0] != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not pause")
            time.sleep(0.05)

    def resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def catch_up(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(primary_conninfo(self.primary), autocommit=True) as conn:
            # The insert position, as Parley records a user's write (it may be a little
            # ahead of what is flushed; the WAL writer flushes it within 200 ms).
            target = conn.execute(
                "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()[0]
        deadline = time.monotonic() + timeout
        while True:
            got = self.sql("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")[0]
            if got is not None and got >= target:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby is at {got}, the primary at {target}")
            time.sleep(0.05)


def primary_conninfo(pg: PgCluster) -> str:
    return f"host=127.0.0.1 port={pg.port} user=postgres dbname={BENCH_DB}"


class ReplicaRig:
    """A primary, its standby, and Parley servers on them (with or without the replica)."""

    def __init__(self, root: Path, *, workers: int = 1):
        self.root = root
        self.primary = PgCluster(root)
        self.standby = Standby(root, self.primary)
        self.workers = workers
        self.servers: list[Server] = []
        self._sigs: dict[tuple[int, str], str] = {}

    def start(self) -> None:
        self.primary.start()
        maker = self._server("migrate", replica=False)
        maker.reset_database()  # on the primary; the standby is copied from it after
        self.standby.start()
        self.standby.catch_up()

    def server(self, *, replica: bool, **env: str) -> Server:
        """A started Parley on the primary, with the standby as its replica or not."""
        srv = self._server(f"s{len(self.servers)}", replica=replica, **env)
        self.servers.append(srv)
        srv.start()
        return srv

    def _server(self, name: str, *, replica: bool, **env: str) -> Server:
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        srv = Server(database_url=self.primary.url, redis_url=redis_url, workers=self.workers,
                     log_path=self.root / f"server-{name}.log", run_id=name, socket_rate=1000)
        srv.env.pop("DATABASE_REPLICA_URLS", None)
        if replica:
            srv.env["DATABASE_REPLICA_URLS"] = db_url_for(self.standby.url, BENCH_DB)
        srv.env.update(env)
        return srv

    def stop(self) -> None:
        for srv in self.servers:
            with contextlib.suppress(Exception):
                srv.stop()
        self.standby.stop()
        self.primary.stop()

    # --- talking to a server --------------------------------------------------------

    def sig(self, srv: Server, user_id: str) -> str:
        key = (srv.port, user_id)
        if key not in self._sigs:
            self._sigs[key] = TLSSigAPIv2.TLSSigAPIv2(srv.sdkappid, srv.chat_key) \
                .gen_sig(user_id, 86400)
        return self._sigs[key]

    def v4(self, srv: Server, path: str, body: dict) -> dict:
        query = urlencode({"sdkappid": srv.sdkappid, "identifier": ADMIN,
                           "usersig": self.sig(srv, ADMIN), "random": random.randint(0, 2**31),
                           "contenttype": "json"})
        request = urllib.request.Request(f"http://127.0.0.1:{srv.port}/v4/{path}?{query}",
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer.get("ErrorCode") == 0, answer
        return answer

    def send(self, srv: Server, sender: str, receiver: str, text: str) -> dict:
        return self.v4(srv, "openim/sendmsg", {
            "From_Account": sender, "To_Account": receiver, "SyncOtherMachine": 1,
            "MsgRandom": random.randint(0, 2**31),
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]})

    def page(self, srv: Server, user_id: str, peer_id: str, count: int = 20) -> list[dict]:
        """The user's newest history page with peer over REST (oldest first)."""
        url = (f"http://127.0.0.1:{srv.port}/api/v1/conversations/"
               f"{quote('C2C' + peer_id)}/messages/?count={count}")
        request = urllib.request.Request(url, headers={
            "Authorization": f"UserSig {user_id}:{self.sig(srv, user_id)}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return json.loads(response.read())["messageList"]

    def roaming(self, srv: Server, owner: str, peer: str) -> list[dict]:
        """/v4 admin_getroammsg of owner with peer, the whole time range."""
        return self.v4(srv, "openim/admin_getroammsg", {
            "Operator_Account": owner, "Peer_Account": peer, "MaxCnt": 100, "MinTime": 0,
            "MaxTime": 2**31 - 1})["MsgList"]

    @staticmethod
    def sync_wait(predicate, timeout: float = 10.0) -> bool:
        """Until predicate() holds (True), or False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def on_primary(self, query: str, params=()) -> int:
        with psycopg.connect(primary_conninfo(self.primary), autocommit=True) as conn:
            return conn.execute(query, params).rowcount


def texts(messages: list[dict]) -> list[str]:
    return [e["payload"]["text"] for m in messages for e in m["elements"]
            if e["type"] == "TIMTextElem"]


# --- the bench ----------------------------------------------------------------------

def _timed_pages(rig: ReplicaRig, srv: Server, user: str, peer: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        rig.page(srv, user, peer)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _timed_after_writes(rig: ReplicaRig, srv: Server, tag: str, n: int) -> list[float]:
    """A page read right after the reader's own send (which it must contain)."""
    out = []
    for i in range(n):
        rig.send(srv, "wa", "wb", f"{tag} {i}")
        t0 = time.perf_counter()
        got = rig.page(srv, "wa", "wb")
        out.append((time.perf_counter() - t0) * 1000)
        assert texts(got)[-1] == f"{tag} {i}", "the sender's write is missing"
    return out


# Inside one Django process with the replica configured: the selector alone, no HTTP.
IN_PROCESS = """
import json, os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django.setup()
from django.db import connections
from django.test.utils import override_settings
from accounts.models import User
from chat_project import replicas
from messaging import selectors
user, peer, n, modes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
viewer = User.objects.get(user_id=user)
out = {}
for mode in modes:
    times = []
    if mode == "choose":  # the router's decision alone (Redis, and the replica if asked)
        for i in range(n + 20):
            t0 = time.perf_counter()
            replicas.replica_for(viewer.pk)
            if i >= 20:
                times.append((time.perf_counter() - t0) * 1000)
        out[mode] = times
        continue
    with override_settings(**({"DATABASE_REPLICAS": []} if mode == "primary" else {})):
        for i in range(n + 20):
            t0 = time.perf_counter()
            page = selectors.message_page(viewer=viewer, conversation_id="C2C" + peer, count=20)
            if i >= 20:  # the first ones open the pools
                times.append((time.perf_counter() - t0) * 1000)
    assert len(page["messageList"]) == 20
    out[mode] = times
print(json.dumps(out))
"""


def _in_process(srv: Server, user: str, peer: str, n: int, modes: str) -> dict:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, user, peer, str(n), modes],
                          cwd=Path(__file__).resolve().parent.parent,
                          env=srv.env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout)


def _standby_xacts(rig: ReplicaRig) -> int:
    """Transactions the standby has run in the bench database (its statistics are flushed
    within a second or so of a backend going idle: wait before reading them)."""
    return int(rig.standby.sql(
        f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{BENCH_DB}'")[0])


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def _row(rnd, name, times, base) -> str:
    p50 = statistics.median(times)
    return (f"{rnd:>5}  {name:<34} {len(times):>5} {p50:8.3f} {_p(times, 0.99):8.3f}"
            f" {p50 / base:8.2f}")


def _rest_round(rig: ReplicaRig, routed: Server, plain: Server, rnd: int, pages: int,
                header: str | None, history: int) -> None:
    if header:
        print(f"1. History page over REST (20 of {history} messages), one client, "
              "uvicorn 1 worker, ms; base = the primary-only server in the same round")
        print(header)
    _timed_pages(rig, plain, "ra", "rb", 20)  # warm the pools
    _timed_pages(rig, routed, "ra", "rb", 20)
    base = _timed_pages(rig, plain, "ra", "rb", pages)
    time.sleep(1.5)
    before = _standby_xacts(rig)
    routed_times = _timed_pages(rig, routed, "ra", "rb", pages)
    time.sleep(1.5)
    served = _standby_xacts(rig) - before
    plain_wrote = _timed_after_writes(rig, plain, f"p{rnd}", pages // 4)
    routed_wrote = _timed_after_writes(rig, routed, f"r{rnd}", pages // 4)
    b = statistics.median(base)
    print(_row(rnd, "primary only", base, b))
    print(_row(rnd, "router, no recent write: replica", routed_times, b))
    print(f"{'':>5}  (the standby ran {served} transactions during those {pages} pages)")
    bw = statistics.median(plain_wrote)
    print(_row(rnd, "primary only, just wrote", plain_wrote, bw))
    print(_row(rnd, "router, just wrote", routed_wrote, bw))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--history", type=int, default=200, help="messages in the dialog")
    parser.add_argument("--no-rest", action="store_true", help="only part 2 (in process)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="parley-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    rig = ReplicaRig(root)
    header = f"{'round':>5}  {'path':<34} {'n':>5} {'p50':>8} {'p99':>8} {'p50/base':>8}"
    try:
        rig.start()
        routed = rig.server(replica=True)
        plain = rig.server(replica=False)
        rig.v4(plain, "im_open_login_svc/multiaccount_import",
               {"Accounts": ["ra", "rb", "wa", "wb"]})
        for i in range(args.history):
            rig.send(plain, "ra", "rb", f"history {i}")
            if i % 10 == 0:
                rig.send(plain, "wa", "wb", f"history {i}")
        rig.standby.catch_up()

        for rnd in range(0 if args.no_rest else args.rounds):
            _rest_round(rig, routed, plain, rnd, args.pages, header if rnd == 0 else None,
                        args.history)
        print("\n2. The selector alone (messaging.selectors.message_page, 20 messages), "
              "in one process, ms; base = the same process with no replica")
        print(header)
        for rnd in range(args.rounds):
            got = _in_process(routed, "ra", "rb", args.pages, "primary,replica,choose")
            b = statistics.median(got["primary"])
            print(_row(rnd, "primary (replicas off for the call)", got["primary"], b))
            print(_row(rnd, "router, no recent write: replica", got["replica"], b))
            print(_row(rnd, "  of which the choice (Redis GET)", got["choose"], b))
            # The standby is paused, then wa writes: each read of wa's asks Redis and the
            # standby, then reads from the primary.
            rig.standby.pause()
            try:
                rig.send(routed, "wa", "wb", f"paused {rnd}")
                got = _in_process(routed, "wa", "wb", args.pages, "primary,behind,choose")
            finally:
                rig.standby.resume()
            b = statistics.median(got["primary"])
            print(_row(rnd, "primary (replicas off for the call)", got["primary"], b))
            print(_row(rnd, "router, replica behind: primary", got["behind"], b))
            print(_row(rnd, "  of which the choice (Redis, standby)", got["choose"], b))
    finally:
        rig.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
