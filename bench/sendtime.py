"""A lone send in process: how long `message_send_many` takes for one message, and each of
its statements, with the send's statements prepared (DB_PREPARED_STATEMENTS=1, the
default) and not (0), in alternating rounds.

No server, no socket: the pipeline as the socket door calls it (one command, the
events captured for the caller to publish), on a scratch database of its own
(`parley_bench_send`, migrated here), one connection kept open as a worker's database
thread keeps its pooled one. The time per statement is Django's execute (client side:
the round trip, psycopg's conversion and PostgreSQL's work); the COMMIT is the
rest of the total.

    python bench/sendtime.py                 # 2 rounds of 400 sends each way
    python bench/sendtime.py --rounds 3 --sends 1000
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import prepare  # noqa: E402
from server import ROOT, db_url_for  # noqa: E402

SEND_DB = "parley_bench_send"


def child(sends: int) -> dict:
    """Run in a process of its own (settings are read at import): time `sends` lone
    sends after a warm-up; return the figures."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    import django

    django.setup()
    from django.db import connection

    from accounts.events import capture_events
    from accounts.models import User
    from accounts.services import user_create
    from messaging.commands import Origin, SendCommand
    from messaging.services import message_send_many

    users = []
    for user_id in ("sendtime-a", "sendtime-b"):
        found = User.objects.filter(user_id=user_id).first()
        users.append(found or user_create(user_id=user_id, nick=user_id))
    sender, receiver = users
    per_statement: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = " ".join(sql.split()[:4])[:48]
            per_statement.setdefault(words, []).append(time.perf_counter() - start)

    totals = []
    for i in range(50 + sends):
        cmd = SendCommand(origin=Origin.USER, sender=sender, to=receiver.user_id,
                          elements=[{"type": "TIMTextElem", "payload": {"text": f"m {i}"}}],
                          random=secrets.randbelow(2**31), cloud_custom_data="x" * 60)
        if i == 50:  # warmed up: the statements are prepared, the caches full
            per_statement.clear()
        with connection.execute_wrapper(timed), capture_events():
            start = time.perf_counter()
            [result] = message_send_many([cmd])
            elapsed = time.perf_counter() - start
        if not isinstance(result, dict):
            raise SystemExit(f"the send failed: {result!r}")
        if i >= 50:
            totals.append(elapsed)
    return {"p50_ms": statistics.median(totals) * 1e3,
            "mean_ms": statistics.fmean(totals) * 1e3,
            "statements": {k: statistics.median(v) * 1e3 for k, v in per_statement.items()},
            "per_send": {k: len(v) / sends for k, v in per_statement.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sends", type=int, default=400)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.sends)))
        return 0
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must name a PostgreSQL server", file=sys.stderr)
        return 2
    prepare(database_url, whole=True, db_name=SEND_DB)
    env = dict(os.environ, DATABASE_URL=db_url_for(database_url, SEND_DB), DEBUG="0",
               SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
               CHAT_SECRET_KEY=os.environ.get("CHAT_SECRET_KEY") or secrets.token_hex(16),
               PYTHONPATH=str(ROOT))
    runs: dict[str, list[dict]] = {"0": [], "1": []}
    for _ in range(args.rounds):
        for mode in ("0", "1"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--sends", str(args.sends)],
                env=dict(env, DB_PREPARED_STATEMENTS=mode), capture_output=True, text=True,
                timeout=600)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                return 1
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"a lone send, in process: {args.rounds} round(s) of {args.sends} sends each way")
    for mode, label in (("0", "bound on the client (Django's cursors)"),
                        ("1", "prepared, generic plans")):
        p50s = [r["p50_ms"] for r in runs[mode]]
        print(f"\n{label}: message_send_many p50 "
              + ", ".join(f"{x:.2f}" for x in p50s) + " ms")
        last = runs[mode][-1]
        statements = sum(last["statements"].values())
        for words, ms in last["statements"].items():
            print(f"  {ms:6.3f} ms  x{last['per_send'][words]:.0f}  {words}")
        print(f"  {statements:6.3f} ms  the statements; COMMIT and Python: "
              f"{last['p50_ms'] - statements:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
