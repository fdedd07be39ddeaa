"""Retention: the offline cache (sync log) and history are purged in batches past their
days, by Celery tasks on an hourly schedule operators can change in Django admin.

Time moves forward by ageing rows in the database (created_at set to days ago).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import SyncEntry, User
from accounts.services import sync_log_purge
from accounts.tasks import purge_sync_log
from messaging import selectors
from messaging.commands import Origin
from messaging.models import Conversation, Dialog, Message
from messaging.services import history_purge, message_send
from messaging.tasks import purge_history
from tests.celery_worker import celery_worker


def send(sender, to, text="hi", random=None):
    message_send(origin=Origin.USER,
                 sender=sender, to=to.user_id, random=random or uuid.uuid4().int % 2**31,
                 elements=[{"type": "TIMTextElem", "payload": {"text": text}}])
    return Message.objects.filter(sender=sender).latest("pk")


def age(model, pks, days):
    """Move time forward for these rows: they were written `days` ago."""
    model.objects.filter(pk__in=list(pks)).update(created_at=timezone.now() - timedelta(days=days))


def deletes(queries, table) -> int:
    """Statements that delete from `table` (the portable loop's plain DELETEs, or the
    PostgreSQL purge's one statement per batch with its DELETE in a CTE)."""
    return sum(1 for q in queries
               if f'DELETE FROM "{table}"' in q["sql"] or f"DELETE FROM {table} " in q["sql"])


@pytest.mark.django_db
def test_sync_log_purge_deletes_only_older_entries_in_batches(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for n in range(6):
        send(alice, bob, f"m{n}")
    entries = list(SyncEntry.objects.order_by("pk").values_list("pk", flat=True))
    old, new = entries[:7], entries[7:]
    assert new
    age(SyncEntry, old, days=8)

    with CaptureQueriesContext(connection) as ctx:
        gone = sync_log_purge(before=timezone.now() - timedelta(days=7), batch_size=3)

    assert gone == 7
    assert sorted(SyncEntry.objects.values_list("pk", flat=True)) == new
    # 3 + 3 + 1: the short batch tells the loop it is done; then one statement for the
    # entries with a life of their own (MsgLifeTime), which finds none.
    assert deletes(ctx.captured_queries, SyncEntry._meta.db_table) == 4


@pytest.mark.django_db
def test_sync_log_purge_with_nothing_expired_deletes_nothing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    send(alice, bob)
    count = SyncEntry.objects.count()
    assert sync_log_purge(before=timezone.now() - timedelta(days=7)) == 0
    assert SyncEntry.objects.count() == count


@pytest.mark.django_db
def test_offline_cache_entries_expire_after_7_days(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    week_old, day_old = send(alice, bob, "8 days ago"), send(alice, bob, "6 days ago")
    age(Message, [week_old.pk], days=8)
    age(SyncEntry, SyncEntry.objects.filter(message_id=week_old.pk).values_list("pk", flat=True), days=8)
    age(SyncEntry, SyncEntry.objects.filter(message_id=day_old.pk).values_list("pk", flat=True), days=6)

    assert purge_sync_log.apply().get() == 2  # bob's entry and alice's own

    assert not SyncEntry.objects.filter(message_id=week_old.pk).exists()
    assert SyncEntry.objects.filter(message_id=day_old.pk).count() == 2
    # The cache and history expire independently: the message itself is the history
    # task's to purge.
    assert Message.objects.filter(pk=week_old.pk).exists()


@pytest.mark.django_db
def test_offline_cache_days_is_a_setting(make_user, settings):
    settings.CHAT_OFFLINE_CACHE_DAYS = 3
    alice, bob = make_user("alice"), make_user("bob")
    message = send(alice, bob)
    age(SyncEntry, SyncEntry.objects.filter(message_id=message.pk).values_list("pk", flat=True), days=4)
    assert purge_sync_log.apply().get() == 2


@pytest.mark.django_db
def test_history_purge_deletes_older_messages_in_batches_and_keeps_conversations(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    from_alice = [send(alice, bob, f"a{n}") for n in range(5)]
    from_carol = [send(carol, bob, f"c{n}") for n in range(3)]
    age(Message, [m.pk for m in from_alice + from_carol[:2]], days=8)
    dialogs = dict(Dialog.objects.values_list("pk", "last_seq"))

    with CaptureQueriesContext(connection) as ctx:
        gone = history_purge(before=timezone.now() - timedelta(days=7), batch_size=2)

    assert gone == 7
    assert list(Message.objects.values_list("pk", flat=True)) == [from_carol[2].pk]
    assert deletes(ctx.captured_queries, Message._meta.db_table) == 4  # 2 + 2 + 2 + 1
    # Dialogs stay, with their seq: a later message continues the order.
    assert dict(Dialog.objects.values_list("pk", "last_seq")) == dialogs
    # Both sides of the purged dialog still list it, with no last message.
    listed = {c["conversationID"]: c for c in selectors.conversation_list(user=bob)}
    assert set(listed) == {"C2Calice", "C2Ccarol"}
    assert listed["C2Calice"]["lastMessage"] is None
    assert listed["C2Ccarol"]["lastMessage"]["elements"][0]["payload"]["text"] == "c2"
    assert [c["lastMessage"] for c in selectors.conversation_list(user=alice)] == [None]
    assert Conversation.objects.count() == 4
    purged = [m.pk for m in from_alice + from_carol[:2]]
    assert not Conversation.objects.filter(last_message_id__in=purged).exists()
    # And the dialog goes on.
    assert send(alice, bob, "again").seq == dialogs[from_alice[0].dialog_id] + 1


@pytest.mark.django_db
def test_history_expires_after_chat_history_days(make_user, settings):
    settings.CHAT_HISTORY_DAYS = 7
    alice, bob = make_user("alice"), make_user("bob")
    week_old, day_old = send(alice, bob, "8 days ago"), send(alice, bob, "6 days ago")
    age(Message, [week_old.pk], days=8)
    age(Message, [day_old.pk], days=6)

    assert purge_history.apply().get() == 1

    assert list(Message.objects.values_list("pk", flat=True)) == [day_old.pk]
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")
    assert [m["elements"][0]["payload"]["text"] for m in page["messageList"]] == ["6 days ago"]
    # The sync log is the other task's: the cache entries of the purged message stay.
    assert SyncEntry.objects.filter(message_id=week_old.pk).count() == 2


@pytest.mark.django_db
def test_history_days_is_configurable(make_user, settings):
    settings.CHAT_HISTORY_DAYS = 30
    alice, bob = make_user("alice"), make_user("bob")
    message = send(alice, bob)
    age(Message, [message.pk], days=8)
    assert purge_history.apply().get() == 0
    age(Message, [message.pk], days=31)
    assert purge_history.apply().get() == 1


@pytest.mark.django_db
def test_the_hourly_schedule_is_in_the_database_and_in_admin():
    tasks = {t.task: t for t in PeriodicTask.objects.select_related("interval")}
    for name in ("accounts.tasks.purge_sync_log", "messaging.tasks.purge_history"):
        assert tasks[name].enabled
        assert (tasks[name].interval.every, tasks[name].interval.period) == (1, "hours")
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"

    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    page = client.get("/admin/django_celery_beat/periodictask/")
    assert page.status_code == 200
    assert b"Purge history past retention" in page.content
    assert b"Purge the offline cache" in page.content
    change = client.get(f"/admin/django_celery_beat/periodictask/"
                        f"{tasks['messaging.tasks.purge_history'].pk}/change/")
    assert change.status_code == 200


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test sets it)")
def test_a_real_worker_purges_history_sent_through_redis(make_user, transactional_db,
                                                          tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    old = [send(alice, bob, f"old{n}").pk for n in range(3)]
    kept = send(alice, bob, "new").pk
    age(Message, old, days=settings.CHAT_HISTORY_DAYS + 1)
    # Sent through the broker, not run here.
    assert purge_history.app.conf.task_always_eager is False

    # The purge is idempotent: the send is repeated if it is lost.
    with celery_worker(purge_history.app, tmp_path, "purge") as worker:
        worker.run_until(lambda: not Message.objects.filter(pk__in=old).exists(),
                         lambda: purge_history.apply_async(queue=worker.queue))

    assert list(Message.objects.values_list("pk", flat=True)) == [kept]
    assert [c["lastMessage"]["elements"][0]["payload"]["text"]
            for c in selectors.conversation_list(user=bob)] == ["new"]
