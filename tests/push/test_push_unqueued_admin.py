"""The console page of kept push tasks (push.models PushUnqueued, push/admin.py):
read-only, with the count of those the broker refused, and "Queue now", which runs the
30-second sweep (push.tasks.queue_unqueued_pushes) on the selected rows. A broker of the
test's own (a real redis-server), stopped to refuse."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, User
from chat_project.broker import breaker
from push.models import PushUnqueued
from push.tasks import push_deliver, push_withdraw
from tests.console import staff_client
from tests.outbox_helpers import own_broker

pytestmark = pytest.mark.django_db

URL = "/admin/push/pushunqueued/"


def keep(n: int) -> list[PushUnqueued]:
    now = timezone.now()
    rows = [PushUnqueued.objects.create(
        task=push_deliver.name, args=[[{"message_id": i, "receiver_pk": 1},
                                       {"message_id": i, "receiver_pk": 2}]],
        created_at=now - timedelta(minutes=n - i), refused=True) for i in range(n)]
    return rows


def queue_now(client: Client, rows) -> str:
    response = client.post(URL, {"action": "queue_now",
                                 "_selected_action": [r.pk for r in rows]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def queued_outboxes(client, queue: str) -> list[int]:
    out = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSHed: oldest last
        _args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out.append(kwargs["outbox"])
    return out


def test_the_list_shows_what_is_kept_and_how_many_read_only():
    rows = keep(3)
    PushUnqueued.objects.create(task=push_withdraw.name, args=[5, "C2Calice_bob", 9],
                                created_at=timezone.now(), queued_at=timezone.now())
    page = staff_client("helpdesk", "support").get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 push tasks wait for the broker" in html  # the refused ones
    assert html.count("2 offline pushes") == 3
    assert "5, C2Calice_bob, 9" in html
    assert html.count(push_deliver.name) >= 3 and push_withdraw.name in html
    ops = staff_client("ops", "operator")
    assert ops.get(URL + "add/").status_code == 403
    assert ops.get(f"{URL}{rows[0].pk}/change/").status_code == 200  # view only
    assert ops.post(f"{URL}{rows[0].pk}/change/", {"task": "x"}).status_code == 403
    assert ops.post(f"{URL}{rows[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert PushUnqueued.objects.count() == 4
    assert "refused__exact=1" in ops.get(URL).content.decode()  # the filter is offered
    assert "3 push tasks" in ops.get(URL + "?refused__exact=1").content.decode()


def test_queue_now_queues_the_selected_rows(settings):
    rows = keep(3)
    ops = staff_client("ops", "operator")
    with own_broker(settings, "CHAT_PUSH_QUEUE") as (_, client, queue):
        html = queue_now(ops, rows[:2])
        assert queued_outboxes(client, queue) == [rows[0].pk, rows[1].pk]
    assert "Queued 2 push tasks" in html
    # Queued, no longer refused; a row goes when its task starts (no worker here).
    assert list(PushUnqueued.objects.filter(refused=True).values_list("pk", flat=True)) \
        == [rows[2].pk]
    assert PushUnqueued.objects.filter(queued_at__isnull=False).count() == 2
    assert AuditEntry.objects.filter(action="queue push tasks").count() == 2


def test_a_broker_that_refuses_loses_nothing_and_says_so(settings):
    rows = keep(2)
    ops = staff_client("ops", "operator")
    with own_broker(settings, "CHAT_PUSH_QUEUE") as (server, client, queue):
        server.stop()
        html = queue_now(ops, rows)
        assert "2 not queued: the broker would not take them" in html
        assert PushUnqueued.objects.filter(refused=True).count() == 2  # marked again
        server.start()  # back, on the same port, empty
        breaker.reset()  # as the breaker's probe would (chat_project/broker.py)
        html = queue_now(ops, rows)
        assert "Queued 2 push tasks" in html
        assert len(queued_outboxes(client, queue)) == 2
    assert not PushUnqueued.objects.filter(refused=True).exists()


def test_queue_now_on_a_huge_selection_queues_a_bounded_share_a_click(settings):
    """Queue now on every row (after an outage, thousands) ran the whole sweep in the
    request. Now at most CHAT_OUTBOX_QUEUE_NOW_MAX rows a click, those queued longest
    ago first, and the page says how many more were selected; the next click takes the
    next ones."""
    settings.CHAT_OUTBOX_QUEUE_NOW_MAX = 2
    rows = keep(5)
    ops = staff_client("ops", "operator")
    with own_broker(settings, "CHAT_PUSH_QUEUE") as (_, client, queue):
        html = queue_now(ops, rows)
        assert queued_outboxes(client, queue) == [rows[0].pk, rows[1].pk]
        assert "Queued 2 push tasks" in html
        assert "3 more selected not tried: Queue now takes at most 2 push tasks a " \
               "click, those queued longest ago first" in html
        html = queue_now(ops, rows)  # the next two
        assert queued_outboxes(client, queue)[2:] == [rows[2].pk, rows[3].pk]
        assert "Queued 2 push tasks" in html and "3 more selected not tried" in html
    assert list(PushUnqueued.objects.filter(refused=True).values_list("pk", flat=True)) \
        == [rows[4].pk]
    # The audit log names the rows each click tried (2 and 2), not the 5 selected.
    entries = AuditEntry.objects.filter(action="queue push tasks")
    assert sorted(e.detail["pk"] for e in entries) == [r.pk for r in rows[:4]]
    assert {e.detail["selected"] for e in entries} == {5}


def test_who_may_see_and_queue():
    rows = keep(1)
    # Not staff: the admin sign-in, for the list and the action alike.
    user = User.objects.create_user("eve", password="eve-pass-12")
    anyone = Client()
    assert anyone.login(user_id="eve", password="eve-pass-12") and not user.is_staff
    for response in (anyone.get(URL), anyone.post(URL, {"action": "queue_now",
                                                        "_selected_action": [rows[0].pk]})):
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    # Staff without the permission: 403.
    bare = staff_client("sam")
    assert bare.get(URL).status_code == 403
    assert bare.post(URL, {"action": "queue_now",
                           "_selected_action": [rows[0].pk]}).status_code == 403
    # Support sees the list but is not offered "Queue now", and a forged post does nothing.
    support = staff_client("helpdesk", "support")
    assert "queue_now" not in support.get(URL).content.decode()
    response = support.post(URL, {"action": "queue_now", "_selected_action": [rows[0].pk]},
                            follow=True)
    assert response.status_code == 200 and PushUnqueued.objects.get().queued_at is None
    assert not AuditEntry.objects.exists()
    # Staff with only the permission to queue (and to see): offered.
    assert "queue_now" in staff_client("q", None, "push.view_pushunqueued",
                                       "push.queue_pushunqueued").get(URL).content.decode()
