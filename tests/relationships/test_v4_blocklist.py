"""/v4/sns blocklist commands (tencent-rest.md §8) through the real HTTP door: they call
relationships.services.block_add/block_remove (the send-pair lock, friendships ended
both ways) and relationships.selectors.block_list/block_check."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import AllowType, SyncEntry, User
from relationships.models import Block, Friendship

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(make_user):
    made = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    User.objects.update(allow_type=AllowType.ALLOW_ANY)
    return made


def results(answer: dict) -> dict[str, int]:
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0, answer
    assert answer["ErrorDisplay"] == ""
    return {r["To_Account"]: r["ResultCode"] for r in answer["ResultItem"]}


def fail(answer: dict) -> int:
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
    return answer["ErrorCode"]


def test_black_list_add_ends_friendships_and_reports_each_item(v4, people):
    v4("sns/friend_add", {"From_Account": "alice", "AddFriendItem": [
        {"To_Account": "bob", "AddSource": "AddSource_Type_Web"}]})
    assert Friendship.objects.count() == 2
    answer = v4("sns/black_list_add", {"From_Account": "alice",
                                       "To_Account": ["bob", "ghost", "alice", "bob"]})
    assert results(answer) == {"bob": 0, "ghost": 30003, "alice": 30001}
    assert answer["Fail_Account"] == ["ghost", "alice"]
    assert Block.objects.filter(owner__user_id="alice", blocked__user_id="bob").exists()
    assert not Friendship.objects.exists()  # both ways
    assert SyncEntry.objects.filter(user__user_id="alice", kind=SyncEntry.Kind.BLACKLIST,
                                    payload__data=["bob"]).exists()
    again = v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob"]})
    assert results(again) == {"bob": 30001}
    assert again["ResultItem"][0]["ResultInfo"] == "Err_SNS_BlackListAdd_Already_Exist"
    # No friend requests either way from now on.
    answer = v4("sns/friend_add", {"From_Account": "bob", "AddFriendItem": [
        {"To_Account": "alice", "AddSource": "AddSource_Type_Web"}]})
    assert results(answer) == {"alice": 30525}


def test_black_list_add_full_list(v4, people):
    now = timezone.now()
    others = User.objects.bulk_create([User(user_id=f"b{i:04d}") for i in range(1000)])
    Block.objects.bulk_create([Block(owner=people["alice"], blocked=u, created_at=now)
                               for u in others])
    answer = v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob"]})
    assert results(answer) == {"bob": 30013}
    assert answer["Fail_Account"] == ["bob"]


@pytest.mark.parametrize("command", ["black_list_add", "black_list_delete"])
@pytest.mark.parametrize("body, expected", [
    ({"To_Account": ["bob"]}, 30001),                           # no From_Account
    ({"From_Account": 7, "To_Account": ["bob"]}, 30001),
    ({"From_Account": "ghost", "To_Account": ["bob"]}, 30003),  # unknown
    ({"From_Account": "alice"}, 30001),                         # no To_Account
    ({"From_Account": "alice", "To_Account": []}, 30001),
    ({"From_Account": "alice", "To_Account": ["bob", 3]}, 30001),
    ({"From_Account": "alice", "To_Account": [f"u{i}" for i in range(1001)]}, 30001),
])
def test_black_list_bad_requests(v4, people, command, body, expected):
    assert fail(v4(f"sns/{command}", body)) == expected
    assert not Block.objects.exists()


def test_black_list_delete(v4, people):
    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob", "carol"]})
    answer = v4("sns/black_list_delete", {"From_Account": "alice",
                                          "To_Account": ["bob", "dave", "ghost"]})
    assert results(answer) == {"bob": 0, "dave": 30001, "ghost": 30003}
    assert answer["Fail_Account"] == ["dave", "ghost"]
    assert list(Block.objects.values_list("blocked__user_id", flat=True)) == ["carol"]


def test_black_list_get_pages(v4, people):
    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob", "carol"]})
    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["dave"]})
    first = v4("sns/black_list_get", {"From_Account": "alice", "StartIndex": 0,
                                      "MaxLimited": 2, "LastSequence": 0})
    assert first["ErrorCode"] == 0 and first["ErrorDisplay"] == ""
    assert [b["To_Account"] for b in first["BlackListItem"]] == ["bob", "carol"]
    assert all(abs(b["AddBlackTimeStamp"] - timezone.now().timestamp()) < 120
               for b in first["BlackListItem"])
    assert first["StartIndex"] == 2
    # Tencent's spelling, as documented, and the plain one.
    assert first["CurruentSequence"] == first["CurrentSequence"] == 2
    last = v4("sns/black_list_get", {"From_Account": "alice", "StartIndex": 2,
                                     "MaxLimited": 2, "LastSequence": 2})
    assert [b["To_Account"] for b in last["BlackListItem"]] == ["dave"]
    assert last["StartIndex"] == 0  # done
    v4("sns/black_list_delete", {"From_Account": "alice", "To_Account": ["dave"]})
    moved = v4("sns/black_list_get", {"From_Account": "alice", "StartIndex": 0,
                                      "MaxLimited": 10, "LastSequence": 2})
    assert moved["CurruentSequence"] == 3
    for body in ({"From_Account": "alice", "MaxLimited": 2, "LastSequence": 0},
                 {"From_Account": "alice", "StartIndex": 0, "LastSequence": 0},
                 {"From_Account": "alice", "StartIndex": 0, "MaxLimited": 2},
                 {"From_Account": "alice", "StartIndex": 0, "MaxLimited": 0, "LastSequence": 0},
                 {"From_Account": "alice", "StartIndex": 0, "MaxLimited": 1001,
                  "LastSequence": 0}):
        assert fail(v4("sns/black_list_get", body)) == 30001
    assert fail(v4("sns/black_list_get", {"From_Account": "ghost", "StartIndex": 0,
                                          "MaxLimited": 2, "LastSequence": 0})) == 30003


def test_black_list_check_relations(v4, people):
    v4("sns/black_list_add", {"From_Account": "alice", "To_Account": ["bob", "carol"]})
    v4("sns/black_list_add", {"From_Account": "bob", "To_Account": ["alice"]})
    v4("sns/black_list_add", {"From_Account": "dave", "To_Account": ["alice"]})
    ids = ["bob", "carol", "dave", "ghost"]

    def check(kind):
        answer = v4("sns/black_list_check", {"From_Account": "alice", "To_Account": ids,
                                             "CheckType": kind})
        assert answer["ErrorCode"] == 0 and answer["Fail_Account"] == ["ghost"]
        return {i["To_Account"]: (i["Relation"], i["ResultCode"])
                for i in answer["BlackListCheckItem"]}

    assert check("BlackCheckResult_Type_Both") == {
        "bob": ("BlackCheckResult_Type_BothWay", 0),
        "carol": ("BlackCheckResult_Type_AWithB", 0),
        "dave": ("BlackCheckResult_Type_BWithA", 0),
        "ghost": ("BlackCheckResult_Type_NO", 30003)}
    assert check("BlackCheckResult_Type_Single") == {
        "bob": ("BlackCheckResult_Type_AWithB", 0),
        "carol": ("BlackCheckResult_Type_AWithB", 0),
        "dave": ("BlackCheckResult_Type_NO", 0),
        "ghost": ("BlackCheckResult_Type_NO", 30003)}
    assert fail(v4("sns/black_list_check", {"From_Account": "alice", "To_Account": ids})) \
        == 30001
    assert fail(v4("sns/black_list_check", {"From_Account": "alice", "To_Account": ids,
                                            "CheckType": "CheckResult_Type_Both"})) == 30001
