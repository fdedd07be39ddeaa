"""The load generator: WebSocket clients that log in, send and check messages.

It runs in its own process (run.py starts one or more with multiprocessing), never in
the server's. One process drives its share of a phase: closed-loop pairs, open-loop
pairs, or idle sockets. It speaks shared/PROTOCOL.md with the `websockets` asyncio
client, only to 127.0.0.1, and reports counts and latencies back on a queue.

Every message carries its send time and number in `cloudCustomData`; the receiver
checks that it got exactly its sender's messages, in order of the dialog `seq`, and
counts duplicates, reordering, corruption and loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass

import TLSSigAPIv2
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
    uvloop = None

LOGIN_TIMEOUT = 20.0  # one socket's open + login + SDK_READY
MAX_SEND_WAIT = 10.0  # closed loop: longest wait for one message before sending on
CLOSE_TIMEOUT = 3.0


@dataclass
class Spec:
    """What one generator process does in one phase (picklable)."""

    kind: str  # "closed", "open" or "idle"
    url: str
    sdkappid: int
    key: str
    prefix: str  # unique per run, phase and process: UserIDs are f"{prefix}s{i}"...
    pairs: int = 0
    rate: float = 0.0  # open loop: the offered msgs/s of the whole phase (all processes)
    pairs_total: int = 0  # open loop: pairs of the whole phase
    pair_base: int = 0  # open loop: global index of this process's first pair
    warmup: float = 2.0
    duration: float = 10.0
    drain: float = 5.0
    idle: int = 0
    idle_hold: float = 12.0
    connect_batch: int = 50
    compression: str | None = "deflate"
    setup_timeout: float = 120.0


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _text(n: int) -> str:
    return f"bench message {n}"


class Pair:
    """A sender and its receiver, with everything the receiver checks."""

    def __init__(self, sender_id: str, receiver_id: str):
        self.sender_id, self.receiver_id = sender_id, receiver_id
        self.sender = None  # websockets connections
        self.receiver = None
        self.next_n = 0
        self.sent: dict[int, float] = {}  # n -> send timestamp
        self.acked: dict[int, int] = {}  # n -> the dialog seq in the server's reply
        self.failed: set[int] = set()  # n answered with an error
        self.received: dict[int, int] = {}  # n -> seq as the receiver got it
        self.errors: Counter = Counter()
        self.last_seq = -1
        self.last_n = 0
        self.dup = self.ooo = self.corrupt = self.unexpected = 0
        self.waiting: tuple[int, asyncio.Future] | None = None
        self.timeouts = 0

    def wake(self, n: int) -> None:
        if self.waiting is not None and self.waiting[0] == n and not self.waiting[1].done():
            self.waiting[1].set_result(None)

    def settled(self) -> bool:
        """Is every sent message either failed, or acked and received?"""
        done = len(self.failed) + sum(1 for n in self.received if n in self.acked)
        return done >= len(self.sent)


class Recorder:
    """Receipts of one process: (receive time, latency) for every message."""

    def __init__(self) -> None:
        self.receipts: list[tuple[float, float]] = []
        self.frames = 0
        self.other_events: Counter = Counter()


async def _open(spec: Spec, user_id: str, sig: str):
    """Open a socket and log in; return it once SDK_READY has arrived."""
    ws = await connect(spec.url, compression=spec.compression, ping_interval=None,
                       open_timeout=LOGIN_TIMEOUT, close_timeout=CLOSE_TIMEOUT,
                       max_queue=None)
    try:
        await ws.send(json.dumps({"id": "login", "op": "login", "data": {
            "userID": user_id, "userSig": sig, "deviceID": "bench", "platform": "Web"}}))
        deadline = time.monotonic() + LOGIN_TIMEOUT
        logged_in = False
        for _ in range(1000):  # a new user has nothing to replay: a few frames at most
            raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            frame = json.loads(raw)
            if frame.get("id") == "login":
                if not frame.get("ok"):
                    raise RuntimeError(f"login of {user_id} failed: {frame}")
                logged_in = True
            elif frame.get("event") == "SDK_READY" and logged_in:
                return ws
        raise RuntimeError(f"login of {user_id}: no SDK_READY")
    except BaseException:
        await ws.close()
        raise


async def _open_many(spec: Spec, user_ids: list[str],
                     opened: list | None = None) -> tuple[list, list[str]]:
    """Open and log in sockets for `user_ids`, `connect_batch` at a time (each one also
    appended to `opened` as soon as it is in, when given).

    Returns the sockets that made it (None in place of a failure) and the failures."""
    api = TLSSigAPIv2.TLSSigAPIv2(spec.sdkappid, spec.key)
    sockets: list = []
    failures: list[str] = []
    try:
        for start in range(0, len(user_ids), spec.connect_batch):
            chunk = user_ids[start:start + spec.connect_batch]
            for res in await asyncio.gather(*(_open(spec, uid, api.gen_sig(uid))
                                              for uid in chunk), return_exceptions=True):
                if isinstance(res, BaseException):
                    failures.append(f"{type(res).__name__}: {res}")
                    sockets.append(None)
                else:
                    sockets.append(res)
                    if opened is not None:
                        opened.append(res)
    except BaseException:
        await _close_all(sockets)
        raise
    return sockets, failures


async def _close_all(sockets: list) -> None:
    async def close(ws):
        if ws is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT + 1)

    for start in range(0, len(sockets), 200):
        await asyncio.gather(*(close(ws) for ws in sockets[start:start + 200]))


# --- frames in ----------------------------------------------------------------------

async def _read_sender(pair: Pair, rec: Recorder) -> None:
    with contextlib.suppress(WebSocketException, OSError):
        async for raw in pair.sender:
            rec.frames += 1
            if '"id":' not in raw:  # events to the sender (conversation updates)
                rec.other_events["sender"] += 1
                continue
            frame = json.loads(raw)
            rid = frame.get("id")
            if not isinstance(rid, str) or not rid.isdigit():
                continue
            n = int(rid)
            if frame.get("ok"):
                pair.acked[n] = (frame.get("data") or {}).get("seq")
            else:
                pair.errors[frame.get("code")] += 1
                pair.failed.add(n)
                pair.wake(n)


async def _read_receiver(pair: Pair, rec: Recorder) -> None:
    with contextlib.suppress(WebSocketException, OSError):
        async for raw in pair.receiver:
            now = time.monotonic()
            rec.frames += 1
            if '"MESSAGE_RECEIVED"' not in raw:
                rec.other_events["receiver"] += 1
                continue
            frame = json.loads(raw)
            if frame.get("event") != "MESSAGE_RECEIVED":
                rec.other_events["receiver"] += 1
                continue
            for msg in frame.get("data") or []:
                _check(pair, msg, now, rec)


def _check(pair: Pair, msg: dict, now: float, rec: Recorder) -> None:
    """The receiver's checks on one message: its sender, content, order, once only."""
    if msg.get("from") != pair.sender_id or msg.get("to") != pair.receiver_id:
        pair.unexpected += 1
        return
    try:
        meta = json.loads(msg["cloudCustomData"])
        n, sent_at = int(meta["n"]), float(meta["t"])
        text = msg["elements"][0]["payload"]["text"]
        seq = int(msg["seq"])
    except (KeyError, IndexError, TypeError, ValueError):
        pair.corrupt += 1
        return
    if text != _text(n) or n not in pair.sent:
        pair.corrupt += 1
        return
    if n in pair.received:
        pair.dup += 1
        return
    pair.received[n] = seq
    if seq <= pair.last_seq or n < pair.last_n:
        pair.ooo += 1
    else:
        pair.last_seq, pair.last_n = seq, n
    rec.receipts.append((now, now - sent_at))
    pair.wake(n)


