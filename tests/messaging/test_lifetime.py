"""MsgLifeTime (tencent-rest.md §2.2): how long the receiver's offline cache keeps one
message. 0 is online only; N > 0 sets the receiver's sync entry's expires_at, after
which a replay skips it and the purge deletes it; history keeps the message."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import SyncEntry
from accounts.services import sync_log_purge
from accounts.usersig import gen_usersig
from chat_project.errors import ChatError
from messaging import selectors
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send
from messaging.tencent_body import message_by_key

TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]


def send(sender, to="bob", random=1, **kw):
    return message_send(origin=Origin.USER,
                        sender=sender, to=to, elements=TEXT, random=random, **kw)


def expire(message_ids, seconds_ago=1):
    SyncEntry.objects.filter(message_id__in=message_ids, expires_at__isnull=False).update(
        expires_at=timezone.now() - timedelta(seconds=seconds_ago))


def msg_pk(view) -> int:
    return int(view["ID"].split("-")[0])


@pytest.mark.django_db
def test_only_the_receivers_entry_gets_a_life(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    before = timezone.now()
    view = send(alice, life_time=60)
    mine = SyncEntry.objects.get(user=alice)
    theirs = SyncEntry.objects.get(user=bob)
    assert mine.expires_at is None
    assert timedelta(seconds=59) < theirs.expires_at - before < timedelta(seconds=62)
    assert SyncEntry.objects.get(user=bob, message_id=msg_pk(view)).expires_at is not None
    # No MsgLifeTime: the cache's own 7 days.
    send(alice, random=2)
    assert SyncEntry.objects.filter(expires_at__isnull=True).count() == 3


@pytest.mark.django_db
def test_expired_entries_are_not_replayed_but_stay_in_history(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    short = send(alice, random=1, life_time=30)
    normal = send(alice, random=2)
    long_life = send(alice, random=3, life_time=3600)
    expire([msg_pk(short)])
    events, reached = selectors.sync_replay(user=bob, since=0, upto=account_selectors.sync_head(
        bob.pk))
    assert [e["data"][0]["random"] for e in events if e["event"] == "MESSAGE_RECEIVED"] == [
        2, 3]
    assert reached == 3
    # History (roaming) keeps it, and the unread count counts it.
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")["messageList"]
    assert [m["random"] for m in page] == [1, 2, 3]
    assert Conversation.objects.get(owner=bob).unread_count == 3
    # The sender's own entry has no life of its own.
    events, _ = selectors.sync_replay(user=alice, since=0)
    assert len(events) == 3
    assert {msg_pk(normal), msg_pk(long_life)} <= {
        e.message_id for e in account_selectors.offline_cache_after(user_pk=bob.pk, since=0)}


@pytest.mark.django_db
def test_the_per_peer_cap_counts_live_entries_only(make_user, monkeypatch):
    monkeypatch.setattr(account_selectors, "OFFLINE_CACHE_PER_PEER", 2)
    alice, bob = make_user("alice"), make_user("bob")
    views = [send(alice, random=i, life_time=None if i < 2 else 30) for i in range(4)]
    expire([msg_pk(v) for v in views[2:]])
    # The two expired newest ones neither replay nor push the two older ones out.
    entries = account_selectors.offline_cache_after(user_pk=bob.pk, since=0)
    assert [e.message_id for e in entries] == [msg_pk(v) for v in views[:2]]
    assert account_selectors.offline_cache_dropped(user_pk=bob.pk, since=0) == {}


@pytest.mark.django_db
def test_the_purge_deletes_expired_entries_in_batches(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    views = [send(alice, random=i, life_time=30) for i in range(7)]
    keep = send(alice, random=100, life_time=3600)
    plain = send(alice, random=101)
    expire([msg_pk(v) for v in views])
    with CaptureQueriesContext(connection) as ctx:
        deleted = sync_log_purge(before=timezone.now() - timedelta(days=7), batch_size=3)
    assert deleted == 7
    # nothing old: one DELETE; expired: 3 + 3 + 1, each one DELETE of the ids found
    assert len([q for q in ctx.captured_queries if "DELETE FROM" in q["sql"]]) == 4
    left = set(SyncEntry.objects.filter(user=bob).values_list("message_id", flat=True))
    assert left == {msg_pk(keep), msg_pk(plain)}
    assert SyncEntry.objects.filter(user=alice).count() == 9  # the sender's stay
    assert Message.objects.count() == 9  # history untouched
    # Expired entries are picked on the partial index, not by a scan of the log.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM accounts_syncentry WHERE expires_at IS NOT NULL"
                       " AND expires_at < now() ORDER BY expires_at LIMIT 5000")
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "sync_entry_expiry_idx" in plan


@pytest.mark.django_db
def test_life_time_zero_is_online_only_and_bad_values_are_90044(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    view = send(alice, life_time=0)
    assert view["ID"].startswith("0-") and view["onlineUserOnly"] is True
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    for bad in ("60", -1, 1.5, True):
        with pytest.raises(ChatError) as err:
            send(alice, random=2, life_time=bad)
        assert err.value.code == 90044
    # Over 7 days: clamped to 7 days.
    send(alice, random=3, life_time=10**9)
    entry = SyncEntry.objects.get(user__user_id="bob")
    left = entry.expires_at - timezone.now()
    assert timedelta(days=7, seconds=-30) < left < timedelta(days=7, seconds=5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_an_offline_device_misses_only_the_expired_message(v4, make_user, connect):
    """End to end: a short-lived message sent while bob is away is not replayed after it
    expired; the rest is, and history has everything."""
    make_user("alice"), make_user("bob")
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "soon gone"}}]
    short = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                  "MsgRandom": 1, "MsgLifeTime": 1, "MsgBody": body})
    kept = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                 "MsgRandom": 2, "MsgLifeTime": 600, "MsgBody": body})
    assert short["ErrorCode"] == kept["ErrorCode"] == 0
    time.sleep(1.5)
    ws = connect()
    ws.login("bob", gen_usersig("bob"), deviceID="bob-1", since=0)
    frames = []
    while (frame := ws.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    got = [m["random"] for f in frames if f.get("event") == "MESSAGE_RECEIVED"
           for m in f["data"]]
    assert got == [2]
    assert not [f for f in frames if f.get("event") == "SYNC_RESET"]
    page = ws.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"]
    assert [m["random"] for m in page] == [1, 2]
    assert message_by_key(short["MsgKey"]) is not None
