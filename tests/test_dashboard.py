"""The operator console's dashboard (chat_project/dashboard.py): who may see it, that
its numbers are right and each links to the list behind it, what it costs."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import presence
from accounts.models import WebhookAttempt
from chat_project import dashboard
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send
from push.models import PushDelivery
from tests.console import staff_client

pytestmark = pytest.mark.django_db


def _send(sender, to: str, n: int) -> None:
    for i in range(n):
        message_send(origin=Origin.USER, sender=sender, to=to, random=1000 + i,
                     elements=[{"type": "TIMTextElem", "payload": {"text": f"m{i}"}}])


_message_ids = iter(range(1, 1000))


def _delivery(user, state: str, **extra) -> PushDelivery:
    now = timezone.now()
    return PushDelivery.objects.create(
        message_id=next(_message_ids), user=user, device_id="phone", vendor="fcm", state=state,
        created_at=extra.pop("created_at", now), updated_at=now, **extra)


def _webhook(outcome: str, at=None) -> WebhookAttempt:
    return WebhookAttempt.objects.create(
        delivery_id=uuid.uuid4(), command="C2C.CallbackAfterSendMsg", url="http://x/",
        body={}, outcome=outcome, created_at=at or timezone.now())


def _tiles(html: str) -> dict[str, tuple[str, str]]:
    """label -> (value, link) as the page shows them."""
    out = {}
    for label, href, value in re.findall(
            r'<span class="dash-label">([^<]+)</span>\s*<a class="dash-value" '
            r'href="([^"]+)">([^<]+)</a>', html):
        out[unescape(label)] = (value, unescape(href))
    return out


def test_only_staff_with_the_permission_see_it(make_user):
    assert Client().get("/admin/dashboard/").status_code == 302  # to the admin sign-in
    assert staff_client("nobody", None).get("/admin/dashboard/").status_code == 403
    support = staff_client("helpdesk", "support")
    page = support.get("/admin/dashboard/")
    assert page.status_code == 200 and b'data-testid="hour-chart"' in page.content
    # The admin index links to it for those who may open it, not for the others.
    assert b'data-testid="dashboard-link"' in support.get("/admin/").content
    assert b'data-testid="dashboard-link"' not in staff_client("other", None).get("/admin/").content


def test_a_number_links_its_list_only_for_who_may_read_it(make_user):
    """The dashboard's permission does not grant the lists behind it: a staff member
    with the dashboard alone sees the numbers, with no link that would answer 403."""
    alice, _ = make_user("alice"), make_user("bob")
    _send(alice, "bob", 2)
    dash_only = staff_client("watcher", None, "accounts.view_dashboard")
    page = dash_only.get("/admin/dashboard/").content.decode()
    assert "messages today" in page and 'data-testid="hour-chart"' in page
    lists = re.findall(r'href="(/admin/(?!dashboard)[^"]*)"', page)
    assert [u for u in lists if dash_only.get(unescape(u)).status_code != 200] == []
    assert "/admin/messaging/message/" not in page and "/admin/accounts/user/" not in page
    # With the message list too: its numbers and the chart's bars link to it, no more.
    both = staff_client("reader", None, "accounts.view_dashboard", "messaging.view_message")
    page = both.get("/admin/dashboard/").content.decode()
    assert page.count('<a href="/admin/messaging/message/?created_at__gte=') == 24
    assert "/admin/accounts/user/" not in page and "/admin/push/" not in page
    assert set(_tiles(page)) == {"messages today"}


def test_the_numbers_and_the_lists_behind_them(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _send(alice, "bob", 3)
    _send(bob, "alice", 2)
    old = Message.objects.order_by("pk").first()
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    _delivery(bob, "delivered")
    _delivery(bob, "delivered")
    _delivery(bob, "failed")
    _delivery(bob, "dead_token")
    _delivery(bob, "failed", created_at=timezone.now() - timedelta(days=3))  # too old
    _webhook("failed")
    _webhook("timeout")
    _webhook("ok")
    _webhook("failed", at=timezone.now() - timedelta(days=2))  # too old
    conn = presence.Conn("chan-test-1", "web-1", "Web", time.time())
    from asgiref.sync import async_to_sync
    async_to_sync(presence.connection_open)(alice.pk, conn)
    try:
        root = staff_client("root", "operator")
        tiles = _tiles(root.get("/admin/dashboard/").content.decode())
        assert tiles["users"][0] == "3"  # alice, bob, root
        assert tiles["online now"][0] == "1" and "online=yes" in tiles["online now"][1]
        assert tiles["messages today"][0] == "4"
        assert tiles["pushes delivered (24 h)"][0] == "2"
        assert tiles["pushes failed (24 h)"][0] == "2"
        assert tiles["webhook failures (24 h)"][0] == "2"
        # Each link opens the admin list showing as many rows as the number says (alice
        # still online for the user list's "online now" filter).
        for label, count_word in (("messages today", "message"),
                                  ("pushes delivered (24 h)", "offline push"),
                                  ("pushes failed (24 h)", "offline push"),
                                  ("webhook failures (24 h)", "webhook attempt"),
                                  ("online now", "user")):
            value, url = tiles[label]
            page = root.get(url)
            assert page.status_code == 200, (label, url)
            shown = re.search(r'<span class="small quiet">(\d+) result', page.content.decode()) \
                or re.search(r"(\d+) " + count_word, page.content.decode())
            assert shown and shown[1] == value, (label, url)
    finally:
        async_to_sync(presence.connection_close)(alice.pk, conn)


def test_the_page_is_bounded_and_obeys_the_csp(make_user):
    alice = make_user("alice")
    make_user("bob")
    _send(alice, "bob", 5)
    with CaptureQueriesContext(connection) as queries:
        numbers = dashboard.numbers()
    # users, messages today, per hour, pushes by state, webhook failures
    assert len(queries) == 5, [q["sql"] for q in queries]
    assert sum(n for _, n in numbers.hours) == 5 and len(numbers.hours) == 24
    root = staff_client("root", "operator")
    page = root.get("/admin/dashboard/")
    body = page.content.decode()
    assert "Content-Security-Policy" in page.headers
    assert ' style="' not in body and "<style" not in body
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)  # no inline script
    # Cached: a second view within CACHE_SECONDS counts nothing again.
    with CaptureQueriesContext(connection) as again:
        root.get("/admin/dashboard/")
    assert not [q for q in again if "messaging_message" in q["sql"]]


def test_a_silent_redis_shows_the_queue_as_unknown(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    settings.REDIS_CONNECT_TIMEOUT = 0.5
    started = time.monotonic()
    lengths = dashboard.queue_lengths()
    assert set(lengths.values()) == {None}
    assert time.monotonic() - started < 3
