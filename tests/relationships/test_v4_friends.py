"""/v4/sns friend and friend-list commands (tencent-rest.md §7) through the real HTTP door,
signed with Tencent's own TLSSigAPIv2: relationships/v4.py over relationships' services."""

from __future__ import annotations

import pytest

from accounts.models import AllowType, SyncEntry, User
from relationships.models import Block, FriendGroup, FriendRequest, Friendship

pytestmark = pytest.mark.django_db(transaction=True)

SRC = "AddSource_Type_Web"


@pytest.fixture
def people(make_user):
    """alice, bob (AllowAny), carol (NeedConfirm, the default), dave (DenyAny)."""
    made = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    User.objects.filter(user_id__in=["alice", "bob"]).update(allow_type=AllowType.ALLOW_ANY)
    User.objects.filter(user_id="dave").update(allow_type=AllowType.DENY_ANY)
    return made


def has(owner: str, friend: str) -> bool:
    return Friendship.objects.filter(owner__user_id=owner, friend__user_id=friend).exists()


def results(answer: dict) -> dict[str, int]:
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0, answer
    assert answer["ErrorDisplay"] == ""
    return {r["To_Account"]: r["ResultCode"] for r in answer["ResultItem"]}


def fail(answer: dict) -> int:
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
    return answer["ErrorCode"]


def add(v4, frm, *items, **extra):
    return v4("sns/friend_add", {"From_Account": frm, "AddFriendItem": list(items), **extra})


def test_friend_add_follows_allow_types_and_reports_each_item(v4, people):
    answer = add(v4, "alice",
                 {"To_Account": "bob", "AddSource": SRC, "Remark": "Bobby",
                  "GroupName": "mates", "AddWording": "hi"},
                 {"To_Account": "carol", "AddSource": SRC},
                 {"To_Account": "dave", "AddSource": SRC},
                 {"To_Account": "nobody", "AddSource": SRC},
                 {"To_Account": "alice", "AddSource": SRC})
    assert results(answer) == {"bob": 0, "carol": 30539, "dave": 30516, "nobody": 30003,
                               "alice": 30001}
    assert answer["Fail_Account"] == ["carol", "dave", "nobody", "alice"]
    # Add_Type_Both (the default) against AllowAny: both lists, with what was asked.
    mine = Friendship.objects.get(owner__user_id="alice", friend__user_id="bob")
    assert (mine.remark, mine.add_source, mine.add_wording) == ("Bobby", SRC, "hi")
    assert list(mine.groups.values_list("name", flat=True)) == ["mates"]
    assert has("bob", "alice")
    # NeedConfirm: a pending request, no friendship.
    assert FriendRequest.objects.filter(requester__user_id="alice",
                                        target__user_id="carol").exists()
    assert not has("alice", "carol") and not has("alice", "dave")
    # Both sides' devices learn it through their sync logs, as from any other door.
    assert SyncEntry.objects.filter(user__user_id="bob", kind=SyncEntry.Kind.FRIEND).exists()


def test_force_add_skips_allow_types_but_not_blocks(v4, people):
    answer = add(v4, "alice", {"To_Account": "carol", "AddSource": SRC},
                 {"To_Account": "dave", "AddSource": SRC}, ForceAddFlags=1)
    assert results(answer) == {"carol": 0, "dave": 0} and "Fail_Account" not in answer
    assert has("alice", "carol") and has("carol", "alice") and has("dave", "alice")
    Block.objects.create(owner=people["bob"], blocked=people["alice"],
                         created_at=people["bob"].date_joined)
    answer = add(v4, "alice", {"To_Account": "bob", "AddSource": SRC}, ForceAddFlags=1)
    assert results(answer) == {"bob": 30525}


def test_friend_add_single_way_and_already_friends(v4, people):
    answer = add(v4, "alice", {"To_Account": "bob", "AddSource": SRC}, AddType="Add_Type_Single")
    assert results(answer) == {"bob": 0}
    assert has("alice", "bob") and not has("bob", "alice")
    assert results(add(v4, "alice", {"To_Account": "bob", "AddSource": SRC})) == {"bob": 30001}


