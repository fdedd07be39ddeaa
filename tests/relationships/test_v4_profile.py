"""/v4/profile portrait_set and portrait_get (tencent-rest.md §6) through the real HTTP door.
portrait_set goes through relationships.services.profile_update: the user's devices and
everyone who has the user as a friend get PROFILE_UPDATED, as from any other door."""

from __future__ import annotations

import pytest

from accounts.models import SyncEntry, User
from relationships.models import Friendship

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(make_user):
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


def ok(answer: dict) -> dict:
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0, answer
    assert answer["ErrorDisplay"] == ""
    return answer


def fail(answer: dict) -> int:
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
    assert answer["ErrorDisplay"] == ""
    return answer["ErrorCode"]


def items(**tags) -> list[dict]:
    return [{"Tag": tag, "Value": value} for tag, value in tags.items()]


ALL_STANDARD = items(
    Tag_Profile_IM_Nick="Alice A", Tag_Profile_IM_Gender="Gender_Type_Female",
    Tag_Profile_IM_BirthDay=20190419, Tag_Profile_IM_Location="Shenzhen",
    Tag_Profile_IM_SelfSignature="hello", Tag_Profile_IM_AllowType="AllowType_Type_DenyAny",
    Tag_Profile_IM_Language=2, Tag_Profile_IM_Image="https://example.com/a.png",
    Tag_Profile_IM_AdminForbidType="AdminForbid_Type_SendOut", Tag_Profile_IM_Level=7,
    Tag_Profile_IM_Role=3)


def test_portrait_set_then_get_every_standard_and_custom_tag(v4, people):
    Friendship.objects.create(owner=people["bob"], friend=people["alice"],
                              add_time=people["bob"].date_joined)
    body = {"From_Account": "alice", "ProfileItem": ALL_STANDARD + items(
        Tag_Profile_Custom_Hobby="chess")}
    ok(v4("profile/portrait_set", body))
    alice = User.objects.get(user_id="alice")
    assert (alice.nick, alice.gender, alice.birthday, alice.location, alice.self_signature,
            alice.allow_type, alice.language, alice.avatar, alice.admin_forbid_type,
            alice.level, alice.role) == (
        "Alice A", "Gender_Type_Female", 20190419, "Shenzhen", "hello",
        "AllowType_Type_DenyAny", 2, "https://example.com/a.png", "AdminForbid_Type_SendOut",
        7, 3)
    assert alice.profile_custom == {"Tag_Profile_Custom_Hobby": "chess"}
    # Her friend's devices learn it (bob has her in his list); carol's do not.
    event = SyncEntry.objects.filter(user__user_id="bob", kind=SyncEntry.Kind.PROFILE).get()
    assert event.payload["data"][0]["nick"] == "Alice A"
    assert SyncEntry.objects.filter(user__user_id="alice", kind=SyncEntry.Kind.PROFILE).exists()
    assert not SyncEntry.objects.filter(user__user_id="carol").exists()

    tags = [i["Tag"] for i in ALL_STANDARD] + ["Tag_Profile_Custom_Hobby",
                                              "Tag_Profile_Custom_Unset"]
    answer = ok(v4("profile/portrait_get", {"To_Account": ["alice", "ghost", "bob"],
                                            "TagList": tags}))
    got, ghost, bob = answer["UserProfileItem"]
    assert got["ResultCode"] == 0 and got["ResultInfo"] == ""
    assert got["ProfileItem"] == ALL_STANDARD + items(Tag_Profile_Custom_Hobby="chess",
                                                      Tag_Profile_Custom_Unset="")
    assert (ghost["To_Account"], ghost["ResultCode"]) == ("ghost", 40003)
    assert "ProfileItem" not in ghost
    assert bob["ProfileItem"][0] == {"Tag": "Tag_Profile_IM_Nick", "Value": "Bob"}
    assert answer["Fail_Account"] == ["ghost"]


