"""Parley's load benchmark: one command, `make bench` (see bench/README.md).

Starts the server as production would (fresh `parley_bench` database, uvicorn with
several workers, uvloop, httptools, Redis pub/sub channel layer), drives it from
separate generator processes over WebSockets (closed loop at several pair counts, an
open loop at a fixed rate, then many idle sockets), checks every message, prints the
figures and what each message cost, writes JSON to bench/results/, and always stops
the server.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
import pyspy  # noqa: E402
from common import integrity  # noqa: E402
from server import (  # noqa: E402
    ROOT,
    Probe,
    Server,
    diff,
    machine_cpu,
    tree_state,
    versions_of_tools,
)

RESULTS = ROOT / "bench" / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pairs", default="1,16,64", help="closed-loop pair counts, comma-separated")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run")
    p.add_argument("--drain", type=float, default=5.0,
                   help="seconds to wait for messages still in flight after a run")
    p.add_argument("--open-rate", type=float, default=500.0,
                   help="open loop: offered msgs/s in total (0 skips the open loop)")
    p.add_argument("--open-pairs", type=int, default=64, help="open loop: pairs sharing the rate")
    p.add_argument("--idle", type=int, default=2000, help="idle sockets to open")
    p.add_argument("--idle-hold", type=float, default=15.0,
                   help="seconds the idle sockets stay open (>10 s catches idle-timeout bugs)")
    p.add_argument("--skip-idle", action="store_true", help="no idle-socket test")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the load runs this many times, interleaved; the table shows"
                        " the median run (by msgs/s) and the range")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--gen-procs", type=int, default=1, help="load generator processes")
    p.add_argument("--ws", default="chat_project.wsprotocol:Protocol",
                   help="uvicorn's --ws: Parley's protocol (deflate without context"
                        " takeover), or 'auto' for uvicorn's own (keeps zlib state per socket)")
    p.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                   help="WebSocket permessage-deflate, offered as browsers do, or not")
    p.add_argument("--socket-rate", type=int, default=100_000,
                   help="CHAT_SOCKET_RATE for the server: the per-socket flood limit "
                        "(production's 200 frames/s would throttle one fast closed-loop pair)")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="before each run, wait up to this many seconds for other processes"
                        " on the machine to go quiet (this bench shares the CPUs)")
    p.add_argument("--profile", action="store_true",
                   help="add a closed-loop run (--profile-pairs) recorded with py-spy;"
                        " it is reported apart, not in the table")
    p.add_argument("--profile-pairs", type=int, default=64,
                   help="pairs of the profiled closed-loop run")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 and 4 pairs, 3 s each, 100 idle sockets held 3 s")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.duration, args.warmup, args.drain = "1,4", 3.0, 0.5, 2.0
        args.open_rate, args.open_pairs = min(args.open_rate, 100.0), 4
        args.idle, args.idle_hold = min(args.idle, 100), 3.0
        args.quiet_wait = min(args.quiet_wait, 10.0)
    args.pair_list = [int(x) for x in str(args.pairs).split(",") if x.strip()]
    if not args.pair_list or min(args.pair_list) < 1 or args.workers < 1 \
            or args.gen_procs < 1 or args.repeat < 1:
        p.error("pairs, workers, gen-procs and repeat must be positive")
    return args


# --- one run --------------------------------------------------------------------------

class Phase:
    """Generator processes for one run, and the messages they send back."""

    def __init__(self, ctx, specs: list[loadgen.Spec]):
        self.ctx, self.specs = ctx, specs
        self.report = ctx.Queue()
        self.go = ctx.Event()
        self.start_at = ctx.Value("d", 0.0)
        # Messages read early by a caller waiting for another kind (a fast generator's
        # "result" while the others still report "pinged"), for `wait` to find.
        self.early: list[tuple] = []
        self.procs = [ctx.Process(target=loadgen.child_main, daemon=True,
                                  args=(spec, self.report, self.go, self.start_at))
                      for spec in specs]

    def __enter__(self):
        for proc in self.procs:
            proc.start()
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.join(timeout=5 if exc[0] is None else 0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        return False

    def wait(self, kind: str, timeout: float) -> list:
        """Collect one `kind` message from every process; an error message raises."""
        got = [payload for what, _, payload in self.early if what == kind]
        self.early = [m for m in self.early if m[0] != kind]
        deadline = time.monotonic() + timeout
        while len(got) < len(self.procs):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"generators: no '{kind}' within {timeout:.0f} s")
            try:
                what, who, payload = self.report.get(timeout=min(left, 0.5))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in self.procs):
                    raise RuntimeError("a generator process died") from None
                continue
            if what == "error":
                raise RuntimeError(f"generator {who}: {payload}")
            if what == kind:
                got.append(payload)
        return got

    def start(self, delay: float = 0.2) -> float:
        start = time.monotonic() + delay
        self.start_at.value = start
        self.go.set()
        return start


def wait_quiet(max_wait: float, threshold: float = 0.25) -> dict:
    """Before a run: wait (up to max_wait s) until the machine is under `threshold` busy,
    measured over 1 s with the server idle. Returns what was seen."""
    deadline = time.monotonic() + max_wait
    waited = 0.0
    for _ in range(10_000):
        b0, t0 = machine_cpu()
        time.sleep(1.0)
        b1, t1 = machine_cpu()
        busy = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        if busy < threshold or time.monotonic() >= deadline:
            break
        if waited == 0.0:
            print(f"  (machine {100 * busy:.0f}% busy before the run: waiting up to"
                  f" {max_wait:.0f} s for it to go quiet)", flush=True)
        time.sleep(1.0)
        waited = max_wait - (deadline - time.monotonic())
    return {"busy_before": busy, "waited_s": waited, "quiet": busy < threshold}


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def run_load(ctx, args, server: Server, probe: Probe, *, label: str, kind: str, pairs: int,
             rate: float = 0.0, profile_dir: Path | None = None) -> dict:
    """One closed- or open-loop run; returns its row (and the profile, if asked)."""
    nproc = min(args.gen_procs, pairs)
    tag = secrets.token_hex(3)
    specs, base = [], 0
    for i, share in enumerate(split(pairs, nproc)):
        specs.append(loadgen.Spec(
            kind=kind, url=server.url, sdkappid=server.sdkappid, key=server.chat_key,
            prefix=f"b{tag}g{i}", pairs=share, rate=rate, pairs_total=pairs, pair_base=base,
            warmup=args.warmup, duration=args.duration, drain=args.drain,
            compression=None if args.compression == "none" else "deflate"))
        base += share
    quiet = wait_quiet(args.quiet_wait)
    probe.analyze()
    print(f"  {label}: {pairs} pair(s), logging in ...", end="", flush=True)
    with Phase(ctx, specs) as phase:
        setup = phase.wait("ready", 120 + pairs)
        print(f" {max(setup):.1f} s; running {args.warmup:g}+{args.duration:g} s ...",
              end="", flush=True)
        start = phase.start()
        sleep_until(start + args.warmup)
        # Again with the warm-up's rows in: statistics of near-empty tables make the
        # planner scan whole tables, which production (autovacuum, history) never sees.
        probe.analyze()
        before = probe.snapshot()
        jobs = pyspy.start(server.worker_pids(), args.duration, profile_dir) \
            if profile_dir else []
        sleep_until(start + args.warmup + args.duration)
        after = probe.snapshot()
        results = phase.wait("result", args.drain + 90)
        profile = None
        if jobs:
            profile = pyspy.summarise(pyspy.finish(jobs, 30), args.duration)
    print(" done")
    row = summarise_run(label, kind, pairs, rate, args, results, diff(before, after),
                        after["rss"], profile)
    row["quiet_before"] = quiet
    return row


def summarise_run(label, kind, pairs, rate, args, results, costs, rss, profile) -> dict:
    lat = sorted(x for r in results for x in r["latencies"])
    keys = ("sent_window", "sent_total", "acked_total", "received_total", "received_window",
            "lost", "unacked", "duplicates", "out_of_order", "corrupt", "unexpected",
            "seq_mismatch", "errors", "closed_loop_timeouts", "frames_received")
    row = {k: sum(r[k] for r in results) for k in keys}
    codes: dict[str, int] = {}
    for r in results:
        for code, n in r["error_codes"].items():
            codes[code] = codes.get(code, 0) + n
    delivered = row["received_window"]
    gen_cpu = sum(r["gen_cpu_s"] for r in results)
    gen_core_max = max((r["gen_cpu_s"] / r["gen_wall_s"] for r in results if r["gen_wall_s"]),
                       default=0.0)
    wall = costs["wall_s"] or args.duration
    ours = costs["server_cpu_s"] + costs["pg_backends_cpu_s"] + costs["redis_cpu_s"] + gen_cpu

    def per_msg(x):
        return x / delivered if delivered else None

    row.update({
        "run": label, "kind": kind, "pairs": pairs, "duration_s": args.duration,
        "warmup_s": args.warmup, "drain_s": args.drain,
        "offered_rate": rate or None,
        "delivered_per_s": delivered / args.duration,
        "p50_ms": _ms(percentile(lat, 0.50)), "p90_ms": _ms(percentile(lat, 0.90)),
        "p99_ms": _ms(percentile(lat, 0.99)), "max_ms": _ms(lat[-1] if lat else None),
        "error_codes": codes,
        "server_rss_kb": rss["workers_kb"], "server_rss": rss,
        "generator": {"processes": len(results), "cpu_s": gen_cpu, "wall_s": wall,
                      "cores": gen_cpu / wall, "max_process_core_share": gen_core_max},
        "costs": costs,
        "per_message": {
            "server_cpu_ms": _ms(per_msg(costs["server_cpu_s"])),
            "pg_backends_cpu_ms": _ms(per_msg(costs["pg_backends_cpu_s"])),
            "redis_cpu_ms": _ms(per_msg(costs["redis_cpu_s"])),
            "generator_cpu_ms": _ms(per_msg(gen_cpu)),
            "pg_commits": per_msg(costs["pg"]["commits"]),
            "pg_rows_inserted": per_msg(costs["pg"]["inserted"]),
            "pg_rows_updated": per_msg(costs["pg"]["updated"]),
            "pg_rows_fetched": per_msg(costs["pg"]["fetched"]),
            "redis_publish": per_msg(costs["redis_cmds"].get("publish", 0)),
            "redis_commands": per_msg(sum(costs["redis_cmds"].values())),
        },
        "machine_busy_share": costs["machine_busy_s"] / costs["machine_total_s"]
        if costs["machine_total_s"] else None,
        # CPU of everything else on the machine (other users' processes, PostgreSQL's
        # background processes, the kernel's share not charged to a process), in cores.
        "other_cores": max(0.0, costs["machine_busy_s"] - ours) / wall,
    })
    if profile is not None:
        row["profile"] = profile
    return row


def medians(rows: list[dict]) -> list[dict]:
    """Per label, the run with the median msgs/s, with the range of all its repeats."""
    out = []
    for label in dict.fromkeys(r["run"] for r in rows):
        same = sorted((r for r in rows if r["run"] == label), key=lambda r: r["delivered_per_s"])
        row = dict(same[(len(same) - 1) // 2])
        row["repeats"] = len(same)
        row["range"] = {k: (min(r[k] for r in same if r[k] is not None),
                            max(r[k] for r in same if r[k] is not None))
                        for k in ("delivered_per_s", "p50_ms", "p99_ms")
                        if any(r[k] is not None for r in same)}
        out.append(row)
    return out


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


def run_idle(ctx, args, server: Server, probe: Probe) -> dict:
    """Open many logged-in sockets, hold them idle, measure RSS, ping them all."""
    nproc = min(args.gen_procs, args.idle)
    tag = secrets.token_hex(3)
    specs = [loadgen.Spec(kind="idle", url=server.url, sdkappid=server.sdkappid,
                          key=server.chat_key, prefix=f"b{tag}g{i}", idle=share,
                          idle_hold=args.idle_hold,
                          compression=None if args.compression == "none" else "deflate")
             for i, share in enumerate(split(args.idle, nproc))]
    quiet = wait_quiet(args.quiet_wait)
    print(f"  idle: {args.idle} sockets ...", end="", flush=True)
    with Phase(ctx, specs) as phase:
        phase.wait("ready", 60)
        rss_before = _settled_rss(server)
        cpu_before = server.cpu()
        phase.start(0.0)
        connect_s = max(phase.wait("connected", 120 + args.idle / 10))
        print(f" open in {connect_s:.1f} s; holding {args.idle_hold:g} s ...", end="", flush=True)
        time.sleep(min(2.0, args.idle_hold / 2))
        rss_open = server.rss_kb()["workers_kb"]
        hold_a = probe.snapshot()
        peak = rss_open
        hold_b = None
        deadline = time.monotonic() + args.idle_hold + 120
        pinged = 0
        while pinged < len(specs) and time.monotonic() < deadline:
            try:
                what, who, payload = phase.report.get(timeout=1.0)
            except queue.Empty:
                peak = max(peak, server.rss_kb()["workers_kb"])
                continue
            if what == "error":
                raise RuntimeError(f"generator {who}: {payload}")
            if what == "pinged":
                pinged += 1
                if pinged == 1:
                    hold_b = probe.snapshot()
            else:  # a generator that pinged and closed first: its result, kept
                phase.early.append((what, who, payload))
        results = phase.wait("result", 120 + args.idle / 20)  # closing takes a while too
    time.sleep(2.0)
    rss_closed = server.rss_kb()["workers_kb"]
    opened = sum(r["opened"] for r in results)
    rtts = sorted(x for r in results for x in r["ping_rtts"])
    hold = diff(hold_a, hold_b or probe.snapshot())
    print(" done")
    return {
        "sockets": args.idle, "opened": opened, "failed": sum(r["failed"] for r in results),
        "failures": [f for r in results for f in r["failures"]][:5],
        "connect_s": connect_s, "held_s": min(r["held_s"] for r in results),
        "alive": sum(r["alive"] for r in results), "died": sum(r["died"] for r in results),
        "ping_p50_ms": _ms(percentile(rtts, 0.5)), "ping_p99_ms": _ms(percentile(rtts, 0.99)),
        "rss_before_kb": rss_before, "rss_open_kb": rss_open, "rss_peak_kb": peak,
        "rss_after_close_kb": rss_closed,
        "kb_per_socket": (rss_open - rss_before) / opened if opened else None,
        "server_cpu_while_idle_cores": hold["server_cpu_s"] / hold["wall_s"]
        if hold["wall_s"] else None,
        "server_cpu_s_during_test": sum(server.cpu().values()) - sum(cpu_before.values()),
        "quiet_before": quiet,
    }


def _settled_rss(server: Server) -> int:
    """Worker RSS once it stops moving (up to 3 s)."""
    last = server.rss_kb()["workers_kb"]
    for _ in range(6):
        time.sleep(0.5)
        now = server.rss_kb()["workers_kb"]
        if abs(now - last) < 256:
            return now
        last = now
    return last


# --- output ---------------------------------------------------------------------------

def _f(x, fmt="{:.1f}", none="-"):
    return none if x is None else fmt.format(x)


def format_table(rows: list[dict]) -> str:
    head = (f"{'run':<14}{'pairs':>6}{'dur s':>7}{'msgs/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'sent':>8}{'lost':>6}{'dup':>5}{'ooo':>5}{'errors':>7}{'RSS MB':>8}")
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r['run']:<14}{r['pairs']:>6}{r['duration_s']:>7.0f}{r['delivered_per_s']:>9.0f}"
            f"{_f(r['p50_ms'], '{:.2f}'):>8}{_f(r['p99_ms']):>8}{r['sent_window']:>8}"
            f"{r['lost']:>6}{r['duplicates']:>5}{r['out_of_order']:>5}{r['errors']:>7}"
            f"{r['server_rss_kb'] / 1024:>8.0f}")
    return "\n".join(out)


def format_costs(rows: list[dict]) -> str:
    head = (f"{'run':<18}{'machine':>8}{'other':>6}{'server cores':>13}{'gen':>5}"
            f"{'srv ms':>7}{'pg ms':>6}{'redis':>6}{'gen ms':>7}"
            f"{'commit':>7}{'ins':>5}{'upd':>5}{'fetch':>6}{'PUBLISH':>8}{'sys':>6}")
    out = ["CPU and work per delivered message (measured window):", head, "-" * len(head)]
    for r in rows:
        pm, c = r["per_message"], r["costs"]
        per_worker = "+".join(f"{v / c['wall_s']:.2f}" for v in
                              c["server_cpu_per_worker_s"].values()) if c["wall_s"] else "-"
        out.append(
            f"{r['run']:<18}{_f(100 * r['machine_busy_share'], '{:.0f}%'):>8}"
            f"{r['other_cores']:>6.2f}{per_worker:>13}{r['generator']['cores']:>5.2f}"
            f"{_f(pm['server_cpu_ms'], '{:.2f}'):>7}{_f(pm['pg_backends_cpu_ms'], '{:.2f}'):>6}"
            f"{_f(pm['redis_cpu_ms'], '{:.2f}'):>6}{_f(pm['generator_cpu_ms'], '{:.2f}'):>7}"
            f"{_f(pm['pg_commits'], '{:.2f}'):>7}{_f(pm['pg_rows_inserted'], '{:.1f}'):>5}"
            f"{_f(pm['pg_rows_updated'], '{:.1f}'):>5}{_f(pm['pg_rows_fetched'], '{:.0f}'):>6}"
            f"{_f(pm['redis_publish'], '{:.1f}'):>8}"
            f"{_f(100 * c['server_sys_s'] / c['server_cpu_s'] if c['server_cpu_s'] else None, '{:.0f}%'):>6}")
    return "\n".join(out)


def format_checks(rows: list[dict]) -> list[str]:
    notes = []
    for r in rows:
        bad = {k: r[k] for k in ("lost", "unacked", "duplicates", "out_of_order", "corrupt",
                                 "unexpected", "seq_mismatch", "closed_loop_timeouts")
               if r[k]}
        if bad or r["errors"]:
            notes.append(f"  {r['run']}: {bad} errors {r['error_codes']}")
        if r["lost"] and r["unacked"]:
            notes.append(f"  {r['run']}: {r['unacked']} sends were not even acked when the"
                         f" {r['drain_s']:g} s drain ended: the server fell behind, so 'lost'"
                         " here includes messages that were late rather than dropped")
        g = r["generator"]
        if g["max_process_core_share"] > 0.85:
            notes.append(f"  {r['run']}: a generator process used"
                         f" {100 * g['max_process_core_share']:.0f}% of a core: it may be the"
                         " bottleneck (try --gen-procs 2)")
        if r["other_cores"] > 0.25:
            notes.append(f"  {r['run']}: other processes used {r['other_cores']:.2f} cores"
                         " during the window: the figures are pessimistic; rerun when quiet")
    return notes


def format_idle(idle: dict) -> str:
    return (f"idle: {idle['opened']}/{idle['sockets']} sockets logged in"
            f" ({idle['failed']} failed) in {idle['connect_s']:.1f} s;"
            f" server RSS {idle['rss_before_kb'] / 1024:.0f} MB ->"
            f" {idle['rss_open_kb'] / 1024:.0f} MB = {_f(idle['kb_per_socket'])} KB per idle"
            f" socket (peak {idle['rss_peak_kb'] / 1024:.0f} MB,"
            f" {idle['rss_after_close_kb'] / 1024:.0f} MB after close);\n"
            f"      held {idle['held_s']:.1f} s, then pinged all: {idle['alive']} alive,"
            f" {idle['died']} died (ping p50 {_f(idle['ping_p50_ms'], '{:.1f}')} ms,"
            f" p99 {_f(idle['ping_p99_ms'], '{:.1f}')} ms); server CPU while idle"
            f" {_f(100 * idle['server_cpu_while_idle_cores'] if idle['server_cpu_while_idle_cores'] is not None else None, '{:.1f}')}% of a core")


def environment(probe: Probe, args) -> dict:
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             cwd=ROOT, capture_output=True, text=True).stdout.split("\n")
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        **probe.versions(), "packages": versions_of_tools(),
        "loadavg_before": os.getloadavg()[0], "git": git,
        "uncommitted": [x[3:] for x in changed if x.strip()],
        "tree_state": tree_state(),
        "workers": args.workers, "gen_procs": args.gen_procs,
        "compression": args.compression, "ws": args.ws, "socket_rate": args.socket_rate,
        "kernel": platform.release(),
    }


def format_env(env: dict) -> str:
    pk = env["packages"]
    return (f"env: {env['cpus']} CPUs, Python {env['python']}, PostgreSQL {env['postgresql']},"
            f" (autovacuum {env['pg_autovacuum']}: the bench ANALYZEs before each run),"
            f" Redis {env['redis']}; uvicorn {pk['uvicorn']} x{env['workers']} workers"
            f" (uvloop, httptools), Django {pk['Django']}, channels {pk['channels']},"
            f" channels-redis {pk['channels-redis']}, websockets {pk['websockets']};"
            f" load avg {env['loadavg_before']:.2f}; checkout {env['git']}"
            f" ({len(env['uncommitted'])} uncommitted file(s));"
            f" compression {env['compression']}, --ws {env.get('ws', 'auto')};"
            f" {env['gen_procs']} generator process(es)")


# --- main -----------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not database_url.startswith(("postgres://", "postgresql://")) \
            or not redis_url:
        print("DATABASE_URL (PostgreSQL) and REDIS_URL must be set: run `make bench`",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    loadgen.raise_nofile()  # the server inherits it too
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = secrets.token_hex(4)
    ctx = mp.get_context("spawn")
    server = Server(database_url=database_url, redis_url=redis_url, workers=args.workers,
                    log_path=RESULTS / f"{stamp}-server.log", run_id=run_id,
                    socket_rate=args.socket_rate, ws=args.ws)
    probe = None
    out: dict = {"started": stamp, "argv": sys.argv[1:], "args": vars(args)}
    try:
        t0 = time.monotonic()
        print(f"Parley bench {stamp}: fresh database, starting uvicorn x{args.workers} ...",
              flush=True)
        server.reset_database()
        server.start()
        probe = Probe(server)
        out["env"] = environment(probe, args)
        print(format_env(out["env"]), flush=True)
        print(f"server up in {time.monotonic() - t0:.1f} s on 127.0.0.1:{server.port},"
              f" workers {server.worker_pids()}", flush=True)
        rows: list[dict] = []
        if not args.skip_idle and args.idle > 0:
            out["idle"] = run_idle(ctx, args, server, probe)
        for rep in range(args.repeat):
            if args.repeat > 1:
                print(f" round {rep + 1} of {args.repeat}")
            for pairs in args.pair_list:
                rows.append(run_load(ctx, args, server, probe, label=f"closed {pairs}",
                                     kind="closed", pairs=pairs))
            if args.open_rate > 0:
                rows.append(run_load(ctx, args, server, probe,
                                     label=f"open {args.open_rate:g}/s", kind="open",
                                     pairs=args.open_pairs, rate=args.open_rate))
        out["runs_all"] = rows
        out["runs"] = medians(rows)
        if args.profile:
            pdir = RESULTS / f"{stamp}-pyspy"
            pdir.mkdir(exist_ok=True)
            out["profile_run"] = run_load(ctx, args, server, probe,
                                          label=f"closed {args.profile_pairs} +py-spy",
                                          kind="closed", pairs=args.profile_pairs,
                                          profile_dir=pdir)
        out["querycount"] = query_count(server, run_id)
        out["server_log"] = server.log_summary()
        out["workers_restarted"] = sorted(server.restarted_workers())
        out["tree_state_after"] = tree_state()
        out["redis_cache_db"] = server.redis_db
        report(out)
        # Wrong, not just slow: a message lost, doubled, reordered, corrupt or refused.
        return 1 if any(integrity(r) for r in rows) else 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if probe is not None:
            probe.close()
        server.stop()
        if "runs" in out or "idle" in out:
            path = RESULTS / f"{stamp}.json"
            path.write_text(json.dumps(out, indent=1, default=str))
            print(f"results: {path.relative_to(ROOT)}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def query_count(server: Server, run_id: str) -> dict | None:
    """SQL statements and publishes per message, counted in the send pipeline itself."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "querycount.py"),
                           f"q{run_id}", "1,16"], cwd=ROOT, env=server.env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(out: dict) -> None:
    rows = out["runs"]
    print()
    print(format_env(out["env"]))
    print()
    print(format_table(rows))
    if any(r.get("repeats", 1) > 1 for r in rows):
        print("medians of interleaved repeats; ranges (min-max):")
        for r in rows:
            rg = r["range"]
            p50, p99 = rg.get("p50_ms", (None, None)), rg.get("p99_ms", (None, None))
            print(f"  {r['run']}: {r['repeats']} runs, msgs/s {rg['delivered_per_s'][0]:.0f}-"
                  f"{rg['delivered_per_s'][1]:.0f}, p50 {_f(p50[0], '{:.2f}')}-"
                  f"{_f(p50[1], '{:.2f}')} ms, p99 {_f(p99[0])}-{_f(p99[1])} ms")
    notes = format_checks(out.get("runs_all", rows))
    if notes:
        print("checks:")
        print("\n".join(notes))
    else:
        print("checks: every message arrived once, in order, intact; no error replies")
    print()
    print(format_costs(rows + ([out["profile_run"]] if "profile_run" in out else [])))
    if any(r.get("repeats", 1) > 1 for r in rows):
        print("  (the median run of each; every repeat is in the JSON under runs_all)")
    for r in rows:
        g = r["generator"]
        print(f"  {r['run']}: generator {g['cpu_s']:.1f} CPU-s in {g['wall_s']:.1f} s wall"
              f" ({100 * g['max_process_core_share']:.0f}% of a core in its busiest process)")
    if "idle" in out:
        print()
        print(format_idle(out["idle"]))
    qc = out.get("querycount")
    if qc and "error" not in qc:
        print()
        print("send pipeline, counted in-process (message_send_many):")
        for size, q in qc.items():
            kinds = ", ".join(f"{k} x{v / q['messages']:g}" for k, v in q["by_kind"].items())
            if q["failed"]:
                print(f"  batch of {size}: {q['failed']} send(s) FAILED: {q['failures']}")
            print(f"  batch of {size}: {q['statements_per_message']:.2f} SQL statements and"
                  f" {q['publishes_per_message']:.1f} channel-layer publishes per message"
                  f" ({kinds})")
    elif qc:
        print(f"query count failed: {qc['error'][-300:]}")
    if "profile_run" in out and out["profile_run"].get("profile"):
        pr = out["profile_run"]
        print()
        print(f"profiled run ({pr['pairs']} pairs, py-spy on every worker):"
              f" {pr['delivered_per_s']:.0f}"
              f" msgs/s, p99 {_f(pr['p99_ms'])} ms")
        print(pyspy.format_summary(pr["profile"]))
    log = out.get("server_log") or {}
    if log.get("lines"):
        print(f"\nserver log: {log['lines']} lines, {log['tracebacks']} tracebacks; first:"
              f" {log['first']}")
    if out.get("tree_state_after") != out["env"]["tree_state"]:
        print("WARNING: the server's source changed on disk during the bench: workers may"
              " have imported new code lazily; rerun for figures of one version")
    if out.get("workers_restarted"):
        print(f"workers restarted during the bench: {out['workers_restarted']}")


if __name__ == "__main__":
    sys.exit(main())
