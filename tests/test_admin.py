"""The operator console opens every page, and only for staff."""

import pytest
from django.test import Client

from accounts.models import SyncEntry, User
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send

pytestmark = pytest.mark.django_db

PAGES = ["/admin/accounts/user/", "/admin/accounts/syncentry/", "/admin/messaging/message/",
         "/admin/messaging/conversation/"]


def test_operator_sees_every_page(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "visible to ops"}}])
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
    assert b"visible to ops" in client.get("/admin/messaging/message/").content
    index = client.get("/admin/").content.decode()
    assert "<title>Operations | Parley console</title>" in index
    assert "Django administration" not in index
    assert client.get(f"/admin/accounts/user/{alice.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/user/{bob.pk}/change/").status_code == 200


def test_end_users_cannot_enter(make_user):
    make_user("alice", password="alice-pass")
    client = Client()
    assert client.login(user_id="alice", password="alice-pass")
    for page in PAGES:
        assert client.get(page).status_code == 302


def test_operator_recalls_a_message(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sent = message_send(origin=Origin.USER, sender=alice, to="bob", random=7,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "oops"}}])
    msg = Message.objects.get(pk=int(sent["ID"].split("-")[0]))
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    response = client.post("/admin/messaging/message/",
                           {"action": "recall", "_selected_action": [msg.pk]}, follow=True)
    assert response.status_code == 200
    assert b"Recalled 1 message" in response.content
    msg.refresh_from_db()
    assert msg.is_revoked and msg.elements == []
    # A second recall says why it did nothing (20023), and changes nothing.
    response = client.post("/admin/messaging/message/",
                           {"action": "recall", "_selected_action": [msg.pk]}, follow=True)
    assert b"Not recalled" in response.content and b"already recalled" in response.content
    from accounts.models import AuditEntry
    assert AuditEntry.objects.filter(action="recall").count() == 1  # the recall that was
    # The sync log carries the recall to both users' devices.
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.REVOKE,
                                    user__in=[alice, bob]).count() == 2


def test_operator_settings_pages_open(make_user):
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    for page in ["/admin/accounts/webhookconfig/", "/admin/accounts/webhookattempt/",
                 "/admin/accounts/loginpolicy/",
                 "/admin/django_celery_beat/periodictask/"]:
        response = client.get(page, follow=True)
        assert response.status_code == 200, page
    tasks = client.get("/admin/django_celery_beat/periodictask/").content
    for name in [b"Purge old webhook attempt records", b"Purge stale presence"]:
        assert name in tasks


def test_operator_mutes_and_unmutes(make_user):
    from chat_project.errors import ChatError

    alice, bob = make_user("alice"), make_user("bob")
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    response = client.post("/admin/accounts/user/", {"action": "mute_day_action",
                                                     "_selected_action": [alice.pk]},
                           follow=True)
    assert b"Muted for 24 hours: 1 user" in response.content
    with pytest.raises(ChatError) as err:
        message_send(origin=Origin.USER, sender=alice, to="bob", random=1, elements=text)
    assert err.value.code == 20012
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert "s more" in page  # the time left is shown
    client.post("/admin/accounts/user/", {"action": "unmute_action",
                                          "_selected_action": [alice.pk]})
    assert message_send(origin=Origin.USER,
                        sender=alice, to="bob", random=2, elements=text)["seq"] == 1
    client.post("/admin/accounts/user/", {"action": "mute_forever_action",
                                          "_selected_action": [bob.pk]})
    bob.refresh_from_db()
    assert bob.c2c_mute_until == 4294967295
    assert "until unmuted" in client.get(f"/admin/accounts/user/{bob.pk}/change/") \
        .content.decode()


