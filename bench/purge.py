"""Retention benchmark: what purging one day of history and of the offline cache costs at
millions of rows, and what a purge running at the same time does to send latency.

    make bench-style env:  DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley
                           REDIS_URL=redis://127.0.0.1:6379/0
    .venv/bin/python bench/purge.py --rows 5000000

It works on its own database, `parley_bench_purge` (dropped and recreated on the server of
DATABASE_URL, migrated, and dropped again at the end unless --keep), so `make bench`'s
`parley_bench` and the test databases are never touched. See bench/README.md, "Retention
and purging", for what it measures and the results.

1. Fill (raw SQL, generate_series; no ORM): users, dialogs, --rows messages spread
   evenly over --days days ending now, across many dialogs (long-lived ones active every
   day, and short-lived ones that are active on one day only, so conversations whose last
   message is in the purged day exist), two sync-log entries per message (the receiver's
   and the sender's own, as a send writes them; 1 % with a MsgLifeTime `expires_at`), the
   sync heads, the dialogs' last seq and both sides' conversations pointing at each
   dialog's newest message. Secondary indexes are built after the load and foreign-key
   triggers are off while loading (session_replication_role = replica), then VACUUM
   ANALYZE and CHECKPOINT, as a production table would be.
2. Purges alone: each purge function deletes the oldest remaining day (about rows/days
   messages, twice as many sync entries) in a subprocess that imports Django as the
   Celery task does; timed, with rows/s, statements and the longest transaction (how
   long it holds its row locks), WAL written, and a 20 ms sampler of pg_stat_activity
   (lock waits of other backends and who blocks them). Then VACUUM, which a delete-based
   purge leaves to autovacuum, timed too.
3. Send latency: a real uvicorn server (bench/server.py, 2 workers) under a modest open
   loop (bench/loadgen.py: --load-rate msgs/s over --load-pairs pairs, every message
   checked): p50/p99 without a purge, and with each purge of another day started at the
   start of the measured window (the window is as long as that purge took alone, so the
   purge runs during all of it); a baseline run again at the end.
4. Time-partitioned alternative (skip with --skip-partition): the same messages copied
   into a table partitioned by day (raw SQL, the app does not use it), then a day dropped
   with DETACH PARTITION ... CONCURRENTLY + DROP TABLE and with a plain DROP TABLE, timed
   while a writer inserts into the table at --load-rate rows/s (its insert latency shows
   what the partition's locks do to concurrent writes).

Prints the tables and writes bench/results/<timestamp>-purge.json.
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
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import server as bench_server  # noqa: E402

ROOT = bench_server.ROOT
RESULTS = ROOT / "bench" / "results"
PURGE_DB = "parley_bench_purge"
APP_NAME = "parley-bench-purge"  # the purge subprocess's application_name

# What the worker subprocess can run: "module:function", all with (before=, batch_size=).
PURGES = {
    # The portable batched deletes (what ran before messaging/retention.py; still what
    # the embedded SQLite runs), and the set-based purges PostgreSQL now runs.
    "history": "messaging.services:history_purge_portable",
    "sync": "accounts.services:sync_log_purge_portable",
    "history_retention": "messaging.retention:history_purge",
    "sync_retention": "accounts.retention:sync_log_purge",
    # The same, on a schema without the database FK from conversations' last message
    # (the bench drops it for this run and puts it back after): what that check costs.
    "history_retention_nofk": "messaging.retention:history_purge",
}
PURGES_RUN = {"history_retention_nofk": "history_retention"}  # what the worker runs
FK_NAME_SQL = ("SELECT conname FROM pg_constraint WHERE conrelid = 'messaging_conversation'::regclass"
               " AND contype = 'f' AND confrelid = 'messaging_message'::regclass")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000, help="messages to fill")
    p.add_argument("--days", type=int, default=10, help="days the messages span (ending now)")
    p.add_argument("--users", type=int, default=20_000, help="users the messages are between")
    p.add_argument("--dialogs", type=int, default=49_999,
                   help="long-lived dialogs (active every day); 10 %% of the messages go to"
                        " short-lived ones instead, 2,000 new ones a day")
    p.add_argument("--unread", type=int, default=0,
                   help="unread count of --unread-share of the conversations (0: none)")
    p.add_argument("--unread-share", type=float, default=0.5,
                   help="share of the conversations that count --unread unread")
    p.add_argument("--batch-size", type=int, default=5000, help="the purge functions' batch")
    p.add_argument("--purges",
                   default="history,history_retention,history_retention_nofk,sync,sync_retention",
                   help=f"purge functions to measure, from {', '.join(PURGES)}")
    p.add_argument("--slice-hours", type=float, default=24.0,
                   help="how much each measured purge deletes: 24 = a day (the oldest"
                        " remaining one); 1 = an hour, what the hourly task deletes")
    p.add_argument("--load-rate", type=float, default=100.0,
                   help="open loop while measuring send latency: msgs/s in total")
    p.add_argument("--load-pairs", type=int, default=16, help="open loop: pairs")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="before each load run, wait up to this long for the machine to be"
                        " < 25 %% busy (it is shared)")
    p.add_argument("--min-window", type=float, default=10.0,
                   help="shortest measured window of a load run, seconds")
    p.add_argument("--max-window", type=float, default=60.0,
                   help="longest measured window of a load run, seconds")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--skip-load", action="store_true", help="no send-latency runs")
    p.add_argument("--skip-partition", action="store_true",
                   help="no time-partitioned comparison")
    p.add_argument("--keep", action="store_true",
                   help=f"leave the {PURGE_DB} database in place at the end")
    p.add_argument("--purge-worker", help=argparse.SUPPRESS)  # internal: run one purge
    p.add_argument("--before", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.purge_list = [x.strip() for x in args.purges.split(",") if x.strip()]
    unknown = [x for x in args.purge_list if x not in PURGES]
    if unknown:
        p.error(f"unknown purge(s) {unknown}; known: {list(PURGES)}")
    if args.rows < 10_000 or args.days < 3:
        p.error("--rows must be at least 10,000 and --days at least 3")
    return args


# --- the purge worker (a subprocess, Django imported as the Celery task imports it) ------

def purge_worker(name: str, before_iso: str, batch_size: int) -> int:
    """Run one purge function on the bench database; print one JSON line of what it did.

    Statements are timed with an execute wrapper and transactions from their first
    statement to the end of their COMMIT (the deferred foreign-key checks run there)."""
    import importlib
    import inspect

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    module, func = PURGES[name].split(":")
    purge = getattr(importlib.import_module(module), func)
    stats = {"statements": 0, "stmt_s": 0.0, "stmt_max_s": 0.0, "xacts": 0, "xact_max_s": 0.0,
             "commit_s": 0.0}
    open_at: list[float] = []

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        if not open_at and not connection.get_autocommit():
            open_at.append(t)
        try:
            return execute(sql, params, many, context)
        finally:
            d = time.perf_counter() - t
            stats["statements"] += 1
            stats["stmt_s"] += d
            stats["stmt_max_s"] = max(stats["stmt_max_s"], d)

    connection.ensure_connection()
    real_commit = connection.commit

    def commit():
        t = time.perf_counter()
        try:
            return real_commit()
        finally:
            end = time.perf_counter()
            stats["commit_s"] += end - t
            if open_at:
                stats["xacts"] += 1
                stats["xact_max_s"] = max(stats["xact_max_s"], end - open_at.pop())

    connection.commit = commit
    before = datetime.fromisoformat(before_iso)
    kwargs = {"before": before, "batch_size": batch_size}
    if "now" in inspect.signature(purge).parameters:
        # The sync-log purge also drops entries whose MsgLifeTime ended before `now`: a
        # day after the cutoff, so every run has the same share of those (1 % of a day).
        kwargs["now"] = before + timedelta(days=1)
    t0 = time.perf_counter()
    with connection.execute_wrapper(timed):
        rows = purge(**kwargs)
    stats.update(rows=rows, seconds=time.perf_counter() - t0, pid=os.getpid())
    print(json.dumps(stats))
    return 0


# --- fill --------------------------------------------------------------------------------

def conninfo(database_url: str, dbname: str | None = None) -> str:
    from psycopg.conninfo import make_conninfo

    url = database_url.replace("postgres://", "postgresql://", 1)
    return make_conninfo(url, dbname=dbname) if dbname else make_conninfo(url)


def _secondary_indexes(conn, table: str) -> list[tuple[str, str, str | None]]:
    """(name, CREATE statement, constraint definition or None) of a table's indexes other
    than its primary key: what the fill drops and builds again after loading."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname,"
        " CASE WHEN c.oid IS NOT NULL THEN pg_get_constraintdef(c.oid) END"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.contype = 'u'"
        " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname",
        [table]).fetchall()
    return [(name, indexdef, f"ALTER TABLE {table} ADD CONSTRAINT {con} {condef}"
             if con else None) for name, indexdef, con, condef in rows]


