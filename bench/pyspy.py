"""Sampling profiles of the server's workers with py-spy, and their summary.

`record` runs `py-spy record --format raw` on each worker for a fixed time (py-spy is
installed in the venv by hand, not a project dependency). `summarise` reads the
collapsed stacks and says where the on-CPU samples went: by library (the file of the
innermost Python frame), by thread, by our own functions on the stack, and the top
innermost functions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (category, pattern on the innermost frame's file), first match wins.
LIBRARIES = [
    ("psycopg", r"/psycopg(_binary|_pool)?/"),
    ("django ORM / db", r"/django/db/"),
    ("django other", r"/django/"),
    ("channels_redis", r"/channels_redis/"),
    ("redis-py", r"/redis/"),
    ("msgpack", r"/msgpack/"),
    ("channels", r"/channels/"),
    ("asgiref (sync/async hops)", r"/asgiref/"),
    ("websockets", r"/websockets/"),
    ("uvicorn", r"/uvicorn/"),
    ("json", r"/json/"),
    ("asyncio", r"/asyncio/"),
    ("threads / queues (executor)", r"/(concurrent/futures|threading\.py|queue\.py)"),
    ("parley: messaging", r"/messaging/"),
    ("parley: accounts", r"/accounts/"),
    ("parley: other", r"/(chat_project|relationships|push)/"),
    ("other stdlib", r"/lib/python3\.\d+/[^/]+\.py"),
]
# Frames anywhere on the stack (inclusive time) worth naming.
STAGES = [
    ("consumer receive (a frame in)", r"^receive \(.*messaging/consumers\.py"),
    ("  op_sendMessage", r"^op_sendMessage "),
    ("  op_login", r"^op_login "),
    ("consumer chat_event (an event out)", r"^chat_event "),
    ("message_send_many (DB thread)", r"^message_send_many "),
    ("  _store", r"^_store "),
    ("  sync_append", r"^sync_append "),
    ("send_batch (publish events)", r"^send_batch "),
    ("channel layer group_send", r"^group_send \(.*channels_redis"),
    ("channel layer receive", r"^receive \(.*channels_redis"),
    ("websocket send (uvicorn/websockets)", r"^(asgi_send|send) \(.*uvicorn/protocols/websockets"),
    ("json dumps/loads", r"^(dumps|loads) \(.*json/__init__"),
    ("database_sync_to_async hop", r"^__call__ \(.*asgiref/sync\.py"),
]


def available() -> str | None:
    """The py-spy executable next to this Python, or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pids: list[int], seconds: float, out_dir: Path, rate: int = 100) -> list:
    """Start one `py-spy record` per pid; returns (pid, Popen, output path) triples."""
    exe = available()
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    jobs = []
    for pid in pids:
        out = out_dir / f"pyspy-{pid}.txt"
        proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
             "--rate", str(rate), "--format", "raw", "--threads", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        jobs.append((pid, proc, out))
    return jobs


def finish(jobs: list, timeout: float) -> list[Path]:
    """Wait for the recorders; return the files written."""
    files = []
    for _, proc, out in jobs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)
        if out.exists():
            files.append(out)
    return files


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f]


def summarise(files: list[Path], seconds: float, rate: int = 100, top: int = 15) -> dict:
    """Where the on-CPU samples went, over all files (workers) together."""
    by_lib: Counter = Counter()
    by_thread: Counter = Counter()
    by_stage: Counter = Counter()
    by_leaf: Counter = Counter()
    total = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = _frames(stack)
            frames = [f for f in frames if not f.startswith(("thread (", "process "))]
            if not frames:
                continue
            total += n
            leaf = frames[-1]
            by_leaf[re.sub(r":\d+\)$", ")", leaf)] += n
            by_thread[_thread_kind(frames)] += n
            by_lib[_library(leaf)] += n
            seen = set()
            for name, pattern in STAGES:
                if name not in seen and any(re.search(pattern, f) for f in frames):
                    by_stage[name] += n
                    seen.add(name)
    possible = seconds * rate * max(1, len(files))

    def pct(counter: Counter) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in counter.most_common()] if total else []

    return {
        "samples": total,
        "workers": len(files),
        "busy_share_of_wall": total / possible if possible else 0.0,
        "by_library_pct": pct(by_lib),
        "by_thread_pct": pct(by_thread),
        "by_stage_pct": [(k, 100.0 * by_stage[k] / total) for k, _ in STAGES
                         if by_stage[k]] if total else [],
        "top_functions_pct": pct(by_leaf)[:top],
    }


def _library(frame: str) -> str:
    m = re.search(r"\((.*):\d+\)$", frame)
    path = m.group(1) if m else frame
    for name, pattern in LIBRARIES:
        if re.search(pattern, path):
            return name
    return "other"


def _thread_kind(frames: list[str]) -> str:
    """The event loop, a sync_to_async worker thread, or something else."""
    root = " ".join(frames[:4])
    if "concurrent/futures/thread.py" in root or "_worker" in root:
        return "executor thread (database_sync_to_async)"
    if "threading.py" in root:
        return "other thread"
    return "event loop thread"


def format_summary(summary: dict, limit: int = 12) -> str:
    lines = [f"py-spy: {summary['samples']} on-CPU samples over {summary['workers']} worker(s);"
             f" busy {100 * summary['busy_share_of_wall']:.0f}% of the sampled wall time"
             " (one thread = 100%)"]
    for title, key in (("by library (innermost frame)", "by_library_pct"),
                       ("by thread", "by_thread_pct"),
                       ("stages (inclusive, overlapping)", "by_stage_pct"),
                       ("top innermost functions", "top_functions_pct")):
        lines.append(f"  {title}:")
        for name, share in summary[key][:limit]:
            lines.append(f"    {share:5.1f}%  {name}")
    return "\n".join(lines)
