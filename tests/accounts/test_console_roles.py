"""The console's roles hold at their edges: an operator changes end users, not console
access, not a superuser's account and not another staff member's; deletes, bulk ones
included, are audited; tampered forms get form errors, not 500s."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.forms.models import model_to_dict
from django.test import RequestFactory

from accounts.models import AuditEntry, User
from tests.console import staff_client

pytestmark = pytest.mark.django_db


def test_an_operator_cannot_grant_console_access_or_touch_accounts_above_it(make_user):
    alice = make_user("alice")
    root = User.objects.create_superuser("root", password="root-pass-1")
    ops = staff_client("ops", "operator")
    me = User.objects.get(user_id="ops")
    mate = User.objects.create_user("mate", password="mate-pass-1", is_staff=True)

    own = ops.get(f"/admin/accounts/user/{me.pk}/change/").content
    assert b'name="is_superuser"' not in own and b'name="groups"' not in own
    assert b'name="user_id"' not in own  # an account's identity is not edited
    assert b'name="nick"' in own  # its own profile is
    for other in (root, mate):
        page = ops.get(f"/admin/accounts/user/{other.pk}/change/")
        assert page.status_code == 200 and b'name="nick"' not in page.content  # view only
        assert ops.get(f"/admin/accounts/user/{other.pk}/password/").status_code == 403
        assert ops.post(f"/admin/accounts/user/{other.pk}/password/",
                        {"password1": "taken-over-1", "password2": "taken-over-1"}
                        ).status_code == 403
    assert ops.get(f"/admin/accounts/user/{alice.pk}/password/").status_code == 200

    # Actions on a selection with accounts above the role: those are left as they are.
    response = ops.post("/admin/accounts/user/", {"action": "kick_action",
                        "_selected_action": [alice.pk, root.pk, mate.pk]}, follow=True)
    assert b"Kicked out 1 user(s)" in response.content
    assert b"beyond your role): mate, root" in response.content
    assert [e.target for e in AuditEntry.objects.filter(action="kick")] == ["alice"]
    root.refresh_from_db()
    assert root.session_epoch == 0 and User.objects.get(pk=alice.pk).session_epoch == 1
    ops.post("/admin/accounts/user/", {"action": "delete_account_action",
                                       "_selected_action": [root.pk]}, follow=True)
    ops.post("/admin/accounts/user/", {"action": "delete_selected", "post": "yes",
                                       "_selected_action": [root.pk, mate.pk]}, follow=True)
    assert User.objects.filter(user_id__in=["root", "mate"]).count() == 2
    assert not AuditEntry.objects.filter(action__startswith="delete").exists()


def test_a_bulk_delete_of_users_is_audited(make_user):
    users = [make_user(f"u{n}") for n in range(3)]
    ops = staff_client("ops", "operator")
    response = ops.post("/admin/accounts/user/", {
        "action": "delete_selected", "post": "yes",
        "_selected_action": [u.pk for u in users]}, follow=True)
    assert response.status_code == 200
    assert not User.objects.filter(user_id__startswith="u").exists()
    assert sorted(AuditEntry.objects.filter(action="delete user")
                  .values_list("target", flat=True)) == ["u0", "u1", "u2"]


def test_a_role_past_the_column_is_a_form_error(make_user):
    alice = make_user("alice")
    request = RequestFactory().post("/")
    request.user = User.objects.create_superuser("root", password="root-pass-1")
    admin = site._registry[User]
    form_class = admin.get_form(request, alice, change=True)
    data = {k: v for k, v in model_to_dict(alice).items() if v is not None}
    data.update(role=2**32, password=alice.password)
    form = form_class(data=data, instance=alice)
    assert not form.is_valid()
    assert "40605" in str(form.errors), form.errors


def test_a_tampered_block_owner_is_a_form_error(make_user):
    make_user("alice")
    ops = staff_client("ops", "operator")
    for owner in ("abc", "9" * 30):
        response = ops.post("/admin/relationships/block/add/", {"owner": owner, "blocked": ""})
        assert response.status_code == 200, owner
        assert b"errorlist" in response.content
