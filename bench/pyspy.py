"""Sampling profiles of the server's workers with py-spy, and their summary.

py-spy is installed in the venv by hand (`.venv/bin/pip install py-spy`), it is not a
project dependency. Two recorders run on each worker at once, both non-blocking:

- `--gil`: only the thread holding the GIL is sampled, so the samples are the worker's
  Python CPU time (C extensions that keep the GIL, such as uvloop, included). This
  says what the CPU is spent on: by library, by stage of the pipeline, by function.
- `--idle`: every thread, waiting or not (wall clock). This says what the worker's one
  database thread (`database_sync_to_async`) does with its time: idle, in psycopg (a
  PostgreSQL round trip, or waiting to get the GIL back), or running Python.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (category, pattern on the innermost frame's file), first match wins. py-spy prints
# files relative to their sys.path entry ("psycopg/cursor.py", "messaging/services.py").
LIBRARIES = [
    ("psycopg", r"^psycopg(_binary|_pool)?/"),
    ("django ORM / db", r"^django/db/"),
    ("django other", r"^django/"),
    ("channels_redis", r"^channels_redis/"),
    ("redis-py", r"^redis/"),
    ("msgpack", r"^msgpack/"),
    ("channels", r"^channels/"),
    ("asgiref (sync/async hops)", r"^asgiref/"),
    ("websockets (frames, deflate)", r"^websockets/"),
    ("uvicorn", r"^uvicorn/"),
    ("uvloop C code (I/O, callbacks)", r"^asyncio/runners\.py"),
    ("json", r"^json/"),
    ("asyncio", r"^asyncio/"),
    ("threads / futures (executor hop)", r"^(concurrent/futures/|threading\.py|queue\.py)"),
    ("parley: messaging", r"^messaging/"),
    ("parley: accounts", r"^accounts/"),
    ("parley: other", r"^(chat_project|relationships|push)/"),
]
# Frames anywhere on the stack (inclusive time), to follow a message through the server.
STAGES = [
    ("consumer.receive (a client frame in)", r"^ChatConsumer\.receive "),
    ("  op_sendMessage", r"^ChatConsumer\.op_sendMessage "),
    ("  op_login", r"^ChatConsumer\.op_login "),
    ("consumer.chat_event(s) (an event out)", r"^ChatConsumer\.chat_events? "),
    ("SendBatcher (group commit, on the loop)", r"^SendBatcher\."),
    ("_send_step (the send pipeline, in the DB thread)", r"^_send_step "),
    ("  store_batch / _store (SQL)", r"^(store_batch|_store) "),
    ("send_batch (publish to the channel layer)", r"^send_batch "),
    ("channels_redis group_send", r"^\S*group_send \(channels_redis"),
    ("channels_redis receive (events in from Redis)",
     r"^\S*(_do_receiving|RedisPubSubLoopLayer\.receive) "),
    ("websocket frame out (uvicorn + websockets)", r"^WebSocketsSansIOProtocol\.send "),
    ("  permessage-deflate", r"^PerMessageDeflate\."),
    ("json dumps/loads", r"^(dumps|loads) \(json/"),
    ("sync_to_async hops, the awaiting side (asgiref)", r"^SyncToAsync\.__call__ "),
    ("close_old_connections (channels' per-dispatch hop and database_sync_to_async)",
     r"^a?close_old_connections "),
    ("connection health check (SELECT 1 after every close_old_connections)",
     r"^\S*(close_if_health_check_failed|is_usable) "),
]
DB_THREAD = "ThreadPoolExecutor"


def available() -> str | None:
    """The py-spy executable next to this Python, or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pids: list[int], seconds: float, out_dir: Path, rate: int = 100) -> list:
    """Start the two recorders on every pid; returns (mode, Popen, output path) triples."""
    exe = available()
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    jobs = []
    for pid in pids:
        for mode, flag in (("gil", "--gil"), ("wall", "--idle")):
            out = out_dir / f"pyspy-{pid}-{mode}.txt"
            proc = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                 "--rate", str(rate), "--format", "raw", "--threads", "--nonblocking", flag,
                 "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            jobs.append((mode, proc, out))
    return jobs


def finish(jobs: list, timeout: float) -> dict[str, list[Path]]:
    """Wait for the recorders; return the files written, by mode."""
    files: dict[str, list[Path]] = {"gil": [], "wall": []}
    for mode, proc, out in jobs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)
        if out.exists():
            files[mode].append(out)
    return files


def _samples(files: list[Path]):
    """(thread label, frames root first, count) for every line of collapsed stacks."""
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            thread = frames[0] if frames[0].startswith("thread (") else ""
            frames = [f for f in frames[1 if thread else 0:] if f]
            if frames:
                yield thread, frames, int(count)


