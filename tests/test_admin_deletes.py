"""No raw deletes in the operator console (accounts/admin_deletes.py).

The guard walks every ModelAdmin registered on admin.site: one that offers a delete
(the "Delete selected" action, the delete page, an inline's delete box) must do it
through a service (ServiceDeletes), unless it is a third-party model listed below that
holds no chat state. The other tests delete through admin and watch real sockets on a
real server learn of it."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from accounts.admin_deletes import ServiceDeletes
from accounts.models import AuditEntry, User
from messaging.models import Conversation, Message
from push.models import PushToken, UserTag

# Third-party admins whose own delete touches nothing a device holds.
RAW_DELETE_ALLOWED = {
    "auth.group": "console roles (support and operator come back at the next migrate)",
    "django_celery_beat": "the task schedule: no chat state (operators may also disable)",
    "axes": "sign-in lockout records: deleting an attempt lifts a lockout (README)",
}


def _allowed(model) -> bool:
    return (model._meta.label_lower in RAW_DELETE_ALLOWED
            or model._meta.app_label in RAW_DELETE_ALLOWED)


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = User(user_id="root", is_staff=True, is_superuser=True, is_active=True)
    return request


def _raw_delete_offered(model_admin, request) -> list[str]:
    """What of Django's own delete this admin offers (empty: none)."""
    found = []
    if model_admin.has_delete_permission(request):
        through_service = isinstance(model_admin, ServiceDeletes) and all(
            getattr(type(model_admin), name) is getattr(ServiceDeletes, name)
            for name in ("delete_model", "delete_queryset"))
        if not through_service:
            found.append("delete (action and page) is Django's row delete")
    for inline in model_admin.get_inline_instances(request):
        if inline.can_delete and inline.has_delete_permission(request):
            found.append(f"inline {type(inline).__name__} has a delete box")
    return found


def test_no_admin_offers_a_raw_delete():
    request = _superuser_request()
    offenders = {}
    for model, model_admin in admin.site._registry.items():
        if model is User:
            # Its delete (the account, through the service) is the user admin's own;
            # its inlines are checked all the same.
            found = [f for f in _raw_delete_offered(model_admin, request)
                     if f.startswith("inline")]
        elif _allowed(model):
            continue
        else:
            found = _raw_delete_offered(model_admin, request)
            actions = model_admin.get_actions(request)
            if "delete_selected" in actions and not isinstance(model_admin, ServiceDeletes):
                found.append("the Delete selected action")
        if found:
            offenders[model._meta.label] = found
    assert offenders == {}


def test_the_guard_catches_a_plain_model_admin():
    """The guard fails for an admin that keeps Django's delete (it can fail)."""
    plain = admin.ModelAdmin(Message, admin.site)
    assert _raw_delete_offered(plain, _superuser_request())

    class Sneaky(ServiceDeletes, admin.ModelAdmin):
        def delete_queryset(self, request, queryset):
            queryset.delete()

    assert _raw_delete_offered(Sneaky(Message, admin.site), _superuser_request())


def test_service_deletes_and_records_are_as_listed():
    registry = admin.site._registry
    for model in (Message, Conversation, PushToken, UserTag):
        assert isinstance(registry[model], ServiceDeletes), model
    request = _superuser_request()
    no_delete = ["accounts.SyncEntry", "accounts.WebhookAttempt", "accounts.AuditEntry",
                 "push.PushDelivery", "push.PushAttempt", "push.BroadcastTask",
                 "push.ReceiveOption", "push.AttrName"]
    by_label = {m._meta.label: a for m, a in registry.items()}
    for label in no_delete:
        model_admin = by_label[label]
        assert not model_admin.has_delete_permission(request), label
        assert "delete_selected" not in model_admin.get_actions(request), label


# --- through admin, to a real socket -------------------------------------------------------

def _text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def _root() -> Client:
    User.objects.create_superuser("root", password="root-pass-1")
    client = Client()
    assert client.login(user_id="root", password="root-pass-1")
    return client


