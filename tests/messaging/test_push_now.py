"""messaging/push_now.py: the push task reads its batch's messages as they are now, in
one statement after the one that locks their dialogs (against reads), locked against
their changes until its deliveries are committed."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import changes
from messaging.models import Message
from messaging.push_now import pushes_now
from push import pipeline
from push.models import PushDelivery
from tests.push.pipeline_helpers import send, text


@pytest.mark.django_db
def test_the_batch_is_read_in_one_statement_after_its_dialogs_lock(make_user):
    alice, bob = make_user("alice", nick="Alice"), make_user("bob")
    kept, modified, emptied, recalled, deleted = (
        changes.message_pk(send(alice, "bob", text(f"m{i}"), random=100 + i)["ID"])
        for i in range(5))
    changes.message_modify(message_pk=modified, actor=alice, elements=text("new  text"))
    changes.message_modify(message_pk=emptied, actor=alice,
                           elements=[{"type": "TIMCustomElem", "payload": {"data": "x"}}])
    changes.message_revoke(message_pk=recalled, actor=alice)
    changes.messages_delete(user=bob, message_ids=[Message.objects.get(pk=deleted).public_id])
    with CaptureQueriesContext(connection) as queries:
        now = pushes_now([kept, modified, emptied, recalled, deleted, 999999])
    lock, read = [q["sql"] for q in queries.captured_queries]
    assert "messaging_dialog" in lock and lock.endswith("FOR KEY SHARE) locked")
    assert "messaging_dialog" not in read
    assert set(now) == {modified, emptied, recalled, deleted, 999999}  # kept: as sent
    assert (now[modified].title, now[modified].body) == ("Alice", "new text")
    assert now[emptied] is None and now[recalled] is None and now[deleted] is None
    assert now[999999] is None  # gone
    assert pipeline._messages_now([modified])[modified].body == "new text"  # registered


@pytest.mark.django_db(transaction=True)
def test_a_modify_waits_for_the_deliveries_the_push_task_is_making(make_user):
    """The other way round: the task has read the message as sent and is making its
    deliveries when the modify comes. The modify waits for them (the task's shared
    lock on the message), then gives them the new text (message_renote); without the
    wait it would find none, and the task would push the old text."""
    alice, bob = make_user("alice", nick="Alice"), make_user("bob")
    pk = changes.message_pk(send(alice, "bob", text("old text"))["ID"])
    read, make, modified = threading.Event(), threading.Event(), threading.Event()
    failures: list = []

    def task():
        try:
            with transaction.atomic():
                assert pushes_now([pk]) == {}  # as sent
                read.set()
                assert make.wait(10)
                now = timezone.now()
                PushDelivery.objects.create(
                    message_id=pk, message_key="k", user=bob, device_id="phone",
                    vendor="fcm", conversation_id="C2Calice", dialog_seq=1,
                    note={"title": "Alice", "body": "old text", "extension": ""},
                    created_at=now, updated_at=now)
        except Exception as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)
        finally:
            connections.close_all()

    def modify():
        try:
            changes.message_modify(message_pk=pk, actor=alice, elements=text("new text"))
            modified.set()
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=task), threading.Thread(target=modify)]
    threads[0].start()
    assert read.wait(10)
    threads[1].start()
    assert not modified.wait(1.0), "the modify did not wait for the task's deliveries"
    make.set()
    for t in threads:
        t.join(15)
    assert not failures, failures
    assert modified.is_set()
    assert PushDelivery.objects.get(message_id=pk).note["body"] == "new text"
