"""Withdrawals are written to the outbox (PushUnqueued) in the change's transaction, as
offline pushes are, and only where there is something to withdraw: a read whose
conversation has a push not withdrawn (asked in the statement that locks the
conversation, no statement more), a recall or a receiver's deletion of messages that
have deliveries (one indexed query after the messages' locks)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import changes
from messaging.models import Message
from push import tasks
from push.models import PushDelivery, PushUnqueued

from .pipeline_helpers import send, text

pytestmark = pytest.mark.django_db


def _delivered(user, message_id: int, seq: int) -> None:
    now = timezone.now()
    PushDelivery.objects.create(
        message_id=message_id, message_key=f"key-{message_id}", user=user, device_id="phone",
        vendor="fcm", conversation_id="C2Calice", dialog_seq=seq, state="delivered",
        note={"title": "Alice", "body": "hi"}, created_at=now, updated_at=now)


def _outbox(queries) -> list[str]:
    return [q["sql"].split(" ", 1)[0] for q in queries.captured_queries
            if "push_pushunqueued" in q["sql"]]


def test_a_read_keeps_its_withdrawal_only_when_a_push_is_not_withdrawn(
        make_user, django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    send(alice, "bob", text("one"))
    with CaptureQueriesContext(connection) as plain:
        changes.conversation_mark_read(user=bob, peer=alice)
    assert _outbox(plain) == [] and not PushUnqueued.objects.exists()

    second = send(alice, "bob", text("two"))
    msg = changes.message_pk(second["ID"])
    _delivered(bob, msg, seq=2)
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=False):
        changes.conversation_mark_read(user=bob, peer=alice)
    assert _outbox(queries) == ["INSERT"]  # in the read's transaction; queued at its commit
    [row] = PushUnqueued.objects.all()
    assert (row.task, row.args) == (tasks.push_withdraw.name, [bob.pk, "C2Calice", 2])


def test_a_recall_and_a_deletion_keep_theirs_only_for_messages_with_deliveries(
        make_user, django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    plain, pushed, deleted = (changes.message_pk(send(alice, "bob", text(t))["ID"])
                              for t in ("plain", "pushed", "deleted"))
    _delivered(bob, pushed, seq=2)
    _delivered(bob, deleted, seq=3)
    with django_capture_on_commit_callbacks(execute=False):
        changes.message_revoke(message_pk=plain, actor=alice)
        changes.messages_delete(user=bob, message_ids=[
            Message.objects.get(pk=plain).public_id])
    assert not PushUnqueued.objects.exists()
    with django_capture_on_commit_callbacks(execute=False):
        changes.message_revoke(message_pk=pushed, actor=alice)
        changes.messages_delete(user=bob, message_ids=[
            Message.objects.get(pk=deleted).public_id])
    assert [(r.task, r.args) for r in PushUnqueued.objects.order_by("pk")] == [
        (tasks.push_withdraw_message.name, [pushed]),
        (tasks.push_withdraw_messages.name, [[deleted]])]
