"""Retention: the offline cache (sync log) and history expire after their days, and the
purges of messaging/retention.py (the cheap-at-scale versions, bench/purge.py) keep the
contract of the service functions they replace.

Time moves forward two ways: rows are aged (created_at set days back), or a purge runs
with the cutoff it would have days from now. tests/test_purge.py covers the service
functions and the Celery schedule; tests/messaging/test_offline_flow.py covers replay of
aged (not purged) entries. Here: the retention module, and the whole story over a real
server after the purge tasks ran: what a device gets on login, what history keeps under
CHAT_HISTORY_DAYS 7 and 30, conversations and new messages after the purge.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import retention as account_retention
from accounts.models import SyncEntry, User
from accounts.services import device_login
from accounts.tasks import purge_sync_log
from accounts.usersig import gen_usersig
from messaging import retention, selectors
from messaging.changes import conversation_mark_read
from messaging.commands import Origin
from messaging.models import Conversation, Dialog, Message
from messaging.services import message_send
from messaging.tasks import purge_history
from tests.conftest import start_server, stop_server
from tests.wsclient import WsClient

DAY = timedelta(days=1)


def send(sender, to, text="hi"):
    message_send(origin=Origin.USER, sender=sender, to=to.user_id, random=uuid.uuid4().int % 2**31,
                 elements=[{"type": "TIMTextElem", "payload": {"text": text}}])
    return Message.objects.filter(sender=sender).latest("pk")


def age(model, pks, days, *, at=None):
    """Move time forward for these rows: they were written `days` ago (or at `at`)."""
    when = at or timezone.now() - timedelta(days=days)
    model.objects.filter(pk__in=list(pks)).update(created_at=when)


def entries_of(messages) -> list[int]:
    return list(SyncEntry.objects.filter(message_id__in=[m.pk for m in messages])
                .values_list("pk", flat=True))


def batches(queries, table) -> int:
    """Batch statements of the retention module: one `WITH ... DELETE FROM table`."""
    return sum(1 for q in queries if f"DELETE FROM {table}" in q["sql"])


# --- the retention module keeps the services' contract -----------------------------------

@pytest.mark.django_db
def test_history_purge_in_batches_keeps_conversations_and_dialogs(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    from_alice = [send(alice, bob, f"a{n}") for n in range(5)]
    from_carol = [send(carol, bob, f"c{n}") for n in range(3)]
    purged = from_alice + from_carol[:2]
    age(Message, [m.pk for m in purged], days=8)
    dialogs = dict(Dialog.objects.values_list("pk", "last_seq"))

    with CaptureQueriesContext(connection) as ctx:
        gone = retention.history_purge(before=timezone.now() - 7 * DAY, batch_size=3)

    assert gone == 7
    assert list(Message.objects.values_list("pk", flat=True)) == [from_carol[2].pk]
    assert batches(ctx.captured_queries, "messaging_message") == 3  # 3 + 3 + 1
    assert dict(Dialog.objects.values_list("pk", "last_seq")) == dialogs
    listed = {c["conversationID"]: c for c in selectors.conversation_list(user=bob)}
    assert set(listed) == {"C2Calice", "C2Ccarol"}
    assert listed["C2Calice"]["lastMessage"] is None
    assert listed["C2Ccarol"]["lastMessage"]["elements"][0]["payload"]["text"] == "c2"
    assert [c["lastMessage"] for c in selectors.conversation_list(user=alice)] == [None]
    assert Conversation.objects.count() == 4
    assert not Conversation.objects.filter(last_message_id__in=[m.pk for m in purged]).exists()
    # The sync log is the other purge's: history's purge leaves it alone.
    assert len(entries_of(purged)) == 14
    # And the dialog goes on where it was.
    assert send(alice, bob, "again").seq == dialogs[from_alice[0].dialog_id] + 1


@pytest.mark.django_db
def test_history_purge_takes_rows_of_one_instant_across_batches_and_keeps_the_cutoff(
        make_user):
    """Batches resume at the previous batch's newest created_at: rows sharing it that did
    not fit are not skipped. A row created exactly at the cutoff is not older: it stays."""
    alice, bob = make_user("alice"), make_user("bob")
    same = [send(alice, bob, f"s{n}") for n in range(5)]
    at_cutoff = send(alice, bob, "at the cutoff")
    cutoff = timezone.now() - 7 * DAY
    age(Message, [m.pk for m in same], 0, at=cutoff - 2 * DAY)
    age(Message, [at_cutoff.pk], 0, at=cutoff)

    assert retention.history_purge(before=cutoff, batch_size=2) == 5

    assert list(Message.objects.values_list("pk", flat=True)) == [at_cutoff.pk]
    assert retention.history_purge(before=cutoff, batch_size=2) == 0


@pytest.mark.django_db
def test_history_purge_refuses_a_batch_size_that_would_never_end(make_user):
    with pytest.raises(ValueError):
        retention.history_purge(before=timezone.now(), batch_size=0)


@pytest.mark.django_db
def test_sync_log_purge_in_batches_and_by_message_lifetime(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    old = [send(alice, bob, f"old{n}") for n in range(3)]
    fresh = [send(alice, bob, f"new{n}") for n in range(3)]
    age(SyncEntry, entries_of(old), days=8)
    # A MsgLifeTime: bob's entry of fresh[0] lived an hour and that hour is over;
    # fresh[1]'s has an hour left.
    now = timezone.now()
    SyncEntry.objects.filter(message_id=fresh[0].pk, user=bob).update(expires_at=now - DAY / 24)
    SyncEntry.objects.filter(message_id=fresh[1].pk, user=bob).update(expires_at=now + DAY / 24)

    with CaptureQueriesContext(connection) as ctx:
        gone = account_retention.sync_log_purge(before=now - 7 * DAY, batch_size=4, now=now)

    assert gone == 7  # 6 entries of the old messages (both sides), 1 that lived its life
    assert not SyncEntry.objects.filter(message_id__in=[m.pk for m in old]).exists()
    assert list(SyncEntry.objects.filter(message_id=fresh[0].pk).values_list("user__user_id",
                                                                              flat=True)) \
        == ["alice"]
    assert SyncEntry.objects.filter(message_id__in=[m.pk for m in fresh[1:]]).count() == 4
    # 4 + 2 by age, then 1 by lifetime.
    assert batches(ctx.captured_queries, "accounts_syncentry") == 3
    # The messages themselves are history's to purge.
    assert Message.objects.count() == 6


@pytest.mark.django_db
def test_seven_day_expiry_when_the_clock_moves_on(make_user, settings):
    """The purges as the hourly tasks would run them 6 and 8 days from now: after 6 days
    everything is kept, after 8 days cache and history are gone, conversations stay."""
    settings.CHAT_HISTORY_DAYS = settings.CHAT_OFFLINE_CACHE_DAYS = 7
    alice, bob = make_user("alice"), make_user("bob")
    sent = [send(alice, bob, f"m{n}") for n in range(4)]
    entries = SyncEntry.objects.count()
    assert entries == 8

    def run_at(later):
        return (retention.history_purge(before=later - 7 * DAY),
                account_retention.sync_log_purge(before=later - 7 * DAY, now=later))

    assert run_at(timezone.now() + 6 * DAY) == (0, 0)
    assert Message.objects.count() == 4 and SyncEntry.objects.count() == entries

    assert run_at(timezone.now() + 8 * DAY) == (4, 8)
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert [c["lastMessage"] for c in selectors.conversation_list(user=bob)] == [None]
    assert send(alice, bob, "a week later").seq == sent[-1].seq + 1


# --- the whole story over a real server, after the purge tasks ran -----------------------

def login_until_ready(url: str, user_id: str, since: int, device: str, platform: str):
    ws = WsClient(url)
    data = ws.login(user_id, gen_usersig(user_id), deviceID=device, platform=platform,
                    since=since)
    frames = []
    while (frame := ws.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    return ws, data, frames


def history_texts(ws, conversation_id: str) -> list[str]:
    page = ws.ok("getMessageList", {"conversationID": conversation_id, "count": 100})
    assert page["isCompleted"]
    return [m["elements"][0]["payload"]["text"] for m in page["messageList"]]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("history_days", [7, 30])
def test_after_8_days_the_cache_is_gone_and_history_follows_chat_history_days(
        make_user, settings, history_days):
    settings.CHAT_HISTORY_DAYS = history_days
    settings.CHAT_OFFLINE_CACHE_DAYS = 7
    alice = make_user("alice")
    make_user("bob")
    proc, url = start_server(CHAT_HISTORY_DAYS=str(history_days),
                             CHAT_OFFLINE_CACHE_DAYS="7")
    clients = []
    try:
        sender = WsClient(url)
        clients.append(sender)
        sender.login("alice", gen_usersig("alice"))
        sender.wait_event("SDK_READY")

        def say(text, random):
            return sender.ok("sendMessage", {"to": "bob", "random": random, "elements": [
                {"type": "TIMTextElem", "payload": {"text": text}}]})

        # Bob is away. Three messages are sent, then eight days pass for them.
        old = [say(f"old{i}", i + 1) for i in range(3)]
        old_pks = list(Message.objects.filter(sender=alice).values_list("pk", flat=True))
        assert [f"{m.public_id}" for m in Message.objects.order_by("pk")] \
            == [m["ID"] for m in old]
        age(Message, old_pks, days=8)
        age(SyncEntry, SyncEntry.objects.filter(message_id__in=old_pks)
            .values_list("pk", flat=True), days=8)
        fresh = [say(f"new{i}", 100 + i) for i in range(2)]

        # The hourly tasks run (in this process, as a worker would).
        assert purge_sync_log.apply().get() == 6  # bob's and alice's own entries
        assert purge_history.apply().get() == (3 if history_days == 7 else 0)
        assert Message.objects.count() == (2 if history_days == 7 else 5)

        # Bob's phone had seen nothing: what it missed is partly gone, so it is told to
        # resync and nothing of the expired entries is replayed.
        ws, login, frames = login_until_ready(url, "bob", since=0, device="bob-phone",
                                            platform="Android")
        clients.append(ws)
        assert [f["event"] for f in frames] == ["SYNC_RESET"]
        assert login["seq"] == 5
        # A device that had seen the expired entries gets exactly the fresh ones.
        device_login(user=User.objects.get(user_id="bob"), device_id="bob-pc",
                     platform="Windows")  # it logged in then
        pc, _, frames = login_until_ready(url, "bob", since=3, device="bob-pc",
                                       platform="Windows")
        clients.append(pc)
        replayed = [f["data"][0]["ID"] for f in frames if f["event"] == "MESSAGE_RECEIVED"]
        assert replayed == [m["ID"] for m in fresh]
        # History keeps CHAT_HISTORY_DAYS, longer than the cache when it is 30.
        expected = ["new0", "new1"] if history_days == 7 else [
            "old0", "old1", "old2", "new0", "new1"]
        assert history_texts(ws, "C2Calice") == expected
        # The conversation still works: listed, with the newest message as its last.
        convs = ws.ok("getConversationList")["conversationList"]
        assert [c["conversationID"] for c in convs] == ["C2Calice"]
        assert convs[0]["lastMessage"]["elements"][0]["payload"]["text"] == "new1"
        # And a message after the purge arrives, next in the dialog's order.
        after = say("after the purge", 999)
        got = ws.wait_event("MESSAGE_RECEIVED")["data"][0]
        assert got["ID"] == after["ID"]
        assert got["seq"] == 6
        assert history_texts(pc, "C2Calice")[-1] == "after the purge"
        assert User.objects.filter(user_id="bob").exists()
    finally:
        for client in clients:
            try:
                client.close()
            except Exception:
                pass
        stop_server(proc)


@pytest.mark.django_db
def test_a_conversation_whose_history_is_purged_counts_nothing_unread(make_user):
    """Unread counts follow history: when the purge takes a conversation's last message
    (and so the messages before it), the count goes to what is left to read, not the
    number of messages that are gone (a badge of 3 over an empty chat). A message sent
    with excludedFromLastMessage after the purged last one still counts."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    old = [send(alice, bob, f"a{n}") for n in range(3)]
    [send(carol, bob, f"c{n}") for n in range(2)]
    last = send(carol, bob, "kept")
    age(Message, [m.pk for m in old], days=8)
    age(Message, [last.pk], days=8)
    message_send(origin=Origin.USER, sender=carol, to="bob", random=77,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "excluded"}}],
                 excluded_from_last_message=True)
    unread = dict(Conversation.objects.filter(owner=bob).values_list("peer__user_id",
                                                                     "unread_count"))
    assert unread == {"alice": 3, "carol": 4}

    retention.history_purge(before=timezone.now() - 7 * DAY, batch_size=2)

    listed = {c["conversationID"]: c for c in selectors.conversation_list(user=bob)}
    assert listed["C2Calice"]["lastMessage"] is None
    assert listed["C2Calice"]["unreadCount"] == 0
    # c0 and c1 are younger than the cut (not aged): they, and the excluded one, stay.
    assert listed["C2Ccarol"]["unreadCount"] == 3
    assert selectors.total_unread_pk(bob.pk) == 3


