"""An operator's profile edit is checked like a user's and reaches the user's friends."""

import pytest
from django.test import Client

from accounts.models import SyncEntry, User
from relationships.models import Friendship

pytestmark = pytest.mark.django_db


def change_form(user: User, **changes) -> dict:
    data = {"user_id": user.user_id, "nick": user.nick, "avatar": user.avatar,
            "gender": user.gender, "birthday": user.birthday, "location": user.location,
            "self_signature": user.self_signature, "allow_type": user.allow_type,
            "language": user.language, "level": user.level, "role": user.role,
            "profile_custom": "{}", "is_active": "on",
            "admin_forbid_type": user.admin_forbid_type,
            "date_joined_0": "", "last_login_0": "",
            "devices-TOTAL_FORMS": "0", "devices-INITIAL_FORMS": "0",
            "devices-MIN_NUM_FORMS": "0", "devices-MAX_NUM_FORMS": "1000"}
    data.update(changes)
    return data


@pytest.fixture
def ops():
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    return client


def test_admin_nick_change_reaches_friends(ops, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    Friendship.objects.create(owner=alice, friend=bob, add_time=alice.date_joined)
    url = f"/admin/accounts/user/{bob.pk}/change/"
    response = ops.post(url, change_form(bob, nick="Robert"))
    assert response.status_code == 302, response.content[:2000]
    bob.refresh_from_db()
    assert bob.nick == "Robert"
    for user in (alice, bob):
        entry = SyncEntry.objects.filter(user=user, kind=SyncEntry.Kind.PROFILE).get()
        assert entry.payload["data"][0]["nick"] == "Robert"


def test_admin_profile_edit_obeys_the_profile_rules(ops, make_user):
    bob = make_user("bob")
    response = ops.post(f"/admin/accounts/user/{bob.pk}/change/",
                        change_form(bob, location="深圳市南山区科技园"))  # 27 bytes
    assert response.status_code == 200 and b"40601" in response.content
    bob.refresh_from_db()
    assert bob.location == "" and not SyncEntry.objects.exists()
