"""What the console says after a delete or a bulk action counts only what was done
(accounts/admin_deletes.py): a row the service refuses, a row beyond the operator's
role and a row gone meanwhile (another tab deleted it) are named, with why, and left
as they are; none is audited as deleted. A selection that names no row (a tampered
form: "abc", a NUL) is a message, never a 500."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from accounts.models import AuditEntry, SyncEntry, User
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send
from push.models import AttrName, UserAttr
from relationships import services as rel
from relationships.models import Block
from tests.console import staff_client

pytestmark = pytest.mark.django_db


def _root() -> Client:
    User.objects.create_superuser("root", password="root-pass-1")
    client = Client()
    assert client.login(user_id="root", password="root-pass-1")
    return client


def _said(response) -> list[tuple[str, str]]:
    """The messages the page shows after the answer (followed): (level tag, text)."""
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _redirected(response) -> bool:
    return [code for _, code in response.redirect_chain] == [302]


def _delete_selected(client, url, pks):
    return client.post(url, {"action": "delete_selected", "_selected_action": pks,
                             "post": "yes"}, follow=True)


def _deletes_audited(model: str) -> list[str]:
    return sorted(str(e.detail["pk"]) for e in
                  AuditEntry.objects.filter(action=f"delete {model}"))


# --- the service refuses -------------------------------------------------------------------

def test_bulk_delete_counts_only_what_the_service_did(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    AttrName.objects.create(slot=0, name="city")
    named = UserAttr.objects.create(user=alice, slot=0, value="paris")
    nameless = UserAttr.objects.create(user=bob, slot=3, value="x")  # the service refuses
    root = _root()

    said = _said(_delete_selected(root, "/admin/push/userattr/", [named.pk, nameless.pk]))

    assert ("success", "Deleted 1 user push attribute.") in said
    assert not any("Successfully deleted" in text for _, text in said)
    refused = [text for level, text in said if level == "error"]
    assert len(refused) == 1 and str(nameless) in refused[0] and "no name" in refused[0] \
        and "90033" in refused[0]
    assert list(UserAttr.objects.values_list("pk", flat=True)) == [nameless.pk]
    assert _deletes_audited("userattr") == [str(named.pk)]


def test_the_delete_page_says_a_refusal_not_a_success(make_user):
    bob = make_user("bob")
    nameless = UserAttr.objects.create(user=bob, slot=3, value="x")
    root = _root()

    answer = root.post(f"/admin/push/userattr/{nameless.pk}/delete/", {"post": "yes"},
                       follow=True)

    said = _said(answer)
    assert not any("deleted successfully" in text for _, text in said), said
    assert [level for level, _ in said] == ["error"] and "no name" in said[0][1]
    assert answer.redirect_chain == [(f"/admin/push/userattr/{nameless.pk}/change/", 302)]
    assert UserAttr.objects.filter(pk=nameless.pk).exists()
    assert _deletes_audited("userattr") == []


def test_deleting_an_app_admins_account_is_refused_not_counted(make_user):
    alice, app_admin = make_user("alice"), make_user("administrator")
    root = _root()

    # "Delete selected" refuses the selection whole, as its confirmation page does
    # (which offers no button for it): posted anyway, it says so, with why.
    answer = _delete_selected(root, "/admin/accounts/user/", [alice.pk, app_admin.pk])
    assert _redirected(answer)
    said = _said(answer)
    assert [level for level, _ in said] == ["error"]
    assert "Nothing deleted" in said[0][1] and "is an app admin" in said[0][1]
    assert User.objects.filter(pk__in=[alice.pk, app_admin.pk]).count() == 2

    # "Delete account" deletes the others: the answer counts them only.
    said = _said(root.post("/admin/accounts/user/", {
        "action": "delete_account_action", "_selected_action": [alice.pk, app_admin.pk]},
        follow=True))
    assert ("success", "Deleted 1 account(s).") in said
    refused = [text for level, text in said if level == "error"]
    assert len(refused) == 1 and "administrator" in refused[0] and "70402" in refused[0]
    # Alone, nothing deleted is no success, and the refused account is not audited.
    said = _said(root.post("/admin/accounts/user/", {"action": "delete_account_action",
                                                     "_selected_action": [app_admin.pk]},
                           follow=True))
    assert [level for level, _ in said] == ["error"] and "70402" in said[0][1]
    assert User.objects.filter(pk=app_admin.pk).exists()
    assert list(AuditEntry.objects.filter(action="delete account")
                .values_list("target", flat=True)) == ["alice"]


# --- beyond the operator's permission ------------------------------------------------------

def test_an_operators_bulk_delete_names_the_accounts_beyond_its_role(make_user):
    alice = make_user("alice")
    colleague = User.objects.create_user("colleague", password="x-pass-1", is_staff=True)
    ops = staff_client("ops", "operator")

    # (The confirmation page refuses such a selection; a form posted anyway, or a
    # colleague made staff between the page and the click, meets this: a message,
    # not a bare 403.)
    answer = _delete_selected(ops, "/admin/accounts/user/", [alice.pk, colleague.pk])

    assert _redirected(answer)
    said = _said(answer)
    assert [level for level, _ in said] == ["error"]
    assert "colleague" in said[0][1] and "beyond your role" in said[0][1]
    assert User.objects.filter(pk__in=[alice.pk, colleague.pk]).count() == 2
    assert _deletes_audited("user") == []


def test_support_cannot_delete_by_posting_the_action(make_user):
    alice = make_user("alice")
    helper = staff_client("helper", "support")
    answer = _delete_selected(helper, "/admin/accounts/user/", [alice.pk])
    assert answer.redirect_chain == []  # the list again: support has no action on users
    assert not any(level == "success" for level, _ in _said(answer))
    assert User.objects.filter(pk=alice.pk).exists()


# --- gone meanwhile: two tabs ----------------------------------------------------------------

def test_a_block_deleted_in_another_tab_is_said_gone(make_user):
    alice, _, _ = make_user("alice"), make_user("bob"), make_user("carol")
    rel.block_add(owner=alice, user_ids=["bob", "carol"])
    first, second = Block.objects.order_by("pk")
    root = _root()
    _delete_selected(root, "/admin/relationships/block/", [first.pk])  # tab one

    said = _said(_delete_selected(root, "/admin/relationships/block/", [first.pk, second.pk]))

    assert ("success", "Deleted 1 block.") in said
    gone = [text for level, text in said if level == "warning"]
    assert len(gone) == 1 and "already gone" in gone[0] and str(first.pk) in gone[0]
    # Alone, it is said too (it was silent).
    said = _said(_delete_selected(root, "/admin/relationships/block/", [first.pk]))
    assert [level for level, _ in said] == ["warning"] and "already gone" in said[0][1]


def test_a_message_deleted_in_another_tab_is_not_deleted_again(make_user):
    alice = make_user("alice")
    make_user("bob")
    sent = message_send(origin=Origin.USER, sender=alice, to="bob", random=3,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "x"}}])
    pk = int(sent["ID"].split("-")[0])
    root = _root()
    said = _said(_delete_selected(root, "/admin/messaging/message/", [pk]))
    assert ("success", "Deleted 1 message.") in said
    events = SyncEntry.objects.count()

    said = _said(_delete_selected(root, "/admin/messaging/message/", [pk]))  # tab two

    assert not any(level == "success" for level, _ in said), said
    assert len(said) == 1 and "already deleted" in said[0][1]
    assert SyncEntry.objects.count() == events  # the devices are not told twice
    assert Message.objects.filter(pk=pk, deleted_by_sender=True,
                                  deleted_by_receiver=True).exists()
    assert _deletes_audited("message") == [str(pk)]


# --- a selection that names no row -----------------------------------------------------------

NOT_IDS = ["abc", "\x00", "1.5", "", "1\x002"]


def test_a_selection_of_no_row_id_is_a_message_on_every_list(make_user):
    make_user("alice")
    root = _root()
    for model, model_admin in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        request = root.get(url).wsgi_request
        for action in model_admin.get_actions(request):
            for value in NOT_IDS:
                for confirmed in ({}, {"post": "yes"}):
                    answer = root.post(url, {"action": action, "index": 0,
                                             "_selected_action": [value], **confirmed},
                                       follow=True)
                    assert _redirected(answer), (url, action, value)
                    said = _said(answer)
                    assert [level for level, _ in said] == ["error"], (url, action, value)
                    assert "no row" in said[0][1]


def test_odd_ids_in_the_login_policy_pages_are_no_500(make_user):
    root = _root()
    for odd in ("%00", "1%002", "abc", "9" * 40):
        answer = root.get(f"/admin/accounts/loginpolicy/{odd}/history/", follow=True)
        assert answer.status_code == 200, odd
        assert answer.redirect_chain[-1][0] == "/admin/accounts/loginpolicy/1/history/"


def test_the_sign_in_lockout_clean_up_action_answers(make_user):
    """django-axes' "Clean up expired attempts" read a time axes sets only while
    signing in: a 500 from the console, whatever was selected."""
    from axes.models import AccessAttempt

    root = _root()
    attempt = AccessAttempt.objects.create(username="alice", ip_address="10.0.0.1",
                                           user_agent="x", failures_since_start=3,
                                           get_data="", post_data="", http_accept="",
                                           path_info="/")
    answer = root.post("/admin/axes/accessattempt/", {
        "action": "cleanup_expired_attempts", "index": 0, "_selected_action": [attempt.pk]},
        follow=True)
    assert _redirected(answer)
    assert [text for _, text in _said(answer)] == ["Cleaned up 0 expired access attempts."]
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()  # not expired yet


def test_deleting_friendships_both_ways_twice_is_no_success(make_user):
    from relationships.models import Friendship
    from tests.relationships.test_blocklist import befriend_both

    alice, bob = make_user("alice"), make_user("bob")
    befriend_both(alice, bob)
    pk = Friendship.objects.get(owner=alice).pk
    root = _root()
    action = {"action": "delete_both_ways", "index": 0, "_selected_action": [pk]}
    said = _said(root.post("/admin/relationships/friendship/", action, follow=True))
    assert said == [("success", "Deleted 1 friendship(s) both ways.")]
    assert not Friendship.objects.exists()

    said = _said(root.post("/admin/relationships/friendship/", action, follow=True))  # tab two

    assert [level for level, _ in said] == ["warning"], said
    assert "already gone" in said[0][1] and str(pk) in said[0][1]


# --- a list's filters: odd values are Django's "invalid filter" (?e=1), never a 500 ----------

def test_odd_filter_values_are_an_invalid_filter_on_every_list(make_user):
    make_user("alice")
    root = _root()
    for model, model_admin in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        odd = ["q=%00", "o=abc"]
        odd += [f"{name}=%00" for name in model_admin.list_filter if isinstance(name, str)]
        field = model_admin.date_hierarchy
        if field:
            odd += [f"{field}__year=9999", f"{field}__year=9999&{field}__month=12",
                    f"{field}__year=9999&{field}__month=12&{field}__day=31",
                    f"{field}__year={'9' * 30}", f"{field}__year=0"]
        for query in odd:
            answer = root.get(f"{url}?{query}")
            assert answer.status_code in (200, 302), (url, query)
            if answer.status_code == 302:  # ?e=1, or a one-row list's own page
                assert root.get(answer["Location"], follow=True).status_code == 200, \
                    (url, query)


def test_an_action_on_accounts_deleted_meanwhile_names_them(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    root = _root()
    _delete_selected(root, "/admin/accounts/user/", [bob.pk])  # tab one
    for action in ("kick_action", "mute_day_action", "forbid_sending_action",
                   "delete_account_action"):
        # Alone: nothing done, and said (it was silent).
        said = _said(root.post("/admin/accounts/user/", {
            "action": action, "index": 0, "_selected_action": [bob.pk]}, follow=True))
        assert [level for level, _ in said] == ["warning"], (action, said)
        assert "already gone" in said[0][1] and f"#{bob.pk}" in said[0][1]
    said = _said(root.post("/admin/accounts/user/", {
        "action": "kick_action", "index": 0, "_selected_action": [alice.pk, bob.pk]},
        follow=True))
    assert ("success", "Kicked out 1 user(s).") in said
    assert [text for level, text in said if level == "warning"] == [
        f"Left out, already gone (deleted meanwhile): #{bob.pk}."]


def test_staff_without_the_list_get_403_whatever_the_selection(make_user):
    """The checks above answer only who may read the list: to another, which ids
    exist is the list's data."""
    alice = make_user("alice")
    nobody = staff_client("nobody")  # staff, granted nothing
    for url in ("/admin/accounts/user/", "/admin/relationships/block/"):
        for value in ("abc", "987654321", str(alice.pk)):
            answer = nobody.post(url, {"action": "delete_selected", "index": 0,
                                       "_selected_action": [value], "post": "yes"})
            assert answer.status_code == 403, (url, value)
        assert nobody.get(f"{url}?q=%00").status_code == 403
    assert User.objects.filter(pk=alice.pk).exists()


def test_a_conversation_deleted_in_another_tab_is_not_deleted_again(make_user):
    from messaging.models import Conversation

    alice = make_user("alice")
    make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", random=4,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "x"}}])
    conv = Conversation.objects.get(owner__user_id="bob")
    root = _root()
    said = _said(_delete_selected(root, "/admin/messaging/conversation/", [conv.pk]))
    assert ("success", "Deleted 1 conversation.") in said
    events = SyncEntry.objects.count()

    said = _said(_delete_selected(root, "/admin/messaging/conversation/", [conv.pk]))

    assert [level for level, _ in said] == ["warning"] and "already deleted" in said[0][1]
    assert SyncEntry.objects.count() == events
    # The delete page says the same, as an error, and nothing more is done.
    answer = root.post(f"/admin/messaging/conversation/{conv.pk}/delete/", {"post": "yes"},
                       follow=True)
    said = _said(answer)
    assert [level for level, _ in said] == ["error"] and "already deleted" in said[0][1]
    assert SyncEntry.objects.count() == events
