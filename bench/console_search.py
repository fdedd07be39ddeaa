"""The operator console's message search (messaging/search.py) on a large table: how
long the GIN index takes to build, its size, and the plans and times of the searches
the console makes (the message list's box over the whole table, newest first, 100 a
page; the timeline's box inside one dialog, 51 rows), against a sequential scan.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley \\
    .venv/bin/python bench/console_search.py --rows 200000

It works on its own database, `parley_bench_search` (dropped, recreated and migrated on
the server of DATABASE_URL; left in place for inspection). Messages are text messages
of 8 words from a 5,000-word vocabulary spread over 2,000 dialogs of 400 users, plus
"common" in every second message, "zebra" in one in 10,000, and "ancient" in the oldest
1.5 % only (a word the planner thinks common enough to look for by walking the newest
rows first: the case that took seconds before the search was a query of its own). The index is dropped
before the load and built after it, timed (what migration 0014 costs a deployment with
that many messages), then VACUUM ANALYZE of the database. Each search runs 5 times; the median is shown,
with the plan of the last run (EXPLAIN ANALYZE, BUFFERS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DB = "parley_bench_search"


def _url_for(db: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + db))


def _prepare() -> None:
    import psycopg

    with psycopg.connect(_url_for("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    env = dict(os.environ, DATABASE_URL=_url_for(DB))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)


def _fill(cursor, rows: int) -> dict:
    t = {}
    cursor.execute("DROP INDEX IF EXISTS message_text_search_idx")
    s = time.monotonic()
    cursor.execute(
        "INSERT INTO accounts_user (password, is_superuser, user_id, email, is_staff,"
        " is_active, date_joined, nick, avatar, gender, birthday, location, self_signature,"
        " allow_type, language, admin_forbid_type, level, role, profile_custom,"
        " profile_updated_at, session_epoch, c2c_mute_until, group_mute_until, kicked_at)"
        " SELECT '!', false, 'p' || g, '', false, true, now(), 'p' || g, '',"
        " 'Gender_Type_Unknown', 0, '', '', 'AllowType_Type_NeedConfirm', 0,"
        " 'AdminForbid_Type_None', 0, 0, '{}', now(), 0, 0, 0, 0"
        " FROM generate_series(0, 399) g")
    cursor.execute("SELECT min(id) FROM accounts_user")
    ub = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO messaging_dialog (user_low_id, user_high_id, last_seq)"
        " SELECT %(ub)s + least(a, b), %(ub)s + greatest(a, b), 0 FROM ("
        "  SELECT k, k %% 400 AS a, (k %% 400 + 1 + k / 400) %% 400 AS b"
        "  FROM generate_series(0, 1999) k) x ORDER BY k", {"ub": ub})
    cursor.execute("SELECT min(id) FROM messaging_dialog")
    db = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO messaging_message (dialog_id, seq, sender_id, receiver_id, random, time,"
        " created_at, elements, cloud_custom_data, priority, need_read_receipt, is_system,"
        " is_revoked, is_modified, nick, avatar, excluded_from_unread,"
        " excluded_from_last_message, offline_push_info, msg_seq, deleted_by_sender,"
        " deleted_by_receiver)"
        " SELECT d.id, i / 2000 + 1, d.user_low_id, d.user_high_id, i, 1700000000 + i,"
        "  now() - (%(rows)s - i) * interval '1 second',"
        "  jsonb_build_array(jsonb_build_object('type', 'TIMTextElem', 'payload',"
        "   jsonb_build_object('text', concat_ws(' ',"
        "    CASE WHEN i %% 2 = 0 THEN 'common' END,"
        "    CASE WHEN i %% 10000 = 7 THEN 'zebra' END,"
        "    CASE WHEN i < %(rows)s * 0.015 THEN 'ancient' END,"
        "    (SELECT string_agg('w' || ((i * 7919 + j * 104729) %% 5000), ' ')"
        "     FROM generate_series(1, 8) j))))),"
        "  '', 'Normal', false, false, false, false, '', '', false, false, NULL, NULL,"
        "  false, false"
        " FROM generate_series(0, %(rows)s - 1) i"
        " JOIN messaging_dialog d ON d.id = %(db)s + i %% 2000", {"rows": rows, "db": db})
    t["load_s"] = round(time.monotonic() - s, 1)
    s = time.monotonic()
    cursor.execute("CREATE INDEX message_text_search_idx ON messaging_message"
                   " USING gin (messaging_search_vector(elements))")
    t["index_build_s"] = round(time.monotonic() - s, 2)
    cursor.execute("SELECT pg_size_pretty(pg_relation_size('message_text_search_idx')),"
                   " pg_size_pretty(pg_relation_size('messaging_message'))")
    t["index_size"], t["table_size"] = cursor.fetchone()
    return t


class _Ids:
    """The first query of the message list's search box (messaging.search.newest_matches)."""

    def __init__(self, term: str):
        self.term = term

    def run(self) -> list:
        from messaging.models import Message
        from messaging.search import newest_matches

        return newest_matches(Message.objects.all(), self.term)

    def explain(self, **kw) -> str:
        from messaging.models import Message
        from messaging.search import SEARCH_MAX, newest_first, text_condition

        qs, match = text_condition(Message.objects.all(), self.term)
        return qs.filter(match).order_by(newest_first()).values_list("pk", flat=True)[
            :SEARCH_MAX].explain(**kw)


