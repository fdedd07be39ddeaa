"""The floor: what PostgreSQL and Redis alone deliver per message, with no chat server.

Closed loop, N sender/receiver pairs in one asyncio process (uvloop): each sender takes
the time, writes its message in one statement and COMMITs (its own psycopg async
connection), PUBLISHes it on Redis (redis-py asyncio), and waits until its receiver has
it (one pub/sub connection for all receivers, as channels-redis's pub/sub layer keeps
one per process), then sends the next. Latency is from before the INSERT to receipt.

Two modes:

- `plain`: one INSERT of a narrow row (sender, receiver, text, time) into a table of its own.
- `whole`: one statement (a CTE) writing Parley's whole write set for a message into
  Parley's own tables (migrated by manage.py migrate): the dialog's seq bumped, the
  message row, both users' sync heads bumped and both sync-log entries, and both
  conversations upserted (messaging/persist.py's writes, in its lock order).

    python bench/floor.py --quick          # scratch database parley_bench_floor

Every message is checked (received once, in order, intact); a lost, duplicated, reordered
or corrupt message makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import integrity, percentile, summary_line  # noqa: E402
from server import ROOT, admin_conninfo, db_url_for  # noqa: E402

FLOOR_DB = "parley_bench_floor"
MAX_WAIT = 10.0

PLAIN_TABLE = ("CREATE TABLE IF NOT EXISTS bench_floor_message (id bigserial PRIMARY KEY,"
               " sender text NOT NULL, receiver text NOT NULL, body text NOT NULL,"
               " created_at timestamptz NOT NULL)")
PLAIN_INSERT = ("INSERT INTO bench_floor_message (sender, receiver, body, created_at)"
                " VALUES (%(su)s, %(ru)s, %(text)s, now())")

# Parley's write set for one message (messaging/persist.py store_batch, accounts/services.py
# sync_append), as one statement, rows locked in persist.py's order: dialog, sync heads
# (by user), conversations (by owner).
WHOLE_INSERT = """
WITH d AS (
  INSERT INTO messaging_dialog AS x (user_low_id, user_high_id, last_seq)
  VALUES (%(low)s, %(high)s, 1)
  ON CONFLICT (user_low_id, user_high_id) DO UPDATE SET last_seq = x.last_seq + 1
  RETURNING id, last_seq),
m AS (
  INSERT INTO messaging_message (dialog_id, seq, sender_id, receiver_id, random, time,
    created_at, elements, cloud_custom_data, priority, need_read_receipt, is_system,
    is_revoked, is_modified, nick, avatar, excluded_from_unread, excluded_from_last_message,
    offline_push_info, msg_seq, deleted_by_sender, deleted_by_receiver)
  SELECT d.id, d.last_seq, %(s)s, %(r)s, %(random)s, extract(epoch FROM now())::bigint, now(),
    %(elements)s::jsonb, %(custom)s, 'Normal', false, false, false, false, '', '', false,
    false, NULL, NULL, false, false FROM d
  RETURNING id, seq, dialog_id),
h AS (
  INSERT INTO accounts_synchead AS y (user_id, seq) VALUES (%(low)s, 1), (%(high)s, 1)
  ON CONFLICT (user_id) DO UPDATE SET seq = y.seq + 1
  RETURNING user_id, seq),
e AS (
  INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload, created_at,
    expires_at)
  SELECT h.user_id, h.seq, 'message', m.id,
    CASE WHEN h.user_id = %(s)s THEN %(ru)s ELSE %(su)s END, '{}'::jsonb, now(), NULL
  FROM h, m),
c AS (
  INSERT INTO messaging_conversation AS z (owner_id, peer_id, dialog_id, last_message_id,
    unread_count, read_seq, peer_read_seq, peer_read_time, is_pinned, draft_text, updated_at,
    cleared_seq, is_hidden)
  SELECT v.owner, v.peer, m.dialog_id, m.id, v.unread,
    CASE WHEN v.owner = %(s)s THEN m.seq ELSE 0 END, 0, 0, false, '', now(), 0, false
  FROM m, (VALUES (%(low)s::bigint, %(high)s::bigint, %(low_unread)s::int),
               (%(high)s, %(low)s, %(high_unread)s)) AS v(owner, peer, unread)
  ON CONFLICT (owner_id, peer_id) DO UPDATE SET
    last_message_id = EXCLUDED.last_message_id,
    unread_count = z.unread_count + EXCLUDED.unread_count,
    read_seq = GREATEST(z.read_seq, EXCLUDED.read_seq),
    updated_at = EXCLUDED.updated_at, is_hidden = false
  RETURNING owner_id)