def test_friend_add_source_is_required_and_checked(v4, people):
    answer = add(v4, "alice", {"To_Account": "bob"},
                 {"To_Account": "carol", "AddSource": "AddSource_Type_toolongword"},
                 {"To_Account": "dave", "AddSource": 7})
    assert results(answer) == {"bob": 30001, "carol": 30001, "dave": 30001}
    assert "AddSource" in answer["ResultItem"][0]["ResultInfo"]
    assert not Friendship.objects.exists()


@pytest.mark.parametrize("body, expected", [
    ({"AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}]}, 30001),   # no From_Account
    ({"From_Account": "ghost", "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}]},
     30003),                                                                  # unknown
    ({"From_Account": "alice"}, 30001),                                       # no items
    ({"From_Account": "alice", "AddFriendItem": []}, 30001),
    ({"From_Account": "alice", "AddFriendItem": "bob"}, 30001),
    ({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}],
      "AddType": "Add_Type_Sideways"}, 30001),                                # bad enum
    ({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC}],
      "ForceAddFlags": 2}, 30001),
    ({"From_Account": "alice",
      "AddFriendItem": [{"To_Account": f"u{i}", "AddSource": SRC} for i in range(101)]},
     30001),                                                                  # too many
])
def test_friend_add_bad_requests(v4, people, body, expected):
    assert fail(v4("sns/friend_add", body)) == expected
    assert not Friendship.objects.exists()


def test_friend_import_keeps_times_lists_and_custom_fields(v4, people):
    answer = v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "carol", "AddSource": "AddSource_Type_Old", "Remark": "C",
         "RemarkTime": 1420000002, "GroupName": ["work", "chess"], "AddWording": "w",
         "AddTime": 1420000001,
         "CustomItem": [{"Tag": "Tag_SNS_Custom_Lvl", "Value": "gold"}]},
        {"To_Account": "dave", "AddSource": "AddSource_Type_Old"},       # DenyAny: imported
        {"To_Account": "bob"},                                           # no AddSource
        {"To_Account": "ghost", "AddSource": SRC},
        {"To_Account": "bob", "AddSource": SRC,
         "CustomItem": [{"Tag": "Tag_SNS_Custom_Lvl", "Value": 3}]}]})   # strings only
    assert results(answer) == {"carol": 0, "dave": 0, "bob": 30001, "ghost": 30003}
    assert answer["Fail_Account"] == ["bob", "ghost"]
    row = Friendship.objects.get(owner__user_id="alice", friend__user_id="carol")
    assert int(row.add_time.timestamp()) == 1420000001
    assert int(row.remark_time.timestamp()) == 1420000002
    assert row.custom == {"Tag_SNS_Custom_Lvl": "gold"}
    assert sorted(row.groups.values_list("name", flat=True)) == ["chess", "work"]
    # One way only, and no request is left behind.
    assert not has("carol", "alice") and not has("dave", "alice")
    again = v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "carol", "AddSource": SRC}]})
    assert results(again) == {"carol": 30001}