def test_operator_changes_the_purge_schedule(make_user):
    """The schedule is the operators': disabled in admin, the beat's scheduler no longer
    sends the task; its interval changed there is the one the scheduler uses."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from chat_project.celery import app

    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    task = PeriodicTask.objects.get(task="messaging.tasks.purge_history")
    response = client.post("/admin/django_celery_beat/periodictask/",
                           {"action": "disable_tasks", "_selected_action": [task.pk]},
                           follow=True)
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.enabled is False
    assert task.name not in DatabaseScheduler(app=app, lazy=True).all_as_schedule()
    # Re-enabled every 10 minutes instead of hourly: the scheduler reads it so.
    ten = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.filter(pk=task.pk).update(interval=ten, enabled=True)
    entry = DatabaseScheduler(app=app, lazy=True).all_as_schedule()[task.name]
    assert entry.schedule.run_every.total_seconds() == 600


def test_a_user_page_shows_conversations_and_relations_only_to_who_may_read_them(make_user):
    """Staff with the user pages but not the conversation, message or relationship lists
    see neither the user's peers and unread counts nor friends and blocks, and no link
    that would answer 403; the support group sees them all."""
    from relationships.services import block_add, friend_import
    from tests.console import staff_client

    alice, bob = make_user("alice"), make_user("bob")
    make_user("carol")
    friend_import(user=alice, items=[{"to": "bob", "source": "AddSource_Type_Test"}])
    block_add(owner=alice, user_ids=["carol"])
    message_send(origin=Origin.USER, sender=bob, to="alice", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}])
    timeline = f"/admin/messaging/message/timeline/{alice.pk}/{bob.pk}/"
    users_only = staff_client("viewer", None, "accounts.view_user")
    page = users_only.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "1 unread" not in body and timeline not in body
    assert "/admin/messaging/" not in body and "/admin/relationships/" not in body
    assert "blocklist: 1" not in body
    # With the conversation list but not the messages: the list has no timeline column.
    convs_only = staff_client("convs", None, "messaging.view_conversation")
    listed = convs_only.get("/admin/messaging/conversation/").content.decode()
    assert "bob" in listed and "/admin/messaging/message/timeline/" not in listed
    assert convs_only.get(timeline).status_code == 403
    # The support group reads all of it.
    support = staff_client("helpdesk", "support")
    body = support.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert "1 unread" in body and timeline in body and "blocklist: 1" in body
    assert timeline in support.get("/admin/messaging/conversation/").content.decode()


def test_the_user_picker_answers_a_nul_character_with_no_match(make_user):
    """The block form's user pickers ask /admin/autocomplete/ as the operator types; a
    term holding a NUL character (PostgreSQL text holds none) matches nobody, not a 500."""
    from tests.console import staff_client

    make_user("alice")
    ops = staff_client("ops", "operator")
    url = "/admin/autocomplete/?app_label=relationships&model_name=block&field_name=owner"
    found = ops.get(url + "&term=ali")
    assert found.status_code == 200 and [r["text"] for r in found.json()["results"]] == ["alice"]
    for term in ("%00", "ali%00ce"):
        response = ops.get(f"{url}&term={term}")
        assert response.status_code == 200, term
        assert response.json()["results"] == []


def test_lists_link_user_pages_only_for_who_may_open_them(make_user):
    """The message, conversation and block lists and the timeline show a UserID as a
    link to the user's page; staff who may not open user pages get the UserID alone,
    never a link that answers 403."""
    from relationships.services import block_add
    from tests.console import staff_client

    alice, bob = make_user("alice"), make_user("bob")
    message_send(origin=Origin.USER, sender=bob, to="alice", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}])
    block_add(owner=alice, user_ids=["bob"])
    pages = ["/admin/messaging/message/", "/admin/messaging/conversation/",
             "/admin/relationships/block/",
             f"/admin/messaging/message/timeline/{alice.pk}/{bob.pk}/"]
    no_users = staff_client("reader", None, "messaging.view_message",
                            "messaging.view_conversation", "relationships.view_block")
    for page in pages:
        body = no_users.get(page).content.decode()
        assert "/admin/accounts/user/" not in body, page
        assert "alice" in body and "bob" in body, page
    support = staff_client("helpdesk", "support")
    for page in pages:
        assert f"/admin/accounts/user/{alice.pk}/change/" in support.get(page).content.decode()


def test_the_push_lists_read_nothing_for_a_refused_caller(make_user):
    """The delivery and attempt lists count the day's attempts per vendor above the
    list: only for who may see the list (a refused caller costs no such query)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.console import staff_client

    nobody = staff_client("nobody", None)
    for page in ("/admin/push/pushdelivery/", "/admin/push/pushattempt/"):
        with CaptureQueriesContext(connection) as queries:
            assert nobody.get(page).status_code == 403
        assert not [q["sql"] for q in queries.captured_queries
                    if "push_pushattempt" in q["sql"]], page
    support = staff_client("helpdesk", "support")
    assert b"Vendor channels" in support.get("/admin/push/pushdelivery/").content