# Columns a migration added with a Python-side default only: the send pipeline's raw
# INSERT (messaging/persist.py) must name them, and at some checkouts did not (every
# send failed with 20005). The bench gives them the model's default in the database so
# the latency runs measure purging, not that bug; the output says when it did.
BENCH_DB_DEFAULTS = {("messaging_message", "deleted_by_sender"): "false",
                     ("messaging_message", "deleted_by_receiver"): "false",
                     ("messaging_conversation", "cleared_seq"): "0",
                     ("messaging_conversation", "is_hidden"): "false"}


def missing_defaults(conn) -> dict:
    done = {}
    for (table, column), value in BENCH_DB_DEFAULTS.items():
        row = conn.execute("SELECT column_default FROM information_schema.columns"
                           " WHERE table_name = %s AND column_name = %s", [table, column]).fetchone()
        if row is not None and row[0] is None:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {value}")
            done[f"{table}.{column}"] = value
    return done


def fill(conn, args, now: datetime) -> dict:
    """Load the bench data with set-based SQL; return timings (seconds) per step."""
    t: dict[str, float] = {}
    n, days, users = args.rows, args.days, args.users
    active, short_per_day = args.dialogs, 2000
    if active + days * short_per_day >= users * (users // 2 - 1):
        raise SystemExit("too many dialogs for --users")
    start = now - timedelta(days=days)
    conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET work_mem = '256MB'")
    dropped = {}
    for table in ("messaging_message", "accounts_syncentry"):
        dropped[table] = _secondary_indexes(conn, table)
        for name, _, con in dropped[table]:
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}" if con
                         else f"DROP INDEX {name}")

    s = time.monotonic()
    u0 = conn.execute(
        "INSERT INTO accounts_user (password, is_superuser, user_id, email, is_staff,"
        " is_active, date_joined, nick, avatar, gender, birthday, location, self_signature,"
        " allow_type, language, admin_forbid_type, level, role, profile_custom,"
        " profile_updated_at, session_epoch, c2c_mute_until, group_mute_until, kicked_at)"
        " SELECT '!', false, 'p' || g, '', false, true, %(now)s, 'p' || g, '',"
        " 'Gender_Type_Unknown', 0, '', '', 'AllowType_Type_NeedConfirm', 0,"
        " 'AdminForbid_Type_None', 0, 0, '{}', %(now)s, 0, 0, 0, 0"
        " FROM generate_series(0, %(users)s - 1) g ORDER BY g RETURNING id",
        {"now": now, "users": users}).fetchall()
    u_base = min(r[0] for r in u0)
    assert max(r[0] for r in u0) - u_base == users - 1, "user ids are not consecutive"
    # Dialog k is between users a = k % U and (a + 1 + k / U) % U: distinct pairs.
    n_dialogs = active + days * short_per_day
    d0 = conn.execute(
        "INSERT INTO messaging_dialog (user_low_id, user_high_id, last_seq)"
        " SELECT %(ub)s + least(a, b), %(ub)s + greatest(a, b), 0 FROM ("
        "  SELECT k, k %% %(u)s AS a, (k %% %(u)s + 1 + k / %(u)s) %% %(u)s AS b"
        "  FROM generate_series(0, %(nd)s - 1) k) x ORDER BY k RETURNING id",
        {"ub": u_base, "u": users, "nd": n_dialogs}).fetchall()
    d_base = min(r[0] for r in d0)
    assert max(r[0] for r in d0) - d_base == n_dialogs - 1, "dialog ids are not consecutive"
    t["users_dialogs"] = time.monotonic() - s

    # Message i (0-based) is sent at start + i/N of the span. One in ten goes to a
    # short-lived dialog of its day, the others to long-lived dialog i % active.
    s = time.monotonic()
    conn.execute(
        "INSERT INTO messaging_message (dialog_id, seq, sender_id, receiver_id, random, time,"
        " created_at, elements, cloud_custom_data, priority, need_read_receipt, is_system,"
        " is_revoked, is_modified, nick, avatar, excluded_from_unread,"
        " excluded_from_last_message, offline_push_info, msg_seq, deleted_by_sender,"
        " deleted_by_receiver)"
        " SELECT %(db)s + k, seq,"
        "  %(ub)s + CASE WHEN flip THEN least(a, b) ELSE greatest(a, b) END,"
        "  %(ub)s + CASE WHEN flip THEN greatest(a, b) ELSE least(a, b) END,"
        "  (i * 2654435761) %% 2147483647, extract(epoch FROM at)::bigint, at,"
        "  ('[{\"type\":\"TIMTextElem\",\"payload\":{\"text\":\"history ' || i"
        "   || ' lorem ipsum dolor sit amet, consectetur adipiscing\"}}]')::jsonb,"
        "  '', 'Normal', false, false, false, false, 'p' || CASE WHEN flip THEN least(a, b)"
        "  ELSE greatest(a, b) END, '', false, false, NULL, NULL, false, false"
        " FROM ("
        "  SELECT i, at, flip, k, seq, k %% %(u)s AS a, (k %% %(u)s + 1 + k / %(u)s) %% %(u)s AS b"
        "  FROM ("
        "   SELECT i, %(start)s + (%(span)s * i / %(n)s) * interval '1 second' AS at,"
        "    (i / 7) %% 2 = 0 AS flip,"
        "    CASE WHEN i %% 10 = 0"
        "     THEN %(active)s + (i * %(days)s / %(n)s) * %(spd)s + (i / 10) %% %(spd)s"
        "     ELSE i %% %(active)s END AS k,"
        "    CASE WHEN i %% 10 = 0 THEN (i / 10) / %(spd)s ELSE i / %(active)s END + 1 AS seq"
        "   FROM generate_series(0::bigint, %(n)s - 1) i) y) x ORDER BY i",
        {"db": d_base, "ub": u_base, "u": users, "start": start, "span": days * 86400,
         "n": n, "active": active, "days": days, "spd": short_per_day})
    t["messages"] = time.monotonic() - s

    # Two entries per message: the receiver's, and the sender's own (other devices);
    # seq 2 * id + side is unique per user and grows with time. 1 % carry a MsgLifeTime.
    s = time.monotonic()
    conn.execute(
        "INSERT INTO accounts_syncentry (user_id, seq, kind, message_id, peer, payload,"
        " created_at, expires_at)"
        " SELECT CASE WHEN side = 0 THEN m.receiver_id ELSE m.sender_id END,"
        "  2 * m.id + side, 'message', m.id,"
        "  'p' || (CASE WHEN side = 0 THEN m.sender_id ELSE m.receiver_id END - %(ub)s),"
        "  '{}'::jsonb, m.created_at,"
        "  CASE WHEN m.id %% 100 = 0 THEN m.created_at + interval '1 day' END"
        " FROM messaging_message m CROSS JOIN (VALUES (0), (1)) s(side) ORDER BY m.id, side",
        {"ub": u_base})
    conn.execute(
        "INSERT INTO accounts_synchead (user_id, seq)"
        " SELECT u, max(seq) FROM ("
        "  SELECT receiver_id AS u, 2 * max(id) AS seq FROM messaging_message GROUP BY 1"
        "  UNION ALL SELECT sender_id, 2 * max(id) + 1 FROM messaging_message GROUP BY 1) x"
        " GROUP BY u")
    t["sync_entries"] = time.monotonic() - s

    s = time.monotonic()
    conn.execute(
        "CREATE TEMP TABLE last_of_dialog AS SELECT dialog_id, max(seq) AS seq, max(id) AS id,"
        " max(created_at) AS at FROM messaging_message GROUP BY dialog_id")
    conn.execute("UPDATE messaging_dialog d SET last_seq = l.seq FROM last_of_dialog l"
                 " WHERE d.id = l.dialog_id")
    conn.execute(
        "INSERT INTO messaging_conversation (owner_id, peer_id, dialog_id, last_message_id,"
        " unread_count, read_seq, peer_read_seq, peer_read_time, is_pinned, draft_text,"
        " updated_at, cleared_seq, is_hidden)"
        " SELECT o, p, d.id, l.id, 0, l.seq, l.seq, extract(epoch FROM l.at)::bigint, false,"
        "  '', l.at, 0, false"
        " FROM last_of_dialog l JOIN messaging_dialog d ON d.id = l.dialog_id"
        " CROSS JOIN LATERAL (VALUES (d.user_low_id, d.user_high_id),"
        "  (d.user_high_id, d.user_low_id)) s(o, p)")
    if args.unread:
        # Unread counts, as users who do not read leave them: the receiver's side of a
        # share of the conversations counts its peer's newest --unread messages (or all
        # of them, when it has fewer). Without them the purge's recount of unread counts
        # (conversations whose unread messages it deletes) has nothing to do.
        conn.execute(
            "UPDATE messaging_conversation c SET unread_count = LEAST(%(unread)s, x.n)"
            " FROM (SELECT dialog_id, sender_id, receiver_id, count(*) AS n"
            "  FROM messaging_message GROUP BY 1, 2, 3) x"
            " WHERE x.dialog_id = c.dialog_id AND x.sender_id = c.peer_id"
            "  AND x.receiver_id = c.owner_id AND (c.id * 2654435761) %% 1000 < %(share)s",
            {"unread": args.unread, "share": round(1000 * args.unread_share)})
    t["dialogs_conversations"] = time.monotonic() - s

    s = time.monotonic()
    for indexes in dropped.values():
        for _, indexdef, con in indexes:
            conn.execute(con or indexdef)
    t["indexes"] = time.monotonic() - s
    conn.execute("SET session_replication_role = DEFAULT")
    s = time.monotonic()
    conn.execute("VACUUM ANALYZE")
    t["vacuum_analyze"] = time.monotonic() - s
    s = time.monotonic()
    conn.execute("CHECKPOINT")
    t["checkpoint"] = time.monotonic() - s
    return t