# --- frames out ---------------------------------------------------------------------

async def _send(pair: Pair, stamp: float) -> int:
    """Send the pair's next message, stamped `stamp` (monotonic seconds)."""
    pair.next_n += 1
    n = pair.next_n
    pair.sent[n] = stamp
    await pair.sender.send(json.dumps({"id": str(n), "op": "sendMessage", "data": {
        "to": pair.receiver_id, "random": n,
        "elements": [{"type": "TIMTextElem", "payload": {"text": _text(n)}}],
        "cloudCustomData": json.dumps({"n": n, "t": stamp}, separators=(",", ":")),
    }}, separators=(",", ":")))
    return n


async def _closed_loop(pair: Pair, stop_at: float) -> None:
    """Send, wait until the receiver has it (or it failed), send again, until stop_at."""
    loop = asyncio.get_running_loop()
    while time.monotonic() < stop_at:
        fut = loop.create_future()
        pair.waiting = (pair.next_n + 1, fut)
        n = await _send(pair, time.monotonic())
        if n in pair.received or n in pair.failed:
            continue
        try:
            await asyncio.wait_for(fut, MAX_SEND_WAIT)
        except TimeoutError:
            pair.timeouts += 1


async def _open_loop(pair: Pair, first: float, interval: float, stop_at: float) -> None:
    """Send on a fixed schedule, never waiting for replies; a late send is stamped with
    its scheduled time, so a stalled generator or server shows up as latency."""
    due = first
    for _ in range(10_000_000):
        if due >= stop_at:
            return
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await _send(pair, due)
        due += interval


