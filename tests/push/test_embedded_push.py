"""The embedded default (SQLite, tasks in process, no Redis) runs push's pieces too:
tags and attributes (rows, upserts), conditions (EXISTS probes), the push-to-all
fan-out through the send pipeline, a push token making its user PushOnline, and the
statements that set the text deliveries keep (push.pipeline.NoteWith: json_set)."""

from tests.embedded import run_embedded

SCRIPT = r"""
import django; django.setup()
from accounts import presence
from accounts.models import User
from messaging.models import Message
from messaging.push_all import broadcast_send
from push import services
from push.models import BroadcastTask
alice, bob, carol = (User.objects.get(user_id=u) for u in ("alice", "bob", "carol"))
admin = User.objects.get(user_id="administrator")
services.attr_names_set({"0": "city"})
services.user_attrs_set(entries=[{"To_Account": "alice", "Attrs": {"city": "Paris"}}])
services.user_attrs_set(entries=[{"To_Account": "alice", "Attrs": {"city": "Rome"}},
                                 {"To_Account": "bob", "Attrs": {"city": "Rome"}}])
services.user_tags_add(entries=[{"To_Account": "alice", "Tags": ["vip"]},
                                {"To_Account": "carol", "Tags": ["vip"]}])
text = [{"type": "TIMTextElem", "payload": {"text": "hello Rome"}}]
task = broadcast_send(sender=admin, elements=text, msg_random=7, lifetime=60,
                      condition={"AttrsAnd": {"city": "Rome"}})
task.refresh_from_db()
assert (task.state, task.matched, task.delivered) == ("done", 2, 2), task.__dict__
got = sorted(Message.objects.filter(random=7).values_list("receiver__user_id", flat=True))
assert got == ["alice", "bob"], got
BroadcastTask.objects.update(created="2000-01-01T00:00:00Z")
task = broadcast_send(sender=admin, elements=text, msg_random=8, lifetime=60,
                      condition={"TagsAnd": ["vip"]})
got = sorted(Message.objects.filter(random=8).values_list("receiver__user_id", flat=True))
assert got == ["alice", "carol"], got
services.push_token_register(user=bob, device_id="p", vendor="fcm", token="t")
assert presence.presence_of([bob.pk])[bob.pk].status == "PushOnline"
services.push_token_remove(user=bob, device_id="p")
assert presence.presence_of([bob.pk])[bob.pk].status == "Offline"
# The deliveries' kept text, set in one UPDATE (json_set on SQLite): a modify's new
# text for those still to be sent, a recall's blanking for all.
from django.utils import timezone
from push import pipeline
from push.models import PushDelivery
from push.providers.base import Notification
now = timezone.now()
for i, state in enumerate(("pending", "delivered")):
    PushDelivery.objects.create(message_id=5, message_key="k5", user=bob, device_id=f"d{i}",
                                vendor="fcm", state=state, created_at=now, updated_at=now,
                                note={"title": "t", "body": "old", "extension": "", "badge": 2})
pipeline.message_renote(message_id=5, note=Notification(title="t", body="new", extension="e"))
got = dict(PushDelivery.objects.filter(message_id=5).values_list("device_id", "note"))
assert got == {"d0": {"title": "t", "body": "new", "extension": "e", "badge": 2},
               "d1": {"title": "t", "body": "old", "extension": "", "badge": 2}}, got
PushDelivery.objects.filter(message_id=5).update(state="failed")
PushDelivery.objects.create(message_id=5, message_key="k5", user=bob, device_id="d2",
                            vendor="fcm", state="withdrawn", created_at=now, updated_at=now,
                            note={})
pipeline.withdraw_message(5, on_retry=lambda pk, countdown: None)
got = list(PushDelivery.objects.filter(message_id=5).order_by("device_id")
           .values_list("note", flat=True))
assert got == [{"title": "", "body": "", "extension": "", "badge": 2}] * 2 + [{}], got
# The services that call them, on SQLite: a modify, the receiver's deletion.
from messaging import changes
from messaging.commands import Origin
from messaging.services import message_send
sent = message_send(origin=Origin.USER, sender=alice, to="bob", elements=text, random=99)
changes.message_modify(message_pk=changes.message_pk(sent["ID"]), actor=alice,
                       elements=[{"type": "TIMTextElem", "payload": {"text": "edited"}}])
changes.messages_delete(user=bob, message_ids=[sent["ID"]])
print("embedded push ok")
"""


def test_embedded_sqlite_runs_push(tmp_path):
    assert "embedded push ok" in run_embedded(tmp_path, SCRIPT)