@pytest.mark.django_db(transaction=True)
def test_deleting_messages_in_admin_reaches_both_sides_open_chats(make_user, connect):
    make_user("alice")
    make_user("bob")
    alice, bob = connect("alice", deviceID="a1"), connect("bob", deviceID="b1")
    sent = [alice.ok("sendMessage", {"to": "bob", "elements": _text(f"m{i}"),
                                     "random": 40 + i}) for i in range(3)]
    for _ in sent:
        bob.wait_event("MESSAGE_RECEIVED")
    pks = [int(m["ID"].split("-")[0]) for m in sent[1:]]
    root = _root()

    # The confirmation page says what happens; nothing is deleted yet.
    page = root.post("/admin/messaging/message/",
                     {"action": "delete_selected", "_selected_action": pks})
    assert page.status_code == 200 and b"deleted from both sides" in page.content
    assert Message.objects.filter(pk__in=pks, deleted_by_sender=False).count() == 2
    root.post("/admin/messaging/message/",
              {"action": "delete_selected", "_selected_action": pks, "post": "yes"})

    want = sorted(m["ID"] for m in sent[1:])
    for ws, cid in ((alice, "C2Cbob"), (bob, "C2Calice")):
        deleted = set()
        while deleted != set(want):
            ev = ws.wait_event("MESSAGE_DELETED")
            assert ev["data"]["conversationID"] == cid
            deleted |= set(ev["data"]["messageIDList"])
        listed = ws.ok("getMessageList", {"conversationID": cid, "count": 10})["messageList"]
        assert [m["ID"] for m in listed] == [sent[0]["ID"]]
    # Bob's unread count dropped with them (it is the one source of badges).
    conv = Conversation.objects.get(owner__user_id="bob")
    assert conv.unread_count == 1 and conv.last_message_id == int(sent[0]["ID"].split("-")[0])
    # Both deletes are in the audit log (a bulk delete's LogEntry rows send no signal).
    entries = AuditEntry.objects.filter(action="delete message", operator_name="root")
    assert sorted(int(e.detail["pk"]) for e in entries) == sorted(pks)


@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversation_in_admin_reaches_its_owners_devices(make_user, connect):
    make_user("alice")
    make_user("bob")
    alice, bob = connect("alice", deviceID="a1"), connect("bob", deviceID="b1")
    alice.ok("sendMessage", {"to": "bob", "elements": _text("hi"), "random": 7})
    bob.wait_event("MESSAGE_RECEIVED")
    conv = Conversation.objects.get(owner__user_id="bob")
    root = _root()
    page = root.get(f"/admin/messaging/conversation/{conv.pk}/delete/")
    assert page.status_code == 200 and b"the owner&#x27;s devices are told" in page.content
    root.post(f"/admin/messaging/conversation/{conv.pk}/delete/", {"post": "yes"})

    ev = bob.wait_event("CONVERSATION_LIST_UPDATED",
                        where=lambda e: e["data"] and e["data"][0].get("isDeleted"))
    assert ev["data"][0]["conversationID"] == "C2Calice" and ev["seq"]
    assert "C2Calice" not in {c["conversationID"] for c in
                              bob.ok("getConversationList")["conversationList"]}
    assert bob.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"] == []
    # Alice keeps hers; the row is there, hidden from its owner.
    assert len(alice.ok("getMessageList", {"conversationID": "C2Cbob"})["messageList"]) == 1
    assert Conversation.objects.filter(pk=conv.pk, is_hidden=True).exists()
    assert AuditEntry.objects.filter(action="delete conversation",
                                     operator_name="root").count() == 1


@pytest.mark.django_db
def test_push_token_and_tag_deletes_go_through_push_services(make_user):
    from push import services as push_services

    alice = make_user("alice")
    push_services.push_token_register(user=alice, device_id="phone-1", vendor="fcm",
                                      token="t" * 40)
    push_services.user_tags_add(entries=[{"To_Account": "alice", "Tags": ["beta"]}])
    root = _root()
    token, tag = PushToken.objects.get(), UserTag.objects.get()
    root.post(f"/admin/push/pushtoken/{token.pk}/delete/", {"post": "yes"})
    root.post("/admin/push/usertag/", {"action": "delete_selected",
                                      "_selected_action": [tag.pk], "post": "yes"})
    assert not PushToken.objects.exists() and not UserTag.objects.exists()


@pytest.mark.django_db
def test_support_may_not_delete_messages(make_user):
    alice = make_user("alice")
    make_user("bob")
    from messaging.commands import Origin
    from messaging.services import message_send

    sent = message_send(origin=Origin.USER, sender=alice, to="bob", random=5,
                        elements=_text("keep"))
    pk = int(sent["ID"].split("-")[0])
    helper = User.objects.create_user("helpdesk", password="staff-pass-1", is_staff=True)
    helper.groups.add(Group.objects.get(name="support"))
    client = Client()
    assert client.login(user_id="helpdesk", password="staff-pass-1")
    assert client.get(f"/admin/messaging/message/{pk}/delete/").status_code == 403
    client.post("/admin/messaging/message/",
                {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    assert Message.objects.filter(pk=pk, deleted_by_sender=False,
                                  deleted_by_receiver=False).exists()
