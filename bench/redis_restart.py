"""Redis restarted under load: is any acknowledged message lost?

    .venv/bin/python bench/redis_restart.py                  # 16 pairs, 24 s, Redis down 3 s
    .venv/bin/python bench/redis_restart.py --pairs 32 --down 5 --fault kill

Starts a production-like server (uvicorn, 2 workers) against a PostgreSQL cluster and a
Redis of its own (bench/db_pool.py), logs in one receiving and one sending socket per
pair, and has every sender send a text message every `--interval` seconds (waiting for
each reply). A third of the way in, Redis fails for `--down` seconds: `--fault stop`
(SIGTERM, then a new Redis on the same port: an empty one, as after a restart without
persistence), `kill` (SIGKILL, then the same), or `freeze` (SIGSTOP, then SIGCONT: a
Redis that accepts and never answers, then answers again).

Afterwards each receiver logs in on a new socket with `since: 0` (a device catching up
from the sync log) and the bench checks that every message whose send was acknowledged
is replayed, exactly once. It prints: sends acknowledged / refused (by code) / not
answered, the slowest answer, the acknowledged messages the receivers' open sockets got
live (in total, and of those sent after Redis was back), and what the catch-up missed
or repeated (both must be 0). Keep pairs x duration / interval under 100 messages a
pair: the replay serves the newest 100 per peer (README, "Realtime protocol").
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db_pool import Postgres, Redis, base_env, start_server, stop_server  # noqa: E402
from tests.wsclient import WsClient  # noqa: E402

KEY = "db-pool-bench-key"  # bench/db_pool.base_env's CHAT_SECRET_KEY
SDKAPPID = 1400000001


def usersig(user_id: str) -> str:
    import TLSSigAPIv2

    return TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, KEY).gen_sig(user_id)


def seed(env: dict, pairs: int, pg: Postgres) -> None:
    with pg.connect() as conn:
        conn.execute("CREATE DATABASE parley_bench")
    script = ("import django; django.setup()\n"
              "from accounts.services import user_create\n"
              f"for i in range({pairs}):\n"
              "    for who in ('s', 'r'):\n"
              "        user_create(user_id=f'{who}{i}', password=None, nick='', avatar='')\n")
    for args in (["manage.py", "migrate", "--noinput"], ["-c", script]):
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])


def login(base: str, user: str, **extra) -> WsClient:
    ws = WsClient(base)
    ws.ok("login", {"userID": user, "userSig": usersig(user), **extra})
    return ws


def received_randoms(frame: dict, sender: str) -> list[int]:
    if frame.get("event") != "MESSAGE_RECEIVED":
        return []
    return [m.get("random") for m in frame.get("data") or [] if m.get("from") == sender]


class Pair:
    def __init__(self, i: int):
        self.sender, self.receiver = f"s{i}", f"r{i}"
        self.acked: dict[int, float] = {}  # random -> when acknowledged (monotonic)
        self.refused: Counter = Counter()
        self.unanswered = 0
        self.slowest = 0.0
        self.live: list[int] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--duration", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--down", type=float, default=3.0, help="seconds Redis stays down")
    parser.add_argument("--fault", choices=("stop", "kill", "freeze"), default="stop")
    args = parser.parse_args()
    log_dir = ROOT / "bench" / "results"
    log_dir.mkdir(exist_ok=True)
    pg, redis = Postgres(100), Redis()
    pairs = [Pair(i) for i in range(args.pairs)]
    stop = threading.Event()
    outage: dict[str, float] = {}
    try:
        pg.start()
        redis.start()
        env = base_env(pg, redis.url)
        seed(env, args.pairs, pg)
        proc, port = start_server(env, log_dir / "redis-restart-server.log")
        base = f"http://127.0.0.1:{port}"
        try:
            receivers = [login(base, p.receiver) for p in pairs]
            senders = [login(base, p.sender) for p in pairs]

            def receive(pair: Pair, ws: WsClient):
                while not stop.is_set():
                    try:
                        frame = ws._recv(0.2)
                    except Exception:  # closed by the server: the device would reconnect
                        return
                    if frame:
                        pair.live += received_randoms(frame, pair.sender)

            def send(pair: Pair, ws: WsClient):
                n = 0
                while not stop.is_set():
                    n += 1
                    started = time.monotonic()
                    try:
                        reply = ws.request("sendMessage", {
                            "to": pair.receiver, "random": n,
                            "elements": [{"type": "TIMTextElem",
                                          "payload": {"text": f"{pair.sender} {n}"}}]},
                            timeout=30)
                    except Exception:
                        pair.unanswered += 1
                        return
                    pair.slowest = max(pair.slowest, time.monotonic() - started)
                    if reply["ok"]:
                        pair.acked[n] = time.monotonic()
                    else:
                        pair.refused[reply.get("code")] += 1
                    time.sleep(args.interval)

            threads = [threading.Thread(target=receive, args=(p, ws), daemon=True)
                       for p, ws in zip(pairs, receivers, strict=True)]
            threads += [threading.Thread(target=send, args=(p, ws), daemon=True)
                        for p, ws in zip(pairs, senders, strict=True)]
            for t in threads:
                t.start()
            time.sleep(args.duration / 3)
            outage["stop"] = time.monotonic()
            if args.fault == "freeze":
                redis.proc.send_signal(signal.SIGSTOP)
                time.sleep(args.down)
                redis.proc.send_signal(signal.SIGCONT)
            else:
                redis.proc.send_signal(signal.SIGKILL if args.fault == "kill"
                                       else signal.SIGTERM)
                redis.proc.wait(timeout=10)
                time.sleep(args.down)
                redis.start()
            outage["back"] = time.monotonic()
            time.sleep(max(0.0, args.duration - args.duration / 3 - args.down))
            stop.set()
            for t in threads:
                t.join(timeout=40)
            time.sleep(2)
            for ws in receivers + senders:
                ws.close()
            # A device of each receiver catches up from the sync log.
            missed = repeated = 0
            for pair in pairs:
                ws = login(base, pair.receiver, since=0, deviceID="catch-up")
                got: list[int] = []
                queued = list(ws.events)  # frames that came before the login's reply
                while True:
                    frame = queued.pop(0) if queued else ws.next_frame(timeout=30)
                    got += received_randoms(frame, pair.sender)
                    if frame.get("event") == "SDK_READY":
                        break
                ws.close()
                counts = Counter(got)
                missed += sum(1 for n in pair.acked if n not in counts)
                repeated += sum(c - 1 for c in counts.values() if c > 1)
        finally:
            stop_server(proc)
    finally:
        stop.set()
        redis.stop()
        pg.stop()
    acked = sum(len(p.acked) for p in pairs)
    live = sum(len(set(p.live) & set(p.acked)) for p in pairs)
    after = {(p.sender, n) for p in pairs for n, at in p.acked.items()
             if at > outage["back"] + 2}
    live_after = sum(1 for p in pairs for n in set(p.live) if (p.sender, n) in after)
    refused = sum((p.refused for p in pairs), Counter())
    print(f"\n{args.pairs} pairs, {args.duration:.0f} s, one send per pair every "
          f"{args.interval} s; Redis fault '{args.fault}' at "
          f"{args.duration / 3:.0f} s, back {args.down:.0f} s later\n")
    print("| acknowledged | refused (by code) | not answered | slowest answer |"
          " live on the open sockets | live, sent 2 s after Redis was back |"
          " catch-up missed | catch-up repeated |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {acked} | {dict(refused) or 0} | {sum(p.unanswered for p in pairs)} |"
          f" {max(p.slowest for p in pairs):.2f} s | {live} of {acked} |"
          f" {live_after} of {len(after)} | {missed} | {repeated} |")
    if missed or repeated:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