# --- purges, and what PostgreSQL saw while they ran --------------------------------------

class Sampler(threading.Thread):
    """Polls pg_stat_activity of the bench database every `interval` s while a purge runs:
    the purge backend's longest open transaction, and every other backend waiting for a
    heavyweight lock (and whether the purge is what blocks it), plus the wait events of
    the other backends (I/O, WAL, LWLocks), counted per sample."""

    def __init__(self, database_url: str, interval: float = 0.02):
        super().__init__(daemon=True)
        self.conn = psycopg.connect(conninfo(database_url, "postgres"), autocommit=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.samples = 0
        self.purge_xact_max_s = 0.0
        self.lock_waits = 0  # (sample, backend) pairs waiting on a heavyweight lock
        self.blocked_by_purge = 0
        self.blocked_by_purge_max_s = 0.0
        self.wait_events: dict[str, int] = {}
        self.other_active = 0

    def run(self) -> None:
        sql = ("SELECT application_name = %s, extract(epoch FROM now() - xact_start),"
               " extract(epoch FROM now() - query_start), wait_event_type, wait_event, state,"
               " CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END,"
               " (SELECT array_agg(pid) FROM pg_stat_activity WHERE application_name = %s)"
               " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()")
        while not self.stop_event.is_set():
            rows = self.conn.execute(sql, [APP_NAME, APP_NAME, PURGE_DB]).fetchall()
            self.samples += 1
            for is_purge, xact_s, query_s, wtype, wevent, state, blockers, purge_pids in rows:
                if is_purge:
                    if xact_s is not None:
                        self.purge_xact_max_s = max(self.purge_xact_max_s, float(xact_s))
                    continue
                if state != "active":
                    continue
                self.other_active += 1
                if wtype:
                    key = f"{wtype}:{wevent}"
                    self.wait_events[key] = self.wait_events.get(key, 0) + 1
                if wtype == "Lock":
                    self.lock_waits += 1
                    if blockers and purge_pids and set(blockers) & set(purge_pids):
                        self.blocked_by_purge += 1
                        self.blocked_by_purge_max_s = max(self.blocked_by_purge_max_s,
                                                          float(query_s or 0))
            self.stop_event.wait(self.interval)

    def finish(self) -> dict:
        self.stop_event.set()
        self.join(5)
        self.conn.close()
        return {"samples": self.samples, "purge_xact_max_s": self.purge_xact_max_s,
                "lock_waits": self.lock_waits, "blocked_by_purge": self.blocked_by_purge,
                "blocked_by_purge_max_s": self.blocked_by_purge_max_s,
                "other_active_samples": self.other_active,
                "wait_events": dict(sorted(self.wait_events.items(), key=lambda kv: -kv[1]))}


def wal_state(conn) -> dict:
    lsn, = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    rec, fpi, nbytes = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal") \
        .fetchone()
    ckpt, = conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter") \
        .fetchone()
    return {"lsn": str(lsn), "records": int(rec), "fpi": int(fpi), "bytes": int(nbytes),
            "checkpoints": int(ckpt)}


def wal_diff(conn, a: dict) -> dict:
    b = wal_state(conn)
    lsn_bytes, = conn.execute("SELECT pg_wal_lsn_diff(%s, %s)", [b["lsn"], a["lsn"]]).fetchone()
    return {"wal_bytes": int(lsn_bytes), "wal_records": b["records"] - a["records"],
            "wal_fpi": b["fpi"] - a["fpi"], "checkpoints": b["checkpoints"] - a["checkpoints"]}


class Days:
    """The oldest slice (a day, or --slice-hours) not purged yet: each measured purge
    takes the next one."""

    def __init__(self, start: datetime, step: timedelta = timedelta(days=1)):
        self.start, self.step, self.taken = start, step, 0

    def next_cutoff(self) -> tuple[int, datetime]:
        self.taken += 1
        return self.taken, self.start + self.step * self.taken


def start_purge(env: dict, name: str, before: datetime, batch_size: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--purge-worker", name,
         "--before", before.isoformat(), "--batch-size", str(batch_size)],
        cwd=ROOT, env={**env, "PGAPPNAME": APP_NAME}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def finish_purge(proc: subprocess.Popen, timeout: float = 1800) -> dict:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"purge worker failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def count_before(conn, table: str, before: datetime) -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE created_at < %s",
                        [before]).fetchone()[0]


