"""Group commit: many sends in one transaction, each with its own result."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import webhooks
from accounts.models import SyncEntry
from chat_project.errors import ChatError
from messaging import selectors
from messaging.commands import Origin, SendCommand
from messaging.models import Message
from messaging.services import message_send, message_send_many


def user_send(sender, to, elements, random) -> SendCommand:
    return SendCommand(origin=Origin.USER, sender=sender, to=to, elements=elements,
                       random=random)


def text(s):
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


@pytest.mark.django_db
def test_a_batch_gives_each_command_its_own_result(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    stored = message_send(origin=Origin.USER, sender=alice, to="bob",
                          elements=text("earlier"), random=5)
    results = message_send_many([
        user_send(alice, "bob", text("one"), 1),
        user_send(alice, "nobody", text("x"), 2),
        user_send(alice, "bob", text("two"), 3),
        user_send(alice, "bob", [], 4),
        user_send(alice, "bob", text("retry"), 5),
        user_send(carol, "bob", text("from carol"), 1),
        user_send(alice, "bob", text("one again"), 1),
        user_send(alice, "alice", text("note to self"), 9),
    ])
    one, unknown, two, bad, retry, carols, one_again, note = results
    assert isinstance(unknown, ChatError) and unknown.code == 20003
    assert isinstance(bad, ChatError) and bad.code == 90010
    assert retry["ID"] == stored["ID"]
    assert one_again["ID"] == one["ID"]
    assert (one["seq"], two["seq"]) == (2, 3)  # after the earlier message; no gaps
    assert carols["seq"] == 1 and note["seq"] == 1
    assert Message.objects.count() == 5
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")["messageList"]
    assert [m["elements"][0]["payload"]["text"] for m in page] == ["earlier", "one", "two"]
    convs = {c["conversationID"]: c for c in selectors.conversation_list(user=bob)}
    assert convs["C2Calice"]["unreadCount"] == 3 and convs["C2Ccarol"]["unreadCount"] == 1
    assert convs["C2Calice"]["lastMessage"]["ID"] == two["ID"]
    seqs = list(SyncEntry.objects.filter(user=bob).order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4]
    # the next send in the dialog continues the seq
    assert message_send(origin=Origin.USER, sender=bob, to="alice", elements=text("hi"),
                        random=1)["seq"] == 4


@pytest.mark.django_db
def test_a_batch_costs_a_fixed_number_of_queries(make_user):
    users = [make_user(f"u{i}") for i in range(12)]
    commands = [user_send(users[i], users[(i + 1) % 12].user_id, text(f"m{i}-{j}"), j)
                for i in range(12) for j in range(4)]
    webhooks.config()  # the webhook configuration is cached (a cold cache: one query)
    with CaptureQueriesContext(connection) as ctx:
        results = message_send_many(commands)
    assert not [r for r in results if isinstance(r, ChatError)]
    # savepoint, users with the pair locks, rule and blocklist, dialogs with the retry
    # lookup, messages, sync heads and entries, conversations and unread totals, release
    # (on PostgreSQL; each "with" was a statement of its own before).
    assert len(ctx.captured_queries) == 8


@pytest.mark.django_db
def test_a_batch_announces_each_receivers_total_as_stored(
        make_user, django_capture_on_commit_callbacks):
    # On PostgreSQL the totals come out of the conversations' upsert itself, which reads
    # the table as it was before: several rows of one owner in one batch, earlier unread
    # elsewhere, a Discard conversation and one's own messages must all add up.
    from accounts.events import capture_events, decoded
    from messaging.models import Conversation, RemindType

    alice, bob, carol, dave, erin = (make_user(n) for n in ("alice", "bob", "carol", "dave",
                                                             "erin"))
    message_send_many([user_send(dave, "bob", text("d1"), 1),
                       user_send(dave, "bob", text("d2"), 2),
                       user_send(erin, "bob", text("e1"), 1),
                       user_send(bob, "carol", text("b1"), 1)])
    Conversation.objects.filter(owner=bob, peer=erin).update(
        message_remind_type=RemindType.DISCARD)
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        results = message_send_many([
            user_send(alice, "bob", text("a1"), 1), user_send(carol, "bob", text("c1"), 1),
            user_send(alice, "bob", text("a2"), 2), user_send(erin, "bob", text("e2"), 2),
            user_send(bob, "alice", text("b2"), 2), user_send(alice, "carol", text("a3"), 3),
            user_send(erin, "erin", text("self"), 3)])
    assert not [r for r in results if isinstance(r, ChatError)]
    totals = {}
    for group, message in sent:
        for frame in decoded(message):
            if frame.get("event") == "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED":
                totals[group] = frame["data"]
    assert totals == {f"user.{u.pk}": selectors.total_unread(u) for u in (alice, bob, carol)}
    assert selectors.total_unread(bob) == 2 + 1 + 2 + 1  # dave, erin before Discard, alice, carol
    assert selectors.total_unread(carol) == 2 and selectors.total_unread(alice) == 1
    # Each user's sync entries are written in seq order.
    for user in (alice, bob, carol, erin):
        by_id = list(SyncEntry.objects.filter(user=user).order_by("id").values_list("seq",
                                                                                   flat=True))
        assert by_id == sorted(by_id) == list(range(1, len(by_id) + 1))


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_shared_users_never_deadlock(make_user):
    users = [make_user(f"u{i}") for i in range(6)]
    pairs = [(a, b) for a in users for b in users if a != b]
    errors: list = []
    deadlocks_before = _deadlocks()

    def run(order, offset):
        try:
            for round_ in range(8):
                cmds = [user_send(a, b.user_id, text("x"), offset + round_ * 1000 + i)
                        for i, (a, b) in enumerate(order)]
                for r in message_send_many(cmds):
                    if isinstance(r, ChatError):
                        errors.append(r)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(pairs, 0)),
               threading.Thread(target=run, args=(pairs[::-1], 500))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    # a deadlock would be retried message by message and still succeed: count them
    assert _deadlocks() == deadlocks_before
    assert Message.objects.count() == 2 * 8 * len(pairs)
    for a, b in pairs[:5]:
        seqs = list(Message.objects.filter(sender__in=[a, b], receiver__in=[a, b])
                    .order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_users_read_takes_the_pairs_locks(make_user):
    # users_for_send's lock_pairs lock in the read's own statement (a send's round trip
    # fewer): each pair among the users found, and nothing for a UserID nobody has.
    from django.db import transaction

    from accounts.locks import pair_key
    from accounts.selectors import users_for_send

    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    with transaction.atomic():
        users = users_for_send({"alice", "bob", "carol", "nobody"},
                               lock_pairs=[("alice", "bob"), ("carol", "alice"),
                                           ("bob", "alice"), ("alice", "nobody")])
        assert set(users) == {"alice", "bob", "carol"}
        with connection.cursor() as cursor:
            cursor.execute("SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks"
                           " WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            held = {row[0] for row in cursor.fetchall()}
    assert held == {pair_key(alice.pk, bob.pk), pair_key(carol.pk, alice.pk)}


@pytest.mark.django_db(transaction=True)
def test_a_retry_racing_its_original_is_stored_once(make_user):
    # A send and its retry (same random) on two connections at once, as two server
    # processes would run them. The retry lookup runs in the dialog's statement, whose
    # snapshot predates the dialog row's lock; it finds the original because the pair's
    # lock, taken in an earlier statement, is held by the original to its commit
    # (messaging/persist.py, step 2). Here a third transaction holds the dialog's row, so
    # both sends reach as far as they can before it is let go: without the pair lock, both
    # would wait in the dialog's statement with snapshots that cannot see each other.
    from django.db import connections, transaction

    from messaging.models import Dialog

    alice = make_user("alice")
    make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("before"),
                 random=1)  # the dialog and conversations exist: the usual case
    results: list = []
    started = threading.Barrier(3)

    def run():
        try:
            started.wait(10)
            results.append(message_send(origin=Origin.USER, sender=alice, to="bob",
                                        elements=text("once"), random=7))
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        list(Dialog.objects.select_for_update())
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        started.wait(10)
        _wait_for_lock_waiters(2)
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(isinstance(r, dict) for r in results), results
    assert results[0]["ID"] == results[1]["ID"]
    assert Message.objects.filter(random=7).count() == 1


def _wait_for_lock_waiters(n: int) -> None:
    """Until `n` other connections wait for a lock."""
    import time

    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(DISTINCT l.pid) FROM pg_locks l"
                           " JOIN pg_stat_activity a ON a.pid = l.pid"
                           " WHERE NOT l.granted AND l.pid <> pg_backend_pid()"
                           " AND a.datname = current_database()")
            if cursor.fetchone()[0] >= n:
                return
            time.sleep(0.01)
    raise AssertionError(f"{n} sends never queued on a lock")