@pytest.mark.django_db
def test_a_partly_purged_conversation_counts_only_what_is_left_unread(make_user, usersig):
    """When the purge takes some, not all, of a conversation's unread messages (its last
    message stays), the count goes down by those: 5 unread of which 3 are purged read 2,
    on the REST door and in the total. A conversation whose purged messages were read
    before keeps its count (its unread are the newest ones). (SQLite's portable purge:
    tests/test_embedded.py.)"""
    alice, bob, dave = make_user("alice"), make_user("bob"), make_user("dave")
    from_alice = [send(alice, bob, f"a{n}") for n in range(5)]
    from_dave = [send(dave, bob, f"d{n}") for n in range(3)]
    conversation_mark_read(user=bob, peer=dave)
    [send(dave, bob, f"new d{n}") for n in range(2)]
    age(Message, [m.pk for m in from_alice[:3] + from_dave], days=8)
    bob_rest = APIClient()
    bob_rest.credentials(HTTP_AUTHORIZATION=f"UserSig bob:{usersig('bob')}")
    assert bob_rest.get("/api/v1/conversations/unread-count/").json() == {"totalUnreadCount": 7}

    assert retention.history_purge(before=timezone.now() - 7 * DAY, batch_size=2) == 6

    listed = {c["conversationID"]: c
              for c in bob_rest.get("/api/v1/conversations/").json()["conversationList"]}
    assert listed["C2Calice"]["unreadCount"] == 2
    assert listed["C2Calice"]["lastMessage"]["ID"] == from_alice[-1].public_id
    assert listed["C2Cdave"]["unreadCount"] == 2
    assert bob_rest.get("/api/v1/conversations/unread-count/").json() == {"totalUnreadCount": 4}
    assert Conversation.objects.get(owner=alice, peer=bob).unread_count == 0

