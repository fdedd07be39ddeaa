"""A history page on a large message table: Parley's own `message_page`, timed and EXPLAINed.

Run by bench/compare.py (`--parts history`) in a subprocess with Parley's settings and
DATABASE_URL pointing at a migrated scratch database (never Parley's own):

    python bench/history.py ROWS

It adds a viewer and 100 peers, one dialog each, and ROWS messages spread evenly over
those dialogs with ONE `INSERT ... SELECT generate_series` (foreign-key triggers off for
that session: the rows are consistent by construction) (a message every 10 ms of the
last ROWS/100 seconds, so all are inside CHAT_HISTORY_DAYS), then ANALYZEs (autovacuum may
be off) and times `messaging.selectors.message_page` (what `getMessageList` runs) for the
newest page and for a page from the middle of one dialog (`nextReqMessageID`), median of
20 calls each, with the statements each call runs and EXPLAIN (ANALYZE, BUFFERS) of the
page's main query. Prints one JSON line last.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time

import django

PEERS = 100
CALLS = 20


def main(rows: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from messaging import selectors
    from messaging.views import message_public_id

    tag = f"h{secrets.token_hex(3)}"
    viewer = User.objects.create(user_id=f"{tag}v")
    peers = User.objects.bulk_create([User(user_id=f"{tag}p{i}") for i in range(PEERS)])
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO messaging_dialog (user_low_id, user_high_id, last_seq)"
            " SELECT %s, p, 0 FROM unnest(%s::bigint[]) p RETURNING id",
            [viewer.pk, [p.pk for p in peers]])
        dialogs = [r[0] for r in cur.fetchall()]
        # The rows are consistent by construction: skip the deferred foreign-key checks
        # (half the fill's time) for this session only (needs a superuser, as in `make bench`).
        cur.execute("SET session_replication_role = replica")
        t0 = time.monotonic()
        # Message i goes to dialog i % PEERS as its seq i / PEERS + 1, from the viewer or
        # the peer in turn; the newest is now.
        cur.execute(
            "INSERT INTO messaging_message (dialog_id, seq, sender_id, receiver_id, random,"
            " time, created_at, elements, cloud_custom_data, priority, need_read_receipt,"
            " is_system, is_revoked, is_modified, nick, avatar, excluded_from_unread,"
            " excluded_from_last_message, offline_push_info, msg_seq, deleted_by_sender,"
            " deleted_by_receiver)"
            " SELECT (%(dialogs)s::bigint[])[i %% %(n)s + 1], i / %(n)s + 1,"
            "  CASE WHEN i %% 2 = 0 THEN %(viewer)s ELSE (%(peers)s::bigint[])[i %% %(n)s + 1] END,"
            "  CASE WHEN i %% 2 = 0 THEN (%(peers)s::bigint[])[i %% %(n)s + 1] ELSE %(viewer)s END,"
            "  i, extract(epoch FROM ts)::bigint, ts,"
            "  '[{\"type\": \"TIMTextElem\", \"payload\": {\"text\": \"history\"}}]'::jsonb,"
            "  '', 'Normal', false, false, false, false, '', '', false, false, NULL, NULL,"
            "  false, false"
            " FROM generate_series(0, %(rows)s - 1) AS i,"
            "  LATERAL (SELECT now() - (%(rows)s - 1 - i) * interval '10 milliseconds') AS t(ts)",
            {"dialogs": dialogs, "n": PEERS, "viewer": viewer.pk,
             "peers": [p.pk for p in peers], "rows": rows})
        fill_s = time.monotonic() - t0
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("UPDATE messaging_dialog d SET last_seq = (SELECT max(seq) FROM"
                    " messaging_message m WHERE m.dialog_id = d.id) WHERE id = ANY(%s)",
                    [dialogs])
        t0 = time.monotonic()
        cur.execute("ANALYZE messaging_message")
        analyze_s = time.monotonic() - t0
        cur.execute("SELECT count(*), pg_total_relation_size('messaging_message')"
                    " FROM messaging_message")
        table_rows, table_bytes = cur.fetchone()
        peer = peers[0]
        cur.execute("SELECT id, time, random FROM messaging_message WHERE dialog_id = %s"
                    " AND seq = %s", [dialogs[0], max(1, rows // PEERS // 2)])
        mid = cur.fetchone()
    conversation = f"C2C{peer.user_id}"
    pages = {"newest": None, "middle": message_public_id(*mid) if mid else None}
    out = {"rows_added": rows, "table_rows": table_rows, "table_mb": table_bytes / 2**20,
           "fill_s": fill_s, "analyze_s": analyze_s, "per_dialog": rows // PEERS, "pages": {}}
    for name, next_id in pages.items():
        def call(next_id=next_id):
            return selectors.message_page(viewer=viewer, conversation_id=conversation,
                                          next_req_message_id=next_id, count=15)
        page = call()  # warm: the first call pays for imports and the plan cache
        times = []
        for _ in range(CALLS):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            call()
        main_sql = next((q["sql"] for q in ctx.captured_queries  # the page: LIMIT count + 1
                         if "FROM messaging_message" in q["sql"].replace('"', "")
                         and "LIMIT 16" in q["sql"]), None)
        plan = []
        if main_sql:
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + main_sql)
                plan = [r[0] for r in cur.fetchall()]
        exec_ms = next((float(line.split(":")[1].split()[0]) for line in plan
                        if line.startswith("Execution Time")), None)
        out["pages"][name] = {
            "messages": len(page["messageList"]), "median_ms": statistics.median(times),
            "max_ms": max(times), "statements": len(ctx.captured_queries),
            "explain_execution_ms": exec_ms, "explain": plan,
            "ok": len(page["messageList"]) == 15,
        }
    out["ok"] = all(p["ok"] for p in out["pages"].values()) and table_rows >= rows
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
