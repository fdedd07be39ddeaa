"""The minimal Channels consumer (bench/minimal/) under load, as Parley is in bench/run.py.

Starts `uvicorn minimal.asgi:application --workers 2 --loop uvloop --http httptools` (from
bench/, on a fresh scratch database `parley_bench_min`, made by `migrate --run-syncdb`),
with channels-redis's RedisPubSubChannelLayer, and drives it with bench/loadgen.py's
closed loop: the same generator processes, frames and checks as Parley's run. Prints
msgs/s, p50 and p99 per pair count; exit status 1 if a message was lost, doubled,
reordered, corrupt or answered with an error.

    python bench/minimal_consumer.py --quick
    python bench/minimal_consumer.py --quick --drop-every 50   # must exit 1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from common import integrity, summary_line  # noqa: E402
from run import RESULTS, run_load  # noqa: E402
from server import ROOT, Probe, Server  # noqa: E402

MIN_DB = "parley_bench_min"
MIN_WHOLE_DB = "parley_bench_minwhole"


def minimal_server(database_url: str, redis_url: str, *, workers: int, log_path: Path,
                   run_id: str, drop_every: int = 0, write: str = "row") -> Server:
    """The minimal app, started as bench/server.py starts Parley (not started yet).
    `write` "whole": it writes Parley's whole write set per message (bench/minimal/
    consumers.py), in a database of its own migrated with Parley's tables."""
    whole = write == "whole"
    migrate = ([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput",
                "--settings=chat_project.settings"] if whole else
               [sys.executable, "-m", "django", "migrate", "--run-syncdb", "--noinput"])
    return Server(
        database_url=database_url, redis_url=redis_url, workers=workers, log_path=log_path,
        run_id=run_id, socket_rate=0, db_name=MIN_WHOLE_DB if whole else MIN_DB,
        app="minimal.asgi:application", app_dir=ROOT / "bench", own_redis_db=False,
        ws="auto",
        extra_env={"DJANGO_SETTINGS_MODULE": "minimal.settings",
                   "CHANNEL_PREFIX": f"minimal-{write}-{run_id}",
                   "MINIMAL_DROP_EVERY": str(drop_every), "MINIMAL_WRITE": write},
        migrate=migrate)


def load_args(*, warmup: float, duration: float, drain: float, quiet_wait: float,
              gen_procs: int = 1, compression: str = "deflate") -> argparse.Namespace:
    """What bench/run.py's run_load reads of its arguments."""
    return argparse.Namespace(warmup=warmup, duration=duration, drain=drain,
                              quiet_wait=quiet_wait, gen_procs=gen_procs,
                              compression=compression)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pairs", default="1,16,64")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet-wait", type=float, default=60.0)
    p.add_argument("--quick", action="store_true", help="1 and 4 pairs, 2 s each")
    p.add_argument("--drop-every", type=int, default=0,
                   help="the server drops every Nth message (checks the checker: exit 1)")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.duration, args.warmup, args.drain = "1,4", 2.0, 0.5, 2.0
        args.quiet_wait = min(args.quiet_wait, 2.0)
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        print("DATABASE_URL (PostgreSQL) and REDIS_URL must be set", file=sys.stderr)
        return 2
    loadgen.raise_nofile()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    server = minimal_server(database_url, redis_url, workers=args.workers,
                            log_path=RESULTS / f"{stamp}-minimal.log",
                            run_id=secrets.token_hex(4), drop_every=args.drop_every)
    la = load_args(warmup=args.warmup, duration=args.duration, drain=args.drain,
                   quiet_wait=args.quiet_wait)
    rows, probe = [], None
    try:
        server.reset_database()
        server.start()
        probe = Probe(server)
        for n in (int(x) for x in args.pairs.split(",")):
            row = run_load(mp.get_context("spawn"), la, server, probe,
                           label=f"minimal {n}", kind="closed", pairs=n)
            print(summary_line(row), flush=True)
            rows.append(row)
    finally:
        if probe is not None:
            probe.close()
        server.stop()
    bad = [f"{r['run']}: {integrity(r)}" for r in rows if integrity(r)]
    for line in bad:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
