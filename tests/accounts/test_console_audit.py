"""The console's groups (support, operator) and its audit log."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import AuditEntry, User
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send
from tests.console import staff_client

pytestmark = pytest.mark.django_db


def _text(sender, to: str, text: str) -> Message:
    sent = message_send(origin=Origin.USER, sender=sender, to=to, random=hash(text) & 0xFFFF,
                        elements=[{"type": "TIMTextElem", "payload": {"text": text}}])
    return Message.objects.get(pk=int(sent["ID"].split("-")[0]))


def test_the_groups_exist_after_migrate_with_their_permissions():
    support = {f"{p.content_type.app_label}.{p.codename}"
               for p in Group.objects.get(name="support").permissions.all()}
    operator = {f"{p.content_type.app_label}.{p.codename}"
                for p in Group.objects.get(name="operator").permissions.all()}
    assert {"accounts.recall_message", "messaging.view_message",
            "accounts.view_dashboard"} <= support
    assert not {"accounts.send_as_app", "accounts.send_as_user", "accounts.change_user",
                "accounts.delete_user", "accounts.view_auditentry"} & support
    assert support < operator
    assert {"accounts.send_as_app", "accounts.send_as_user", "accounts.change_user",
            "accounts.view_auditentry"} <= operator


def test_support_reads_and_recalls_and_the_recall_is_audited(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    msg = _text(alice, "bob", "recall me")
    support = staff_client("helpdesk", "support")
    assert support.get("/admin/messaging/message/").status_code == 200
    response = support.post("/admin/messaging/message/",
                            {"action": "recall", "_selected_action": [msg.pk]}, follow=True)
    assert b"Recalled 1 message" in response.content
    entry = AuditEntry.objects.get(action="recall")
    assert entry.operator_name == "helpdesk" and entry.page == "/admin/messaging/message/"
    assert entry.detail["pk"] == msg.pk and entry.detail["model"] == "messaging.message"
    # Support changes no user and does not read the audit log.
    response = support.post("/admin/accounts/user/",
                            {"action": "kick_action", "_selected_action": [alice.pk]})
    assert response.status_code in (200, 302, 403)
    assert not AuditEntry.objects.filter(action="kick").exists()
    assert support.get("/admin/accounts/auditentry/").status_code == 403


def test_an_operators_kick_and_a_form_change_are_audited(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    operator = staff_client("ops", "operator")
    response = operator.post("/admin/accounts/user/",
                             {"action": "kick_action", "_selected_action": [alice.pk, bob.pk]},
                             follow=True)
    assert b"Kicked out 2 user(s)" in response.content
    kicks = AuditEntry.objects.filter(action="kick")
    assert {e.target for e in kicks} == {"alice", "bob"}
    assert all(e.operator_name == "ops" and e.detail["selected"] == 2 for e in kicks)
    # A save through an admin form (Django's LogEntry) lands in the audit log too.
    User.objects.create_superuser("root", password="root-pass-1")
    root = Client()
    assert root.login(user_id="root", password="root-pass-1")
    root.post("/admin/relationships/block/add/",
              {"owner": alice.pk, "blocked": bob.pk}, follow=True)
    entry = AuditEntry.objects.filter(operator_name="root").latest("at")
    assert entry.action == "add block" and "blocks" in entry.target
    assert entry.page == "/admin/relationships/block/add/"
    # The operator reads the log; nobody writes or deletes in it, superusers included.
    page = operator.get("/admin/accounts/auditentry/?action=kick")
    assert page.status_code == 200 and b"alice" in page.content
    assert b"selected: 2" in page.content  # the detail, summed up in the list
    assert root.get("/admin/accounts/auditentry/add/").status_code == 403
    assert root.get(f"/admin/accounts/auditentry/{entry.pk}/delete/").status_code == 403
    assert root.post("/admin/accounts/auditentry/",
                     {"action": "delete_selected",
                      "_selected_action": [entry.pk]}).status_code in (200, 302)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