TABLE_OF = {"history": "messaging_message", "history_retention": "messaging_message",
            "history_retention_nofk": "messaging_message",
            "sync": "accounts_syncentry", "sync_retention": "accounts_syncentry"}


class WithoutFk:
    """For the *_nofk purges: drop the conversations -> messages FK for the run, then
    add it back (NOT VALID: no scan; it is enforced again for new rows at once)."""

    def __init__(self, conn, name: str | None):
        self.conn, self.on = conn, bool(name and name.endswith("_nofk"))
        self.saved: list[tuple[str, str]] = []

    def __enter__(self):
        if self.on:
            for (con,) in self.conn.execute(FK_NAME_SQL).fetchall():
                definition = self.conn.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                    [con]).fetchone()[0]
                self.saved.append((con, definition))
                self.conn.execute(f"ALTER TABLE messaging_conversation DROP CONSTRAINT {con}")
        return self

    def __exit__(self, *exc):
        for con, definition in self.saved:
            self.conn.execute(f"ALTER TABLE messaging_conversation ADD CONSTRAINT {con}"
                              f" {definition} NOT VALID")
        return False


def measure_purge(conn, env: dict, database_url: str, name: str, days: Days,
                  batch_size: int, label: str) -> dict:
    """One purge of the oldest remaining day, alone; what it cost, then VACUUM's cost."""
    day, before = days.next_cutoff()
    table = TABLE_OF[name]
    expected = count_before(conn, table, before)
    print(f"  {label}: {name} purge of slice {day} ({expected:,} rows of {table}) ...",
          end="", flush=True)
    wal0 = wal_state(conn)
    sampler = Sampler(database_url)
    sampler.start()
    t0 = time.monotonic()
    with WithoutFk(conn, name):
        result = finish_purge(start_purge(env, PURGES_RUN.get(name, name), before, batch_size))
    wall = time.monotonic() - t0
    seen = sampler.finish()
    wal = wal_diff(conn, wal0)
    left = count_before(conn, table, before)
    print(f" {result['seconds']:.1f} s; VACUUM ...", end="", flush=True)
    t1 = time.monotonic()
    wal1 = wal_state(conn)
    conn.execute(f"VACUUM {table}")
    vacuum_s = time.monotonic() - t1
    vacuum_wal = wal_diff(conn, wal1)
    print(f" {vacuum_s:.1f} s")
    return {"label": label, "purge": name, "table": table, "day": day,
            "before": before.isoformat(), "expected_rows": expected, "rows": result["rows"],
            "left_behind": left, "seconds": result["seconds"], "wall_s": wall,
            "rows_per_s": result["rows"] / result["seconds"] if result["seconds"] else None,
            "worker": result, "wal": wal, "sampler": seen, "vacuum_s": vacuum_s,
            "vacuum_wal": vacuum_wal}