def test_friend_update_remark_lists_and_custom_tags(v4, people):
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC, "GroupName": "old"})
    answer = v4("sns/friend_update", {"From_Account": "alice", "UpdateItem": [
        {"To_Account": "bob", "SnsItem": [
            {"Tag": "Tag_SNS_IM_Remark", "Value": "B2"},
            {"Tag": "Tag_SNS_IM_Group", "Value": ["g1", "g2"]},
            {"Tag": "Tag_SNS_Custom_Test", "Value": "x"}]},
        {"To_Account": "carol", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "C"}]},
        {"To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "dup"}]},
        {"To_Account": "dave", "SnsItem": [{"Tag": "Tag_SNS_IM_AddSource", "Value": SRC}]},
        {"To_Account": "ghost", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": 5}]}]})
    assert results(answer) == {"bob": 0, "carol": 30001, "dave": 30001, "ghost": 30001}
    row = Friendship.objects.get(owner__user_id="alice", friend__user_id="bob")
    assert row.remark == "B2" and row.custom == {"Tag_SNS_Custom_Test": "x"}
    assert sorted(row.groups.values_list("name", flat=True)) == ["g1", "g2"]
    assert FriendGroup.objects.filter(owner__user_id="alice", name="old").exists()  # emptied
    answer = v4("sns/friend_update", {"From_Account": "alice", "UpdateItem": [
        {"To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Group",
                                           "Value": [f"n{i}" for i in range(40)]}]}]})
    assert results(answer) == {"bob": 30011}


def test_friend_delete_single_both_and_failures(v4, people):
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC})
    add(v4, "alice", {"To_Account": "carol", "AddSource": SRC}, ForceAddFlags=1)
    answer = v4("sns/friend_delete", {"From_Account": "alice", "To_Account": ["bob"],
                                      "DeleteType": "Delete_Type_Single"})
    assert results(answer) == {"bob": 0}
    assert not has("alice", "bob") and has("bob", "alice")
    # Both is the default.
    answer = v4("sns/friend_delete", {"From_Account": "alice",
                                      "To_Account": ["carol", "dave", "ghost", "carol"]})
    assert results(answer) == {"carol": 0, "dave": 31704, "ghost": 30003}
    assert answer["Fail_Account"] == ["dave", "ghost"]
    assert not has("alice", "carol") and not has("carol", "alice")
    assert fail(v4("sns/friend_delete", {"From_Account": "alice", "To_Account": ["bob"],
                                         "DeleteType": "Delete_Type_All"})) == 30001
    assert fail(v4("sns/friend_delete", {"From_Account": "alice",
                                         "To_Account": [f"u{i}" for i in range(1001)]})) == 30001
    assert fail(v4("sns/friend_delete", {"From_Account": "alice", "To_Account": []})) == 30001


def test_friend_delete_all_is_single_by_default(v4, people):
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC},
        {"To_Account": "carol", "AddSource": SRC}, ForceAddFlags=1)
    answer = v4("sns/friend_delete_all", {"From_Account": "alice"})
    assert answer["ErrorCode"] == 0 and answer["ErrorDisplay"] == ""
    assert not Friendship.objects.filter(owner__user_id="alice").exists()
    assert has("bob", "alice") and has("carol", "alice")
    v4("sns/friend_delete_all", {"From_Account": "bob", "DeleteType": "Delete_Type_Both"})
    assert not has("bob", "alice")
    assert fail(v4("sns/friend_delete_all", {"From_Account": "alice",
                                             "DeleteType": "nope"})) == 30001
    assert fail(v4("sns/friend_delete_all", {"From_Account": "ghost"})) == 30003


def test_friend_check_relations(v4, people):
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC})
    add(v4, "alice", {"To_Account": "carol", "AddSource": SRC}, AddType="Add_Type_Single",
        ForceAddFlags=1)
    add(v4, "dave", {"To_Account": "alice", "AddSource": SRC}, AddType="Add_Type_Single")
    ids = ["bob", "carol", "dave", "ghost"]

    def check(kind):
        answer = v4("sns/friend_check", {"From_Account": "alice", "To_Account": ids,
                                         "CheckType": kind})
        assert answer["ErrorCode"] == 0 and answer["Fail_Account"] == ["ghost"]
        return {i["To_Account"]: (i["Relation"], i["ResultCode"]) for i in answer["InfoItem"]}

    assert check("CheckResult_Type_Both") == {
        "bob": ("CheckResult_Type_BothWay", 0), "carol": ("CheckResult_Type_AWithB", 0),
        "dave": ("CheckResult_Type_BWithA", 0), "ghost": ("CheckResult_Type_NoRelation", 30003)}
    assert check("CheckResult_Type_Single") == {
        "bob": ("CheckResult_Type_AWithB", 0), "carol": ("CheckResult_Type_AWithB", 0),
        "dave": ("CheckResult_Type_NoRelation", 0),
        "ghost": ("CheckResult_Type_NoRelation", 30003)}
    assert fail(v4("sns/friend_check", {"From_Account": "alice", "To_Account": ids})) == 30001


