"""push.pipeline.withdraw_message blanks the text every delivery of a recalled message
keeps in one statement, whatever the number of deliveries (a user has at most
CHAT_PUSH_MAX_TOKENS of them); message_renote sets a modified message's text the same
way; a deletion of many messages withdraws them in one pass."""

from __future__ import annotations

import pytest
from django.utils import timezone

from push import pipeline, tasks
from push.models import PushDelivery
from push.providers.base import Notification

pytestmark = pytest.mark.django_db


def _deliveries(user, state: str, count: int, message_id: int = 77) -> None:
    now = timezone.now()
    PushDelivery.objects.bulk_create(
        PushDelivery(message_id=message_id, message_key=f"key-{message_id}", user=user,
                     device_id=f"phone-{i}", vendor="fcm", conversation_id="C2Calice",
                     dialog_seq=1, state=state, attempts=1, created_at=now, updated_at=now,
                     note={"title": "Alice", "body": "the secret", "extension": '{"x":1}',
                           "badge": 3, "collapse_id": f"key-{message_id}"})
        for i in range(count))


def test_a_recall_blanks_every_delivery_text_in_one_statement(
        make_user, django_assert_num_queries):
    bob = make_user("bob")
    _deliveries(bob, PushDelivery.State.FAILED, 10)
    PushDelivery.objects.create(message_id=77, message_key="key-77", user=bob,
                                device_id="made-withdrawn", vendor="fcm", note={},
                                state=PushDelivery.State.WITHDRAWN, withdrawn=True,
                                created_at=timezone.now(), updated_at=timezone.now())
    with django_assert_num_queries(2):  # the open deliveries (none here), the blanking
        assert pipeline.withdraw_message(77, on_retry=tasks.queue_retry) == 0
    notes = list(PushDelivery.objects.filter(user=bob).order_by("pk")
                 .values_list("note", flat=True))
    assert notes[:10] == [{"title": "", "body": "", "extension": "", "badge": 3,
                           "collapse_id": "key-77"}] * 10
    assert notes[10] == {}  # nothing kept, nothing to blank


def test_a_modify_sets_the_text_of_the_deliveries_still_to_be_sent(
        make_user, django_assert_num_queries):
    bob = make_user("bob")
    _deliveries(bob, PushDelivery.State.PENDING, 3)
    _deliveries(bob, PushDelivery.State.DELIVERED, 1, message_id=78)
    note = Notification(title="Alice", body="the new text", extension='{"x":1}')
    with django_assert_num_queries(1):
        pipeline.message_renote(message_id=77, note=note)
    assert [d.note["body"] for d in PushDelivery.objects.filter(message_id=77)] == \
        ["the new text"] * 3
    assert {d.note["badge"] for d in PushDelivery.objects.filter(message_id=77)} == {3}
    assert PushDelivery.objects.get(message_id=78).note["body"] == "the secret"


def test_a_deletion_of_many_messages_withdraws_them_in_one_pass(
        make_user, django_assert_num_queries):
    """The receiver deletes up to 30 messages at once (deleteMessage); their withdrawal
    task looked up and blanked each message's deliveries apart: 2 statements a message,
    60 for 30. Now 2 for all of them."""
    bob = make_user("bob")
    for message_id in range(100, 130):
        _deliveries(bob, PushDelivery.State.FAILED, 2, message_id=message_id)
    with django_assert_num_queries(2):
        assert tasks.push_withdraw_messages.run(list(range(100, 130))) == 0
    assert {d["body"] for d in PushDelivery.objects.filter(user=bob)
            .values_list("note", flat=True)} == {""}
