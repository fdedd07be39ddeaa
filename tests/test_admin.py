"""The operator console opens every page, and only for staff."""

import pytest
from django.test import Client

from accounts.models import User
from messaging.services import message_send

pytestmark = pytest.mark.django_db

PAGES = ["/admin/accounts/user/", "/admin/accounts/syncentry/", "/admin/messaging/message/",
         "/admin/messaging/conversation/"]


def test_operator_sees_every_page(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    message_send(sender=alice, to="bob", random=1,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "visible to ops"}}])
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
    assert b"visible to ops" in client.get("/admin/messaging/message/").content
    assert client.get(f"/admin/accounts/user/{alice.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/user/{bob.pk}/change/").status_code == 200


def test_end_users_cannot_enter(make_user):
    make_user("alice", password="alice-pass")
    client = Client()
    assert client.login(user_id="alice", password="alice-pass")
    for page in PAGES:
        assert client.get(page).status_code == 302
