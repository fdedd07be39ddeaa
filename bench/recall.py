"""Recall benchmark: what the app admin's recall of an old message costs when both users
have busy sync logs (messaging.changes `_erase_from_sync_log`, bench/README.md "Recall of
an old message").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley REDIS_URL=redis://127.0.0.1:6379/0 \
      .venv/bin/python bench/recall.py --entries 50000

It works on its own database, `parley_bench_recall` (dropped, created, migrated, and
dropped again at the end unless --keep).

1. Fill: alice sends bob one message M `--age-days` (6) days ago; then each of them gets
   `--entries` sync-log entries spread over the time since, like a busy user's: 4 in 5
   message entries (empty payload, as a send writes them), 1 in 5 a read's conversation
   entry carrying a last message's view (about 600 bytes); the first `--hits` (3) of
   those on each side carry M itself (a read right after it). `--others` entries of 1,000
   other users fill the same days. Indexes as migrated, then VACUUM ANALYZE.
2. The erase's query, EXPLAIN (ANALYZE, BUFFERS): rows the database read and handed
   back, buffers, time; then the whole recall (messaging.changes.message_revoke, the
   app admin's: no actor), `--repeat` times, each rolled back, so every run recalls the
   same message on the same data: the median and the spread.

Prints the figures and writes bench/results/<timestamp>-recall.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RECALL_DB = "parley_bench_recall"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--entries", type=int, default=50_000, help="sync entries of each user")
    p.add_argument("--others", type=int, default=1_000_000,
                   help="sync entries of other users in the same days")
    p.add_argument("--age-days", type=float, default=6.0, help="how old the recalled message is")
    p.add_argument("--hits", type=int, default=3, help="entries of each user carrying it")
    p.add_argument("--repeat", type=int, default=7, help="recalls timed (each rolled back)")
    p.add_argument("--without-index", action="store_true",
                   help="drop sync_entry_copies_idx before measuring (what it is worth)")
    p.add_argument("--keep", action="store_true", help=f"leave {RECALL_DB} in place")
    p.add_argument("--reuse", action="store_true",
                   help=f"measure on the {RECALL_DB} a --keep run left (no fill)")
    return p.parse_args(argv)


def db_url(database_url: str, name: str) -> str:
    base, _, _ = database_url.rpartition("/")
    return f"{base}/{name}"


def create_and_migrate(database_url: str) -> None:
    with psycopg.connect(db_url(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {RECALL_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {RECALL_DB}")
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"migrate failed:\n{done.stdout}\n{done.stderr}")


# A read's conversation entry, as sync_publish stores it (the view's fields, shortened).
_CONV_PAYLOAD = """jsonb_build_object('event', 'CONVERSATION_LIST_UPDATED', 'data',
  jsonb_build_array(jsonb_build_object('conversationID', 'C2C' || %(peer)s, 'type', 'C2C',
   'unreadCount', 0, 'isPinned', false, 'draftText', '', 'peerReadTime', 0,
   'lastMessage', jsonb_build_object('ID', {mid}, 'conversationID', 'C2C' || %(peer)s,
     'from', %(peer)s, 'to', %(me)s, 'flow', 'in', 'time', 0, 'seq', g, 'random', g,
     'isRevoked', false, 'isModified', false, 'nick', %(peer)s, 'avatar', '',
     'elements', jsonb_build_array(jsonb_build_object('type', 'TIMTextElem', 'payload',
       jsonb_build_object('text', 'read up to message ' || g || ' lorem ipsum dolor sit amet'))),
     'cloudCustomData', '', 'priority', 'Normal', 'isPeerRead', false))))"""


def fill(args) -> dict:
    """Users, M, the sync entries; return what the measurement needs."""
    import uuid

    from django.db import connection
    from django.utils import timezone

    from accounts.models import SyncEntry, User
    from messaging.commands import Origin
    from messaging.models import Message
    from messaging.services import message_send

    alice = User.objects.create(user_id="alice", nick="alice")
    bob = User.objects.create(user_id="bob", nick="bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", random=uuid.uuid4().int % 2**31,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "the code is 4711"}}])
    msg = Message.objects.get(sender=alice)
    now = timezone.now()
    then = now - timedelta(days=args.age_days)
    Message.objects.filter(pk=msg.pk).update(created_at=then, time=int(then.timestamp()))
    SyncEntry.objects.filter(message_id=msg.pk).update(created_at=then)
    msg.refresh_from_db()
    public_id = msg.public_id
    span = (now - then).total_seconds()
    t0 = time.monotonic()
    with connection.cursor() as cur:
        for me, peer in ((bob, alice), (alice, bob)):
            head = SyncEntry.objects.filter(user=me).order_by("-seq").values_list(
                "seq", flat=True).first() or 0
            mid = (f"CASE WHEN g / 5 <= {args.hits} THEN %(public_id)s"
                   f" ELSE g || '-0-' || g END")
            cur.execute(
                "INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload,"
                " created_at)"
                " SELECT %(uid)s, %(head)s + g,"
                "  CASE WHEN g %% 5 = 0 THEN 'read' ELSE 'message' END,"
                "  CASE WHEN g %% 5 = 0 THEN NULL ELSE 1000000000 + g END, %(peer)s,"
                f"  CASE WHEN g %% 5 = 0 THEN {_CONV_PAYLOAD.format(mid=mid)} ELSE '{{}}' END,"
                "  %(then)s + (%(span)s * g / %(n)s) * interval '1 second'"
                " FROM generate_series(1, %(n)s) g",
                {"uid": me.pk, "head": head, "peer": peer.user_id, "me": me.user_id,
                 "public_id": public_id, "then": then, "span": span, "n": args.entries})
            cur.execute("UPDATE accounts_synchead SET seq = %s WHERE user_id = %s",
                        [head + args.entries, me.pk])
        if args.others:
            cur.execute(
                "INSERT INTO accounts_user (password, is_superuser, user_id, email, is_staff,"
                " is_active, date_joined, nick, avatar, gender, birthday, location,"
                " self_signature, allow_type, language, admin_forbid_type, level, role,"
                " profile_custom, profile_updated_at, session_epoch, c2c_mute_until,"
                " group_mute_until, kicked_at)"
                " SELECT '!', false, 'o' || g, '', false, true, %(now)s, 'o' || g, '',"
                " 'Gender_Type_Unknown', 0, '', '', 'AllowType_Type_NeedConfirm', 0,"
                " 'AdminForbid_Type_None', 0, 0, '{}', %(now)s, 0, 0, 0, 0"
                " FROM generate_series(0, 999) g", {"now": now})
            cur.execute(
                "INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload,"
                " created_at)"
                " SELECT u.id, g / 1000 + 1, CASE WHEN g %% 5 = 0 THEN 'read' ELSE 'message' END,"
                "  NULL, 'x', CASE WHEN g %% 5 = 0 THEN '{\"event\": \"CONVERSATION_LIST_UPDATED\","
                " \"data\": []}'::jsonb ELSE '{}' END,"
                "  %(then)s + (%(span)s * g / %(n)s) * interval '1 second'"
                " FROM generate_series(0, %(n)s - 1) g"
                " JOIN accounts_user u ON u.user_id = 'o' || (g %% 1000)",
                {"then": then, "span": span, "n": args.others})
    fill_s = time.monotonic() - t0
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"message_pk": msg.pk, "public_id": public_id, "fill_s": fill_s}


def explain(sql: str, params) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement: the plan's text and its figures."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cur.fetchone()[0]
        plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        text = "\n".join(row[0] for row in cur.fetchall())

    def walk(node, acc):
        # Rows the scans looked at: index entries of index scans, heap rows of the
        # others (returned, or read and removed by a filter); per loop in EXPLAIN.
        kind, loops = node.get("Node Type", ""), node.get("Actual Loops", 1)
        if kind.endswith("Index Scan") or kind.endswith("Index Only Scan"):
            acc["index"] += loops * (node.get("Actual Rows", 0)
                                     + node.get("Rows Removed by Filter", 0))
        if kind.endswith("Scan") and not kind.startswith("Bitmap Index"):
            acc["heap"] += loops * (node.get("Actual Rows", 0)
                                    + node.get("Rows Removed by Filter", 0)
                                    + node.get("Rows Removed by Index Recheck", 0))
        for child in node.get("Plans", []):
            walk(child, acc)
        return acc

    top = plan["Plan"]
    seen = walk(top, {"index": 0, "heap": 0})
    return {"rows_read": seen["heap"], "index_entries": seen["index"],
            "rows_returned": top.get("Actual Rows"), "shared_hit": top.get("Shared Hit Blocks"),
            "shared_read": top.get("Shared Read Blocks"), "ms": plan.get("Execution Time"),
            "plan": text}


def erase_query(msg):
    """The erase's query as messaging.changes builds it (whichever version is checked out)."""
    from messaging import changes

    build = getattr(changes, "_entries_carrying", None)
    if build is not None:
        return build(msg, [msg.sender_id, msg.receiver_id])
    # The version before: every entry of both users since the message but messages/recalls.
    from accounts.models import SyncEntry

    return (SyncEntry.objects.filter(user_id__in=[msg.sender_id, msg.receiver_id],
                                     created_at__gte=msg.created_at)
            .exclude(kind__in=[SyncEntry.Kind.MESSAGE, SyncEntry.Kind.REVOKE])
            .only("pk", "user_id", "payload"))


