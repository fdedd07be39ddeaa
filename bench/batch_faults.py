"""batchsendmsg under worker kills: is every receiver's message there exactly once, and
how long after a worker is back does the last one land?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/batch_faults.py                 # 4 batches of 500, 2 kills
    .venv/bin/python bench/batch_faults.py --batches 2 --kills 1 --visibility-timeout 20

It works on its own database, `parley_bench_batch` (dropped, recreated and migrated on the
server of DATABASE_URL; left for inspection), and its own broker key prefix, so tests,
`make bench` and other workers on the same Redis are never touched.

1. Starts the /v4 door as production would (bench/server.py: uvicorn, 2 workers), one
   Celery worker (prefork, 2 processes, `--visibility-timeout` as
   CHAT_TASK_VISIBILITY_TIMEOUT, the production default 60 s) and `celery beat` (the
   database schedule, whose 30-second sweep queues again what the broker lost), imports
   --batches x 500 receivers and a sender through /v4 multiaccount_import.
2. Sends --batches batchsendmsg calls of 500 receivers each (chunks of --chunk), all
   answered OK at once, then SIGKILLs the worker's whole process group each time the
   delivered count passes the next of --kills evenly spaced marks (1/3 and 2/3 for
   2 kills), keeps it down --down seconds, and starts a new one.
3. Waits (at most --timeout) until every receiver has its message, then 5 s more for
   anything redone twice, and prints per batch: delivered, duplicated, missing; the time
   from the last restart to the last message (the figure the two-minute bound is about),
   the whole run's, and the kills. JSON into bench/results/<timestamp>-batch-faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import server as bench_server  # noqa: E402
import TLSSigAPIv2  # noqa: E402

ROOT = bench_server.ROOT
RESULTS = ROOT / "bench" / "results"
DB = "parley_bench_batch"
BATCH_MAX = 500  # receivers per batchsendmsg (Tencent's limit)


def v4_call(server, path: str, body: dict) -> dict:
    signer = TLSSigAPIv2.TLSSigAPIv2(server.sdkappid, server.chat_key)
    query = urlencode({"sdkappid": server.sdkappid, "identifier": "administrator",
                       "usersig": signer.gen_sig("administrator"),
                       "random": random.randint(0, 2**32 - 1), "contenttype": "json"})
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/v4/{path}?{query}",
                                     data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


class Worker:
    """A Celery process (worker, or beat) in a process group of its own, so a kill takes
    every process of it."""

    def __init__(self, env: dict, log_path: Path, *, beat: bool = False):
        self.env, self.log_path, self.proc, self.beat = env, log_path, None, beat

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child holds it
        if self.beat:
            command = ["beat", "-l", "info", "-s", str(self.log_path.with_suffix(".db"))]
        else:
            command = ["worker", "-l", "info", "--pool", "prefork", "-c", "2",
                       "-Q", self.env["CELERY_TASK_DEFAULT_QUEUE"],
                       "-n", f"bench-batch-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
                       "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chat_project", *command],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def counts(conn, randoms: list[int]) -> dict[int, dict[str, int]]:
    """Per batch (its MsgRandom): receivers with one message, with more, messages."""
    rows = conn.execute(
        "SELECT random, count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1),"
        " coalesce(sum(n), 0) FROM (SELECT random, receiver_id, count(*) AS n"
        " FROM messaging_message WHERE random = ANY(%s) GROUP BY random, receiver_id) x"
        " GROUP BY random", [randoms]).fetchall()
    found = {r: {"once": a, "more": b, "messages": int(c)} for r, a, b, c in rows}
    return {r: found.get(r, {"once": 0, "more": 0, "messages": 0}) for r in randoms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=100, help="CHAT_BATCH_CHUNK")
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--down", type=float, default=5.0, help="seconds without a worker")
    parser.add_argument("--visibility-timeout", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/parley")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = uuid.uuid4().hex[:8]
    server = bench_server.Server(database_url=database_url, redis_url=redis_url, workers=2,
                                 log_path=RESULTS / f"{stamp}-batch-server.log",
                                 run_id=run_id, socket_rate=200)
    queue = f"bench-batch-{run_id}"
    server.env.update({
        "DATABASE_URL": bench_server.db_url_for(database_url, DB),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_BROKER_KEY_PREFIX": f"parley-bench-batch-{run_id}.",
        "CHAT_BATCH_CHUNK": str(args.chunk),
        "CHAT_TASK_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    })
    with psycopg.connect(bench_server.admin_conninfo(database_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                   env=server.env, check=True, capture_output=True, timeout=300)
    worker = Worker(server.env, RESULTS / f"{stamp}-batch-worker.log")
    beat = Worker(server.env, RESULTS / f"{stamp}-batch-beat.log", beat=True)
    db = psycopg.connect(bench_server.db_url_for(database_url, DB).replace(
        "postgres://", "postgresql://", 1), autocommit=True)
    result: dict = {"args": vars(args), "tree": bench_server.tree_state()}
    try:
        server.start()
        worker.start()
        beat.start()
        receivers = [f"b{i:05}" for i in range(args.batches * BATCH_MAX)]
        for start in range(0, len(receivers), 100):
            answer = v4_call(server, "im_open_login_svc/multiaccount_import",
                             {"Accounts": receivers[start:start + 100]})
            assert answer["ErrorCode"] == 0, answer
        assert v4_call(server, "im_open_login_svc/account_import",
                       {"UserID": "sender"})["ErrorCode"] == 0
        total = len(receivers)
        randoms = [7000 + b for b in range(args.batches)]
        while " ready." not in worker.log_path.read_text():
            time.sleep(0.2)

        began = time.monotonic()
        for b, msg_random in enumerate(randoms):
            answer = v4_call(server, "openim/batchsendmsg", {
                "From_Account": "sender", "MsgRandom": msg_random,
                "To_Account": receivers[b * BATCH_MAX:(b + 1) * BATCH_MAX],
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"b{b}"}}]})
            assert answer["ActionStatus"] == "OK", answer
        answered = time.monotonic() - began

        marks = [total * (k + 1) // (args.kills + 1) for k in range(args.kills)]
        kills, restarted = [], began
        deadline = time.monotonic() + args.timeout
        while True:
            now = counts(db, randoms)
            delivered = sum(c["once"] + c["more"] for c in now.values())
            if marks and delivered >= marks[0]:
                worker.kill()
                killed_at = time.monotonic()
                kills.append({"at_delivered": delivered, "after_s": round(killed_at - began, 2)})
                print(f"killed the worker at {delivered}/{total} delivered", flush=True)
                marks.pop(0)
                time.sleep(args.down)
                worker.start()
                restarted = time.monotonic()
                kills[-1]["delivered_while_down"] = sum(
                    c["once"] + c["more"] for c in counts(db, randoms).values()) - delivered
            if delivered >= total or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        finished = time.monotonic()
        time.sleep(5)  # a chunk redone twice would land now
        final = counts(db, randoms)
        receipts = db.execute("SELECT count(*) FROM messaging_batchreceipt").fetchone()[0]
        log = worker.log_path.read_text()
        result.update({
            "chunks_queued_again": sum(
                int(line.split("queued again ")[1].split()[0])
                for line in log.splitlines() if "queued again " in line),
            "receivers": total, "answered_s": round(answered, 2), "kills": kills,
            "after_last_restart_s": round(finished - restarted, 2),
            "total_s": round(finished - began, 2), "receipts": receipts,
            "batches": {str(r): {**c, "missing": BATCH_MAX - c["once"] - c["more"]}
                        for r, c in final.items()},
        })
    finally:
        worker.stop()
        beat.stop()
        server.stop()
        db.close()

    print(f"\nbatchsendmsg: {args.batches} x {BATCH_MAX} receivers, chunks of {args.chunk},"
          f" visibility timeout {args.visibility_timeout} s, {len(result['kills'])} kill(s),"
          f" {args.down:g} s down each")
    print(f"{'batch':>8} {'once':>6} {'twice+':>7} {'missing':>8}")
    for msg_random, c in result["batches"].items():
        print(f"{msg_random:>8} {c['once']:>6} {c['more']:>7} {c['missing']:>8}")
    for k in result["kills"]:
        print(f"kill at {k['at_delivered']} delivered ({k['after_s']} s in)")
    print(f"all {result['receivers']} answered in {result['answered_s']} s; the last message"
          f" {result['after_last_restart_s']} s after the last restart;"
          f" {result['total_s']} s in all; {result['receipts']} receipts;"
          f" {result['chunks_queued_again']} chunks queued again by the sweep")
    out = RESULTS / f"{stamp}-batch-faults.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    bad = any(c["more"] or c["missing"] for c in result["batches"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
