"""The console page of after-callbacks the broker would not take (accounts.models
WebhookUnqueued, accounts/admin_webhooks.py): read-only, with their count, and "Queue
now", which runs the 30-second sweep (webhook_tasks.queue_unqueued_webhooks) on the
selected rows. A broker of the test's own (a real redis-server), stopped to refuse."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import webhooks
from accounts.models import AuditEntry, User, WebhookUnqueued
from chat_project.broker import breaker
from tests.console import staff_client
from tests.outbox_helpers import own_broker

pytestmark = pytest.mark.django_db

URL = "/admin/accounts/webhookunqueued/"


def keep(n: int, command: str = webhooks.AFTER_SEND) -> list[WebhookUnqueued]:
    now = timezone.now()
    return [WebhookUnqueued.objects.create(
        delivery_id=uuid.uuid4(), command=command, platform="Web", client_ip="10.0.0.1",
        body={"From_Account": "alice", "To_Account": "bob", "MsgKey": f"k{i}"},
        created_at=now - timedelta(minutes=n - i), refused=True) for i in range(n)]


def broker(settings):
    """A broker of the test's own, with a queue of its own for the webhook tasks."""
    return own_broker(settings, "CHAT_WEBHOOK_QUEUE")


def queue_now(client: Client, rows) -> str:
    response = client.post(URL, {"action": "queue_now",
                                 "_selected_action": [r.pk for r in rows]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_shows_what_is_kept_and_how_many_read_only():
    rows = keep(3)
    page = staff_client("helpdesk", "support").get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 after-callbacks wait for the broker" in html
    for row in rows:
        assert str(row.delivery_id) in html
    assert html.count(webhooks.AFTER_SEND) >= 3 and "Web" in html
    ops = staff_client("ops", "operator")
    assert ops.get(URL + "add/").status_code == 403
    assert ops.get(f"{URL}{rows[0].pk}/change/").status_code == 200  # view only
    assert ops.post(f"{URL}{rows[0].pk}/change/", {"command": "x"}).status_code == 403
    assert ops.post(f"{URL}{rows[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert WebhookUnqueued.objects.count() == 3


def test_queue_now_queues_the_selected_rows(settings):
    rows = keep(3)
    ops = staff_client("ops", "operator")
    with broker(settings) as (_, client, queue):
        html = queue_now(ops, rows[:2])
        assert client.llen(queue) == 2
    assert "Queued 2 after-callbacks" in html
    # Queued, no longer refused; a row goes when its task starts (no worker here).
    assert list(WebhookUnqueued.objects.filter(refused=True).values_list("pk", flat=True)) \
        == [rows[2].pk]
    assert WebhookUnqueued.objects.filter(queued_at__isnull=False).count() == 2
    assert AuditEntry.objects.filter(action="queue webhook callbacks").count() == 2


def test_a_broker_that_refuses_loses_nothing_and_says_so(settings):
    rows = keep(2)
    ops = staff_client("ops", "operator")
    with broker(settings) as (server, client, queue):
        server.stop()
        html = queue_now(ops, rows)
        assert "2 not queued: the broker would not take them" in html
        assert WebhookUnqueued.objects.count() == 2
        server.start()  # back, on the same port, empty
        breaker.reset()  # as CHAT_BROKER_COOLDOWN_SECONDS later (chat_project/broker.py)
        html = queue_now(ops, rows)
        assert "Queued 2 after-callbacks" in html
        assert client.llen(queue) == 2
    assert not WebhookUnqueued.objects.filter(refused=True).exists()


def test_queue_now_on_every_row_queues_a_bounded_share_a_click(settings):
    """"Select all" then Queue now ran the sweep over every row in the request. Now at
    most CHAT_OUTBOX_QUEUE_NOW_MAX a click, and the page says how many more there are."""
    settings.CHAT_OUTBOX_QUEUE_NOW_MAX = 3
    rows = keep(7)
    ops = staff_client("ops", "operator")
    with broker(settings) as (_, client, queue):
        response = ops.post(URL, {"action": "queue_now", "select_across": "1", "index": "0",
                                  "_selected_action": [rows[0].pk]}, follow=True)
        assert response.status_code == 200
        html = response.content.decode()
        assert client.llen(queue) == 3
    assert "Queued 3 after-callbacks" in html
    assert "4 more selected not tried: Queue now takes at most 3 after-callbacks a " \
           "click" in html
    assert set(WebhookUnqueued.objects.filter(refused=False).values_list("pk", flat=True)) \
        == {r.pk for r in rows[:3]}
    # The audit log names the rows tried, not the whole selection.
    entries = AuditEntry.objects.filter(action="queue webhook callbacks")
    assert sorted(e.detail["pk"] for e in entries) == [r.pk for r in rows[:3]]
    assert {e.detail["selected"] for e in entries} == {7}


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
    assert response.status_code == 200 and WebhookUnqueued.objects.count() == 1
    assert not AuditEntry.objects.exists()
    # Staff with only the permission to queue (and to see): offered.
    assert "queue_now" in staff_client("q", None, "accounts.view_webhookunqueued",
                                       "accounts.queue_webhookunqueued").get(URL).content.decode()
