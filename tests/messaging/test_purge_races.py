"""A write to a message's extensions or reactions racing the history purge of that
message (messaging/retention.py) or the deletion of an account of its conversation
(accounts/devices.py user_delete): with two real connections, the write holding the
message's lock when the deletion comes, neither side fails (no deadlock) and nothing of
the message stays behind (no Extension, ExtensionHead or Reaction row of a message that
is gone)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from chat_project.errors import ChatError
from messaging.commands import Origin
from messaging.extensions import extensions_set
from messaging.models import Extension, ExtensionHead, Message, Reaction
from messaging.reactions import reaction_add
from messaging.services import history_purge, message_send

pytestmark = pytest.mark.django_db(transaction=True)


def send(sender, to, **kw):
    view = message_send(origin=Origin.USER, sender=sender, to=to.user_id,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "vote"}}],
                        random=1, **kw)
    return int(view["ID"].split("-")[0])


def waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def purge() -> int:
    return history_purge(before=timezone.now() + timedelta(seconds=5))


def race(block_sql: str, block_params: list, write, delete=purge) -> dict:
    """Hold a row in a third connection so `write` waits while holding the message's
    lock; start `delete` (it waits too); release; let both finish."""
    blocker = connections.create_connection("default")
    blocker.ensure_connection()
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute(block_sql, block_params)
    outcome: dict = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reports what came out
            outcome[name] = exc
        finally:
            connection.close()

    writer = threading.Thread(target=run, args=("write", write))
    writer.start()
    deadline = time.monotonic() + 10
    while waiting_on_locks() < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    purger = threading.Thread(target=run, args=("purge", delete))
    purger.start()
    while waiting_on_locks() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert waiting_on_locks() == 2, "the writer and the deletion should both be waiting"
    blocker.rollback()
    blocker.close()
    writer.join(20)
    purger.join(20)
    return outcome


def test_an_extension_write_racing_the_purge_leaves_nothing_behind(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    m = send(alice, bob, support_extension=True)
    outcome = race("INSERT INTO messaging_extension (message_id, key, value, seq)"
                   " VALUES (%s, 'k', 'x', 1)", [m],
                   lambda: extensions_set(message_pk=m, actor=bob, items=[("k", "v", 0)]))
    assert outcome["purge"] == 1, outcome
    assert not isinstance(outcome["write"], Exception) or (
        isinstance(outcome["write"], ChatError) and outcome["write"].code == 23004), outcome
    assert not Message.objects.filter(pk=m).exists()
    assert list(Extension.objects.values_list("key", flat=True)) == []
    assert not ExtensionHead.objects.exists()


def test_a_reaction_racing_the_purge_leaves_nothing_behind(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    m = send(alice, bob)
    outcome = race("INSERT INTO messaging_reaction (message_id, reaction_id, user_id)"
                   " VALUES (%s, 'up', %s)", [m, bob.pk],
                   lambda: reaction_add(message_pk=m, actor=bob, reaction_id="up"))
    assert outcome["purge"] == 1, outcome
    assert not isinstance(outcome["write"], Exception) or (
        isinstance(outcome["write"], ChatError) and outcome["write"].code == 23004), outcome
    assert not Message.objects.filter(pk=m).exists()
    assert not Reaction.objects.exists()


def test_an_extension_write_racing_an_account_deletion_neither_deadlocks_nor_stays(make_user):
    from accounts.devices import user_delete

    alice, bob = make_user("alice"), make_user("bob")
    m = send(alice, bob, support_extension=True)
    outcome = race("INSERT INTO messaging_extension (message_id, key, value, seq)"
                   " VALUES (%s, 'k', 'x', 1)", [m],
                   lambda: extensions_set(message_pk=m, actor=bob, items=[("k", "v", 0)]),
                   delete=lambda: user_delete(user=alice))
    # Before: "deadlock detected" for one of the two (the deletion took alice's sync
    # head, then waited for the message; the write held the message, then waited for
    # alice's sync head), and when it was the write's, its rows stayed.
    assert outcome["purge"] is None, outcome
    assert not isinstance(outcome["write"], Exception) or (
        isinstance(outcome["write"], ChatError) and outcome["write"].code == 23004), outcome
    assert not Message.objects.filter(pk=m).exists()
    assert list(Extension.objects.values_list("key", flat=True)) == []
    assert not ExtensionHead.objects.exists()


def test_a_reaction_racing_an_account_deletion_neither_deadlocks_nor_stays(make_user):
    from accounts.devices import user_delete

    alice, bob = make_user("alice"), make_user("bob")
    m = send(alice, bob)
    outcome = race("INSERT INTO messaging_reaction (message_id, reaction_id, user_id)"
                   " VALUES (%s, 'up', %s)", [m, bob.pk],
                   lambda: reaction_add(message_pk=m, actor=bob, reaction_id="up"),
                   delete=lambda: user_delete(user=alice))
    assert outcome["purge"] is None, outcome
    assert not isinstance(outcome["write"], Exception) or (
        isinstance(outcome["write"], ChatError) and outcome["write"].code == 23004), outcome
    assert not Message.objects.filter(pk=m).exists()
    assert not Reaction.objects.exists()