def test_friend_get_pages_tags_and_sequences(v4, make_user, people):
    for i in range(105):
        User.objects.create(user_id=f"f{i:03d}")
    for start in (0, 100):
        answer = v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
            {"To_Account": f"f{i:03d}", "AddSource": SRC, "AddTime": 1500000000 + i}
            for i in range(start, min(start + 100, 105))]})
        assert "Fail_Account" not in answer
    v4("sns/friend_update", {"From_Account": "alice", "UpdateItem": [
        {"To_Account": "f000", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "first"},
                                           {"Tag": "Tag_SNS_IM_Group", "Value": ["g"]},
                                           {"Tag": "Tag_SNS_Custom_K", "Value": "v"}]}]})
    first = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": 0})
    assert first["ErrorCode"] == 0 and first["ErrorDisplay"] == ""
    assert (first["FriendNum"], first["CompleteFlag"], first["NextStartIndex"]) == (105, 0, 100)
    assert len(first["UserDataItem"]) == 100
    top = first["UserDataItem"][0]
    assert top["To_Account"] == "f000"
    assert {t["Tag"]: t["Value"] for t in top["ValueItem"]} == {
        "Tag_SNS_IM_Group": ["g"], "Tag_SNS_IM_Remark": "first",
        "Tag_SNS_IM_AddSource": SRC, "Tag_SNS_IM_AddTime": 1500000000,
        "Tag_SNS_Custom_K": "v"}
    std, cus = first["StandardSequence"], first["CustomSequence"]
    assert std > 0 and cus > 0
    last = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": 100})
    assert (len(last["UserDataItem"]), last["CompleteFlag"], last["NextStartIndex"]) == (5, 1, 0)
    # Sequences the client has: that data is left out.
    same = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": 0,
                                 "StandardSequence": std, "CustomSequence": cus})
    assert same["UserDataItem"][0]["ValueItem"] == []
    only_custom = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": 0,
                                        "StandardSequence": std})
    assert only_custom["UserDataItem"][0]["ValueItem"] == [
        {"Tag": "Tag_SNS_Custom_K", "Value": "v"}]
    # A change moves the sequence on: the old one no longer matches.
    v4("sns/friend_update", {"From_Account": "alice", "UpdateItem": [
        {"To_Account": "f001", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "r"}]}]})
    after = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": 0,
                                  "StandardSequence": std, "CustomSequence": cus})
    assert after["StandardSequence"] > std and after["CustomSequence"] == cus
    assert after["UserDataItem"][1]["ValueItem"][0] == {"Tag": "Tag_SNS_IM_Remark",
                                                        "Value": "r"}
    assert fail(v4("sns/friend_get", {"From_Account": "alice"})) == 30001
    assert fail(v4("sns/friend_get", {"From_Account": "alice", "StartIndex": -1})) == 30001


def test_friend_get_list_profile_and_sns_tags(v4, people):
    User.objects.filter(user_id="bob").update(nick="Bob B", profile_custom={
        "Tag_Profile_Custom_Hobby": "go"})
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC, "Remark": "BB",
                      "GroupName": "g"})
    answer = v4("sns/friend_get_list", {
        "From_Account": "alice", "To_Account": ["bob", "carol", "ghost"],
        "TagList": ["Tag_Profile_IM_Nick", "Tag_SNS_IM_Remark", "Tag_SNS_IM_Group",
                    "Tag_Profile_Custom_Hobby", "Tag_SNS_Custom_None"]})
    assert answer["ErrorCode"] == 0 and answer["Fail_Account"] == ["carol", "ghost"]
    bob, carol, ghost = answer["InfoItem"]
    assert bob["ResultCode"] == 0 and bob["SnsProfileItem"] == [
        {"Tag": "Tag_Profile_IM_Nick", "Value": "Bob B"},
        {"Tag": "Tag_SNS_IM_Remark", "Value": "BB"},
        {"Tag": "Tag_SNS_IM_Group", "Value": ["g"]},
        {"Tag": "Tag_Profile_Custom_Hobby", "Value": "go"},
        {"Tag": "Tag_SNS_Custom_None", "Value": ""}]
    assert carol["ResultCode"] == 30001 and ghost["ResultCode"] == 30003
    assert carol["ResultInfo"] == "Err_SNS_FriendGetList_Friend_Not_Exist"
    assert fail(v4("sns/friend_get_list", {"From_Account": "alice", "To_Account": ["bob"],
                                           "TagList": ["Tag_Nope"]})) == 30001
    assert fail(v4("sns/friend_get_list", {
        "From_Account": "alice", "To_Account": [f"u{i}" for i in range(101)],
        "TagList": ["Tag_SNS_IM_Remark"]})) == 30001