def test_admin_only_fields_alone_are_announced_too(v4, people):
    ok(v4("profile/portrait_set", {"From_Account": "bob",
                                   "ProfileItem": items(Tag_Profile_IM_Level=9)}))
    assert User.objects.get(user_id="bob").level == 9
    event = SyncEntry.objects.filter(user__user_id="bob", kind=SyncEntry.Kind.PROFILE).get()
    assert event.payload["data"][0]["level"] == 9


def test_custom_field_removed_with_empty_value(v4, people):
    ok(v4("profile/portrait_set", {"From_Account": "bob", "ProfileItem": items(
        Tag_Profile_Custom_A="1", Tag_Profile_Custom_B="2")}))
    ok(v4("profile/portrait_set", {"From_Account": "bob", "ProfileItem": items(
        Tag_Profile_Custom_A="")}))
    assert User.objects.get(user_id="bob").profile_custom == {"Tag_Profile_Custom_B": "2"}


@pytest.mark.parametrize("body, expected", [
    ({"ProfileItem": items(Tag_Profile_IM_Nick="x")}, 40002),                  # no account
    ({"From_Account": "ghost", "ProfileItem": items(Tag_Profile_IM_Nick="x")}, 40003),
    ({"From_Account": "alice"}, 40001),                                        # no items
    ({"From_Account": "alice", "ProfileItem": []}, 40001),
    ({"From_Account": "alice", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick"}]}, 40001),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Nope="x")}, 40009),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_Custom_Bad_Key="x")}, 40009),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_Custom_toolongkey="x")}, 40009),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Nick=5)}, 40610),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_BirthDay="20190419")},
     40610),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Level=True)}, 40610),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_Custom_Hobby=1)}, 40610),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Nick="n" * 501)}, 40601),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Location="l" * 17)},
     40601),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_Custom_Hobby="h" * 501)},
     40601),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Gender="Gender_Type_X")},
     40605),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_AllowType="any")}, 40605),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_BirthDay=2**32)}, 40605),
    ({"From_Account": "alice", "ProfileItem": items(
        Tag_Profile_IM_AdminForbidType="AdminForbid_Type_All")}, 40605),
    ({"From_Account": "alice", "ProfileItem": items(Tag_Profile_IM_Role=-1)}, 40605),
])
def test_portrait_set_errors_change_nothing(v4, people, body, expected):
    before = User.objects.values().get(user_id="alice")
    assert fail(v4("profile/portrait_set", body)) == expected
    after = User.objects.values().get(user_id="alice")
    assert after == before
    assert not SyncEntry.objects.filter(kind=SyncEntry.Kind.PROFILE).exists()


def test_a_bad_item_spoils_the_whole_set(v4, people):
    body = {"From_Account": "alice", "ProfileItem": items(
        Tag_Profile_IM_Nick="fine", Tag_Profile_IM_Gender="nope")}
    assert fail(v4("profile/portrait_set", body)) == 40605
    assert User.objects.get(user_id="alice").nick == "Alice"


@pytest.mark.parametrize("body, expected", [
    ({"TagList": ["Tag_Profile_IM_Nick"]}, 40002),
    ({"To_Account": [], "TagList": ["Tag_Profile_IM_Nick"]}, 40001),
    ({"To_Account": "alice", "TagList": ["Tag_Profile_IM_Nick"]}, 40001),
    ({"To_Account": [f"u{i}" for i in range(101)], "TagList": ["Tag_Profile_IM_Nick"]}, 40001),
    ({"To_Account": ["alice"]}, 40001),
    ({"To_Account": ["alice"], "TagList": []}, 40001),
    ({"To_Account": ["alice"], "TagList": ["Tag_SNS_IM_Remark"]}, 40009),
    ({"To_Account": ["alice"], "TagList": ["Tag_Profile_IM_Nick", "Tag_Nope"]}, 40009),
])
def test_portrait_get_errors(v4, people, body, expected):
    assert fail(v4("profile/portrait_get", body)) == expected