# --- phases -------------------------------------------------------------------------

async def _wait_go(go, start_at) -> float:
    """Block (in a thread) until the parent says go; return the common start time."""
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, go.wait, 300)
    if not ok:
        raise RuntimeError("the parent never said go")
    start = start_at.value
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    return start


async def _drain(pairs: list[Pair], seconds: float) -> None:
    """Wait up to `seconds` for every message in flight to settle."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(p.settled() for p in pairs):
        await asyncio.sleep(0.05)


async def run_pairs(spec: Spec, report, go, start_at) -> dict:
    """A closed- or open-loop phase for this process's pairs."""
    pairs = [Pair(f"{spec.prefix}s{i}", f"{spec.prefix}r{i}") for i in range(spec.pairs)]
    ids = [uid for p in pairs for uid in (p.sender_id, p.receiver_id)]
    t_setup = time.monotonic()
    sockets, failures = await _open_many(spec, ids)
    if failures:
        await _close_all(sockets)
        raise RuntimeError(f"{len(failures)} of {len(ids)} logins failed, first: {failures[0]}")
    for i, p in enumerate(pairs):
        p.sender, p.receiver = sockets[2 * i], sockets[2 * i + 1]
    setup_s = time.monotonic() - t_setup
    rec = Recorder()
    readers = [asyncio.create_task(_read_sender(p, rec)) for p in pairs]
    readers += [asyncio.create_task(_read_receiver(p, rec)) for p in pairs]
    report.put(("ready", spec.prefix, setup_s))
    start = await _wait_go(go, start_at)
    window = (start + spec.warmup, start + spec.warmup + spec.duration)
    cpu: dict[str, float] = {}

    async def cpu_marks():
        await asyncio.sleep(max(0.0, window[0] - time.monotonic()))
        cpu["start"], cpu["wall_start"] = time.process_time(), time.monotonic()
        await asyncio.sleep(max(0.0, window[1] - time.monotonic()))
        cpu["end"], cpu["wall_end"] = time.process_time(), time.monotonic()

    marks = asyncio.create_task(cpu_marks())
    if spec.kind == "closed":
        await asyncio.gather(*(_closed_loop(p, window[1]) for p in pairs))
    else:
        interval = spec.pairs_total / spec.rate
        await asyncio.gather(*(_open_loop(p, start + (spec.pair_base + i) / spec.rate,
                                          interval, window[1])
                               for i, p in enumerate(pairs)))
    await marks
    await _drain(pairs, spec.drain)
    await _close_all(sockets)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return _pair_result(spec, pairs, rec, window, cpu, setup_s)