def test_friend_lists_add_delete_get(v4, people):
    add(v4, "alice", {"To_Account": "bob", "AddSource": SRC})
    answer = v4("sns/group_add", {"From_Account": "alice", "GroupName": ["a", "b"],
                                  "To_Account": ["bob", "carol"]})
    assert results(answer) == {"bob": 0, "carol": 32216}
    assert answer["Fail_Account"] == ["carol"]
    seq = answer["CurrentSequence"]
    assert seq > 0
    plain = v4("sns/group_add", {"From_Account": "alice", "GroupName": ["c"]})
    assert "ResultItem" not in plain and plain["CurrentSequence"] > seq
    # A name that exists: nothing of the call is made.
    assert fail(v4("sns/group_add", {"From_Account": "alice", "GroupName": ["d", "a"]})) \
        == 30001
    assert not FriendGroup.objects.filter(owner__user_id="alice", name="d").exists()
    got = v4("sns/group_get", {"From_Account": "alice", "NeedFriend": "Need_Friend_Type_Yes",
                               "LastSequence": 0})
    assert got["ResultItem"] == [
        {"GroupName": "a", "FriendNumber": 1, "To_Account": ["bob"]},
        {"GroupName": "b", "FriendNumber": 1, "To_Account": ["bob"]},
        {"GroupName": "c", "FriendNumber": 0, "To_Account": []}]
    brief = v4("sns/group_get", {"From_Account": "alice", "LastSequence": 0})
    assert brief["ResultItem"][0] == {"GroupName": "a", "FriendNumber": 1}
    assert brief["CurrentSequence"] == got["CurrentSequence"]
    named = v4("sns/group_get", {"From_Account": "alice", "GroupName": ["b", "zzz"]})
    assert named["ResultItem"] == [{"GroupName": "b", "FriendNumber": 1, "To_Account": ["bob"]}]
    deleted = v4("sns/group_delete", {"From_Account": "alice", "GroupName": ["a", "c"]})
    assert deleted["ErrorCode"] == 0 and deleted["CurrentSequence"] > got["CurrentSequence"]
    assert list(FriendGroup.objects.filter(owner__user_id="alice")
                .values_list("name", flat=True)) == ["b"]
    assert has("alice", "bob")  # members stay friends
    assert fail(v4("sns/group_delete", {"From_Account": "alice", "GroupName": ["zzz"]})) \
        == 30001
    assert fail(v4("sns/group_get", {"From_Account": "alice", "NeedFriend": "yes"})) == 30001
    assert fail(v4("sns/group_add", {"From_Account": "alice", "GroupName": []})) == 30001
    assert fail(v4("sns/group_add", {"From_Account": "alice",
                                     "GroupName": [f"n{i}" for i in range(40)]})) == 30011


JUNK = [None, 0, -1, 2**40, True, "", "x", "Add_Type_Both", [], [1], ["bob"], [{}],
        [{"Tag": 1, "Value": []}], {"a": 1}, "\x00", "é" * 600]