# --- send latency with and without a purge ----------------------------------------------

def load_run(ctx, args, srv, label: str, env: dict, conn, database_url: str, days: Days,
             purge: str | None = None, window: float | None = None) -> dict:
    """An open loop of --load-rate msgs/s over --load-pairs pairs; with `purge`, that purge
    of the next day starts when the measured window does."""
    import loadgen
    import run as bench_run

    window = window or args.min_window
    warmup, drain = 3.0, 10.0
    spec = loadgen.Spec(kind="open", url=srv.url, sdkappid=srv.sdkappid, key=srv.chat_key,
                        prefix=f"r{secrets.token_hex(3)}", pairs=args.load_pairs,
                        rate=args.load_rate, pairs_total=args.load_pairs, pair_base=0,
                        warmup=warmup, duration=window, drain=drain, compression="deflate")
    quiet = bench_run.wait_quiet(args.quiet_wait)
    what = f" + {purge} purge" if purge else ""
    print(f"  {label}: {args.load_rate:g} msgs/s over {args.load_pairs} pairs, {window:.0f} s"
          f"{what} ...", end="", flush=True)
    proc = sampler = None
    info: dict = {}
    # Schema changes before the clients come and after they left: an ALTER TABLE among
    # running sends deadlocks with them.
    no_fk = WithoutFk(conn, purge).__enter__()
    with bench_run.Phase(ctx, [spec]) as phase:
        phase.wait("ready", 120 + args.load_pairs)
        start = phase.start()
        bench_run.sleep_until(start + warmup)
        if purge:
            day, before = days.next_cutoff()
            table = TABLE_OF[purge]
            info = {"day": day, "expected_rows": count_before(conn, table, before)}
            wal0 = wal_state(conn)
            sampler = Sampler(database_url)
            sampler.start()
            t_purge = time.monotonic()
            proc = start_purge(env, PURGES_RUN.get(purge, purge), before, args.batch_size)
        bench_run.sleep_until(start + warmup + window)
        results = phase.wait("result", drain + 90)
    if proc is not None:
        result = finish_purge(proc)
        info.update(purge=purge, rows=result["rows"], seconds=result["seconds"],
                    wall_s=time.monotonic() - t_purge, worker=result,
                    sampler=sampler.finish(), wal=wal_diff(conn, wal0),
                    overlap=min(1.0, result["seconds"] / window))
    no_fk.__exit__(None, None, None)
    lat = sorted(x for r in results for x in r["latencies"])
    keys = ("sent_window", "received_window", "lost", "duplicates", "out_of_order", "errors",
            "corrupt", "unexpected", "seq_mismatch", "unacked")
    row = {k: sum(r[k] for r in results) for k in keys}
    row.update(label=label, purge=purge, window_s=window, quiet_before=quiet,
               p50_ms=_ms(bench_run.percentile(lat, 0.50)),
               p99_ms=_ms(bench_run.percentile(lat, 0.99)),
               max_ms=_ms(lat[-1] if lat else None), purge_info=info,
               error_codes={k: v for r in results for k, v in r["error_codes"].items()})
    print(f" p50 {_f(row['p50_ms'])} ms, p99 {_f(row['p99_ms'])} ms"
          + (f"; purge {info['seconds']:.1f} s" if purge else "")
          + (f"; CHECKS: {row}" if not lat or row["errors"] or row["lost"] else ""))
    if purge:
        # What this purge left for VACUUM, as autovacuum would do it after the purge.
        conn.execute(f"VACUUM {TABLE_OF[purge]}")
    return row


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


