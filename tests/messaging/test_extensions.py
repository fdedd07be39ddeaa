"""Key-value extensions of a message (messaging/extensions.py): the send's flag, the
services' compare-and-set and versions, who may, bounds, recall and purge (PostgreSQL,
threads on their own connections for the races)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import SyncEntry
from chat_project.errors import ChatError
from messaging import selectors
from messaging.changes import message_revoke, messages_delete
from messaging.commands import Origin
from messaging.extensions import (
    extensions_delete,
    extensions_get,
    extensions_set,
)
from messaging.models import Extension, ExtensionHead, Message
from messaging.services import message_send

pytestmark = pytest.mark.django_db(transaction=True)


def send(sender, to, random=1, **kw):
    return message_send(origin=Origin.USER, sender=sender, to=to.user_id,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "vote"}}],
                        random=random, **kw)


def pk_of(view) -> int:
    return int(view["ID"].split("-")[0])


def code_of(fn, **kw) -> int:
    with pytest.raises(ChatError) as err:
        fn(**kw)
    return err.value.code


def as_tuples(results):
    return [(r.key, r.value, r.seq, r.code) for r in results]


@pytest.fixture
def trio(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol")


def test_the_send_stores_whether_a_message_supports_extensions(trio):
    alice, bob, _ = trio
    plain = send(alice, bob, random=1)
    voted = send(alice, bob, random=2, support_extension=True)
    assert plain["isSupportExtension"] is False and voted["isSupportExtension"] is True
    assert Message.objects.get(pk=pk_of(voted)).support_extension
    assert not Message.objects.get(pk=pk_of(plain)).support_extension
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")["messageList"]
    assert [m["isSupportExtension"] for m in page] == [False, True]
    with pytest.raises(ChatError) as err:
        send(alice, bob, random=3, support_extension="yes")
    assert err.value.code == 910003


def test_set_get_delete_and_clear_with_versions(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    got = extensions_set(message_pk=m, actor=alice,
                         items=[("k1", "v1", 0), ("k2", "v2", 0), ("k3", "v3", None)])
    assert as_tuples(got) == [("k1", "v1", 1, 0), ("k2", "v2", 1, 0), ("k3", "v3", 1, 0)]
    # bob read k3 at 1: his write wins; alice's stale one on k3 and her k1 at 0 lose,
    # each with what is stored; her k2 at 1 goes through in the same call.
    assert as_tuples(extensions_set(message_pk=m, actor=bob, items=[("k3", "bob", 1)])) \
        == [("k3", "bob", 2, 0)]
    got = extensions_set(message_pk=m, actor=alice,
                         items=[("k3", "alice", 1), ("k1", "x", 0), ("k2", "two", 1)])
    assert as_tuples(got) == [("k3", "bob", 2, 23001), ("k1", "v1", 1, 23001),
                              ("k2", "two", 3, 0)]
    page = extensions_get(message_pk=m, actor=bob)
    assert as_tuples(page.extensions) == [("k1", "v1", 1, 0), ("k3", "bob", 2, 0),
                                          ("k2", "two", 3, 0)]
    assert (page.complete, page.latest_seq, page.clear_seq) == (True, 3, 0)
    assert [e.key for e in extensions_get(message_pk=m, actor=alice, start_seq=2).extensions] \
        == ["k3", "k2"]
    # Deletes compare too; a key that is not there is done already.
    got = extensions_delete(message_pk=m, actor=bob,
                            items=[("k1", None, 1), ("k2", None, 1), ("nope", None, 0)])
    assert as_tuples(got) == [("k1", "", 1, 0), ("k2", "two", 3, 23001), ("nope", "", 0, 0)]
    assert [e.key for e in extensions_get(message_pk=m, actor=bob).extensions] == ["k3", "k2"]
    # Clear all: ClearSeq is the latest version; the next write takes a newer one.
    assert [r.key for r in extensions_delete(message_pk=m, actor=alice)] == ["k2", "k3"]
    page = extensions_get(message_pk=m, actor=alice)
    assert (page.extensions, page.latest_seq, page.clear_seq) == ([], 3, 3)
    assert as_tuples(extensions_set(message_pk=m, actor=alice, items=[("k1", "again", 0)])) \
        == [("k1", "again", 4, 0)]
    # The app admin (actor None) is not checked, as Tencent documents.
    assert as_tuples(extensions_set(message_pk=m, actor=None, items=[("k1", "admin", 0)])) \
        == [("k1", "admin", 5, 0)]


def test_events_reach_both_participants_through_the_sync_log(trio):
    alice, bob, _ = trio
    m = send(alice, bob, support_extension=True)
    extensions_set(message_pk=pk_of(m), actor=bob, items=[("bob", "yes", 0)])
    extensions_delete(message_pk=pk_of(m), actor=alice, items=[("bob", None, 1)])
    for user in (alice, bob):
        entries = [e.payload for e in SyncEntry.objects.filter(
            user=user, kind=SyncEntry.Kind.EXTENSION).order_by("seq")]
        assert entries == [
            {"event": "MESSAGE_EXTENSIONS_UPDATED",
             "data": {"messageID": m["ID"], "extensions": [
                 {"key": "bob", "value": "yes", "seq": 1}]}},
            {"event": "MESSAGE_EXTENSIONS_DELETED",
             "data": {"messageID": m["ID"], "keyList": ["bob"]}}]
    # A call where every key lost writes nothing and tells nobody.
    before = SyncEntry.objects.count()
    extensions_set(message_pk=pk_of(m), actor=bob, items=[("k", "v", 7)])
    assert SyncEntry.objects.count() == before


def test_who_may_and_which_messages(trio):
    alice, bob, carol = trio
    m = pk_of(send(alice, bob, support_extension=True))
    plain = pk_of(send(alice, bob, random=2))
    items = [("k", "v", 0)]
    assert code_of(extensions_set, message_pk=m, actor=carol, items=items) == 23004
    assert code_of(extensions_get, message_pk=m, actor=carol) == 23004
    assert code_of(extensions_delete, message_pk=m, actor=carol) == 23004
    assert code_of(extensions_set, message_pk=plain, actor=alice, items=items) == 23002
    assert code_of(extensions_get, message_pk=plain, actor=None) == 23002
    assert code_of(extensions_set, message_pk=10**12, actor=None, items=items) == 23004
    assert code_of(extensions_set, message_pk=m, actor=None, items=items,
                   expect_from="bob", expect_to="alice") == 23004
    # Deleted from bob's history: bob can no longer reach it, alice still can.
    extensions_set(message_pk=m, actor=alice, items=items)
    messages_delete(user=bob, message_ids=[Message.objects.get(pk=m).public_id])
    assert code_of(extensions_get, message_pk=m, actor=bob) == 23004
    assert len(extensions_get(message_pk=m, actor=alice).extensions) == 1


def test_bounds_answer_their_codes(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    cases = [
        [(f"k{i}", "v", 0) for i in range(21)],      # 21 keys in one call
        [("k" * 101, "v", 0)],                        # a 101-byte key
        [("é" * 51, "v", 0)],                         # 102 bytes in 51 characters
        [("k", "v" * 1001, 0)],                       # a 1001-byte value
        [("", "v", 0)], [("k", 5, 0)], [("k", "v", -1)], [("k", "v", True)],
        [("k", "v", 0), ("k", "w", 0)], [], "k", [("k", "v")],
        [("a\x00b", "v", 0)], [("k", "a\x00b", 0)],   # PostgreSQL text holds no NUL
        [("\ud800", "v", 0)], [("k", "\udfff", 0)],   # nor a lone surrogate
    ]
    for items in cases:
        assert code_of(extensions_set, message_pk=m, actor=alice, items=items) == 10004, items
    assert code_of(extensions_get, message_pk=m, actor=alice, start_seq="1") == 10004
    assert code_of(extensions_delete, message_pk=m, actor=alice,
                   items=[("a\x00b", None, 0)]) == 10004
    assert extensions_set(message_pk=m, actor=alice,
                          items=[("k" * 100, "v" * 1000, 0)])[0].code == 0
    # 300 keys a message.
    for n in range(1, 300, 20):
        extensions_set(message_pk=m, actor=None,
                       items=[(f"n{i}", "v", 0) for i in range(n, min(n + 20, 300))])
    assert Extension.objects.filter(message_id=m).count() == 300
    assert code_of(extensions_set, message_pk=m, actor=None, items=[("one more", "v", 0)]) \
        == 910050
    assert extensions_set(message_pk=m, actor=None, items=[("n1", "changed", 0)])[0].code == 0


def test_a_get_pages_at_version_boundaries(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    for n in range(11):  # 11 versions of 20 keys: 220 keys
        extensions_set(message_pk=m, actor=None, items=[(f"v{n}k{i}", "x", 0) for i in range(20)])
    first = extensions_get(message_pk=m, actor=alice)
    assert not first.complete and len(first.extensions) == 200
    rest = extensions_get(message_pk=m, actor=alice, start_seq=first.extensions[-1].seq + 1)
    assert rest.complete and len(rest.extensions) == 20
    keys = {e.key for e in first.extensions + rest.extensions}
    assert len(keys) == 220


def test_two_sets_of_one_key_at_once_one_wins(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    for round_ in range(8):
        barrier = threading.Barrier(2)
        results = {}

        def write(user, value, key=f"seat{round_}", barrier=barrier, results=results):
            try:
                barrier.wait()
                results[value] = extensions_set(message_pk=m, actor=user,
                                                items=[(key, value, 0)])[0]
            finally:
                connection.close()

        threads = [threading.Thread(target=write, args=(u, u.user_id)) for u in (alice, bob)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.code for r in results.values())
        assert codes == [0, 23001], results
        won = next(v for v, r in results.items() if r.code == 0)
        lost = next(r for r in results.values() if r.code)
        assert (lost.value, lost.seq) == (won, results[won].seq)
        assert Extension.objects.get(message_id=m, key=f"seat{round_}").value == won


def test_a_recall_deletes_the_extensions_and_blanks_them_in_the_log(trio):
    alice, bob, _ = trio
    m = send(alice, bob, support_extension=True)
    extensions_set(message_pk=pk_of(m), actor=bob, items=[("secret", "4711x", 0)])
    message_revoke(message_pk=pk_of(m), actor=alice)
    assert not Extension.objects.filter(message_id=pk_of(m)).exists()
    assert not ExtensionHead.objects.filter(message_id=pk_of(m)).exists()
    assert code_of(extensions_get, message_pk=pk_of(m), actor=bob) == 23004
    for user in (alice, bob):
        [entry] = SyncEntry.objects.filter(user=user, kind=SyncEntry.Kind.EXTENSION)
        assert entry.payload["data"]["extensions"] == [{"key": "secret", "value": "", "seq": 1}]


def test_the_history_purge_takes_the_extensions_along(trio):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.services import history_purge

    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    extensions_set(message_pk=m, actor=bob, items=[("k", "v", 0)])
    assert history_purge(before=timezone.now() + timedelta(seconds=5)) == 1
    assert not Extension.objects.exists() and not ExtensionHead.objects.exists()


def test_a_deleted_account_takes_the_extensions_along(trio):
    from accounts.devices import user_delete

    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    extensions_set(message_pk=m, actor=bob, items=[("k", "v", 0)])
    user_delete(user=alice)
    assert not Extension.objects.exists() and not ExtensionHead.objects.exists()


def test_with_redis_down_writes_fail_open_and_each_process_counts_them(trio, settings):
    """The count of writes a minute (23003) is kept in Redis; while Redis cannot be
    reached the writes go on, as /v4's rate limits do, and the process holds the limit
    on its own count."""
    import socket

    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caches = settings.CACHES
    settings.CACHES = {"default": dict(caches["default"],
                                       LOCATION=f"redis://127.0.0.1:{port}/0")}
    try:
        for i in range(200):
            extensions_set(message_pk=m, actor=None, items=[("n", str(i), None)])
        assert code_of(extensions_set, message_pk=m, actor=alice,
                       items=[("k", "v", 0)]) == 23003
        assert code_of(extensions_delete, message_pk=m, actor=bob, items=None) == 23003
    finally:
        settings.CACHES = caches
    assert ExtensionHead.objects.get(message_id=m).latest_seq == 200


def test_who_cleared_the_history_gets_no_event_of_its_messages(trio):
    """The events go to each participant whose history holds the message: not to one
    who cleared the conversation (they could not read the keys either: 23004)."""
    from messaging.changes import conversation_clear_history

    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    conversation_clear_history(user=bob, peer=alice)
    assert code_of(extensions_get, message_pk=m, actor=bob) == 23004
    extensions_set(message_pk=m, actor=alice, items=[("k", "v", 0)])
    extensions_delete(message_pk=m, actor=alice, items=None)
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.EXTENSION, user=alice).count() == 2
    assert not SyncEntry.objects.filter(kind=SyncEntry.Kind.EXTENSION, user=bob).exists()


def test_the_write_count_waits_on_redis_holding_no_lock_of_the_message(trio, settings):
    """The count of writes (23003) is a Redis call: made inside the write's transaction,
    a silent Redis (here frozen with SIGSTOP, up to REDIS_TIMEOUT) kept the message's
    row locked meanwhile, and every other write to it, its recall and its purge waited.
    Now it is made before: another connection locks the message while the write waits."""
    import os
    import signal
    import time

    import psycopg

    from tests.redis_server import RedisServer

    alice, bob, _ = trio
    m = pk_of(send(alice, bob, support_extension=True))
    redis = RedisServer().start()
    caches = settings.CACHES
    settings.CACHES = {"default": dict(caches["default"], LOCATION=redis.url)}
    outcome: list = []

    def write():
        try:
            outcome.append(extensions_set(message_pk=m, actor=alice, items=[("k", "v", 0)]))
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    try:
        os.kill(redis.proc.pid, signal.SIGSTOP)
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # in the count, waiting on the frozen Redis (REDIS_TIMEOUT 2 s)
        assert writer.is_alive() and not outcome
        params = connection.get_connection_params()
        with psycopg.connect(**{k: v for k, v in params.items()
                                if k in ("dbname", "user", "host", "port", "password")},
                             autocommit=False) as other:
            other.execute("SELECT id FROM messaging_message WHERE id = %s FOR UPDATE NOWAIT",
                          [m])  # raises LockNotAvailable when the write holds it
            other.rollback()
        os.kill(redis.proc.pid, signal.SIGCONT)
        writer.join(timeout=30)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
        settings.CACHES = caches
        redis.stop()
    [result] = outcome
    assert [r.code for r in result] == [0]  # written once Redis answered (or failed open)