def _pair_result(spec, pairs, rec, window, cpu, setup_s) -> dict:
    errors: Counter = Counter()
    for p in pairs:
        errors.update(p.errors)
    in_window = [lat for t, lat in rec.receipts if window[0] <= t < window[1]]
    lost = sum(1 for p in pairs for n in p.acked if n not in p.received)
    return {
        "sent_window": sum(1 for p in pairs for t in p.sent.values()
                           if window[0] <= t < window[1]),
        "sent_total": sum(len(p.sent) for p in pairs),
        "acked_total": sum(len(p.acked) for p in pairs),
        "received_total": sum(len(p.received) for p in pairs),
        "received_window": len(in_window),
        "latencies": in_window,
        "lost": lost,
        "unacked": sum(1 for p in pairs for n in p.sent
                       if n not in p.acked and n not in p.failed),
        "duplicates": sum(p.dup for p in pairs),
        "out_of_order": sum(p.ooo for p in pairs),
        "corrupt": sum(p.corrupt for p in pairs),
        "unexpected": sum(p.unexpected for p in pairs),
        "seq_mismatch": sum(1 for p in pairs for n, seq in p.acked.items()
                            if n in p.received and p.received[n] != seq),
        "errors": sum(errors.values()),
        "error_codes": {str(k): v for k, v in errors.items()},
        "closed_loop_timeouts": sum(p.timeouts for p in pairs),
        "frames_received": rec.frames,
        "other_events": dict(rec.other_events),
        "gen_cpu_s": cpu.get("end", 0.0) - cpu.get("start", 0.0),
        "gen_wall_s": cpu.get("wall_end", 0.0) - cpu.get("wall_start", 0.0),
        "setup_s": setup_s,
    }


async def _ping(ws, timeout: float) -> float | None:
    """Round trip of one `ping` op in seconds, or None if the socket is dead."""
    t0 = time.monotonic()
    try:
        await ws.send('{"id":"ping","op":"ping"}')
        deadline = t0 + timeout
        for _ in range(100):  # skip any event that arrived while idle
            raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            if '"id":"ping"' in raw:
                return time.monotonic() - t0
    except (TimeoutError, WebSocketException, OSError):
        return None
    return None


HEARTBEAT = 30.0  # the SDK's ping interval (static/parley/sdk.js); the server closes a
# socket silent for CHAT_SOCKET_IDLE_TIMEOUT (120 s), and 10,000 take longer to open


async def _heartbeat(sockets: list) -> None:
    """Ping every socket opened so far every HEARTBEAT seconds, as the SDK does (the
    answers are skipped by the final _ping)."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        for ws in list(sockets):
            with contextlib.suppress(WebSocketException, OSError):
                await ws.send('{"id":"beat","op":"ping"}')


async def run_idle(spec: Spec, report, go, start_at) -> dict:
    """Open `spec.idle` logged-in sockets, hold them idle, then ping every one."""
    ids = [f"{spec.prefix}i{i}" for i in range(spec.idle)]
    report.put(("ready", spec.prefix, 0.0))
    await _wait_go(go, start_at)
    t0 = time.monotonic()
    opened: list = []
    beat = asyncio.get_running_loop().create_task(_heartbeat(opened))
    try:
        sockets, failures = await _open_many(spec, ids, opened)
        sockets = [ws for ws in sockets if ws is not None]
        connected_at = time.monotonic()
        report.put(("connected", spec.prefix, connected_at - t0))
        await asyncio.sleep(max(0.0, connected_at + spec.idle_hold - time.monotonic()))
    finally:
        beat.cancel()
    held = time.monotonic() - connected_at
    rtts: list[float] = []
    dead = 0
    for start in range(0, len(sockets), 200):
        for rtt in await asyncio.gather(*(_ping(ws, 5.0) for ws in sockets[start:start + 200])):
            if rtt is None:
                dead += 1
            else:
                rtts.append(rtt)
    report.put(("pinged", spec.prefix, held))
    await _close_all(sockets)
    return {"opened": len(sockets), "failed": len(failures), "failures": failures[:5],
            "connect_s": connected_at - t0, "held_s": held,
            "alive": len(rtts), "died": dead, "ping_rtts": rtts}


def child_main(spec: Spec, report, go, start_at) -> None:
    """Entry point of a generator process: run one phase, put ("result", ...) on `report`."""
    raise_nofile()
    runner = run_idle if spec.kind == "idle" else run_pairs
    budget = spec.setup_timeout + 300 + spec.warmup + spec.duration + spec.drain + spec.idle_hold

    async def main():
        return await asyncio.wait_for(runner(spec, report, go, start_at), budget)

    try:
        if uvloop is not None:
            result = uvloop.run(main())
        else:
            result = asyncio.run(main())
        report.put(("result", spec.prefix, result))
    except BaseException as exc:  # report, then let the process end
        report.put(("error", spec.prefix, f"{type(exc).__name__}: {exc}"))
        if not isinstance(exc, Exception):
            raise
