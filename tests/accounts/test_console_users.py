"""The console's user pages (accounts/admin.py, relationships/admin.py,
messaging/admin_users.py): online now, links, and the operator-only actions (forbid
and allow sending, delete account), each audited, refused to support."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import AdminForbidType, AuditEntry, Device, User
from chat_project.errors import ChatError
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send
from relationships.services import block_add, friend_import
from tests.accounts.test_devices import alive, kicked
from tests.console import staff_client

TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
LIST = "/admin/accounts/user/"


def _send(sender, to: str, random: int, text: str = "hi"):
    return message_send(origin=Origin.USER, sender=sender, to=to, random=random,
                        elements=[{"type": "TIMTextElem", "payload": {"text": text}}])


@pytest.mark.django_db
def test_the_user_list_costs_the_same_queries_for_5_or_40_users(make_user):
    ops = staff_client("ops", "operator")
    for i in range(5):
        make_user(f"u{i}", password=None)
    ops.get(LIST)  # warm (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert ops.get(LIST).status_code == 200
    for i in range(5, 40):
        make_user(f"u{i}", password=None)
    with CaptureQueriesContext(connection) as many:
        page = ops.get(LIST)
    assert page.status_code == 200 and b"u39" in page.content
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    assert b"online now" in page.content and b"Offline" in page.content


@pytest.mark.django_db
def test_a_users_page_links_conversations_friends_and_blocks(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    friend_import(user=alice, items=[{"to": "bob", "source": "AddSource_Type_Test"}])
    block_add(owner=alice, user_ids=["carol"])
    _send(bob, "alice", 1), _send(bob, "alice", 2), _send(alice, "carol", 3)
    support = staff_client("helpdesk", "support")
    page = support.get(f"{LIST}{alice.pk}/change/").content.decode()
    assert f"/admin/relationships/friendship/?owner__id__exact={alice.pk}" in page
    assert f"/admin/relationships/friendship/?friend__id__exact={alice.pk}" in page
    assert f"/admin/relationships/block/?owner__id__exact={alice.pk}" in page
    assert f"/admin/relationships/block/?blocked__id__exact={alice.pk}" in page
    assert f"/admin/messaging/conversation/?owner__id__exact={alice.pk}" in page
    assert f"/admin/messaging/message/timeline/{alice.pk}/{bob.pk}/" in page
    assert "2 unread" in page  # bob's two messages to alice
    # The filtered lists show what the links promise, and link back to the users.
    friends = support.get(f"/admin/relationships/friendship/?owner__id__exact={alice.pk}")
    assert friends.status_code == 200
    assert f'href="/admin/accounts/user/{bob.pk}/change/"' in friends.content.decode()
    blocks = support.get(f"/admin/relationships/block/?owner__id__exact={alice.pk}").content
    assert f'href="/admin/accounts/user/{carol.pk}/change/"'.encode() in blocks
    convs = support.get(f"/admin/messaging/conversation/?owner__id__exact={alice.pk}")
    assert convs.status_code == 200
    body = convs.content.decode()
    assert f'href="/admin/accounts/user/{bob.pk}/change/"' in body
    assert f"/admin/messaging/message/timeline/{alice.pk}/{carol.pk}/" in body


@pytest.mark.django_db
def test_forbid_and_allow_sending_are_the_operators_and_audited(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    support = staff_client("helpdesk", "support")
    support.post(LIST, {"action": "forbid_sending_action", "_selected_action": [alice.pk]})
    alice.refresh_from_db()
    assert alice.admin_forbid_type == AdminForbidType.NONE
    assert not AuditEntry.objects.filter(action="forbid sending").exists()

    ops = staff_client("ops", "operator")
    page = ops.post(LIST, {"action": "forbid_sending_action", "_selected_action": [alice.pk]},
                    follow=True)
    assert b"Forbade sending for 1 user(s)" in page.content
    alice.refresh_from_db()
    assert alice.admin_forbid_type == AdminForbidType.SEND_OUT
    with pytest.raises(ChatError) as refused:
        _send(alice, "bob", 9)
    assert refused.value.code == 20012
    entry = AuditEntry.objects.get(action="forbid sending")
    assert (entry.operator_name, entry.target, entry.page) == ("ops", "alice", LIST)

    ops.post(LIST, {"action": "allow_sending_action", "_selected_action": [alice.pk]})
    alice.refresh_from_db()
    assert alice.admin_forbid_type == AdminForbidType.NONE
    assert _send(alice, "bob", 10)["ID"]
    assert AuditEntry.objects.filter(action="allow sending", target="alice").exists()


@pytest.mark.django_db
def test_support_cannot_kick_mute_or_delete(make_user):
    alice = make_user("alice")
    support = staff_client("helpdesk", "support")
    for action in ("kick_action", "mute_day_action", "delete_account_action", "delete_selected"):
        support.post(LIST, {"action": action, "_selected_action": [alice.pk], "post": "yes"})
    assert support.get(f"{LIST}{alice.pk}/delete/").status_code == 403
    assert support.post(f"{LIST}{alice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=alice.pk).exists()
    assert not AuditEntry.objects.filter(target="alice").exists()
    # Support reads the list and the page (read-only).
    assert support.get(LIST).status_code == 200
    assert support.get(f"{LIST}{alice.pk}/change/").status_code == 200


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["action", "delete page", "delete selected"])
def test_delete_account_goes_through_the_service_and_kicks(how, connect, make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    friend_import(user=bob, items=[{"to": "alice", "source": "AddSource_Type_Test"}])
    _send(alice, "bob", 1), _send(bob, "carol", 2)
    phone = connect("alice", deviceID="p", platform="Android")
    bob_ws = connect("bob")
    ops = staff_client("ops", "operator")
    if how == "action":
        page = ops.post(LIST, {"action": "delete_account_action",
                               "_selected_action": [alice.pk]}, follow=True)
        assert b"Deleted 1 account(s)" in page.content
        assert AuditEntry.objects.filter(action="delete account", target="alice").exists()
    elif how == "delete page":
        confirm = ops.get(f"{LIST}{alice.pk}/delete/")
        assert confirm.status_code == 200 and b"conversations and messages" in confirm.content
        assert ops.post(f"{LIST}{alice.pk}/delete/", {"post": "yes"}).status_code == 302
        assert AuditEntry.objects.filter(action="delete user", target="alice").exists()
    else:
        confirm = ops.post(LIST, {"action": "delete_selected", "_selected_action": [alice.pk]})
        assert confirm.status_code == 200 and b"Are you sure" in confirm.content
        ops.post(LIST, {"action": "delete_selected", "_selected_action": [alice.pk],
                        "post": "yes"})
        assert AuditEntry.objects.filter(action="delete user", target="alice").exists()
    assert kicked(phone, "REST_API_Kick")  # the service told the user's socket
    assert alive(bob_ws)
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Device.objects.filter(user_id=alice.pk).exists()
    assert list(Conversation.objects.filter(owner=bob).values_list("peer_id", flat=True)) \
        == [carol.pk]
    assert Message.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["action", "delete page", "delete selected"])
def test_the_app_admins_account_is_not_deleted_from_the_console(how, make_user):
    """As /v4 account_delete, the console refuses the app admin's account (even to a
    superuser, whose role reaches every account) and deletes the others chosen with it."""
    admin, alice = make_user("administrator", password=None), make_user("alice")
    User.objects.create_superuser("root", password="root-pass-1")
    root = Client()
    assert root.login(user_id="root", password="root-pass-1")
    both = [admin.pk, alice.pk]
    if how == "action":
        page = root.post(LIST, {"action": "delete_account_action",
                                "_selected_action": both}, follow=True)
        assert b"is an app admin" in page.content and b"Deleted 1 account(s)" in page.content
        assert not User.objects.filter(pk=alice.pk).exists()
    elif how == "delete page":
        confirm = root.get(f"{LIST}{admin.pk}/delete/")
        assert confirm.status_code == 200 and b"is an app admin" in confirm.content
        assert root.post(f"{LIST}{admin.pk}/delete/", {"post": "yes"}).status_code == 403
    else:
        confirm = root.post(LIST, {"action": "delete_selected", "_selected_action": both})
        assert confirm.status_code == 200 and b"is an app admin" in confirm.content
        root.post(LIST, {"action": "delete_selected", "_selected_action": both, "post": "yes"})
        assert User.objects.filter(pk=alice.pk).exists()  # Django refuses the whole page
    assert User.objects.filter(pk=admin.pk).exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_online_now_column_and_filter(connect, make_user):
    make_user("alice"), make_user("bob")
    connect("alice", deviceID="p", platform="Android")
    support = staff_client("helpdesk", "support")
    page = support.get(LIST).content.decode()
    assert "Online (Android)" in page
    online = support.get(f"{LIST}?online=yes").content.decode()
    assert ">alice</a>" in online and ">bob</a>" not in online
    offline = support.get(f"{LIST}?online=no").content.decode()
    assert ">bob</a>" in offline and ">alice</a>" not in offline