SELECT m.id, m.seq, (SELECT count(*) FROM h), (SELECT count(*) FROM c) FROM m
"""

# A user's row with every column Parley requires, `{user_id}` standing for the value.
_USER_COLUMNS = """password, is_superuser, user_id, email, is_staff, is_active,
  date_joined, nick, avatar, gender, birthday, location, self_signature, allow_type,
  language, admin_forbid_type, level, role, profile_custom, profile_updated_at,
  session_epoch, c2c_mute_until, group_mute_until, kicked_at"""
_USER_VALUES = """'!', false, {user_id}, '', false, true, now(), '', '', 'Gender_Type_Unknown', 0,
  '', '', 'AllowType_Type_NeedConfirm', 0, 'AdminForbid_Type_None', 0, 0, '{{}}'::jsonb,
  now(), 0, 0, 0, 0"""

USERS_INSERT = f"""
INSERT INTO accounts_user ({_USER_COLUMNS})
SELECT {_USER_VALUES.format(user_id="%(prefix)s || i")}
FROM generate_series(0, %(n)s - 1) AS i
RETURNING id, user_id
"""

# One user's row, made once (bench/minimal/consumers.py, MINIMAL_WRITE=whole).
USER_UPSERT = f"""
INSERT INTO accounts_user ({_USER_COLUMNS})
VALUES ({_USER_VALUES.format(user_id="%s")})
ON CONFLICT (user_id) DO NOTHING
"""


def conninfo(database_url: str, name: str) -> str:
    return db_url_for(database_url, name).replace("postgres://", "postgresql://", 1)


def prepare(database_url: str, *, whole: bool, db_name: str = FLOOR_DB,
            template: str | None = None) -> str:
    """Drop and create the scratch database (a copy of `template`, a migrated Parley
    database nobody is connected to, or migrated here when `whole` needs Parley's tables),
    add the plain table; return its conninfo. Only `db_name` is touched."""
    with psycopg.connect(admin_conninfo(database_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db_name}"
                     + (f" TEMPLATE {template}" if template else ""))
    dsn = conninfo(database_url, db_name)
    if whole and not template:
        env = dict(os.environ, DATABASE_URL=db_url_for(database_url, db_name), DEBUG="0",
                   SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
                   CHAT_SECRET_KEY=os.environ.get("CHAT_SECRET_KEY") or secrets.token_hex(16),
                   PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PLAIN_TABLE)
    return dsn


class _Pair:
    def __init__(self, i, s, su, r, ru):
        self.i, self.s, self.su, self.r, self.ru = i, s, su, r, ru
        self.n = 0
        self.received = 0  # the last n received
        self.waiting: tuple[int, asyncio.Future] | None = None
        self.sent: dict[int, float] = {}
        self.got: set[int] = set()
        self.dup = self.ooo = self.corrupt = self.timeouts = 0


async def run_floor(dsn: str, redis_url: str, *, mode: str, pairs: int, warmup: float,
                    duration: float, drain: float, drop_every: int = 0) -> dict:
    """One closed-loop run (`drop_every` N: every Nth message is written but never
    published, which must fail the run: it checks the checker); returns its row (the same keys as bench/run.py's rows that the
    comparison reads: delivered_per_s, p50_ms, p99_ms, lost, duplicates, ...)."""
    prefix = f"fl{secrets.token_hex(3)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        users = conn.execute(USERS_INSERT, {"prefix": f"{prefix}u", "n": 2 * pairs}).fetchall() \
            if mode == "whole" else [(0, f"{prefix}u{i}") for i in range(2 * pairs)]
        conn.execute("ANALYZE")
    ps = [_Pair(i, *users[2 * i], *users[2 * i + 1]) for i in range(pairs)]
    conns = [await psycopg.AsyncConnection.connect(dsn) for _ in ps]
    pub = aioredis.Redis.from_url(redis_url, socket_timeout=10, max_connections=pairs + 4)
    sub = aioredis.Redis.from_url(redis_url, socket_timeout=None)
    pubsub = sub.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(*(f"{prefix}.{p.i}" for p in ps))
    receipts: list[tuple[float, float]] = []

    async def reader():
        while True:
            msg = await pubsub.get_message(timeout=1.0)
            if msg is None:
                continue
            now = time.monotonic()
            try:
                i, n, body = msg["data"].decode().split(":", 2)
                p, n = ps[int(i)], int(n)
            except (ValueError, IndexError, AttributeError):
                continue
            if body != f"floor {n}" or n not in p.sent:
                p.corrupt += 1
                continue
            if n in p.got:
                p.dup += 1
                continue
            p.got.add(n)
            if n < p.received:
                p.ooo += 1
            p.received = max(p.received, n)
            receipts.append((now, now - p.sent[n]))
            if p.waiting and p.waiting[0] == n and not p.waiting[1].done():
                p.waiting[1].set_result(None)

    statement = WHOLE_INSERT if mode == "whole" else PLAIN_INSERT
    loop = asyncio.get_running_loop()

    async def sender(p: _Pair, conn, stop_at: float):
        low, high = sorted((p.s, p.r))
        while time.monotonic() < stop_at:
            p.n += 1
            n = p.n
            fut = loop.create_future()
            p.waiting = (n, fut)
            text = f"floor {n}"
            t0 = time.monotonic()
            p.sent[n] = t0
            await conn.execute(statement, {
                "low": low, "high": high, "s": p.s, "r": p.r, "su": p.su, "ru": p.ru,
                "low_unread": int(low == p.r), "high_unread": int(high == p.r),
                "random": n, "text": text, "custom": "",
                "elements": json.dumps([{"type": "TIMTextElem", "payload": {"text": text}}])})
            await conn.commit()
            if not (drop_every and n % drop_every == 0):
                await pub.publish(f"{prefix}.{p.i}", f"{p.i}:{n}:{text}")
            try:
                await asyncio.wait_for(fut, MAX_WAIT)
            except TimeoutError:
                p.timeouts += 1

    read_task = asyncio.create_task(reader())
    try:
        start = time.monotonic()
        window = (start + warmup, start + warmup + duration)
        await asyncio.gather(*(sender(p, c, window[1]) for p, c in zip(ps, conns, strict=True)))
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and any(len(p.got) < len(p.sent) for p in ps):
            await asyncio.sleep(0.02)
    finally:
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read_task
        await pubsub.aclose()
        await sub.aclose()
        await pub.aclose()
        for c in conns:
            await c.close()
    lat = sorted(x for t, x in receipts if window[0] <= t < window[1])
    return {
        "run": f"floor {mode} {pairs}", "mode": mode, "pairs": pairs, "duration_s": duration,
        "delivered_per_s": len(lat) / duration,
        "p50_ms": _ms(percentile(lat, 0.5)), "p99_ms": _ms(percentile(lat, 0.99)),
        "sent_total": sum(len(p.sent) for p in ps),
        "received_total": sum(len(p.got) for p in ps),
        "lost": sum(len(p.sent) - len(p.got) for p in ps),
        "duplicates": sum(p.dup for p in ps), "out_of_order": sum(p.ooo for p in ps),
        "corrupt": sum(p.corrupt for p in ps),
        "closed_loop_timeouts": sum(p.timeouts for p in ps), "errors": 0,
    }


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


def floor_run(dsn, redis_url, **kw) -> dict:
    try:
        import uvloop
        return uvloop.run(run_floor(dsn, redis_url, **kw))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(run_floor(dsn, redis_url, **kw))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=["plain", "whole", "both"], default="both")
    p.add_argument("--pairs", default="1,16,64")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--quick", action="store_true", help="1 and 4 pairs, 2 s each")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--drop-every", type=int, default=0,
                   help="never publish every Nth message (checks the checker: exit 1)")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.duration, args.warmup, args.drain = "1,4", 2.0, 0.5, 2.0
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        print("DATABASE_URL (PostgreSQL) and REDIS_URL must be set", file=sys.stderr)
        return 2
    modes = ["plain", "whole"] if args.mode == "both" else [args.mode]
    dsn = prepare(database_url, whole="whole" in modes)
    rows = []
    for mode in modes:
        for n in (int(x) for x in args.pairs.split(",")):
            row = floor_run(dsn, redis_url, mode=mode, pairs=n, warmup=args.warmup,
                            duration=args.duration, drain=args.drain,
                            drop_every=args.drop_every)
            print(summary_line(row), flush=True)
            rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    bad = [f"{r['run']}: {integrity(r)}" for r in rows if integrity(r)]
    for line in bad:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