# --- the time-partitioned alternative ---------------------------------------------------

PART = "bench_part_message"


def partition_copy(conn, args, start: datetime) -> dict:
    """Copy messaging_message into a table partitioned by day (same columns and indexes,
    the partition key added to the primary key and the unique constraint, as PostgreSQL
    requires)."""
    t: dict[str, float] = {}
    s = time.monotonic()
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute(f"DROP TABLE IF EXISTS {PART} CASCADE")
    conn.execute(f"CREATE TABLE {PART} (LIKE messaging_message INCLUDING DEFAULTS)"
                 " PARTITION BY RANGE (created_at)")
    for d in range(args.days + 2):  # the last one holds what the writer inserts now
        lo, hi = start + timedelta(days=d), start + timedelta(days=d + 1)
        conn.execute(f"CREATE TABLE {PART}_d{d} PARTITION OF {PART}"
                     f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
    conn.execute(f"INSERT INTO {PART} SELECT * FROM messaging_message")
    t["copy"] = time.monotonic() - s
    s = time.monotonic()
    conn.execute(f"ALTER TABLE {PART} ADD PRIMARY KEY (id, created_at)")
    conn.execute(f"ALTER TABLE {PART} ADD UNIQUE (dialog_id, seq, created_at)")
    for cols in ("random, sender_id, receiver_id", "dialog_id", "receiver_id", "sender_id"):
        conn.execute(f"CREATE INDEX ON {PART} ({cols})")
    t["indexes"] = time.monotonic() - s
    s = time.monotonic()
    conn.execute(f"VACUUM ANALYZE {PART}")
    conn.execute("CHECKPOINT")
    t["vacuum_analyze"] = time.monotonic() - s
    return t


class Writer(threading.Thread):
    """Inserts single messages into the partitioned table at `rate` rows/s, autocommit,
    and keeps (start time, latency) of every insert."""

    def __init__(self, database_url: str, rate: float, first_id: int):
        super().__init__(daemon=True)
        self.conn = psycopg.connect(conninfo(database_url), autocommit=True)
        self.interval = 1.0 / rate
        self.next_id = first_id
        self.stop_event = threading.Event()
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        due = time.monotonic()
        while not self.stop_event.is_set():
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.monotonic()
            self.conn.execute(
                f"INSERT INTO {PART} (id, seq, random, time, created_at, elements,"
                " cloud_custom_data, priority, need_read_receipt, is_system, is_revoked,"
                " is_modified, nick, avatar, excluded_from_unread, excluded_from_last_message,"
                " dialog_id, receiver_id, sender_id, deleted_by_receiver, deleted_by_sender)"
                " VALUES (%s, %s, %s, 0, now(), '[]', '', 'Normal', false, false, false, false,"
                " '', '', false, false, 1, 1, 1, false, false)",
                [self.next_id, self.next_id, self.next_id])
            self.samples.append((t, time.monotonic() - t))
            self.next_id += 1
            due += self.interval

    def between(self, a: float, b: float) -> dict:
        import run as bench_run

        lat = sorted(x for t, x in self.samples if a <= t < b)
        return {"inserts": len(lat), "p50_ms": _ms(bench_run.percentile(lat, 0.5)),
                "p99_ms": _ms(bench_run.percentile(lat, 0.99)),
                "max_ms": _ms(lat[-1] if lat else None)}

    def finish(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.conn.close()


def partition_drops(conn, args, database_url: str) -> dict:
    """Drop the two oldest days of the partitioned copy, two ways, while a writer inserts
    into the table: DETACH ... CONCURRENTLY then DROP, and a plain DROP TABLE."""
    out: dict = {}
    first_id = conn.execute(f"SELECT max(id) + 1000000 FROM {PART}").fetchone()[0]
    writer = Writer(database_url, args.load_rate, first_id)
    writer.start()
    time.sleep(5.0)
    t = time.monotonic()
    out["baseline"] = writer.between(t - 5.0, t)
    for label, day, statements in (
            ("detach concurrently + drop", 0,
             [f"ALTER TABLE {PART} DETACH PARTITION {PART}_d0 CONCURRENTLY",
              f"DROP TABLE {PART}_d0"]),
            ("drop table", 1, [f"DROP TABLE {PART}_d1"])):
        rows = conn.execute(f"SELECT count(*) FROM {PART}_d{day}").fetchone()[0]
        wal0 = wal_state(conn)
        t0 = time.monotonic()
        steps = []
        for sql in statements:
            s = time.monotonic()
            conn.execute(sql)
            steps.append(time.monotonic() - s)
        t1 = time.monotonic()
        wal = wal_diff(conn, wal0)
        time.sleep(2.0)
        out[label] = {"day": day + 1, "rows": rows, "seconds": t1 - t0, "steps_s": steps,
                      "wal": wal, "writer_during": writer.between(t0, t1 + 0.5),
                      "writer_during_1s": writer.between(t0, max(t1, t0 + 1.0))}
        print(f"  partitioned: {label} of day {day + 1} ({rows:,} rows):"
              f" {1000 * (t1 - t0):.0f} ms", flush=True)
    writer.finish()
    return out


# --- output -----------------------------------------------------------------------------

def _f(x, fmt="{:.1f}", none="-"):
    return none if x is None else fmt.format(x)


def report(out: dict) -> str:
    lines = []
    f, a = out["fill"], out["args"]
    lines.append(
        f"Fill: {out['counts']['messages']:,} messages over {a['days']} days"
        f" ({out['counts']['messages'] // a['days']:,} a day), {out['counts']['sync']:,}"
        f" sync entries, {out['counts']['conversations']:,} conversations"
        f" ({out['counts'].get('unread_conversations', 0):,} with unread, up to"
        f" {a.get('unread', 0)}),"
        f" {out['counts']['dialogs']:,} dialogs, {out['counts']['users']:,} users in"
        f" {sum(f.values()):.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in f.items()) + ")")
    if out.get("bench_db_defaults"):
        lines.append("NOTE: columns the send pipeline's INSERT leaves out had no database"
                     " default; the bench set one: " + ", ".join(
                         f"{k} = {v}" for k, v in out["bench_db_defaults"].items()))
    lines.append("Sizes with indexes: " + ", ".join(f"{k} {v / 2**30:.2f} GB"
                                                    for k, v in out["sizes"].items()))
    lines.append("")
    lines.append(f"Purge of {a.get('slice_hours', 24):g} hours, alone (batch {a['batch_size']}):")
    head = (f"{'purge':<24}{'rows':>10}{'s':>7}{'rows/s':>9}{'stmts':>7}{'max xact ms':>12}"
            f"{'commit s':>9}{'WAL MB':>8}{'FPI':>8}{'VACUUM s':>9}{'VAC WAL MB':>11}")
    lines += [head, "-" * len(head)]
    for r in out["alone"]:
        w = r["worker"]
        lines.append(
            f"{r['purge']:<24}{r['rows']:>10,}{r['seconds']:>7.1f}{r['rows_per_s']:>9,.0f}"
            f"{w['statements']:>7}{1000 * w['xact_max_s']:>12.0f}{w['commit_s']:>9.1f}"
            f"{r['wal']['wal_bytes'] / 2**20:>8.0f}{r['wal']['wal_fpi']:>8,}"
            f"{r['vacuum_s']:>9.1f}{r['vacuum_wal']['wal_bytes'] / 2**20:>11.0f}")
        if r["left_behind"]:
            lines.append(f"  !! {r['left_behind']:,} rows older than the cutoff left behind")
    if out.get("loads"):
        lines.append("")
        lines.append(f"Send latency, open loop {a['load_rate']:g} msgs/s over"
                     f" {a['load_pairs']} pairs, a real server (uvicorn x{a['workers']}):")
        head = (f"{'run':<42}{'busy':>5}{'window s':>9}{'purge s':>8}{'rows':>11}{'sent':>7}{'p50 ms':>8}"
                f"{'p99 ms':>8}{'max ms':>8}{'lost':>5}{'err':>5}{'blocked':>8}{'lockwait':>9}")
        lines += [head, "-" * len(head)]
        for r in out["loads"]:
            p = r["purge_info"]
            s = p.get("sampler", {})
            lines.append(
                f"{r['label']:<42}{100 * r['quiet_before']['busy_before']:>4.0f}%"
                f"{r['window_s']:>9.0f}{_f(p.get('seconds')):>8}"
                f"{_f(p.get('rows'), '{:,}'):>11}{r['sent_window']:>7}{_f(r['p50_ms']):>8}"
                f"{_f(r['p99_ms']):>8}{_f(r['max_ms']):>8}{r['lost']:>5}{r['errors']:>5}"
                f"{_f(s.get('blocked_by_purge'), '{}'):>8}{_f(s.get('lock_waits'), '{}'):>9}")
        lines.append("  blocked: sampler hits (every 20 ms) of a send backend waiting for a"
                     " lock held by the purge; lockwait: waiting for any heavyweight lock;"
                     " busy: the machine's CPU use just before the run (others' work)")
        for r in out["loads"]:
            s = r["purge_info"].get("sampler")
            if s and s["wait_events"]:
                top = ", ".join(f"{k} {v}" for k, v in list(s["wait_events"].items())[:4])
                lines.append(f"  {r['label']}: send backends' waits seen: {top}"
                             f" (of {s['other_active_samples']} active samples)")
    if out.get("partition"):
        pc, pt = out["partition_copy"], out["partition"]
        lines.append("")
        lines.append(f"Time-partitioned copy ({PART}, one partition a day; copy"
                     f" {pc['copy']:.0f} s, indexes {pc['indexes']:.0f} s), a writer inserting"
                     f" {a['load_rate']:g} rows/s into it meanwhile:")
        b = pt["baseline"]
        head = (f"{'operation':<28}{'rows':>9}{'ms':>8}{'steps ms':>14}{'WAL KB':>8}"
                f"{'insert p50':>11}{'p99':>7}{'max ms':>8}")
        lines += [head, "-" * len(head)]
        lines.append(f"{'(writer alone, 5 s)':<28}{'':>9}{'':>8}{'':>14}{'':>8}"
                     f"{_f(b['p50_ms'], '{:.2f}'):>11}{_f(b['p99_ms'], '{:.2f}'):>7}"
                     f"{_f(b['max_ms'], '{:.2f}'):>8}")
        for label in ("detach concurrently + drop", "drop table"):
            r = pt[label]
            wd = r["writer_during_1s"]
            lines.append(
                f"{label:<28}{r['rows']:>9,}{1000 * r['seconds']:>8.0f}"
                f"{'+'.join(f'{1000 * x:.0f}' for x in r['steps_s']):>14}"
                f"{r['wal']['wal_bytes'] / 1024:>8.0f}{_f(wd['p50_ms'], '{:.2f}'):>11}"
                f"{_f(wd['p99_ms'], '{:.2f}'):>7}{_f(wd['max_ms'], '{:.2f}'):>8}")
        lines.append("  insert latency over the operation (at least its first second)")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    if args.purge_worker:
        return purge_worker(args.purge_worker, args.before, args.batch_size)
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        print("DATABASE_URL (PostgreSQL) and REDIS_URL must be set, as `make bench` sets"
              " them", file=sys.stderr)
        return 2
    # Server and Probe name their database from this module global: ours is a separate
    # one, so a `make bench` database (parley_bench) is never touched.
    bench_server.BENCH_DB = PURGE_DB
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    srv = bench_server.Server(database_url=database_url, redis_url=redis_url,
                              workers=args.workers,
                              log_path=RESULTS / f"{stamp}-purge-server.log",
                              run_id=secrets.token_hex(4), socket_rate=100_000,
                              db_name=PURGE_DB)
    bench_url = srv.env["DATABASE_URL"]
    out: dict = {"started": stamp, "argv": sys.argv[1:], "args": vars(args)}
    conn = None
    t_all = time.monotonic()
    try:
        print(f"Parley purge bench {stamp}: database {PURGE_DB}, {args.rows:,} messages"
              f" over {args.days} days", flush=True)
        srv.reset_database()
        conn = psycopg.connect(conninfo(bench_url), autocommit=True)
        out["versions"] = {"postgresql": conn.execute("SHOW server_version").fetchone()[0],
                           "autovacuum": conn.execute("SHOW autovacuum").fetchone()[0],
                           "tree": bench_server.tree_state()}
        now = conn.execute("SELECT now()").fetchone()[0]
        start = now - timedelta(days=args.days)
        print("  filling ...", end="", flush=True)
        out["fill"] = fill(conn, args, now)
        print(f" {sum(out['fill'].values()):.0f} s", flush=True)
        out["bench_db_defaults"] = missing_defaults(conn)
        out["counts"] = dict(zip(("messages", "sync", "conversations", "dialogs", "users",
                                  "unread_conversations"),
                                 conn.execute(
            "SELECT (SELECT count(*) FROM messaging_message),"
            " (SELECT count(*) FROM accounts_syncentry),"
            " (SELECT count(*) FROM messaging_conversation),"
            " (SELECT count(*) FROM messaging_dialog), (SELECT count(*) FROM accounts_user),"
            " (SELECT count(*) FROM messaging_conversation WHERE unread_count > 0)")
            .fetchone(), strict=True))
        out["sizes"] = {t: conn.execute("SELECT pg_total_relation_size(%s)", [t]).fetchone()[0]
                        for t in ("messaging_message", "accounts_syncentry")}
        if not args.skip_partition:
            print("  partitioned copy ...", end="", flush=True)
            out["partition_copy"] = partition_copy(conn, args, start)
            print(f" {sum(out['partition_copy'].values()):.0f} s", flush=True)
            out["partition"] = partition_drops(conn, args, bench_url)
            conn.execute(f"DROP TABLE {PART} CASCADE")
            conn.execute("CHECKPOINT")
        days = {t: Days(start, timedelta(hours=args.slice_hours))
                for t in ("messaging_message", "accounts_syncentry")}
        out["alone"] = [measure_purge(conn, srv.env, bench_url, name, days[TABLE_OF[name]],
                                      args.batch_size, "alone") for name in args.purge_list]
        conn.execute("CHECKPOINT")
        if not args.skip_load:
            import run as bench_run  # noqa: F401 - the generators' module, imported once

            ctx = mp.get_context("spawn")
            srv.start()
            loads = []
            for r in out["alone"]:
                window = min(args.max_window, max(args.min_window, r["seconds"]))
                # A run without a purge right before, as long (up to 20 s): the machine
                # is shared, and the pair is what compares.
                loads.append(load_run(ctx, args, srv, f"no purge (before {r['purge']})",
                                      srv.env, conn, bench_url, days,
                                      window=min(window, 20.0)))
                loads.append(load_run(ctx, args, srv, f"during {r['purge']} purge", srv.env,
                                      conn, bench_url, days[r["table"]], purge=r["purge"],
                                      window=window))
            out["loads"] = loads
            out["server_log"] = srv.log_summary()
        out["total_s"] = time.monotonic() - t_all
        print()
        text = report(out)
        print(text)
        print(f"\ntotal {out['total_s']:.0f} s")
        out["report"] = text
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        srv.stop()
        if conn is not None:
            conn.close()
        if not args.keep:
            with psycopg.connect(conninfo(database_url, "postgres"), autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {PURGE_DB} WITH (FORCE)")
        path = RESULTS / f"{stamp}-purge.json"
        path.write_text(json.dumps(out, indent=1, default=str))
        print(f"results: {path.relative_to(ROOT)}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
