"""The fault suite: send load while the machine has a bad day, then count.

    .venv/bin/python bench/faults.py            # the long run, about 3 minutes
    .venv/bin/python bench/faults.py --short    # what the tests run, about 1 minute

Everything it talks to is its own, started in a temporary directory and always
stopped: a PostgreSQL cluster (`initdb`, its own port), a Redis (its own port, with an
append-only file as a broker's Redis must have), Parley as production starts it
(uvicorn with two workers) and a Celery worker. Over WebSockets, senders send at a
steady rate to receivers that each have two devices; during the load it

1. kills -9 one uvicorn worker (uvicorn starts a new one; its sockets reconnect),
2. restarts Redis (channel layer, cache, presence and Celery broker),
3. calls `/v4/openim/batchsendmsg` and kills -9 the Celery worker while it fans out,
   then starts a new worker,
4. restarts PostgreSQL (fast shutdown: every connection is cut),
5. throughout, closes a sender's socket right after a send and before its reply.

The clients behave as the SDK does (shared/PROTOCOL.md): a device keeps the last sync
`seq` it processed and logs in again with `since`; an event whose `prevSeq` is above
it means a lost event, and the device asks `sync {since}`; a sender resends every
unacknowledged message with the same `random` until it has a reply. No device is told
to sync at the end: a device that stayed deaf shows as missing messages.

Afterwards: every acknowledged message must be in history once, and every device of
its receiver must have processed it exactly once, in dialog order; every receiver of
the batch must have its message once, within BATCH_DEADLINE_S of the worker's restart
(a chunk lost with the killed worker waits out the visibility timeout, 60 s, or the
next 30 s sweep after that).
Prints a table, writes JSON (`--json PATH`), exits 1 if anything was lost, duplicated
or out of order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import redis  # noqa: E402
import TLSSigAPIv2  # noqa: E402
from server import ROOT, Server, free_port  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402

ADMIN = "administrator"


# --- the services the suite owns -----------------------------------------------------

def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_bin() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if not initdb:
        raise RuntimeError("initdb not found (PostgreSQL's server package)")
    return Path(initdb).parent


class PgCluster:
    """A PostgreSQL cluster of the suite's own, in `root`, on a free port."""

    def __init__(self, root: Path):
        self.dir = root / "pg"
        self.dir.mkdir()
        self.port = free_port()
        self.bin = _pg_bin()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _ctl(self, *args: str, check: bool = True) -> None:
        # Output to a file, never a pipe: the postmaster inherits it and would hold it open.
        subprocess.run([*_as_postgres(), str(self.bin / "pg_ctl"), "-D", str(self.dir),
                        "-l", str(self.dir / "server.log"), *args], check=check,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        subprocess.run([*_as_postgres(), str(self.bin / "initdb"), "-D", str(self.dir),
                        "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                f"-c max_connections=100")
        self._ctl("-w", "-o", opts, "start")

    def restart(self) -> None:
        """A fast restart: every client connection is cut, nothing committed is lost."""
        self._ctl("-m", "fast", "-w", "restart")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop", check=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


class RedisServer:
    """A Redis of the suite's own. It keeps an append-only file, as the Redis that is
    a Celery broker must (a broker that forgets its queue on restart loses tasks)."""

    def __init__(self, root: Path):
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis writes its AOF and exits
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# The visibility timeout (60 s), two periods of the lost-task sweep (30 s each) and 30 s
# for the chunks themselves on a loaded machine.
BATCH_DEADLINE_S = 60 + 2 * 30 + 30


class CeleryWorker:
    """A Celery worker, or (beat=True) celery beat, whose schedule runs the lost-task
    sweep (messaging.tasks.requeue_lost_tasks) as in production: a chunk the broker
    dropped between taking it off its list and recording it unacknowledged comes back
    only through the sweep."""

    def __init__(self, env: dict, log_path: Path, *, beat: bool = False):
        self.env, self.log_path, self.beat = env, log_path, beat
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child holds it
        command = (["beat", "-l", "info"] if self.beat else
                   ["worker", "--pool", "solo", "-l", "info", "--without-gossip",
                    "--without-mingle", "--without-heartbeat"])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chat_project", *command],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


# --- the clients ---------------------------------------------------------------------

@dataclass
class Stats:
    reconnects: int = 0
    login_errors: Counter = field(default_factory=Counter)
    redundant: int = 0  # event frames at or below the seq the device already holds
    gaps: int = 0  # events whose prevSeq showed a missed event
    syncs: int = 0
    sync_errors: Counter = field(default_factory=Counter)
    resets: int = 0  # SYNC_RESET: the device had to reload


async def stay_connected(client, stop: asyncio.Event, login: Callable[[], dict]) -> None:
    """Keep one socket of `client` (a Device or a Sender) logged in until `stop`: log in
    with `login()`'s data, let `client._read(ws)` read it, and after a close come back
    a moment later, as the SDK does."""
    first = True
    while not stop.is_set():
        if not first:
            client.stats.reconnects += 1
            await asyncio.sleep(random.uniform(0.2, 0.8))
        first = False
        try:
            async with connect(client.run.ws_url, open_timeout=10, ping_interval=None,
                               close_timeout=2, max_queue=None) as ws:
                await ws.send(json.dumps({"id": "login", "op": "login", "data": login()}))
                reader = asyncio.ensure_future(client._read(ws))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (reader, stopper):
                    task.cancel()
        except (OSError, WebSocketException, TimeoutError):
            pass
        finally:
            client.closed()


class Device:
    """One receiving device: holds the last seq it processed, reconnects with `since`,
    follows the prevSeq chain, records every message it processes."""

    def __init__(self, run: Run, user_id: str, device_id: str):
        self.run, self.user_id, self.device_id = run, user_id, device_id
        self.last_seq = 0
        self.processed: list[tuple[str, str, int, str]] = []  # (ID, from, dialog seq, ccd)
        self.stats = Stats()
        self.sync_asked_at = 0.0
        self.sync_n = 0

    async def live(self, stop: asyncio.Event) -> None:
        await stay_connected(self, stop, lambda: {
            "userID": self.user_id, "userSig": self.run.sig(self.user_id),
            "deviceID": self.device_id, "platform": "Web", "since": self.last_seq})

    def closed(self) -> None:
        pass

    async def _read(self, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if "event" in frame:
                await self._event(ws, frame)
            elif frame.get("id") == "login" and not frame.get("ok"):
                self.stats.login_errors[frame.get("code")] += 1
                return
            elif str(frame.get("id", "")).startswith("sync") and not frame.get("ok"):
                self.stats.sync_errors[frame.get("code")] += 1
                self.sync_asked_at = 0.0

    async def _event(self, ws, frame: dict) -> None:
        if frame["event"] == "SYNC_RESET":
            self.stats.resets += 1
            return
        seq = frame.get("seq")
        if not isinstance(seq, int):
            return  # not in the sync log (typing, status, SDK_READY)
        if seq <= self.last_seq:
            self.stats.redundant += 1
            return
        prev = frame.get("prevSeq")
        if isinstance(prev, int) and prev > self.last_seq:
            self.stats.gaps += 1
            if time.monotonic() - self.sync_asked_at > 3.0:  # one question at a time
                self.sync_asked_at = time.monotonic()
                self.sync_n += 1
                self.stats.syncs += 1
                await ws.send(json.dumps({"id": f"sync{self.sync_n}", "op": "sync",
                                          "data": {"since": self.last_seq}}))
            return
        self.last_seq = seq
        if frame["event"] == "MESSAGE_RECEIVED":
            for msg in frame.get("data") or []:
                if msg.get("to") == self.user_id:
                    self.processed.append((msg["ID"], msg["from"], int(msg["seq"]),
                                           msg.get("cloudCustomData") or ""))


class Sender:
    """Sends `rate` messages a second to one receiver; resends what has no reply with
    the same `random` (the server answers a retry with the message it stored)."""

    def __init__(self, run: Run, user_id: str, to: str, rate: float, drop: float):
        self.run, self.user_id, self.to, self.rate, self.drop = run, user_id, to, rate, drop
        self.next_n = 0
        self.pending: dict[int, float] = {}  # n -> when last sent
        self.attempts: Counter = Counter()
        self.acked: dict[int, str] = {}  # n -> message ID
        self.refused: dict[int, int] = {}  # n -> the last error code, after 20 tries
        self.errors: Counter = Counter()
        self.stats = Stats()
        self.dropped_before_reply = 0
        self.ws = None
        self.ready = asyncio.Event()

    def frame(self, n: int) -> str:
        return json.dumps({"id": f"m{n}", "op": "sendMessage", "data": {
            "to": self.to, "random": n,
            "elements": [{"type": "TIMTextElem", "payload": {"text": f"fault {n}"}}],
            "cloudCustomData": f"{self.user_id}:{n}"}})

    async def live(self, stop: asyncio.Event) -> None:
        await stay_connected(self, stop, lambda: {
            "userID": self.user_id, "userSig": self.run.sig(self.user_id),
            "deviceID": "sender", "platform": "Web"})

    def closed(self) -> None:
        self.ws = None
        self.ready.clear()

    async def _read(self, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            rid = frame.get("id")
            if frame.get("event") == "SDK_READY":
                self.ws = ws
                self.ready.set()
                for n in sorted(self.pending):  # whatever had no reply, once more
                    await self._send(ws, n)
            elif rid == "login" and not frame.get("ok"):
                self.stats.login_errors[frame.get("code")] += 1
                return
            elif isinstance(rid, str) and rid.startswith("m") and rid[1:].isdigit():
                n = int(rid[1:])
                if n not in self.pending:
                    continue
                if frame.get("ok"):
                    self.acked[n] = frame["data"]["ID"]
                    del self.pending[n]
                else:
                    self.errors[frame.get("code")] += 1
                    if self.attempts[n] >= 20:
                        self.refused[n] = frame.get("code")
                        del self.pending[n]

    async def _send(self, ws, n: int) -> None:
        self.pending[n] = time.monotonic()
        self.attempts[n] += 1
        await ws.send(self.frame(n))
        if random.random() < self.drop:  # gone between the send and its reply
            self.dropped_before_reply += 1
            await ws.close()

    async def produce(self, stop_sending: asyncio.Event) -> None:
        interval = 1.0 / self.rate
        due = time.monotonic() + random.uniform(0, interval)
        while not stop_sending.is_set():
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop_sending.is_set():
                return
            due += interval
            self.next_n += 1
            self.pending[self.next_n] = 0.0
            ws = self.ws
            if ws is not None:
                with contextlib.suppress(WebSocketException, OSError):
                    await self._send(ws, self.next_n)

    async def retry(self, stop: asyncio.Event) -> None:
        """Resend what has had no reply for 3 s on the current socket."""
        while not stop.is_set():
            await asyncio.sleep(1.0)
            ws = self.ws
            if ws is None:
                continue
            now = time.monotonic()
            for n, sent in sorted(self.pending.items()):
                if now - sent > 3.0:
                    with contextlib.suppress(WebSocketException, OSError):
                        await self._send(ws, n)


# --- the run -------------------------------------------------------------------------

class Run:
    def __init__(self, args, server: Server):
        self.args = args
        self.server = server
        self.ws_url = server.url
        self.http = f"http://127.0.0.1:{server.port}"
        self.signer = TLSSigAPIv2.TLSSigAPIv2(server.sdkappid, server.chat_key)
        self._sigs: dict[str, str] = {}
        self.prefix = "f" + secrets.token_hex(3)

    def sig(self, user_id: str) -> str:
        if user_id not in self._sigs:
            self._sigs[user_id] = self.signer.gen_sig(user_id, 86400)
        return self._sigs[user_id]

    def v4(self, path: str, body: dict) -> dict:
        query = urlencode({"sdkappid": self.server.sdkappid, "identifier": ADMIN,
                           "usersig": self.sig(ADMIN), "random": random.randint(0, 2**31),
                           "contenttype": "json"})
        request = urllib.request.Request(f"{self.http}/v4/{path}?{query}",
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _log(t0: float, text: str) -> None:
    print(f"[{time.monotonic() - t0:6.1f} s] {text}", flush=True)


async def _until(predicate, timeout: float, step: float = 0.25) -> float | None:
    """Seconds until predicate() held, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        await asyncio.sleep(step)
    return None


def _batch_counts(dsn: str, text: str) -> dict[str, int]:
    """Receiver -> how many copies of the batch message history holds."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT r.user_id, count(*) FROM messaging_message m "
            "JOIN accounts_user r ON r.id = m.receiver_id "
            "JOIN accounts_user s ON s.id = m.sender_id "
            "WHERE s.user_id = %s AND m.elements::text LIKE %s GROUP BY r.user_id",
            (ADMIN, f"%{text}%")).fetchall()
    return dict(rows)


def _stored(dsn: str, sender: str, receiver: str) -> Counter:
    """random -> how many messages history holds from sender to receiver."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT m.random, count(*) FROM messaging_message m "
            "JOIN accounts_user s ON s.id = m.sender_id "
            "JOIN accounts_user r ON r.id = m.receiver_id "
            "WHERE s.user_id = %s AND r.user_id = %s GROUP BY m.random",
            (sender, receiver)).fetchall()
    return Counter(dict(rows))


async def drive(run: Run, pg: PgCluster, rds: RedisServer, worker: CeleryWorker,
                dsn: str) -> dict:
    args = run.args
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    pairs = [(f"{run.prefix}s{i}", f"{run.prefix}r{i}") for i in range(args.pairs)]
    senders = [Sender(run, s, r, args.rate, args.drop) for s, r in pairs]
    devices = {r: [Device(run, r, f"dev{k}") for k in range(args.devices)] for _, r in pairs}
    extra = [f"{run.prefix}x{i}" for i in range(args.batch_extra)]
    for start in range(0, len(extra), 100):
        answer = await loop.run_in_executor(None, run.v4, "im_open_login_svc/multiaccount_import",
                                            {"Accounts": extra[start:start + 100]})
        assert answer.get("ErrorCode") == 0, answer

    stop, stop_sending = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.ensure_future(d.live(stop)) for ds in devices.values() for d in ds]
    await asyncio.sleep(1.0)  # receivers first, so the first messages find them
    tasks += [asyncio.ensure_future(s.live(stop)) for s in senders]
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in senders)), 60)
    _log(t0, f"{len(senders)} senders, {sum(map(len, devices.values()))} receiving devices online")
    tasks += [asyncio.ensure_future(s.produce(stop_sending)) for s in senders]
    tasks += [asyncio.ensure_future(s.retry(stop)) for s in senders]

    faults: dict[str, dict] = {}
    begin = time.monotonic()

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, begin + fraction * args.duration - time.monotonic()))

    def acked_total() -> int:
        return sum(len(s.acked) for s in senders)

    async def recovery(name: str) -> None:
        """Seconds from the fault until the next acknowledged send."""
        before = acked_total()
        took = await _until(lambda: acked_total() > before, 60, 0.05)
        faults[name]["next_ack_s"] = None if took is None else round(took, 2)

    # 1. kill -9 one ASGI worker
    await at(0.12)
    victim = random.choice(run.server.worker_pids())
    os.kill(victim, signal.SIGKILL)
    faults["asgi_worker_killed"] = {"pid": victim}
    _log(t0, f"killed uvicorn worker {victim}")
    await recovery("asgi_worker_killed")

    # 2. restart Redis
    await at(0.28)
    t = time.monotonic()
    await loop.run_in_executor(None, rds.restart)
    faults["redis_restarted"] = {"down_s": round(time.monotonic() - t, 2)}
    _log(t0, f"restarted Redis ({faults['redis_restarted']['down_s']} s)")
    await recovery("redis_restarted")

    # 3. batchsendmsg, the worker killed while it fans out, a new worker
    await at(0.44)
    marker = f"batch-{run.prefix}"
    receivers = [r for _, r in pairs] + extra
    answer = await loop.run_in_executor(None, run.v4, "openim/batchsendmsg", {
        "To_Account": receivers, "MsgRandom": random.randint(0, 2**31),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": marker}}]})
    assert answer.get("ErrorCode") == 0, answer
    await _until(lambda: sum(_batch_counts(dsn, marker).values()) > 0, 10, 0.02)
    done_at_kill = sum(_batch_counts(dsn, marker).values())
    worker.kill()
    _log(t0, f"batchsendmsg to {len(receivers)}; worker killed with {done_at_kill} written")
    await asyncio.sleep(2.0)
    worker.start()
    restarted = time.monotonic()
    faults["celery_killed_mid_batch"] = {"receivers": len(receivers),
                                         "written_at_kill": done_at_kill}

    # 4. restart PostgreSQL
    await at(0.62)
    t = time.monotonic()
    await loop.run_in_executor(None, pg.restart)
    faults["postgres_restarted"] = {"down_s": round(time.monotonic() - t, 2)}
    _log(t0, f"restarted PostgreSQL ({faults['postgres_restarted']['down_s']} s)")
    await recovery("postgres_restarted")

    await at(1.0)
    stop_sending.set()
    _log(t0, "sending stopped; waiting for every send to have its reply")
    await _until(lambda: not any(s.pending for s in senders), args.settle)

    # The batch: every receiver once, within BATCH_DEADLINE_S of the new worker.
    def batch_done() -> bool:
        counts = _batch_counts(dsn, marker)
        return len(counts) == len(receivers)

    took = await _until(batch_done, max(0.0, BATCH_DEADLINE_S - (time.monotonic() - restarted)), 1.0)
    faults["celery_killed_mid_batch"]["complete_s_after_restart"] = (
        None if took is None else round(time.monotonic() - restarted, 1))

    # Devices converge by themselves (no sync asked for by the suite).
    def converged() -> bool:
        want = {s.to: len(s.acked) + 1 for s in senders}  # + the batch message
        return all(len({p[0] for p in d.processed}) >= want[r]
                   for r, ds in devices.items() for d in ds)

    await _until(converged, args.settle)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    _log(t0, "load stopped; counting")
    return _count(run, senders, devices, receivers, marker, dsn, faults)


def _count(run, senders, devices, receivers, marker, dsn, faults) -> dict:
    acked = sum(len(s.acked) for s in senders)
    lost_in_history = dup_in_history = 0
    missing = dup_on_device = out_of_order = 0
    for s in senders:
        stored = _stored(dsn, s.user_id, s.to)
        for n in s.acked:
            if stored[n] == 0:
                lost_in_history += 1
            elif stored[n] > 1:
                dup_in_history += 1
        wanted = {msg_id for msg_id in s.acked.values()}
        for d in devices[s.to]:
            ids = Counter(p[0] for p in d.processed)
            missing += len(wanted - ids.keys())
            dup_on_device += sum(c - 1 for c in ids.values() if c > 1)
            last: dict[str, int] = {}
            for _, sender, seq, _ in d.processed:
                if seq <= last.get(sender, 0):
                    out_of_order += 1
                last[sender] = seq
    batch = _batch_counts(dsn, marker)
    batch_missing = sum(1 for r in receivers if batch.get(r, 0) == 0)
    batch_dup = sum(c - 1 for c in batch.values() if c > 1)
    batch_device_missing = batch_device_dup = 0
    for ds in devices.values():
        for d in ds:
            copies = sum(1 for p in d.processed if p[1] == ADMIN)
            batch_device_missing += copies == 0
            batch_device_dup += max(0, copies - 1)
    everyone = [*senders, *(d for ds in devices.values() for d in ds)]
    errors = Counter()
    for s in senders:
        errors.update(s.errors)
    stats = {
        "acknowledged": acked,
        "never_acknowledged": sum(len(s.pending) + len(s.refused) for s in senders),
        "lost_in_history": lost_in_history,
        "duplicated_in_history": dup_in_history,
        "missing_on_devices": missing,
        "duplicated_on_devices": dup_on_device,
        "out_of_order_on_devices": out_of_order,
        "batch_receivers": len(receivers),
        "batch_missing": batch_missing,
        "batch_duplicated": batch_dup,
        "batch_missing_on_devices": batch_device_missing,
        "batch_duplicated_on_devices": batch_device_dup,
        "dropped_before_reply": sum(s.dropped_before_reply for s in senders),
        "resends": sum(sum(s.attempts.values()) - len(s.attempts) for s in senders),
        "send_errors": {str(k): v for k, v in errors.items()},
        "reconnects": sum(x.stats.reconnects for x in everyone),
        "redundant_frames": sum(x.stats.redundant for x in everyone),
        "gaps_seen": sum(x.stats.gaps for x in everyone),
        "syncs_asked": sum(x.stats.syncs for x in everyone),
        "sync_errors": sum(sum(x.stats.sync_errors.values()) for x in everyone),
        "sync_resets": sum(x.stats.resets for x in everyone),
        "faults": faults,
    }
    batch_late = faults["celery_killed_mid_batch"].get("complete_s_after_restart") is None
    stats["ok"] = not any([lost_in_history, dup_in_history, missing, dup_on_device,
                           out_of_order, batch_missing, batch_dup, batch_device_missing,
                           batch_device_dup, batch_late, acked == 0])
    return stats


def _send_failures(log_path: Path) -> list[str]:
    """The exception that ended each send the server answered 20005 or 910503 for (the
    line after its traceback), so a failure under a fault names its cause."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out, inside = [], False
    for line in lines:
        if line.startswith("message send failed"):
            out.append(line[:300])
            inside = line.strip() == "message send failed"
        elif inside and line and not line.startswith((" ", "Traceback", "The above",
                                                       "During handling")):
            out.append("  " + line[:300])
            inside = False
    return out[:20]


def _print(stats: dict) -> None:
    width = max(map(len, stats))
    for key, value in stats.items():
        if key != "faults":
            print(f"  {key:<{width}}  {value}")
    for name, figures in stats["faults"].items():
        print(f"  fault {name}: {figures}")
    print("OK: nothing acknowledged was lost, duplicated or reordered" if stats["ok"]
          else "FAILED: see the counts above")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--short", action="store_true", help="the tests' version: 4 pairs, 30 s")
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--devices", type=int, default=2, help="receiving devices per receiver")
    p.add_argument("--rate", type=float, default=5.0, help="msgs/s per sender")
    p.add_argument("--duration", type=float, default=90.0, help="seconds of load")
    p.add_argument("--drop", type=float, default=0.03,
                   help="chance that a sender's socket closes right after a send")
    p.add_argument("--batch-extra", type=int, default=480,
                   help="batchsendmsg receivers beyond the load's receivers")
    p.add_argument("--settle", type=float, default=60.0,
                   help="seconds allowed after the load for replies and devices to converge")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.short:
        args.pairs, args.duration = 4, 30.0

    root = Path(tempfile.mkdtemp(prefix="parley-faults-"))
    os.chmod(root, 0o755)
    pg, rds = PgCluster(root), RedisServer(root)
    server = worker = beat = None
    try:
        pg.start()
        rds.start()
        print(f"PostgreSQL on {pg.port}, Redis on {rds.port}, in {root}", flush=True)
        server = Server(database_url=pg.url, redis_url=rds.url, workers=2,
                        log_path=root / "server.log", run_id=secrets.token_hex(4),
                        socket_rate=100000)
        server.reset_database()
        server.start()
        dsn = server.env["DATABASE_URL"]
        worker = CeleryWorker(dict(server.env, CELERY_TASK_ALWAYS_EAGER="0"),
                              root / "worker.log")
        worker.start()
        beat = CeleryWorker(worker.env, root / "beat.log", beat=True)
        beat.start()
        stats = asyncio.run(drive(Run(args, server), pg, rds, worker, dsn))
        stats["server_log"] = server.log_summary()
        stats["send_failures_logged"] = _send_failures(root / "server.log")
    finally:
        for celery_process in (beat, worker):
            if celery_process is not None:
                celery_process.stop()
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
        rds.stop()
        pg.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    _print(stats)
    if args.json:
        args.json.write_text(json.dumps(stats, indent=2))
    return 0 if stats["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
