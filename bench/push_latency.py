"""Offline push: how long from a message's write to the vendor's request, and does push
slow the send path?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/push_latency.py                 # 1,000 receivers
    .venv/bin/python bench/push_latency.py --receivers 200 --rounds 1

It works on its own database, `parley_bench_push` (dropped, recreated and migrated on
the server of DATABASE_URL), its own Celery queue and its own cache key prefix (presence),
so tests and other runs on the same Redis are not touched.

1. Starts a fake FCM (tests/push/fake_fcm.py: OAuth and messages:send, a real local
   HTTP server) that notes when each message's request arrives, and one Celery worker
   (prefork, --concurrency processes) with FCM pointed at it.
2. Creates a sender and --receivers receivers, each with an FCM token and no socket
   (all offline).
3. Latency: sends one message to each receiver (in this process, through the send
   pipeline, as fast as it goes: a burst) and waits for every push to reach the fake;
   prints p50 / p99 / max of (request arrival - the message's created_at, taken in the
   send transaction just before its commit) and the burst's duration.
4. Send path: --rounds interleaved rounds of --sends sends with CHAT_PUSH_ENABLED on and
   off, each with the worker running (it then competes for the same cores, as on a
   one-box deployment) and with the worker paused (SIGSTOP: the send path's own cost);
   prints each round's send p50 / p99 (the pipeline's answer time, commit and
   after-commit work included, which is where push queues its task).
JSON into bench/results/<timestamp>-push-latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
import server as bench_server  # noqa: E402

DB = "parley_bench_push"
RESULTS = ROOT / "bench" / "results"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receivers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sends", type=int, default=500, help="sends per send-path round")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    database_url = os.environ["DATABASE_URL"]
    os.environ["REDIS_URL"]  # required: the broker and presence
    run_id = uuid.uuid4().hex[:8]
    queue = f"bench-push-{run_id}"
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": bench_server.db_url_for(database_url, DB),
        "CACHE_PREFIX": f"bench-push-{run_id}", "CHANNEL_PREFIX": f"bench-push-{run_id}",
        "CELERY_TASK_ALWAYS_EAGER": "0", "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CHAT_PUSH_QUEUE": queue, "DEBUG": "0",
        "SECRET_KEY": env.get("SECRET_KEY", "bench-secret"),
        "CHAT_SECRET_KEY": env.get("CHAT_SECRET_KEY", "bench-usersig-key"),
    })
    with psycopg.connect(bench_server.admin_conninfo(database_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chat_project.settings"
    import django

    django.setup()
    from django.conf import settings

    from accounts.services import user_create
    from messaging.commands import Origin
    from messaging.models import Message
    from messaging.services import message_send
    from push.models import PushToken
    from tests.push.fake_fcm import FakeFcm

    arrivals: dict[str, float] = {}

    class TimedFcm(FakeFcm):
        def _send(self, request, project):
            answer = super()._send(request, project)
            try:
                arrivals.setdefault(request.json()["message"]["data"]["messageID"],
                                    time.time())
            except (KeyError, ValueError, TypeError):
                pass
            return answer

    fake = TimedFcm()
    fake.server.start()
    worker_env = {**env, "CHAT_PUSH_FCM_CREDENTIALS": fake.service_account_json(),
                  "CHAT_PUSH_FCM_BASE_URL": fake.server.url, "CHAT_PUSH_FCM_PROJECT_ID": "",
                  "CHAT_PUSH_FCM_TOKEN_URL": ""}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log = open(RESULTS / f"{stamp}-push-worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "chat_project", "worker", "--pool", "prefork",
         "-c", str(args.concurrency), "-Q", queue, "-n", f"{queue}@%h", "-l", "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    result: dict = {"args": vars(args), "tree": bench_server.tree_state()}
    try:
        sender = user_create(user_id="sender", password=None, nick="Sender")
        receivers = [user_create(user_id=f"r{i:04d}", password=None)
                     for i in range(args.receivers)]
        PushToken.objects.bulk_create([
            PushToken(user=r, device_id="phone", vendor="fcm", token=f"fcm-{r.user_id}-" + "x" * 40)
            for r in receivers])
        time.sleep(5)  # the worker starts
        elements = [{"type": "TIMTextElem", "payload": {"text": "hello"}}]

        # --- latency -----------------------------------------------------------------
        started = time.time()
        ids = []
        for i, r in enumerate(receivers):
            ids.append(message_send(origin=Origin.USER, sender=sender, to=r.user_id,
                                    elements=elements, random=i)["ID"])
        burst = time.time() - started
        deadline = time.time() + args.timeout
        while len([i for i in ids if i in arrivals]) < len(ids) and time.time() < deadline:
            time.sleep(0.2)
        created = {f"{pk}-{t}-{rnd}": c.timestamp() for pk, t, rnd, c in Message.objects
                   .filter(pk__in=[int(i.split("-")[0]) for i in ids])
                   .values_list("pk", "time", "random", "created_at")}
        lat = [(arrivals[i] - created[i]) * 1000 for i in ids if i in arrivals]
        result["latency"] = {"receivers": len(ids), "arrived": len(lat),
                             "burst_s": round(burst, 2), "p50_ms": round(pct(lat, 0.5), 1),
                             "p99_ms": round(pct(lat, 0.99), 1),
                             "max_ms": round(max(lat), 1) if lat else None,
                             "last_s": round(max(arrivals[i] for i in ids if i in arrivals)
                                             - started, 2) if lat else None}
        print(f"commit -> vendor request, {len(ids)} offline receivers in a burst of "
              f"{burst:.1f} s: arrived {len(lat)}, p50 {pct(lat, 0.5):.0f} ms, "
              f"p99 {pct(lat, 0.99):.0f} ms, max {max(lat) if lat else 0:.0f} ms; "
              f"the last {result['latency']['last_s']} s after the first send")

        # --- send path: push on vs off --------------------------------------------------
        rounds = []
        n = 0
        targets = receivers[:args.sends]
        for round_ in range(args.rounds):
            for paused in (False, True):
                for enabled in (True, False) if round_ % 2 == 0 else (False, True):
                    settings.CHAT_PUSH_ENABLED = enabled
                    if paused:  # the send path's own cost, without the worker's CPU
                        os.killpg(worker.pid, signal.SIGSTOP)
                    times = []
                    try:
                        for r in targets:
                            n += 1
                            t0 = time.perf_counter()
                            message_send(origin=Origin.USER, sender=sender, to=r.user_id,
                                         elements=elements, random=10**6 + n)
                            times.append((time.perf_counter() - t0) * 1000)
                    finally:
                        if paused:
                            os.killpg(worker.pid, signal.SIGCONT)
                    rounds.append({"push": enabled, "worker_paused": paused,
                                   "p50_ms": round(pct(times, 0.5), 2),
                                   "p99_ms": round(pct(times, 0.99), 2),
                                   "mean_ms": round(statistics.mean(times), 2)})
                    print(f"send path, push {'on ' if enabled else 'off'}, worker "
                          f"{'paused ' if paused else 'running'}: {len(times)} sends, "
                          f"p50 {pct(times, 0.5):.2f} ms, p99 {pct(times, 0.99):.2f} ms")
                if not paused:
                    time.sleep(1)
        result["send_path"] = rounds
        for paused in (False, True):
            for enabled in (True, False):
                mine = [r for r in rounds if r["push"] is enabled and r["worker_paused"] is paused]
                print(f"  push {'on ' if enabled else 'off'}, worker "
                      f"{'paused ' if paused else 'running'}: median of rounds p50 "
                      f"{statistics.median(r['p50_ms'] for r in mine):.2f} ms, p99 "
                      f"{statistics.median(r['p99_ms'] for r in mine):.2f} ms")
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        fake.server.stop()
        (RESULTS / f"{stamp}-push-latency.json").write_text(json.dumps(result, indent=2))
    return 0 if result.get("latency", {}).get("arrived") == args.receivers else 1


if __name__ == "__main__":
    sys.exit(main())
