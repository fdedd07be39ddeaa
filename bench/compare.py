"""Parley against its reference points, in one run on one machine (issue 13's table).

    make bench-compare                          # or: python bench/compare.py
    python bench/compare.py --quick             # smoke run, 2-4 minutes
    python bench/compare.py --parts floor,whole,minimal,parley --rounds 2

Closed loop at each pair count, for each target (bench/README.md, "Comparison"):
the floor (bench/floor.py plain), the floor with Parley's whole write set in one
statement (bench/floor.py whole), the minimal Channels consumer (bench/minimal/, driven
by bench/loadgen.py), the same consumer writing Parley's whole write set in one statement
(`minwhole`) and Parley as production starts it (bench/run.py's closed loop);
then Parley's memory per idle socket (bench/run.py's idle test), the replay of missed
messages at login (bench/replay.py) and a history page on a large message table with
its EXPLAIN (bench/history.py). Prints one table, the ratios the targets name, and
writes everything to bench/results/<timestamp>-compare.json.

Exit status 1 when something was wrong rather than slow: a message lost, doubled,
reordered, corrupt or refused in any target, a missed message not replayed, a history
page short. Targets not met are reported, not failed: figures from a shared machine vary.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor  # noqa: E402
import loadgen  # noqa: E402
import replay  # noqa: E402
from common import fmt, integrity, summary_line  # noqa: E402
from minimal_consumer import load_args, minimal_server  # noqa: E402
from run import RESULTS, environment, format_idle, medians, run_idle, run_load, wait_quiet  # noqa: E402
from server import BENCH_DB, ROOT, Probe, Server, db_url_for  # noqa: E402

PARTS = ("floor", "whole", "minimal", "minwhole", "parley", "idle", "replay", "history")
TARGETS = {  # issue 13
    "floor": "floor: one INSERT + COMMIT + Redis PUBLISH per message",
    "whole": "floor, Parley's whole write set in one statement per message",
    "minimal": "minimal Channels consumer (save a row, group_send)",
    "minwhole": "minimal Channels consumer writing Parley's whole write set in one statement",
    "parley": "Parley, production start",
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"what to run, comma-separated, of: {', '.join(PARTS)}")
    p.add_argument("--pairs", default="1,16,64", help="closed-loop pair counts")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=1,
                   help="interleaved rounds of all load targets; cells show the range")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (Parley, minimal)")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each server run, wait up to this long for a quiet machine")
    p.add_argument("--idle", type=int, default=2000, help="idle sockets on Parley")
    p.add_argument("--idle-hold", type=float, default=15.0)
    p.add_argument("--replay-peers", type=int, default=10,
                   help="missed messages come from this many peers (at most 100 each are"
                        " replayed)")
    p.add_argument("--replay-per-peer", type=int, default=100)
    p.add_argument("--replay-rounds", type=int, default=3)
    p.add_argument("--history-rows", type=int, default=10_000_000,
                   help="messages generated for the history page (10M takes minutes)")
    p.add_argument("--drop-every", type=int, default=0,
                   help="checks the checker: the floors and the minimal consumer drop every"
                        " Nth message, and the run must exit 1")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 and 4 pairs, 2 s each, 100 idle sockets held 3 s,"
                        " one replay round, 200,000 history rows")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.duration, args.warmup, args.drain = "1,4", 2.0, 0.5, 2.0
        args.quiet_wait, args.rounds = 0.0, 1
        args.idle, args.idle_hold = min(args.idle, 100), 3.0
        args.replay_rounds = 1
        args.history_rows = min(args.history_rows, 200_000)
    args.part_set = {x.strip() for x in args.parts.split(",") if x.strip()}
    if args.part_set - set(PARTS):
        p.error(f"unknown part(s): {sorted(args.part_set - set(PARTS))}")
    args.pair_list = [int(x) for x in args.pairs.split(",") if x.strip()]
    if not args.pair_list or min(args.pair_list) < 1 or args.rounds < 1:
        p.error("pairs and rounds must be positive")
    return args


# --- output ---------------------------------------------------------------------------

def _cell(row: dict | None, key: str) -> str:
    """msgs/s (latency), or ranges when several rounds ran."""
    if row is None:
        return "-"
    rg = row.get("range") or {}
    if row.get("repeats", 1) > 1 and "delivered_per_s" in rg:
        lo, hi = rg["delivered_per_s"]
        llo, lhi = rg.get(key, (None, None))
        rate = f"{lo:,.0f}-{hi:,.0f}" if round(lo) != round(hi) else f"{lo:,.0f}"
        return f"{rate} ({fmt(llo, '{:.1f}')}-{fmt(lhi, '{:.1f}')} ms)"
    return f"{row['delivered_per_s']:,.0f} ({fmt(row[key], '{:.1f}')} ms)"


def table(rows: dict, pair_list: list[int]) -> str:
    heads = [f"{n} pair{'s' if n > 1 else ''} msgs/s ({'p50' if i == 0 else 'p99'})"
             for i, n in enumerate(pair_list)]
    out = ["| target | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(heads)]
    for part, name in TARGETS.items():
        if not any((part, n) in rows for n in pair_list):
            continue
        cells = [_cell(rows.get((part, n)), "p50_ms" if i == 0 else "p99_ms")
                 for i, n in enumerate(pair_list)]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def ratios(rows: dict, pair_list: list[int], out: dict) -> list[tuple[str, str, bool | str | None]]:
    """(what, figure, target met?) for each target of issue 13 this run measured ("info":
    a figure with no target)."""
    lines = []
    top, one = max(pair_list), min(pair_list)
    parley_top, whole_top = rows.get(("parley", top)), rows.get(("whole", top))
    if parley_top and whole_top and whole_top["delivered_per_s"]:
        r = parley_top["delivered_per_s"] / whole_top["delivered_per_s"]
        lines.append((f"Parley / whole-write-set floor at {top} pairs (target >= 0.67)",
                       f"{r:.2f}", r >= 2 / 3))
    if parley_top:
        p99 = parley_top["p99_ms"]
        lines.append((f"Parley p99 at {top} pairs (target < 100 ms)", f"{fmt(p99)} ms",
                      p99 is not None and p99 < 100))
    parley_one, minimal_one = rows.get(("parley", one)), rows.get(("minimal", one))
    if parley_one and minimal_one and minimal_one["p50_ms"] and parley_one["p50_ms"]:
        r = parley_one["p50_ms"] / minimal_one["p50_ms"]
        lines.append((f"Parley / minimal consumer, p50 at {one} pair (target <= 1.00)",
                      f"{r:.2f} ({parley_one['p50_ms']:.1f} / {minimal_one['p50_ms']:.1f} ms)",
                      r <= 1.0))
    minwhole_one = rows.get(("minwhole", one))
    if parley_one and minwhole_one and minwhole_one["p50_ms"] and parley_one["p50_ms"]:
        r = parley_one["p50_ms"] / minwhole_one["p50_ms"]
        lines.append((f"Parley / minimal consumer writing the whole write set, p50 at {one}"
                      " pair (no target: what Parley adds to the same rows)",
                      f"{r:.2f} ({parley_one['p50_ms']:.1f} / {minwhole_one['p50_ms']:.1f} ms)",
                      "info"))
    idle = out.get("idle")
    if idle and idle.get("kb_per_socket") is not None:
        lines.append((f"server memory per idle socket at {idle['opened']:,} sockets"
                      " (target <= 30 KB at 10,000)", f"{idle['kb_per_socket']:.1f} KB",
                      idle["kb_per_socket"] <= 30 if idle["opened"] >= 10_000 else None))
    rp = out.get("replay")
    if rp and rp.get("login_to_all_ms_median") is not None:
        lines.append((f"replay of {rp['missed']:,} missed messages, login to all"
                      f" (median of {len(rp['rounds'])}; target < 200 ms)",
                      f"{rp['login_to_all_ms_median']:.0f} ms",
                      rp["login_to_all_ms_median"] < 200))
    hist = out.get("history")
    if hist and "pages" in hist:
        for name, page in hist["pages"].items():
            lines.append((f"history page ({name}), message_page() on {hist['table_rows']:,}"
                          " rows (target < 5 ms on 10M)",
                          f"{page['median_ms']:.1f} ms (query {fmt(page['explain_execution_ms'], '{:.2f}')} ms,"
                          f" {page['statements']} statements)",
                          page["median_ms"] < 5 if hist["table_rows"] >= 10_000_000 else None))
    return lines


def report(out: dict, args) -> None:
    rows = {(r["part"], r["pairs"]): r for r in out.get("runs", [])}
    print()
    env = out.get("env") or {}
    if "git" not in env:
        env = dict(env, git=subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                           capture_output=True, text=True).stdout.strip())
    print(f"compare {out['started']}: {env.get('cpus', os.cpu_count())} CPUs, load avg before"
          f" {env.get('loadavg_before', os.getloadavg()[0]):.2f}, checkout {env.get('git', '?')};"
          f" closed loop, {args.duration:g} s per point, {args.rounds} round(s)")
    if rows:
        print()
        print(table(rows, args.pair_list))
    busy = [r for r in out.get("runs_all", []) if (r.get("quiet_before") or {}).get("quiet") is False]
    if busy:
        print(f"  ({len(busy)} server run(s) started on a busy machine: compare within one run"
              " only, and rerun when quiet for figures to publish)")
    lines = ratios(rows, args.pair_list, out)
    if lines:
        print()
        print("targets (issue 13; same run, same machine):")
        for what, figure, met in lines:
            mark = {True: "met", False: "NOT met", None: "n/a at this size",
                    "info": ""}[met]
            print(f"  {what}: {figure}" + (f" [{mark}]" if mark else ""))
    if out.get("idle"):
        print()
        print(format_idle(out["idle"]))
    hist = out.get("history")
    if hist and "pages" in hist:
        print()
        print(f"history: {hist['rows_added']:,} rows added in {hist['fill_s']:.1f} s"
              f" (table {hist['table_rows']:,} rows, {hist['table_mb']:.0f} MB,"
              f" {hist['per_dialog']:,} per dialog); EXPLAIN (ANALYZE, BUFFERS) of the page query:")
        for name, page in hist["pages"].items():
            print(f"  {name} page:")
            for line in page["explain"]:
                print(f"    {line}")
    problems = out.get("problems") or []
    print()
    if problems:
        print("FAILED:")
        for p in problems:
            print(f"  {p}")
    else:
        done = []
        if out.get("runs_all"):
            done.append("every message of every target arrived once, in order, intact")
        if out.get("idle"):
            done.append("every idle socket alive after the hold")
        if out.get("replay"):
            done.append("every missed message replayed once, in order")
        if out.get("history"):
            done.append("history pages full")
        print(f"checks: {'; '.join(done) or 'nothing ran'}")


# --- main -----------------------------------------------------------------------------

def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    parts = args.part_set
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not database_url.startswith(("postgres://", "postgresql://")) \
            or not redis_url:
        print("DATABASE_URL (PostgreSQL) and REDIS_URL must be set: run `make bench-compare`",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    loadgen.raise_nofile()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = secrets.token_hex(4)
    ctx = mp.get_context("spawn")
    la = load_args(warmup=args.warmup, duration=args.duration, drain=args.drain,
                   quiet_wait=args.quiet_wait)
    need_parley = bool(parts & {"parley", "idle", "replay"})
    need_floor_db = bool(parts & {"floor", "whole", "history"})
    parley = Server(database_url=database_url, redis_url=redis_url, workers=args.workers,
                    log_path=RESULTS / f"{stamp}-compare-parley.log", run_id=run_id,
                    socket_rate=100_000) if need_parley or need_floor_db else None
    minimal = minimal_server(database_url, redis_url, workers=args.workers,
                             log_path=RESULTS / f"{stamp}-compare-minimal.log",
                             run_id=run_id, drop_every=args.drop_every) \
        if "minimal" in parts else None
    minwhole = minimal_server(database_url, redis_url, workers=args.workers,
                              log_path=RESULTS / f"{stamp}-compare-minwhole.log",
                              run_id=run_id, drop_every=args.drop_every, write="whole") \
        if "minwhole" in parts else None
    out: dict = {"started": stamp, "argv": sys.argv[1:],
                 "args": {k: v for k, v in vars(args).items() if k != "part_set"},
                 "runs_all": [], "problems": []}
    probes: dict = {}
    t0 = time.monotonic()
    try:
        print(f"compare {stamp}: parts {', '.join(p for p in PARTS if p in parts)}", flush=True)
        dsn = None
        if parley is not None:
            parley.reset_database()  # parley_bench, migrated
        if need_floor_db:  # Parley's tables, copied before anyone connects to parley_bench
            dsn = floor.prepare(database_url, whole=True, template=BENCH_DB)
        for name, server in (("minimal", minimal), ("minwhole", minwhole)):
            if server is not None:
                server.reset_database()
                server.start()
                probes[name] = Probe(server)
        if need_parley:
            parley.start()
            probes["parley"] = Probe(parley)
            out["env"] = environment(probes["parley"], argparse.Namespace(
                workers=args.workers, gen_procs=1, compression="deflate", socket_rate=100_000,
                ws=parley.ws))
        print(f"set up in {time.monotonic() - t0:.1f} s", flush=True)
        if "idle" in parts and args.idle > 0:
            idle_args = argparse.Namespace(idle=args.idle, idle_hold=args.idle_hold,
                                           gen_procs=1, compression="deflate",
                                           quiet_wait=args.quiet_wait)
            out["idle"] = run_idle(ctx, idle_args, parley, probes["parley"])
            if out["idle"]["alive"] < out["idle"]["sockets"]:
                out["problems"].append(f"idle: {out['idle']['alive']} of"
                                       f" {out['idle']['sockets']} sockets alive after the hold")
        for rnd in range(args.rounds):
            if args.rounds > 1:
                print(f" round {rnd + 1} of {args.rounds}", flush=True)
            for mode in ("floor", "whole"):
                if mode not in parts:
                    continue
                for n in args.pair_list:
                    wait_quiet(args.quiet_wait)
                    row = floor.floor_run(dsn, redis_url, mode="plain" if mode == "floor"
                                          else "whole", pairs=n, warmup=args.warmup,
                                          duration=args.duration, drain=args.drain,
                                          drop_every=args.drop_every)
                    row.update(part=mode, run=f"{mode} {n}")
                    print(summary_line(row), flush=True)
                    out["runs_all"].append(row)
            for part, server in (("minimal", minimal), ("minwhole", minwhole),
                                 ("parley", parley)):
                if part not in parts:
                    continue
                for n in args.pair_list:
                    row = run_load(ctx, la, server, probes[part], label=f"{part} {n}",
                                   kind="closed", pairs=n)
                    row["part"] = part
                    print(summary_line(row), flush=True)
                    out["runs_all"].append(row)
        out["runs"] = medians(out["runs_all"]) if out["runs_all"] else []
        for row in out["runs_all"]:
            if integrity(row):
                out["problems"].append(f"{row['run']}: {integrity(row)}")
        if "replay" in parts:
            print(f"  replay: {args.replay_peers} x {args.replay_per_peer} missed messages,"
                  f" {args.replay_rounds} round(s) ...", flush=True)
            out["replay"] = replay.run(parley.url, parley.sdkappid, parley.chat_key,
                                       peers=args.replay_peers, per_peer=args.replay_per_peer,
                                       rounds=args.replay_rounds)
            for r in out["replay"]["rounds"]:
                if not r["ok"]:
                    out["problems"].append(
                        f"replay: {r['received']} of {r['missed']} received, in order and"
                        f" once: {r['in_order_once']}, send errors {r['send_errors']}")
        for name, probe in probes.items():
            probe.close()
            out.setdefault("server_logs", {})[name] = {
                "parley": parley, "minimal": minimal, "minwhole": minwhole}[name].log_summary()
        probes.clear()
        for server in (minimal, minwhole, parley):  # the history fill: the machine alone
            if server is not None:
                server.stop()
        if "history" in parts:
            print(f"  history: {args.history_rows:,} rows ...", flush=True)
            out["history"] = history(database_url, redis_url, args.history_rows, run_id)
            if not out["history"].get("ok"):
                out["problems"].append(f"history: {out['history'].get('error') or 'short page'}")
        report(out, args)
        return 1 if out["problems"] else 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for probe in probes.values():
            probe.close()
        for server in (minimal, minwhole, parley):
            if server is not None:
                server.stop()
        path = RESULTS / f"{stamp}-compare.json"
        path.write_text(json.dumps(out, indent=1, default=str))
        print(f"results: {path.relative_to(ROOT)}")


def history(database_url: str, redis_url: str, rows: int, run_id: str) -> dict:
    """bench/history.py on the floor's scratch database (Parley's tables), in a subprocess
    with Parley's settings."""
    env = dict(os.environ, DATABASE_URL=db_url_for(database_url, floor.FLOOR_DB),
               REDIS_URL=redis_url, DEBUG="0", PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="chat_project.settings",
               SECRET_KEY=secrets.token_urlsafe(40), CHAT_SECRET_KEY=secrets.token_hex(16),
               CACHE_PREFIX=f"parley-bench-history-{run_id}", LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "history.py"), str(rows)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600 + rows / 2000)
    if done.returncode != 0:
        return {"ok": False, "error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