VALID = {
    "sns/friend_add": {"From_Account": "alice", "AddType": "Add_Type_Both", "ForceAddFlags": 0,
                       "AddFriendItem": [{"To_Account": "bob", "AddSource": SRC, "Remark": "r",
                                          "GroupName": "g", "AddWording": "w"}]},
    "sns/friend_import": {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "carol", "AddSource": SRC, "Remark": "r", "RemarkTime": 1,
         "GroupName": ["g"], "AddWording": "w", "AddTime": 1,
         "CustomItem": [{"Tag": "Tag_SNS_Custom_A", "Value": "v"}]}]},
    "sns/friend_update": {"From_Account": "alice", "UpdateItem": [
        {"To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "r"}]}]},
    "sns/friend_delete": {"From_Account": "alice", "To_Account": ["bob"],
                          "DeleteType": "Delete_Type_Single"},
    "sns/friend_delete_all": {"From_Account": "dave", "DeleteType": "Delete_Type_Single"},
    "sns/friend_check": {"From_Account": "alice", "To_Account": ["bob"],
                         "CheckType": "CheckResult_Type_Both"},
    "sns/friend_get": {"From_Account": "alice", "StartIndex": 0, "StandardSequence": 0,
                       "CustomSequence": 0},
    "sns/friend_get_list": {"From_Account": "alice", "To_Account": ["bob"],
                            "TagList": ["Tag_SNS_IM_Remark"]},
    "sns/group_add": {"From_Account": "alice", "GroupName": ["g2"], "To_Account": ["bob"]},
    "sns/group_delete": {"From_Account": "alice", "GroupName": ["g2"]},
    "sns/group_get": {"From_Account": "alice", "NeedFriend": "Need_Friend_Type_Yes",
                      "GroupName": ["g"], "LastSequence": 0},
    "sns/black_list_add": {"From_Account": "dave", "To_Account": ["carol"]},
    "sns/black_list_delete": {"From_Account": "dave", "To_Account": ["carol"]},
    "sns/black_list_get": {"From_Account": "alice", "StartIndex": 0, "MaxLimited": 10,
                           "LastSequence": 0},
    "sns/black_list_check": {"From_Account": "alice", "To_Account": ["bob"],
                             "CheckType": "BlackCheckResult_Type_Both"},
    "profile/portrait_set": {"From_Account": "carol", "ProfileItem": [
        {"Tag": "Tag_Profile_IM_Nick", "Value": "n"}]},
    "profile/portrait_get": {"To_Account": ["bob"], "TagList": ["Tag_Profile_IM_Nick"]},
}


def test_no_junk_value_breaks_a_command(v4, people):
    """Every field of every command, and every field of their items, set to junk: always
    a Tencent answer (OK, or FAIL with the service's own code), never an internal error."""
    internal = {70500, 91000}
    calls = 0
    for path, valid in VALID.items():
        assert v4(path, valid)["ActionStatus"] == "OK", path
        for name, value in valid.items():
            variants = [{k: v for k, v in valid.items() if k != name}]
            variants += [{**valid, name: junk} for junk in JUNK]
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for inner in value[0]:
                    variants += [{**valid, name: [{**value[0], inner: junk}]} for junk in JUNK]
            for body in variants:
                answer = v4(path, body)
                calls += 1
                assert answer["ErrorCode"] not in internal, (path, body, answer)
                assert answer["ActionStatus"] in ("OK", "FAIL"), (path, body, answer)
                assert answer["ErrorDisplay"] == ""
    assert calls > 500


def test_friend_import_refusals_in_one_batch(v4, people):
    Block.objects.create(owner=people["alice"], blocked=people["dave"],
                         created_at=people["alice"].date_joined)
    Block.objects.create(owner=people["carol"], blocked=people["alice"],
                         created_at=people["alice"].date_joined)
    FriendGroup.objects.bulk_create([FriendGroup(owner=people["alice"], name=f"l{i}")
                                     for i in range(31)])
    FriendRequest.objects.create(requester=people["alice"], target=people["bob"],
                                 created_at=people["alice"].date_joined)
    answer = v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "dave", "AddSource": SRC},
        {"To_Account": "carol", "AddSource": SRC},
        {"To_Account": "bob", "AddSource": SRC, "GroupName": ["new1", "l0"]},
        {"To_Account": "bob", "AddSource": SRC},          # repeated: answered once
        {"To_Account": "alice", "AddSource": SRC},
        {"AddSource": SRC}]})
    assert [(r["To_Account"], r["ResultCode"]) for r in answer["ResultItem"]] == [
        ("dave", 30515), ("carol", 30525), ("bob", 0), ("alice", 30001), ("", 30001)]
    assert sorted(Friendship.objects.get(owner__user_id="alice").groups
                  .values_list("name", flat=True)) == ["l0", "new1"]
    # The request alice had sent bob is fulfilled, so it is gone.
    assert not FriendRequest.objects.exists()
    User.objects.create(user_id="erin")
    full = v4("sns/friend_import", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "erin", "AddSource": SRC, "GroupName": ["one-too-many"]}]})
    assert results(full) == {"erin": 30011}
