"""What the operator console's dashboard costs (chat_project/dashboard.py) on a filled
database: queries and milliseconds of one count, the per-hour query's plan.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley REDIS_URL=redis://127.0.0.1:6379/0 \\
    SECRET_KEY=x CHAT_SECRET_KEY=y .venv/bin/python bench/dashboard.py --messages 200000

It works on its own database, `parley_bench_dashboard` (dropped, recreated, migrated,
and dropped again at the end unless --keep). Fill (ORM bulk_create): --users users,
--messages messages spread evenly over the last --hours hours across 500 dialogs, one
push delivery per 10 messages (a tenth failed), one webhook attempt per 40 (a tenth
failed); then VACUUM ANALYZE. Measure: dashboard.numbers() --runs times (the cache is
not used), the median and the slowest, and the number of queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "parley_bench_dashboard"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import psycopg

    # Create and drop it from the server's maintenance database.
    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    os.environ["DATABASE_URL"] = server.rsplit("/", 1)[0] + f"/{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    try:
        run(args)
    finally:
        if not args.keep:
            from django.db import connections
            connections.close_all()
            with psycopg.connect(server, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import User, WebhookAttempt
    from chat_project import dashboard
    from messaging.models import Dialog, Message
    from push.models import PushDelivery

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    User.objects.bulk_create([User(user_id=f"u{i}", nick=f"U{i}") for i in range(args.users)],
                             batch_size=2000)
    pks = list(User.objects.order_by("pk").values_list("pk", flat=True))
    dialogs = Dialog.objects.bulk_create([
        Dialog(user_low_id=pks[2 * i], user_high_id=pks[2 * i + 1]) for i in range(500)])
    now = timezone.now()
    step = timedelta(hours=args.hours) / args.messages
    seqs = [0] * len(dialogs)
    batch, deliveries, hooks = [], [], []
    for i in range(args.messages):
        d = i % len(dialogs)
        seqs[d] += 1
        at = now - step * (args.messages - i)
        dialog = dialogs[d]
        batch.append(Message(dialog=dialog, seq=seqs[d], sender_id=dialog.user_low_id,
                             receiver_id=dialog.user_high_id, random=i,
                             time=int(at.timestamp()), created_at=at,
                             elements=[{"type": "TIMTextElem", "payload": {"text": "x"}}]))
        if i % 10 == 0:
            deliveries.append(PushDelivery(
                message_id=i + 1, user_id=dialog.user_high_id, device_id="phone",
                vendor="fcm", state="failed" if i % 100 == 0 else "delivered",
                created_at=at, updated_at=at))
        if i % 40 == 0:
            hooks.append(WebhookAttempt(
                delivery_id=uuid.uuid4(), command="C2C.CallbackAfterSendMsg", url="http://x/",
                body={}, outcome="failed" if i % 400 == 0 else "ok", created_at=at))
        if len(batch) == 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    PushDelivery.objects.bulk_create(deliveries, batch_size=5000)
    WebhookAttempt.objects.bulk_create(hooks, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"filled {args.messages} messages, {args.users} users, {len(deliveries)} "
          f"deliveries, {len(hooks)} webhook attempts in {time.monotonic() - started:.0f} s")

    times, counts = [], []
    for _ in range(args.runs):
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            numbers = dashboard.numbers()
            times.append((time.perf_counter() - t0) * 1000)
        counts.append(len(queries))
    slowest = max((float(q["time"]) * 1000, q["sql"][:90]) for q in queries)
    print(f"dashboard.numbers(): {counts[-1]} queries; median {statistics.median(times):.1f} ms, "
          f"slowest run {max(times):.1f} ms, slowest query of the last run "
          f"{slowest[0]:.1f} ms ({slowest[1]}...)")
    print(f"messages today {numbers.messages_today}, in the last 24 h "
          f"{sum(n for _, n in numbers.hours)}, users {numbers.users}, pushes {numbers.pushes}, "
          f"webhook failures {numbers.webhook_failures}, queues {numbers.queues}")
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT date_trunc('hour', created_at) h, count(*) "
            "FROM messaging_message WHERE created_at >= %s GROUP BY 1", [first_hour])
        print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
