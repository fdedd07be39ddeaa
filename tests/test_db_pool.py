"""PostgreSQL through a bounded pool: a burst of requests waits for a connection instead
of opening one per thread until PostgreSQL refuses ("too many clients"), and a request
that waits longer than DB_POOL_TIMEOUT gets each door's "busy, retry" answer, not 500.

Figures with and without the pool: bench/db_pool.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import psycopg
import pytest
from django.db import connection

from accounts.usersig import gen_usersig
from tests.conftest import ROOT, start_server, stop_server
from tests.v4client import V4Client
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def database_url(app_name: str) -> str:
    db = connection.settings_dict
    return (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            f"?application_name={app_name}")


def held_by(app_name: str) -> int:
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                         dbname="postgres", autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            [app_name]).fetchone()[0]


def get(url: str, auth: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def burst(n: int, call) -> list:
    """`n` threads call `call()` at the same moment; their results."""
    results: list = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def logged_in(base: str, user: str) -> WsClient:
    """A logged-in socket (retrying a login the busy pool refused)."""
    for _ in range(20):
        ws = WsClient(base)
        reply = ws.request("login", {"userID": user, "userSig": gen_usersig(user)})
        if reply["ok"]:
            ws.wait_event("SDK_READY")
            return ws
        assert reply["code"] == 910503, reply
        ws.close()
        time.sleep(0.1)
    raise AssertionError("could not log in")


def burst_sockets(sockets: list[WsClient], op: str) -> list[dict]:
    """Each socket sends `op` at the same moment; the replies."""
    return burst(len(sockets), iter_call(lambda ws: ws.request(op, {}), sockets))


def iter_call(fn, items):
    items = iter(list(items))
    lock = threading.Lock()

    def call():
        with lock:
            item = next(items)
        return fn(item)
    return call


def test_a_burst_of_200_waits_for_the_pool(make_user):
    make_user("alice")
    app = "parley-pool-test"
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    proc, base = start_server(DATABASE_URL=database_url(app), DB_POOL_MIN_SIZE="1",
                              DB_POOL_MAX_SIZE="4")
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], held_by(app))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    auth = f"UserSig alice:{gen_usersig('alice')}"
    try:
        statuses = Counter()
        for _ in range(2):
            statuses.update(s for s, _ in burst(200, lambda: get(
                base + "/api/v1/conversations/", auth)))
        stop.set()
        sampler.join()
        after = held_by(app)
    finally:
        stop.set()
        stop_server(proc)
    assert statuses == Counter({200: 400}), statuses
    assert 1 <= peak[0] <= 4, peak[0]
    assert after <= 4


def test_an_exhausted_pool_answers_busy_in_each_doors_shape(make_user):
    """One connection and a 0.05 s wait: most of a burst cannot get the connection in
    time. REST answers 503 {"code": 910503}; /v4 its envelope with 60008; the socket an
    error reply 910503; none an internal error."""
    make_user("alice")
    make_user("bob")
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    proc, base = start_server(DATABASE_URL=database_url("parley-pool-busy"),
                              DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1",
                              DB_POOL_TIMEOUT="0.05", CHAT_V4_RATE_LIMIT="0")
    auth = f"UserSig alice:{gen_usersig('alice')}"
    v4 = V4Client(base)
    sockets = []
    try:
        for _ in range(30):
            sockets.append(logged_in(base, "alice"))
        # The socket door's database calls share one thread per process: they contend
        # for the connection with the REST requests running beside them.
        rest: list = []
        beside = threading.Thread(target=lambda: rest.extend(burst(
            60, lambda: get(base + "/api/v1/conversations/", auth))))
        beside.start()
        replies = []
        for _ in range(3):
            replies += burst_sockets(sockets, "getConversationList")
        beside.join()
        answers = burst(60, lambda: v4("openim/sendmsg", {
            "To_Account": "bob", "From_Account": "alice", "SyncOtherMachine": 2,
            "MsgRandom": threading.get_ident() % 2**31,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}))
    finally:
        for ws in sockets:
            ws.close()
        stop_server(proc)
    socket_codes = Counter(r.get("code", 0) if not r["ok"] else 0 for r in replies)
    assert set(socket_codes) <= {0, 910503}, socket_codes
    assert socket_codes[910503] > 0, socket_codes
    rest_statuses = Counter(s for s, _ in rest)
    assert set(rest_statuses) <= {200, 503}, rest_statuses
    assert rest_statuses[503] > 0, rest_statuses
    busy = [json.loads(body) for s, body in rest if s == 503]
    assert all(b["code"] == 910503 for b in busy), busy[:3]
    codes = Counter((a["ActionStatus"], a["ErrorCode"]) for a in answers)
    assert set(codes) <= {("OK", 0), ("FAIL", 60008)}, codes
    assert codes[("FAIL", 60008)] > 0, codes
