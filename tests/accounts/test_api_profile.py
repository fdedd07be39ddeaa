"""GET and PATCH /api/v1/me/: my profile, and every way a change is refused."""

import pytest
from rest_framework.test import APIClient

from accounts.events import capture_events, decoded, user_group
from accounts.models import AllowType, Gender, User
from accounts.services import profile_update
from chat_project.errors import ChatError

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


@pytest.fixture
def alice(make_user):
    return make_user("alice", nick="Alice", avatar="https://img.example/a.png")


@pytest.fixture
def client(alice, usersig):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{usersig('alice')}")
    return client


def assert_error(response, code):
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == code, body
    assert body["message"]


def test_get_my_profile(client):
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "userID": "alice", "nick": "Alice", "avatar": "https://img.example/a.png",
        "gender": "Gender_Type_Unknown", "birthday": 0, "location": "",
        "selfSignature": "", "allowType": "AllowType_Type_NeedConfirm", "language": 0,
        "adminForbidType": "AdminForbid_Type_None", "level": 0, "role": 0,
        "profileCustomField": [],
    }


def test_patch_changes_only_the_fields_sent(client, alice):
    change = {"nick": "Ally", "gender": "Gender_Type_Female", "birthday": 19900214,
              "location": "Shenzhen", "selfSignature": "hello 世界",
              "allowType": "AllowType_Type_AllowAny", "language": 2052,
              "avatar": "https://img.example/b.png"}
    response = client.patch(ME, change, format="json")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in change} == change
    alice.refresh_from_db()
    assert (alice.nick, alice.gender, alice.birthday, alice.location, alice.self_signature,
            alice.allow_type, alice.language, alice.avatar) == (
        "Ally", Gender.FEMALE, 19900214, "Shenzhen", "hello 世界", AllowType.ALLOW_ANY, 2052,
        "https://img.example/b.png")
    response = client.patch(ME, {"nick": "A."}, format="json")
    assert response.json()["nick"] == "A." and response.json()["location"] == "Shenzhen"
    assert client.get(ME).json() == response.json()


def frames(published) -> list[tuple[str, dict]]:
    """(group, event frame) pairs, however the layer messages batch the frames."""
    return [(group, frame) for group, message in published
            for frame in decoded(message)]


def test_my_devices_learn_of_the_change(client, alice, django_capture_on_commit_callbacks):
    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        profile = client.patch(ME, {"nick": "Ally"}, format="json").json()
    assert frames(published) == [
        (user_group(alice.pk), {"event": "PROFILE_UPDATED", "seq": 1, "data": [profile]})]
    # in the sync log too, so a device that was offline learns it on its next login
    from messaging.selectors import sync_replay

    events, reached = sync_replay(user=alice, since=0)
    assert events == [{"event": "PROFILE_UPDATED", "seq": 1, "data": [profile]}]
    with capture_events() as published, django_capture_on_commit_callbacks(execute=True):
        client.patch(ME, {}, format="json")
    assert published == []


def test_uint32_fields_take_the_whole_range(client, alice):
    response = client.patch(ME, {"birthday": 2**32 - 1, "language": 2**32 - 1}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.birthday == alice.language == 2**32 - 1


def test_limits_are_counted_in_utf8_bytes(client):
    assert client.patch(ME, {"nick": "é" * 250}, format="json").status_code == 200
    assert_error(client.patch(ME, {"nick": "é" * 251}, format="json"), 40601)
    assert client.patch(ME, {"location": "深圳市南山"}, format="json").status_code == 200  # 15 B
    assert_error(client.patch(ME, {"location": "深圳市南山区"}, format="json"), 40601)  # 18 B


@pytest.mark.parametrize(("change", "code"), [
    ({"nick": "n" * 501}, 40601),
    ({"avatar": "https://img.example/" + "a" * 490}, 40601),
    ({"selfSignature": "s" * 501}, 40601),
    ({"selfSignature": False}, 40605),
    ({"location": "l" * 17}, 40601),
    ({"nick": 5}, 40605),
    ({"nick": None}, 40605),
    ({"nick": "a\x00b"}, 40605),
    ({"location": ["x"]}, 40605),
    ({"gender": "Gender_Type_Other"}, 40605),
    ({"gender": "female"}, 40605),
    ({"allowType": "AllowType_Type_Maybe"}, 40605),
    ({"allowType": 1}, 40605),
    ({"birthday": -1}, 40605),
    ({"birthday": "19900214"}, 40605),
    ({"birthday": 1.5}, 40605),
    ({"birthday": True}, 40605),
    ({"birthday": 2**32}, 40605),
    ({"language": -5}, 40605),
    ({"language": "zh"}, 40605),
    ({"adminForbidType": "AdminForbid_Type_None"}, 910003),  # not the user's to set
    ({"nickname": "typo"}, 910003),
])
def test_bad_changes_are_refused_and_change_nothing(client, alice, change, code):
    # A valid change sent alongside is not applied either.
    assert_error(client.patch(ME, {"selfSignature": "changed", **change}, format="json"), code)
    fresh = User.objects.get(pk=alice.pk)
    assert (fresh.nick, fresh.self_signature, fresh.gender, fresh.birthday) == (
        "Alice", "", Gender.UNKNOWN, 0)


def test_malformed_bodies(client):
    assert_error(client.patch(ME, "{", content_type="application/json"), 90001)
    assert_error(client.patch(ME, ["nick"], format="json"), 910003)


def test_an_empty_patch_changes_nothing(client):
    response = client.patch(ME, {}, format="json")
    assert response.status_code == 200 and response.json()["nick"] == "Alice"


def test_a_profile_change_leaves_other_columns_alone(alice):
    """A stale User object (the one a request authenticated) saves only what changed."""
    User.objects.filter(pk=alice.pk).update(level=7, session_epoch=3)
    profile_update(user=alice, nick="Ally")
    fresh = User.objects.get(pk=alice.pk)
    assert (fresh.nick, fresh.level, fresh.session_epoch) == ("Ally", 7, 3)


def test_the_service_refuses_unknown_fields(alice):
    with pytest.raises(ChatError) as err:
        profile_update(user=alice, level=3)
    assert err.value.code == 910003


def test_session_login_can_read_and_change_the_profile(alice):
    client = APIClient()
    assert client.login(user_id="alice", password="pw-123456")
    assert client.get(ME).json()["userID"] == "alice"
    assert client.patch(ME, {"nick": "Via session"}, format="json").json()["nick"] == \
        "Via session"


def test_unauthenticated(alice):
    response = APIClient().get(ME)
    assert response.status_code == 401 and response.json()["code"] == 910008
