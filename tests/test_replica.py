"""A real streaming replica (bench/replica.py ReplicaRig): a PostgreSQL primary of the
test's own, a standby made with `pg_basebackup -R` on its own port, and Parley (uvicorn,
two workers) with DATABASE_REPLICA_URLS naming the standby.

How a test knows which copy answered: with replay paused on the standby, a change made
on the primary behind Parley's back (plain SQL, so no user's write position is noted)
is seen by a page read from the primary and not by one read from the replica.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from replica import ReplicaRig, texts  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))
                                 and shutil.which("pg_basebackup") is None,
                                 reason="needs PostgreSQL's server binaries")]

MARK_SQL = ("UPDATE messaging_message SET cloud_custom_data = %s WHERE sender_id ="
            " (SELECT id FROM accounts_user WHERE user_id = %s)")


@pytest.fixture(scope="module")
def rig():
    # Not pytest's tmp_path: its parents are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="parley-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    rig = ReplicaRig(root, workers=2)
    try:
        rig.start()
        rig.srv = rig.server(replica=True, DATABASE_REPLICA_RETRY_AFTER="1",
                             DATABASE_REPLICA_CONNECT_TIMEOUT="2")
        yield rig
    finally:
        rig.stop()
        shutil.rmtree(root, ignore_errors=True)


def users(rig, *names):
    prefix = "t" + secrets.token_hex(3)
    ids = [prefix + n for n in names]
    rig.v4(rig.srv, "im_open_login_svc/multiaccount_import", {"Accounts": ids})
    return ids


def skipped(rig) -> str:
    """The servers' "replica ... skipped" warnings: why a read went to the primary."""
    lines = [line for srv in rig.servers for line in srv.log_path.read_text().splitlines()
             if "skipped for" in line]
    return "\n".join(lines[-20:]) or "(no replica was skipped)"


def stamp(page):
    return [m["cloudCustomData"] for m in page]


def test_history_from_the_replica_and_the_writer_reads_own_writes(rig):
    srv = rig.srv
    a, b, d, e = users(rig, "a", "b", "d", "e")
    rig.send(srv, d, e, "d to e")
    rig.send(srv, a, b, "a1")
    rig.standby.catch_up()
    rig.standby.pause()
    try:
        rig.send(srv, a, b, "a2")
        assert rig.on_primary(MARK_SQL, ["on the primary", d]) == 1
        for _ in range(6):  # both workers, several times
            # The writer and the receiver of a2: from the primary (a2 is not on the
            # paused replica), on REST and on /v4.
            assert texts(rig.page(srv, a, b)) == ["a1", "a2"]
            assert texts(rig.page(srv, b, a)) == ["a1", "a2"]
            assert [m["MsgBody"][0]["MsgContent"]["Text"] for m in rig.roaming(srv, a, b)] \
                == ["a2", "a1"]
            # d wrote nothing since the replica caught up: d reads from it, stale.
            assert stamp(rig.page(srv, d, e)) == [""]
            assert [m["CloudCustomData"] for m in rig.roaming(srv, d, e)] == [""]
        # d writes now: from then on d reads from the primary, e too (the receiver).
        rig.send(srv, d, e, "d again")
        assert stamp(rig.page(srv, d, e)) == ["on the primary", ""]
        assert texts(rig.page(srv, e, d)) == ["d to e", "d again"]
    finally:
        rig.standby.resume()
    rig.standby.catch_up()
    assert rig.sync_wait(lambda: stamp(rig.page(srv, d, e)) == ["on the primary", ""])


def test_replica_down_reads_fall_back_to_the_primary(rig):
    srv = rig.srv
    a, b, d, e = users(rig, "a", "b", "d", "e")
    rig.send(srv, d, e, "d to e")
    rig.standby.catch_up()
    rig.standby.stop()
    try:
        assert rig.on_primary(MARK_SQL, ["while down", d]) == 1
        for i in range(6):
            started = time.monotonic()
            assert stamp(rig.page(srv, d, e)) == ["while down"]
            assert [m["CloudCustomData"] for m in rig.roaming(srv, d, e)] == ["while down"]
            rig.send(srv, a, b, f"down {i}")
            assert texts(rig.page(srv, a, b))[-1] == f"down {i}"
            # A refused connection fails at once; a pooled one waits at most the
            # connect timeout (2 s), once per DATABASE_REPLICA_RETRY_AFTER (1 s).
            assert time.monotonic() - started < 8
    finally:
        rig.standby.start()
    rig.standby.catch_up()
    # Back: after the retry period the replica serves d again (stale while paused).
    rig.standby.pause()
    try:
        assert rig.on_primary(MARK_SQL, ["after restart", d]) == 1
        assert rig.sync_wait(lambda: stamp(rig.page(srv, d, e)) == ["while down"], 20)
    finally:
        rig.standby.resume()


def test_admin_lists_from_the_replica(rig):
    srv = rig.srv
    operator = "op" + secrets.token_hex(3)
    password = secrets.token_urlsafe(12)
    made = subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                           "--user_id", operator], cwd=ROOT, capture_output=True, text=True,
                          env={**srv.env, "DJANGO_SUPERUSER_PASSWORD": password}, timeout=120)
    assert made.returncode == 0, made.stderr
    rig.standby.catch_up()
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{srv.port}"
    form = browser.open(f"{base}/admin/login/?next=/admin/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    browser.open(urllib.request.Request(
        f"{base}/admin/login/?next=/admin/", method="POST",
        data=urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": operator,
                                     "password": password, "next": "/admin/"}).encode(),
        headers={"Referer": f"{base}/admin/login/"}), timeout=30)
    # The sign-in wrote (the session, last_login): until the replica has replayed that,
    # the operator's reads go to the primary (read-your-writes). Under a busy full run
    # the pause below could come first, and the list then came from the primary.
    rig.standby.catch_up()

    def listed(user_id):
        page = browser.open(f"{base}/admin/accounts/user/?q={user_id}", timeout=30)
        assert page.url.startswith(f"{base}/admin/accounts/user/"), page.url  # signed in
        return f">{user_id}<" in page.read().decode()

    rig.standby.pause()
    try:
        [newcomer] = users(rig, "new")  # imported over /v4, after the pause
        # The list comes from the paused replica. The test before restarted the standby,
        # and each uvicorn worker finds that out on its own: a pooled replica connection
        # that does not come within the rig's 2 s (psycopg_pool backs off its reconnects
        # while the standby is down, longer the longer it was down) makes that read fall
        # back to the primary by design, and that worker skips the replica for 1 s. So
        # the test waits until eight reads in a row come from the replica (which worker
        # answers each is the kernel's choice).
        deadline = time.monotonic() + 60
        in_a_row = 0
        while in_a_row < 8:
            assert time.monotonic() < deadline, (
                "no eight admin reads in a row came from the replica:\n" + skipped(rig))
            in_a_row = 0 if listed(newcomer) else in_a_row + 1
            time.sleep(0.2)
        # The operator POSTs (an action with nothing selected): from then on the
        # operator's pages come from the primary, which the paused replica is behind.
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        browser.open(urllib.request.Request(
            f"{base}/admin/accounts/user/", method="POST",
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf,
                                         "action": "delete_selected", "index": 0}).encode(),
            headers={"Referer": f"{base}/admin/accounts/user/"}), timeout=30)
        assert listed(newcomer)
        rig.standby.stop()
        assert listed(newcomer)  # the replica down: the primary's list, no error
    finally:
        rig.standby.start()
    rig.standby.catch_up()
    assert listed(newcomer)