def _measure(qs, runs: int = 5) -> dict:
    times = []
    for _ in range(runs):
        s = time.perf_counter()
        n = len(qs.run() if isinstance(qs, _Ids) else list(qs.all()))  # never a cached result
        times.append((time.perf_counter() - s) * 1000)
    plan = qs.explain(analyze=True, buffers=True)
    return {"rows": n, "median_ms": round(statistics.median(times), 2),
            "plan": plan.splitlines()}


def _pages(dialog) -> dict:
    """Whole console pages (Django's test client in this process: the view, its queries
    and the template, no network), median of 3, with their query counts."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    ops = User.objects.create_superuser("bench-ops", password="bench-ops-pass")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(ops)
    base = "/admin/messaging/message/"
    timeline = f"{base}timeline/{dialog.user_low_id}/{dialog.user_high_id}/"
    out = {}
    for url in (f"{base}?q=zebra", f"{base}?q=w42", f"{base}?q=common", f"{base}?q=ancient",
                base,
                f"{timeline}", f"{timeline}?q=w42", "/admin/accounts/user/"):
        client.get(url)
        times = []
        for _ in range(3):
            s = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                status = client.get(url).status_code
            times.append((time.perf_counter() - s) * 1000)
        out[url] = {"status": status, "median_ms": round(statistics.median(times), 1),
                    "queries": len(queries)}
        print(url, out[url])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    _prepare()
    os.environ["DATABASE_URL"] = _url_for(DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from messaging.models import Dialog, Message
    from messaging.search import newest_first, search_messages

    with connection.cursor() as cursor:
        result = {"rows": args.rows, **_fill(cursor, args.rows)}
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    dialog = Dialog.objects.order_by("pk").first()
    cases = {
        "newest matches: rare word (zebra, 20 rows)": "zebra",
        "newest matches: prefix w42 (w42, w420-w429, w4200-w4299: 35,320 rows)": "w42",
        "newest matches: common (100,000 rows)": "common",
        "newest matches: two words (common w42)": "common w42",
        "newest matches: ancient (3,000 rows, all old)": "ancient",
    }
    cases = {name: _Ids(term) for name, term in cases.items()}
    cases["timeline: one dialog (100 messages), prefix w42"] = search_messages(
        Message.objects.filter(dialog=dialog).order_by(newest_first("seq")), "w42")[:51]
    result["searches"] = {name: _measure(qs) for name, qs in cases.items()}
    result["pages"] = _pages(dialog)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_bitmapscan = off")
        cursor.execute("SET enable_indexscan = off")
    result["without the index: rare word"] = _measure(_Ids("zebra"), runs=3)
    for name, value in [*result["searches"].items(),
                        ("without the index: rare word", result["without the index: rare word"])]:
        print(f"\n## {name}: {value['rows']} rows, median {value['median_ms']} ms")
        print("\n".join(value["plan"]))
    summary = {k: v for k, v in result.items() if k not in ("searches",)
               and not isinstance(v, dict)}
    print("\n" + json.dumps(summary, indent=1))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}-console-search.json").write_text(
        json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