class _Rollback(Exception):
    pass


def measure(args, found: dict) -> dict:
    from django.db import connection, transaction

    from messaging.changes import message_revoke
    from messaging.models import Message

    msg = Message.objects.get(pk=found["message_pk"])
    sql, params = erase_query(msg).query.sql_with_params()
    out = {"query": sql, "explain": [explain(sql, params) for _ in range(3)]}
    times, queries = [], 0
    for _ in range(args.repeat):
        try:
            with transaction.atomic():
                t = time.perf_counter()
                n0 = len(connection.queries)
                view = message_revoke(message_pk=msg.pk, actor=None)
                times.append(time.perf_counter() - t)
                queries = len(connection.queries) - n0
                assert view["isRevoked"]
                raise _Rollback
        except _Rollback:
            pass
    out.update(recall_ms=[round(1000 * x, 1) for x in times],
               recall_median_ms=round(1000 * statistics.median(times), 1), queries=queries)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL (PostgreSQL) must be set", file=sys.stderr)
        return 2
    os.environ["DATABASE_URL"] = db_url(database_url, RECALL_DB).replace(
        "postgres://", "postgresql://", 1)
    for key, value in {"DEBUG": "0", "SECRET_KEY": "bench-recall",
                       "CHAT_SECRET_KEY": "bench-recall-key", "LOG_LEVEL": "WARNING",
                       "DJANGO_SETTINGS_MODULE": "chat_project.settings"}.items():
        os.environ.setdefault(key, value)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        if not args.reuse:
            create_and_migrate(database_url)
        sys.path.insert(0, str(ROOT))
        import django
        from django.conf import settings

        django.setup()
        settings.DEBUG = True  # count the recall's queries (connection.queries)
        if args.reuse:
            from messaging.models import Message

            msg = Message.objects.get(sender__user_id="alice")
            found = {"message_pk": msg.pk, "public_id": msg.public_id, "fill_s": 0.0}
        else:
            found = fill(args)
        if args.without_index:
            from django.db import connection

            with connection.cursor() as cur:
                cur.execute("DROP INDEX IF EXISTS sync_entry_copies_idx")
                cur.execute("ANALYZE accounts_syncentry")
        out = {"started": stamp, "args": vars(args), "fill": found, **measure(args, found)}
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(db_url(database_url, "postgres"), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {RECALL_DB} WITH (FORCE)")
    best = min(out["explain"], key=lambda e: e["ms"])
    print(f"fill: 2 x {args.entries:,} entries (1 in 5 a read carrying a message view),"
          f" {args.others:,} of other users; M {args.age_days:g} days old, carried by"
          f" {args.hits} entries a side")
    print(f"erase query (best of 3): {best['ms']:.1f} ms, rows read {best['rows_read']:,},"
          f" returned {best['rows_returned']:,}, buffers hit {best['shared_hit']:,}"
          f" read {best['shared_read']:,}")
    print(best["plan"])
    print(f"recall (admin, rolled back) x{args.repeat}: median {out['recall_median_ms']} ms"
          f" {out['recall_ms']}, {out['queries']} queries")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stamp}-recall.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