def _file(frame: str) -> str:
    m = re.search(r"\(([^()]*?)(:\d+)?\)$", frame)
    return m.group(1) if m else frame


def _library(frame: str) -> str:
    path = _file(frame)
    for name, pattern in LIBRARIES:
        if re.search(pattern, path):
            return name
    return "other (stdlib and the rest)"


def _thread_kind(thread: str) -> str:
    if DB_THREAD in thread:
        return "DB thread (database_sync_to_async)"
    if "MainThread" in thread:
        return "event loop thread"
    return "other threads"


_LOOP_ROOT = re.compile(r"^(Runner\.run|\S*run_until_complete|asyncio_run) ")
_DB_ROOT = re.compile(r"^SyncToAsync\.(thread_handler|__call__\.<locals>\.func.*) ")


def _entry(frames: list[str], root: re.Pattern) -> str:
    """The first frame after the last `root` frame: the callback or job a thread runs."""
    idx = -1
    for i, frame in enumerate(frames):
        if root.match(frame):
            idx = i
    if idx < 0:
        return "(partial stack: non-blocking sampling)"
    if idx + 1 >= len(frames):
        return "(in C: uvloop / the executor itself)"
    return re.sub(r" \(.*$", "", frames[idx + 1])


def summarise(files: dict[str, list[Path]], seconds: float, rate: int = 100,
              top: int = 15) -> dict:
    """CPU by library, thread, stage and function (GIL samples); DB thread states (wall)."""
    by_lib: Counter = Counter()
    by_thread: Counter = Counter()
    by_stage: Counter = Counter()
    by_leaf: Counter = Counter()
    loop_entry: Counter = Counter()
    db_entry: Counter = Counter()
    total = 0
    for thread, frames, n in _samples(files["gil"]):
        total += n
        if DB_THREAD in thread:
            db_entry[_entry(frames, _DB_ROOT)] += n
        elif "MainThread" in thread:
            loop_entry[_entry(frames, _LOOP_ROOT)] += n
        by_leaf[re.sub(r":\d+\)$", ")", frames[-1])] += n
        by_thread[_thread_kind(thread)] += n
        by_lib[_library(frames[-1])] += n
        for name, pattern in STAGES:
            if any(re.search(pattern, f) for f in frames):
                by_stage[name] += n
    workers = max(1, len(files["gil"]))
    possible = seconds * rate * workers

    db_states: Counter = Counter()
    for thread, frames, n in _samples(files["wall"]):
        if DB_THREAD not in thread:
            continue
        leaf = _file(frames[-1])
        if re.match(r"(concurrent/futures/thread\.py|queue\.py|threading\.py)", leaf):
            db_states["idle (waiting for work)"] += n
        elif leaf.startswith("psycopg"):
            db_states["in psycopg (PostgreSQL round trip, or waiting for the GIL)"] += n
        else:
            db_states["running Python (or waiting for the GIL)"] += n
    db_total = sum(db_states.values())

    def pct(counter: Counter, denominator: int) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / denominator) for k, v in counter.most_common()] \
            if denominator else []

    return {
        "gil_samples": total,
        "workers": workers,
        "gil_busy_per_worker": total / possible if possible else 0.0,
        "by_library_pct": pct(by_lib, total),
        "by_thread_pct": pct(by_thread, total),
        "by_stage_pct": [(k, 100.0 * by_stage[k] / total) for k, _ in STAGES
                         if by_stage[k]] if total else [],
        "top_functions_pct": pct(by_leaf, total)[:top],
        "loop_entry_pct": pct(loop_entry, total)[:top],
        "db_entry_pct": pct(db_entry, total)[:top],
        "db_thread_pct": pct(db_states, db_total),
    }


def format_summary(s: dict, limit: int = 12) -> str:
    lines = [f"py-spy --gil: {s['gil_samples']} samples over {s['workers']} worker(s); the GIL"
             f" was held {100 * s['gil_busy_per_worker']:.0f}% of the time per worker"]
    for title, key in (("by library (innermost frame)", "by_library_pct"),
                       ("by thread", "by_thread_pct"),
                       ("stages (inclusive: a sample counts in every stage on its stack)",
                        "by_stage_pct"),
                       ("top innermost functions", "top_functions_pct"),
                       ("event loop: the callback or task running", "loop_entry_pct"),
                       ("DB thread: the job running", "db_entry_pct")):
        lines.append(f"  {title}:")
        for name, share in s[key][:limit if key != "by_stage_pct" else None]:
            lines.append(f"    {share:5.1f}%  {name}")
    if s["db_thread_pct"]:
        lines.append("  the DB thread's wall time (py-spy --idle):")
        for name, share in s["db_thread_pct"]:
            lines.append(f"    {share:5.1f}%  {name}")
    return "\n".join(lines)
