"""Console lists of big tables (accounts/admin_lists.py): a page never counts the whole
table; an unfiltered list of a big table shows PostgreSQL's estimate, "about N"; a
filtered one is counted exactly."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.admin_lists import EstimatedCountPaginator
from messaging.commands import Origin
from messaging.services import message_send
from tests.console import staff_client

pytestmark = pytest.mark.django_db

WHOLE_TABLE_COUNT = re.compile(r'SELECT COUNT\(\*\) AS "__count" FROM "(\w+)"\s*$')


def _whole_table_counts(queries) -> list[str]:
    return [m.group(1) for q in queries.captured_queries
            if (m := WHOLE_TABLE_COUNT.match(q["sql"].strip()))]


def test_big_lists_never_count_the_whole_table(make_user, monkeypatch):
    alice, bob = make_user("alice"), make_user("bob")
    for i in range(12):
        message_send(origin=Origin.USER, sender=alice if i % 2 else bob,
                     to="bob" if i % 2 else "alice", random=i + 1,
                     elements=[{"type": "TIMTextElem", "payload": {"text": f"m{i}"}}])
    with connection.cursor() as cursor:  # the estimate autovacuum keeps in production
        for table in ("messaging_message", "accounts_syncentry", "accounts_user",
                      "messaging_conversation"):
            cursor.execute(f"ANALYZE {table}")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 5)
    ops = staff_client("ops", "operator")
    for page in ("/admin/messaging/message/", "/admin/accounts/syncentry/"):
        ops.get(page)  # warm
        with CaptureQueriesContext(connection) as queries:
            response = ops.get(page)
        assert response.status_code == 200
        assert _whole_table_counts(queries) == [], page
        assert re.search(rf"about \d+ {response.context['cl'].opts.verbose_name_plural}",
                         response.content.decode()), page
    # Filtered: counted exactly, once, and said so without "about".
    with CaptureQueriesContext(connection) as queries:
        response = ops.get(f"/admin/messaging/message/?sender__id__exact={alice.pk}")
    assert response.context["cl"].result_count == 6
    assert not response.context["cl"].paginator.estimated
    assert re.search(r'<p class="paginator">\s*6 messages', response.content.decode())
    assert sum("COUNT(*)" in q["sql"] for q in queries.captured_queries) == 1
    # A small table is counted exactly, once (no second count of "N total").
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 10_000)
    with CaptureQueriesContext(connection) as queries:
        response = ops.get("/admin/accounts/user/?q=alice")
    assert response.context["cl"].result_count == 1
    assert _whole_table_counts(queries) == []


def test_the_date_links_read_no_whole_table(make_user):
    """The date links above a big list (date_hierarchy) are the months, then days, that
    have rows, found by index probes: no SELECT DISTINCT over every row of the list."""
    import datetime

    from messaging.models import Message

    alice, _ = make_user("alice"), make_user("bob")
    for i in range(4):
        message_send(origin=Origin.USER, sender=alice, to="bob", random=i + 1,
                     elements=[{"type": "TIMTextElem", "payload": {"text": f"m{i}"}}])
    utc = datetime.UTC
    days = [datetime.datetime(2026, 3, 5, 23, 59, tzinfo=utc),
            datetime.datetime(2026, 3, 20, 0, 0, tzinfo=utc),
            datetime.datetime(2026, 3, 20, 12, 0, tzinfo=utc),
            datetime.datetime(2026, 7, 1, 0, 0, tzinfo=utc)]
    for msg, day in zip(Message.objects.order_by("pk"), days, strict=True):
        Message.objects.filter(pk=msg.pk).update(created_at=day)
    ops = staff_client("ops", "support")
    with CaptureQueriesContext(connection) as queries:
        page = ops.get("/admin/messaging/message/").content.decode()
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"]]
    assert "created_at__month=3" in page and "created_at__month=7" in page
    assert "created_at__month=4" not in page and "created_at__month=6" not in page
    with CaptureQueriesContext(connection) as queries:
        page = ops.get("/admin/messaging/message/?created_at__year=2026&created_at__month=3")
    body = page.content.decode()
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"]]
    assert "created_at__day=5" in body and "created_at__day=20" in body
    assert "created_at__day=6" not in body and "created_at__day=21" not in body
    assert page.context["cl"].result_count == 3


def test_a_lookup_value_out_of_range_is_an_invalid_filter_not_a_500(make_user):
    """?created_at__year=99999 on a list without date links (the sync log, push tokens,
    tags, friend lists) failed only when the query was written, and a NUL character in
    a filter's value when it ran: a 500. Both are Django's invalid-filter redirect
    (?e=1), as on the lists with date links."""
    alice = make_user("alice")
    make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}])
    ops = staff_client("ops", "operator", "push.view_pushtoken", "push.view_usertag",
                       "relationships.view_friendgroup", "push.view_broadcasttask",
                       "push.view_attrname", "push.view_receiveoption",
                       "push.view_pushunqueued", "accounts.view_webhookunqueued")
    for page in ("/admin/accounts/syncentry/", "/admin/push/pushtoken/",
                 "/admin/push/usertag/", "/admin/relationships/friendgroup/",
                 "/admin/messaging/message/"):
        for query in ("created_at__year=99999", "created_at__year=0"):
            response = ops.get(f"{page}?{query}")
            assert response.status_code == 302, (page, query)
            assert response["Location"].endswith("?e=1"), (page, query)
    assert ops.get("/admin/accounts/syncentry/?created_at__year=2026").status_code == 200
    # A NUL character (PostgreSQL text holds none) in a filter's value: the same.
    for url in ("/admin/accounts/syncentry/?peer=%00", "/admin/accounts/user/?nick=a%00",
                "/admin/accounts/auditentry/?action=%00",
                "/admin/accounts/webhookattempt/?command=%00",
                "/admin/messaging/message/?q=%00", "/admin/push/broadcasttask/?task_id=%00",
                "/admin/push/attrname/?name=%00", "/admin/push/receiveoption/?opt=%00",
                "/admin/push/pushunqueued/?task=%00",
                "/admin/accounts/webhookunqueued/?command=%00"):
        response = ops.get(url)
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), url


def test_an_unfiltered_list_offers_no_show_all(make_user):
    """Without "N total" (BigList), Django's search box said "N results (Show all)" on
    a list with nothing filtered, its link opening the same list; it says so only when
    something is filtered."""
    alice = make_user("alice")
    make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}])
    ops = staff_client("ops", "operator")
    for page in ("/admin/messaging/message/", "/admin/accounts/user/",
                 "/admin/accounts/syncentry/"):
        assert "Show all" not in ops.get(page).content.decode(), page
    body = ops.get("/admin/accounts/user/?q=alice").content.decode()
    assert re.search(r"1 result\s*\(<a href=\"\?\">Show all</a>\)", body)
    body = ops.get("/admin/messaging/message/?q=hi").content.decode()
    assert re.search(r"1 result\s*\(<a href=\"\?\">Show all</a>\)", body)
