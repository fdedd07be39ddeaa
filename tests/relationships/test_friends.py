"""relationships.friends: every rule and code of friends, friend requests and friend
lists, the events each change leaves in both users' sync logs, and the friend list's
fixed query count."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AllowType, SyncEntry, User
from accounts.selectors import sync_head
from chat_project.errors import ChatError
from relationships import friends as fr
from relationships.models import Block, FriendGroup, FriendRequest, Friendship

pytestmark = pytest.mark.django_db

WEB = "AddSource_Type_Web"
AGREE = "Response_Action_Agree"
AGREE_AND_ADD = "Response_Action_AgreeAndAdd"


# --- helpers -------------------------------------------------------------------------

def allow(user: User, allow_type: str) -> User:
    User.objects.filter(pk=user.pk).update(allow_type=allow_type)
    user.refresh_from_db()
    return user


def code(fn, **kwargs) -> int:
    with pytest.raises(ChatError) as exc:
        fn(**kwargs)
    return exc.value.code


def has(a: User, b: User) -> bool:
    return Friendship.objects.filter(owner=a, friend=b).exists()


def log(user: User, since: int = 0) -> list[tuple[str, object]]:
    return [(e.payload["event"], e.payload["data"]) for e in
            SyncEntry.objects.filter(user=user, seq__gt=since).order_by("seq")]


def events(user: User, since: int = 0) -> list[str]:
    return [name for name, _ in log(user, since)]


def bulk_users(prefix: str, n: int) -> list[User]:
    return User.objects.bulk_create([User(user_id=f"{prefix}{i}", password="!")
                                     for i in range(n)])


def fill_friends(owner: User, n: int, prefix: str) -> list[User]:
    users = bulk_users(prefix, n)
    now = timezone.now()
    Friendship.objects.bulk_create([Friendship(owner=owner, friend=u, add_time=now)
                                    for u in users])
    return users


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return allow(make_user("bob"), AllowType.ALLOW_ANY)


@pytest.fixture
def carol(make_user):
    return make_user("carol")  # NeedConfirm, the default


# --- adding by allow type ------------------------------------------------------------

def test_allow_any_both_adds_each_to_the_others_list_with_the_fields(alice, bob):
    answer = fr.friend_add(user=alice, to="bob", source=WEB, remark="Bobby", group_name="work",
                           wording="hi, it's me")
    assert answer == {"userID": "bob", "code": 0, "message": ""}
    mine = Friendship.objects.get(owner=alice, friend=bob)
    theirs = Friendship.objects.get(owner=bob, friend=alice)
    assert (mine.remark, mine.add_source, mine.add_wording) == ("Bobby", WEB, "hi, it's me")
    assert mine.remark_time is not None and mine.add_time is not None
    assert (theirs.remark, theirs.add_source, theirs.add_wording) == ("", WEB, "hi, it's me")
    assert list(FriendGroup.objects.get(owner=alice, name="work").members.all()) == [mine]
    assert not FriendGroup.objects.filter(owner=bob).exists()

    alice_log = log(alice)
    assert [n for n, _ in alice_log] == ["FRIEND_LIST_UPDATED", "FRIEND_GROUP_LIST_UPDATED"]
    friend = alice_log[0][1]["added"][0]
    assert alice_log[0][1]["updated"] == [] and alice_log[0][1]["deleted"] == []
    assert friend["userID"] == "bob" and friend["remark"] == "Bobby"
    assert friend["groupList"] == ["work"] and friend["source"] == WEB
    assert friend["wording"] == "hi, it's me" and friend["profile"]["userID"] == "bob"
    assert friend["addTime"] == int(mine.add_time.timestamp())
    assert alice_log[1][1] == {"added": [{"name": "work", "userIDList": ["bob"], "count": 1}],
                               "updated": [], "deleted": []}
    bob_log = log(bob)
    assert [n for n, _ in bob_log] == ["FRIEND_LIST_UPDATED"]
    assert [f["userID"] for f in bob_log[0][1]["added"]] == ["alice"]


def test_allow_any_single_adds_to_my_list_only(alice, bob):
    assert fr.friend_add(user=alice, to="bob", source=WEB, add_type="Add_Type_Single")["code"] == 0
    assert has(alice, bob) and not has(bob, alice)
    assert events(alice) == ["FRIEND_LIST_UPDATED"]
    assert events(bob) == []  # bob's list did not change


def test_need_confirm_makes_a_pending_request_answered_30539(alice, carol):
    answer = fr.friend_add(user=alice, to="carol", source="AddSource_Type_Android",
                           wording="please", remark="Caz", group_name="uni")
    assert answer["code"] == 30539 and answer["userID"] == "carol"
    assert not has(alice, carol) and not has(carol, alice)
    request = FriendRequest.objects.get(requester=alice, target=carol)
    assert (request.add_type, request.remark, request.group_name, request.add_source,
            request.add_wording, request.is_read) == (
        "Add_Type_Both", "Caz", "uni", "AddSource_Type_Android", "please", False)
    assert not FriendGroup.objects.filter(owner=alice).exists()  # only once accepted

    [(name, data)] = log(carol)
    assert name == "FRIEND_APPLICATION_LIST_UPDATED"
    assert data["unreadCount"] == 1
    [app] = data["friendApplicationList"]
    assert app == {"userID": "alice", "avatar": "", "nick": "Alice",
                   "time": int(request.created_at.timestamp()),
                   "source": "AddSource_Type_Android", "wording": "please",
                   "type": "Pendency_Type_ComeIn"}
    [(name, data)] = log(alice)
    assert data["unreadCount"] == 0
    assert [(a["userID"], a["type"]) for a in data["friendApplicationList"]] == [
        ("carol", "Pendency_Type_SendOut")]
    assert fr.friend_request_list(user=carol) == log(carol)[0][1]


def test_asking_again_refreshes_the_request(alice, carol):
    fr.friend_add(user=alice, to="carol", source=WEB, wording="one")
    fr.friend_request_mark_read(user=carol)
    first = FriendRequest.objects.get()
    assert first.is_read
    assert fr.friend_add(user=alice, to="carol", source="AddSource_Type_iOS",
                         wording="two")["code"] == 30539
    again = FriendRequest.objects.get()
    assert again.pk == first.pk and again.add_wording == "two"
    assert again.add_source == "AddSource_Type_iOS" and not again.is_read
    assert again.created_at >= first.created_at
    assert fr.friend_request_list(user=carol)["unreadCount"] == 1


def test_deny_any_refuses_30516(alice, make_user):
    dave = allow(make_user("dave"), AllowType.DENY_ANY)
    assert code(fr.friend_add, user=alice, to="dave", source=WEB) == 30516
    assert not Friendship.objects.exists() and not FriendRequest.objects.exists()
    assert events(alice) == [] and events(dave) == []


@pytest.mark.parametrize("allow_type", [AllowType.NEED_CONFIRM, AllowType.DENY_ANY])
def test_a_target_who_has_me_already_needs_no_confirmation(alice, make_user, allow_type):
    dave = allow(make_user("dave"), allow_type)
    Friendship.objects.create(owner=dave, friend=alice, add_time=timezone.now())
    assert fr.friend_add(user=alice, to="dave", source=WEB)["code"] == 0
    assert has(alice, dave) and has(dave, alice)
    assert events(dave) == []  # dave's list did not change


def test_bad_adds(alice, bob):
    cases = [
        ({"to": "alice"}, 30001),  # myself
        ({"to": "nobody"}, 30003),
        ({"to": ""}, 30003),
        ({"to": None}, 910003),
        ({"to": 7}, 910003),
        ({"source": "Web"}, 30001),
        ({"source": "AddSource_Type_"}, 30001),
        ({"source": "AddSource_Type_TooLongKw"}, 30001),  # 9 letters
        ({"source": "AddSource_Type_Web1"}, 30001),  # letters only
        ({"source": None}, 910003),
        ({"add_type": "Add_Type_Three"}, 30001),
        ({"add_type": 1}, 910003),
        ({"remark": "é" * 48 + "x"}, 30001),  # 97 bytes
        ({"remark": 5}, 910003),
        ({"wording": "w" * 257}, 30001),
        ({"wording": "nul\x00"}, 30001),
        ({"group_name": "g" * 31}, 30001),
        ({"group_name": ["g"]}, 910003),
    ]
    for change, expected in cases:
        kwargs = {"user": alice, "to": "bob", "source": WEB, **change}
        assert code(fr.friend_add, **kwargs) == expected, change
    assert not Friendship.objects.exists()
    # the longest of each is fine
    assert fr.friend_add(user=alice, to="bob", source="AddSource_Type_Abcdefgh",
                         remark="é" * 48, wording="w" * 256, group_name="g" * 30)["code"] == 0
    assert code(fr.friend_add, user=alice, to="bob", source=WEB) == 30001  # already a friend


def test_blocks_stop_requests_both_ways(alice, bob, carol):
    now = timezone.now()
    Block.objects.create(owner=alice, blocked=bob, created_at=now)
    assert code(fr.friend_add, user=alice, to="bob", source=WEB) == 30515
    allow(alice, AllowType.ALLOW_ANY)
    assert code(fr.friend_add, user=bob, to="alice", source=WEB) == 30525
    assert not Friendship.objects.exists() and not FriendRequest.objects.exists()
    # a request made before a block cannot be accepted after it, either way
    allow(bob, AllowType.NEED_CONFIRM)
    assert fr.friend_add(user=carol, to="bob", source=WEB)["code"] == 30539
    Block.objects.create(owner=bob, blocked=carol, created_at=now)
    assert code(fr.friend_request_accept, user=bob, user_id="carol", action=AGREE) == 30515
    Block.objects.filter(owner=bob).delete()
    Block.objects.create(owner=carol, blocked=bob, created_at=now)
    assert code(fr.friend_request_accept, user=bob, user_id="carol", action=AGREE) == 30525
    assert not has(carol, bob) and not has(bob, carol)
    assert FriendRequest.objects.filter(requester=carol, target=bob).exists()


# --- limits --------------------------------------------------------------------------

def test_my_full_list_is_30010_and_the_peers_30014(alice, bob, carol, make_user):
    fill_friends(alice, fr.MAX_FRIENDS, "a-")
    assert code(fr.friend_add, user=alice, to="bob", source=WEB) == 30010
    assert code(fr.friend_add, user=alice, to="carol", source=WEB) == 30010  # even to ask
    fill_friends(bob, fr.MAX_FRIENDS, "b-")
    dave = allow(make_user("dave"), AllowType.ALLOW_ANY)
    assert code(fr.friend_add, user=dave, to="bob", source=WEB) == 30014
    assert fr.friend_add(user=dave, to="bob", source=WEB, add_type="Add_Type_Single")["code"] == 0
    assert has(dave, bob) and not has(bob, dave)


def test_accepting_checks_both_lists(alice, carol, make_user):
    erin = make_user("erin")
    assert fr.friend_add(user=alice, to="carol", source=WEB)["code"] == 30539
    assert fr.friend_add(user=erin, to="carol", source=WEB)["code"] == 30539
    fill_friends(alice, fr.MAX_FRIENDS, "a-")  # the requester filled up meanwhile
    assert code(fr.friend_request_accept, user=carol, user_id="alice", action=AGREE) == 30014
    fill_friends(carol, fr.MAX_FRIENDS, "c-")
    assert code(fr.friend_request_accept, user=carol, user_id="erin",
                action=AGREE_AND_ADD) == 30010
    # Agree alone adds nothing to carol's list, so it still works
    assert fr.friend_request_accept(user=carol, user_id="erin", action=AGREE) == {
        "userID": "erin"}
    assert has(erin, carol) and not has(carol, erin)


def test_32_friend_lists_at_most(alice, bob):
    for i in range(fr.MAX_FRIEND_GROUPS):
        fr.friend_group_create(user=alice, name=f"list {i}")
    assert code(fr.friend_group_create, user=alice, name="one more") == 30011
    assert code(fr.friend_add, user=alice, to="bob", source=WEB, group_name="new") == 30011
    assert fr.friend_add(user=alice, to="bob", source=WEB, group_name="list 3")["code"] == 0
    assert fr.friend_list(user=alice)["friendList"][0]["groupList"] == ["list 3"]


def test_a_list_named_in_a_request_is_skipped_when_full_by_acceptance(alice, carol):
    fr.friend_add(user=alice, to="carol", source=WEB, group_name="new list")
    for i in range(fr.MAX_FRIEND_GROUPS):
        fr.friend_group_create(user=alice, name=f"list {i}")
    fr.friend_request_accept(user=carol, user_id="alice", action=AGREE)
    assert has(alice, carol)
    assert not FriendGroup.objects.filter(owner=alice, name="new list").exists()


def test_pending_requests_sent_are_limited_30012(alice, carol):
    targets = bulk_users("t-", fr.MAX_PENDING_SENT)
    now = timezone.now()
    FriendRequest.objects.bulk_create([FriendRequest(requester=alice, target=t, created_at=now)
                                       for t in targets])
    assert code(fr.friend_add, user=alice, to="carol", source=WEB) == 30012
    # asking again one already asked only refreshes it
    assert fr.friend_add(user=alice, to=targets[0].user_id, source=WEB)["code"] == 30539
    fr.friend_request_delete(user=alice, user_id=targets[1].user_id,
                             pendency_type="Pendency_Type_SendOut")
    assert fr.friend_add(user=alice, to="carol", source=WEB)["code"] == 30539


# --- requests ------------------------------------------------------------------------

def test_agree_makes_the_one_way_relation_the_requester_asked(alice, carol):
    fr.friend_add(user=alice, to="carol", source=WEB, remark="Caz", group_name="uni",
                  wording="hello")
    a0, c0 = sync_head(alice.pk), sync_head(carol.pk)
    assert fr.friend_request_accept(user=carol, user_id="alice", action=AGREE,
                                    remark="ignored") == {"userID": "alice"}
    assert has(alice, carol) and not has(carol, alice)
    row = Friendship.objects.get(owner=alice, friend=carol)
    assert (row.remark, row.add_source, row.add_wording) == ("Caz", WEB, "hello")
    assert not FriendRequest.objects.exists()
    alice_log = log(alice, a0)
    assert [n for n, _ in alice_log] == ["FRIEND_LIST_UPDATED", "FRIEND_GROUP_LIST_UPDATED",
                                         "FRIEND_APPLICATION_LIST_UPDATED"]
    assert alice_log[0][1]["added"][0]["groupList"] == ["uni"]
    assert alice_log[1][1]["added"] == [{"name": "uni", "userIDList": ["carol"], "count": 1}]
    assert alice_log[2][1] == {"friendApplicationList": [], "unreadCount": 0}
    assert log(carol, c0) == [("FRIEND_APPLICATION_LIST_UPDATED",
                               {"friendApplicationList": [], "unreadCount": 0})]


def test_agree_and_add_makes_it_two_way_with_my_remark(alice, carol):
    fr.friend_add(user=alice, to="carol", source=WEB, wording="hello",
                  add_type="Add_Type_Single")
    c0 = sync_head(carol.pk)
    fr.friend_request_accept(user=carol, user_id="alice", action=AGREE_AND_ADD, remark="Al")
    assert has(alice, carol) and has(carol, alice)
    mine = Friendship.objects.get(owner=carol, friend=alice)
    assert (mine.remark, mine.add_source, mine.add_wording) == ("Al", WEB, "hello")
    carol_log = log(carol, c0)
    assert [n for n, _ in carol_log] == ["FRIEND_LIST_UPDATED", "FRIEND_APPLICATION_LIST_UPDATED"]
    assert carol_log[0][1]["added"][0]["remark"] == "Al"


def test_answering_requests_that_are_not_there(alice, carol):
    for fn, kwargs in [(fr.friend_request_accept, {"action": AGREE}),
                       (fr.friend_request_refuse, {}),
                       (fr.friend_request_delete, {"pendency_type": "Pendency_Type_ComeIn"})]:
        assert code(fn, user=carol, user_id="alice", **kwargs) == 30614
        assert code(fn, user=carol, user_id="ghost", **kwargs) == 30003
        assert code(fn, user=carol, user_id="carol", **kwargs) == 30001
        assert code(fn, user=carol, user_id=None, **kwargs) == 910003
    fr.friend_add(user=alice, to="carol", source=WEB)
    # the requester cannot accept their own request
    assert code(fr.friend_request_accept, user=alice, user_id="carol", action=AGREE) == 30614
    assert code(fr.friend_request_accept, user=carol, user_id="alice",
                action="Response_Action_Maybe") == 30001
    assert code(fr.friend_request_accept, user=carol, user_id="alice", action=None) == 910003
    assert code(fr.friend_request_accept, user=carol, user_id="alice", action=AGREE,
                remark="r" * 97) == 30001
    assert code(fr.friend_request_delete, user=carol, user_id="alice",
                pendency_type="Pendency_Type_Both") == 30001
    assert FriendRequest.objects.count() == 1


def test_refuse_and_delete_remove_the_request_for_both(alice, carol, make_user):
    dave = make_user("dave")
    fr.friend_add(user=alice, to="carol", source=WEB)
    fr.friend_add(user=dave, to="carol", source=WEB)
    fr.friend_add(user=carol, to="dave", source=WEB)
    a0, c0 = sync_head(alice.pk), sync_head(carol.pk)
    assert fr.friend_request_refuse(user=carol, user_id="alice") == {"userID": "alice"}
    assert not FriendRequest.objects.filter(requester=alice).exists()
    assert not has(alice, carol) and not has(carol, alice)
    assert events(alice, a0) == events(carol, c0) == ["FRIEND_APPLICATION_LIST_UPDATED"]
    assert code(fr.friend_request_refuse, user=carol, user_id="alice") == 30614

    # ComeIn dismisses one sent to me, SendOut withdraws mine
    fr.friend_request_delete(user=carol, user_id="dave", pendency_type="Pendency_Type_ComeIn")
    assert not FriendRequest.objects.filter(requester=dave).exists()
    assert FriendRequest.objects.filter(requester=carol, target=dave).exists()
    fr.friend_request_delete(user=carol, user_id="dave", pendency_type="Pendency_Type_SendOut")
    assert not FriendRequest.objects.exists()
    assert fr.friend_request_list(user=dave) == {"friendApplicationList": [], "unreadCount": 0}


def test_request_lists_by_type_newest_first(alice, carol, make_user):
    dave, erin = make_user("dave"), make_user("erin")
    fr.friend_add(user=dave, to="carol", source=WEB)
    fr.friend_add(user=erin, to="carol", source=WEB)
    fr.friend_add(user=carol, to="alice", source=WEB)

    def ids(pendency_type=None):
        answer = fr.friend_request_list(user=carol, pendency_type=pendency_type)
        return [(a["userID"], a["type"][14:]) for a in answer["friendApplicationList"]], \
            answer["unreadCount"]

    assert ids() == ([("alice", "SendOut"), ("erin", "ComeIn"), ("dave", "ComeIn")], 2)
    assert ids("Pendency_Type_ComeIn") == ([("erin", "ComeIn"), ("dave", "ComeIn")], 2)
    assert ids("Pendency_Type_SendOut") == ([("alice", "SendOut")], 2)
    assert code(fr.friend_request_list, user=carol, pendency_type="Pendency_Type_X") == 30001


def test_mark_read(alice, carol, make_user):
    dave = make_user("dave")
    fr.friend_add(user=alice, to="carol", source=WEB)
    fr.friend_add(user=dave, to="carol", source=WEB)
    c0, a0 = sync_head(carol.pk), sync_head(alice.pk)
    assert fr.friend_request_mark_read(user=carol) == {}
    [(name, data)] = log(carol, c0)
    assert name == "FRIEND_APPLICATION_LIST_UPDATED" and data["unreadCount"] == 0
    assert len(data["friendApplicationList"]) == 2
    assert log(alice, a0) == []  # read marks are the target's own business
    fr.friend_request_mark_read(user=carol)
    assert len(log(carol, c0)) == 1  # nothing was unread: no event


def test_a_request_fulfilled_another_way_goes(alice, carol):
    assert fr.friend_add(user=alice, to="carol", source=WEB)["code"] == 30539
    allow(alice, AllowType.ALLOW_ANY)
    a0 = sync_head(alice.pk)
    # carol adds alice both ways: alice now has carol, which is what alice asked
    assert fr.friend_add(user=carol, to="alice", source=WEB)["code"] == 0
    assert has(alice, carol) and has(carol, alice)
    assert not FriendRequest.objects.exists()
    assert events(alice, a0) == ["FRIEND_LIST_UPDATED", "FRIEND_APPLICATION_LIST_UPDATED"]


def test_the_application_event_is_bounded(alice, carol):
    askers = bulk_users("asker-", fr.APPLICATION_EVENT_LIMIT + 5)
    now = timezone.now()
    FriendRequest.objects.bulk_create([FriendRequest(requester=u, target=carol, created_at=now)
                                       for u in askers])
    fr.friend_add(user=alice, to="carol", source=WEB)
    data = log(carol)[-1][1]
    assert len(data["friendApplicationList"]) == fr.APPLICATION_EVENT_LIMIT
    assert data["friendApplicationList"][0]["userID"] == "alice"  # the newest first
    assert data["unreadCount"] == fr.APPLICATION_EVENT_LIMIT + 6
    assert len(fr.friend_request_list(user=carol)["friendApplicationList"]) == \
        fr.APPLICATION_EVENT_LIMIT + 6


# --- deleting ------------------------------------------------------------------------

def test_delete_single_and_both(alice, bob, make_user):
    allow(make_user("dave"), AllowType.ALLOW_ANY)
    fr.friend_add(user=alice, to="bob", source=WEB, group_name="g")
    fr.friend_add(user=alice, to="dave", source=WEB, group_name="g")
    fr.friend_group_create(user=bob, name="bobs", user_ids=["alice"])
    a0, b0 = sync_head(alice.pk), sync_head(bob.pk)

    answer = fr.friend_delete(user=alice, user_ids=["bob", "ghost", "alice"],
                              delete_type="Delete_Type_Single")
    assert answer == {"successUserIDList": [{"userID": "bob"}], "failureUserIDList": [
        {"userID": "ghost", "code": 30003, "message": "account not found"},
        {"userID": "alice", "code": 30001, "message": "that is you"}]}
    assert not has(alice, bob) and has(bob, alice)
    assert log(alice, a0) == [
        ("FRIEND_LIST_UPDATED", {"added": [], "updated": [], "deleted": ["bob"]}),
        ("FRIEND_GROUP_LIST_UPDATED", {"added": [], "deleted": [], "updated": [
            {"name": "g", "userIDList": ["dave"], "count": 1}]})]
    assert log(bob, b0) == []
    # single again: bob is no longer in my list
    again = fr.friend_delete(user=alice, user_ids=["bob"], delete_type="Delete_Type_Single")
    assert again["failureUserIDList"][0]["code"] == 31704
    # both (the default): I am taken out of bob's list even though he is not in mine
    assert fr.friend_delete(user=alice, user_ids=["bob"])["successUserIDList"] == [
        {"userID": "bob"}]
    assert not has(bob, alice)
    assert log(bob, b0) == [
        ("FRIEND_LIST_UPDATED", {"added": [], "updated": [], "deleted": ["alice"]}),
        ("FRIEND_GROUP_LIST_UPDATED", {"added": [], "deleted": [], "updated": [
            {"name": "bobs", "userIDList": [], "count": 0}]})]
    assert fr.friend_delete(user=alice, user_ids=["bob"])["failureUserIDList"][0]["code"] \
        == 31704
    for bad, expected in [([], 30001), (None, 910003), ("bob", 910003), ([1], 910003),
                          ([f"u{i}" for i in range(1001)], 30001)]:
        assert code(fr.friend_delete, user=alice, user_ids=bad) == expected
    assert code(fr.friend_delete, user=alice, user_ids=["dave"],
                delete_type="Delete_Type_All") == 30001


def test_delete_all_in_batches(alice, make_user):
    mine = fill_friends(alice, fr.DELETE_BATCH + 30, "m-")
    fans = bulk_users("f-", 20)
    now = timezone.now()
    Friendship.objects.bulk_create([Friendship(owner=f, friend=alice, add_time=now)
                                    for f in fans + mine[:10]])
    answer = fr.friend_delete_all(user=alice)  # single, the default
    assert len(answer["successUserIDList"]) == fr.DELETE_BATCH + 30
    assert not Friendship.objects.filter(owner=alice).exists()
    assert Friendship.objects.filter(friend=alice).count() == 30  # single: theirs stay
    deleted = [uid for name, data in log(alice) for uid in data["deleted"]]
    assert sorted(deleted) == sorted(u.user_id for u in mine)
    assert len(log(alice)) == 2  # one event per batch

    answer = fr.friend_delete_all(user=alice, delete_type="Delete_Type_Both")
    assert sorted(a["userID"] for a in answer["successUserIDList"]) == sorted(
        u.user_id for u in fans + mine[:10])
    assert not Friendship.objects.filter(friend=alice).exists()
    assert log(fans[0]) == [("FRIEND_LIST_UPDATED",
                             {"added": [], "updated": [], "deleted": ["alice"]})]
    assert fr.friend_delete_all(user=alice) == {"successUserIDList": []}


# --- check, profiles, list -----------------------------------------------------------

def test_check_relations(alice, bob, make_user):
    dave, erin = make_user("dave"), make_user("erin")
    now = timezone.now()
    Friendship.objects.bulk_create([
        Friendship(owner=alice, friend=bob, add_time=now),
        Friendship(owner=bob, friend=alice, add_time=now),
        Friendship(owner=alice, friend=dave, add_time=now),
        Friendship(owner=erin, friend=alice, add_time=now)])
    ids = ["bob", "dave", "erin", "carol", "ghost", "alice", "bob"]
    make_user("carol")

    def relations(check_type):
        answer = fr.friend_check(user=alice, user_ids=ids, check_type=check_type)
        assert all(item["code"] == 0 for item in answer["successUserIDList"])
        return ({i["userID"]: i["relation"][17:] for i in answer["successUserIDList"]},
                [(f["userID"], f["code"]) for f in answer["failureUserIDList"]])

    assert relations("CheckResult_Type_Both") == (
        {"bob": "BothWay", "dave": "AWithB", "erin": "BWithA", "carol": "NoRelation"},
        [("ghost", 30003), ("alice", 30001)])
    assert relations(None) == relations("CheckResult_Type_Both")  # the default
    assert relations("CheckResult_Type_Single") == (
        {"bob": "AWithB", "dave": "AWithB", "erin": "NoRelation", "carol": "NoRelation"},
        [("ghost", 30003), ("alice", 30001)])
    assert code(fr.friend_check, user=alice, user_ids=["bob"], check_type="Both") == 30001
    assert code(fr.friend_check, user=alice, user_ids=[]) == 30001


def test_friend_profiles(alice, bob, carol):
    fr.friend_add(user=alice, to="bob", source=WEB, remark="B")
    answer = fr.friend_profiles(user=alice, user_ids=["carol", "bob", "ghost"])
    assert [f["userID"] for f in answer["friendList"]] == ["bob"]
    assert answer["friendList"][0]["remark"] == "B"
    assert answer["friendList"][0]["profile"]["allowType"] == AllowType.ALLOW_ANY
    assert [(f["userID"], f["code"]) for f in answer["failureUserIDList"]] == [
        ("carol", 30001), ("ghost", 30003)]
    assert code(fr.friend_profiles, user=alice,
                user_ids=[f"u{i}" for i in range(fr.MAX_PROFILE_IDS + 1)]) == 30001


def test_friend_list_pages(alice):
    users = fill_friends(alice, 7, "p-")
    first = fr.friend_list(user=alice, count=3)
    assert [f["userID"] for f in first["friendList"]] == [u.user_id for u in users[:3]]
    assert (first["nextStartIndex"], first["isCompleted"], first["friendNum"]) == (3, False, 7)
    rest = fr.friend_list(user=alice, start_index=3, count=10)
    assert [f["userID"] for f in rest["friendList"]] == [u.user_id for u in users[3:]]
    assert (rest["nextStartIndex"], rest["isCompleted"]) == (7, True)
    assert fr.friend_list(user=alice)["friendNum"] == 7  # 100 a page by default
    for kwargs, expected in [({"count": 0}, 30001), ({"count": 1001}, 30001),
                             ({"start_index": -1}, 30001), ({"count": "3"}, 910003),
                             ({"start_index": True}, 910003)]:
        assert code(fr.friend_list, user=alice, **kwargs) == expected


@pytest.mark.parametrize("n", [5, 60])
def test_friend_list_costs_three_queries_however_many_friends(alice, n):
    users = fill_friends(alice, n, "q-")
    rows = list(Friendship.objects.filter(owner=alice).order_by("id"))
    members = [rows[0::2], rows[1::2], rows[0::3]]
    for i, some in enumerate(members):
        FriendGroup.objects.create(owner=alice, name=f"g{i}").members.add(*some)
    Friendship.objects.filter(owner=alice).update(custom={"Tag_SNS_Custom_K": "v"})
    with CaptureQueriesContext(connection) as queries:
        page = fr.friend_list(user=alice, count=1000)
    assert len(queries) == 3, [q["sql"] for q in queries]
    assert len(page["friendList"]) == n
    assert page["friendList"][0]["groupList"] == ["g0", "g2"]
    assert page["friendList"][0]["profile"]["userID"] == users[0].user_id
    with CaptureQueriesContext(connection) as queries:
        groups = fr.friend_group_list(user=alice)
    assert len(queries) == 2
    assert [g["userIDList"] for g in groups] == [[f.friend.user_id for f in some]
                                                 for some in members]


# --- updating a friend ---------------------------------------------------------------

def test_update_remark_and_custom_fields(alice, bob):
    fr.friend_add(user=alice, to="bob", source=WEB)
    a0, b0 = sync_head(alice.pk), sync_head(bob.pk)
    friend = fr.friend_update(user=alice, user_id="bob", remark="Bobby", custom_fields=[
        {"key": "Tag_SNS_Custom_Color", "value": "blue"},
        {"key": "Tag_SNS_Custom_x_1", "value": "v" * 500}])
    assert friend["remark"] == "Bobby"
    assert friend["friendCustomField"] == [{"key": "Tag_SNS_Custom_Color", "value": "blue"},
                                           {"key": "Tag_SNS_Custom_x_1", "value": "v" * 500}]
    row = Friendship.objects.get(owner=alice, friend=bob)
    assert row.remark_time is not None
    assert log(alice, a0) == [("FRIEND_LIST_UPDATED",
                               {"added": [], "updated": [friend], "deleted": []})]
    assert log(bob, b0) == []
    # only what is given changes; an empty value removes the key
    friend = fr.friend_update(user=alice, user_id="bob", custom_fields=[
        {"key": "Tag_SNS_Custom_Color", "value": ""}])
    assert friend["remark"] == "Bobby"
    assert [f["key"] for f in friend["friendCustomField"]] == ["Tag_SNS_Custom_x_1"]
    assert fr.friend_profiles(user=alice, user_ids=["bob"])["friendList"] == [friend]

    cases = [
        ({"remark": "r" * 97}, 30001),
        ({"remark": 1}, 910003),
        ({}, 910003),  # nothing to change
        ({"custom_fields": [{"key": "Tag_SNS_Custom_TooLong12", "value": "v"}]}, 30001),
        ({"custom_fields": [{"key": "Tag_Profile_Custom_A", "value": "v"}]}, 30001),
        ({"custom_fields": [{"key": "Tag_SNS_Custom_A", "value": "v" * 501}]}, 30001),
        ({"custom_fields": [{"key": "Tag_SNS_Custom_A", "value": 5}]}, 910003),
        ({"custom_fields": [{"key": "Tag_SNS_Custom_A"}]}, 910003),
        ({"custom_fields": {"Tag_SNS_Custom_A": "v"}}, 910003),
        ({"custom_fields": [{"key": f"Tag_SNS_Custom_K{i}", "value": "v"}
                            for i in range(fr.MAX_CUSTOM_FIELDS)]}, 30001),  # 21 with x_1
    ]
    for change, expected in cases:
        assert code(fr.friend_update, user=alice, user_id="bob", **change) == expected, change
    assert fr.friend_profiles(user=alice, user_ids=["bob"])["friendList"] == [friend]
    assert code(fr.friend_update, user=bob, user_id="ghost", remark="x") == 30003
    fr.friend_delete(user=alice, user_ids=["bob"], delete_type="Delete_Type_Single")
    assert code(fr.friend_update, user=alice, user_id="bob", remark="x") == 30001


# --- friend lists --------------------------------------------------------------------

def test_friend_lists(alice, bob, carol, make_user):
    dave = allow(make_user("dave"), AllowType.ALLOW_ANY)
    fr.friend_add(user=alice, to="bob", source=WEB)
    fr.friend_add(user=alice, to="dave", source=WEB)
    a0 = sync_head(alice.pk)

    answer = fr.friend_group_create(user=alice, name="close", user_ids=["bob", "carol", "ghost"])
    assert answer == {"friendGroup": {"name": "close", "userIDList": ["bob"], "count": 1},
                      "failureUserIDList": [
                          {"userID": "carol", "code": 32216,
                           "message": "not a friend, so not added to the friend list"},
                          {"userID": "ghost", "code": 30003, "message": "account not found"}]}
    created = log(alice, a0)
    assert [n for n, _ in created] == ["FRIEND_LIST_UPDATED", "FRIEND_GROUP_LIST_UPDATED"]
    assert [(f["userID"], f["groupList"]) for f in created[0][1]["updated"]] == [
        ("bob", ["close"])]
    assert created[1][1]["added"] == [answer["friendGroup"]]
    for name, expected in [("close", 30001), ("", 30001), ("x" * 31, 30001), (None, 910003)]:
        assert code(fr.friend_group_create, user=alice, name=name) == expected

    a1 = sync_head(alice.pk)
    added = fr.friend_group_add_members(user=alice, name="close", user_ids=["dave", "bob",
                                                                            "carol"])
    assert added["friendGroup"] == {"name": "close", "userIDList": ["bob", "dave"], "count": 2}
    assert [(f["userID"], f["code"]) for f in added["failureUserIDList"]] == [("carol", 32216)]
    assert [n for n, _ in log(alice, a1)] == ["FRIEND_LIST_UPDATED",
                                              "FRIEND_GROUP_LIST_UPDATED"]
    assert [f["userID"] for f in log(alice, a1)[0][1]["updated"]] == ["dave"]  # bob was in

    renamed = fr.friend_group_rename(user=alice, old_name="close", new_name="best")
    assert renamed == {"friendGroup": {"name": "best", "userIDList": ["bob", "dave"],
                                       "count": 2}}
    fr.friend_group_create(user=alice, name="other")
    assert code(fr.friend_group_rename, user=alice, old_name="best", new_name="other") == 30001
    assert code(fr.friend_group_rename, user=alice, old_name="nope", new_name="x") == 30001
    assert code(fr.friend_group_rename, user=alice, old_name="best", new_name="") == 30001
    assert code(fr.friend_group_rename, user=alice, old_name="best", new_name=3) == 910003

    removed = fr.friend_group_remove_members(user=alice, name="best",
                                             user_ids=["bob", "carol"])
    assert removed["friendGroup"]["userIDList"] == ["dave"]
    assert [(f["userID"], f["code"]) for f in removed["failureUserIDList"]] == [
        ("carol", 32216)]
    again = fr.friend_group_remove_members(user=alice, name="best", user_ids=["bob"])
    assert [(f["userID"], f["code"]) for f in again["failureUserIDList"]] == [("bob", 30001)]
    for fn in (fr.friend_group_add_members, fr.friend_group_remove_members):
        assert code(fn, user=alice, name="nope", user_ids=["bob"]) == 30001
        assert code(fn, user=alice, name="best", user_ids=[]) == 30001

    a2 = sync_head(alice.pk)
    assert fr.friend_group_delete(user=alice, name="best") == {
        "friendGroup": {"name": "best", "userIDList": ["dave"], "count": 1}}
    assert has(alice, dave)  # members stay friends
    assert log(alice, a2)[1] == ("FRIEND_GROUP_LIST_UPDATED",
                                 {"added": [], "updated": [], "deleted": ["best"]})
    assert log(alice, a2)[0][1]["updated"][0]["groupList"] == []
    assert code(fr.friend_group_delete, user=alice, name="best") == 30001
    assert [g["name"] for g in fr.friend_group_list(user=alice)] == ["other"]
    assert fr.friend_group_list(user=bob) == []


# --- events a client applies give the state it would fetch ---------------------------

class ClientState:
    """What a client holds: fetched once, then kept up by the sync log's events only."""

    def __init__(self, user: User):
        self.user = user
        self.seq = sync_head(user.pk)
        self.friends, self.groups, self.applications = self.fetch()

    def fetch(self):
        friends = {f["userID"]: f for f in
                   fr.friend_list(user=self.user, count=1000)["friendList"]}
        groups = {g["name"]: g for g in fr.friend_group_list(user=self.user)}
        return friends, groups, fr.friend_request_list(user=self.user)

    def apply(self, name, data):
        if name == "FRIEND_LIST_UPDATED":
            for friend in data["added"]:
                assert friend["userID"] not in self.friends
                self.friends[friend["userID"]] = friend
            for friend in data["updated"]:
                assert friend["userID"] in self.friends
                self.friends[friend["userID"]] = friend
            for user_id in data["deleted"]:
                del self.friends[user_id]
        elif name == "FRIEND_GROUP_LIST_UPDATED":
            for group in data["added"]:
                assert group["name"] not in self.groups
                self.groups[group["name"]] = group
            for group in data["updated"]:
                assert group["name"] in self.groups
                self.groups[group["name"]] = group
            for group_name in data["deleted"]:
                del self.groups[group_name]
        elif name == "FRIEND_APPLICATION_LIST_UPDATED":
            self.applications = data

    def catch_up_and_compare(self):
        for entry in SyncEntry.objects.filter(user=self.user, seq__gt=self.seq).order_by("seq"):
            self.apply(entry.payload["event"], entry.payload["data"])
            self.seq = entry.seq
        assert (self.friends, self.groups, self.applications) == self.fetch()


def test_events_keep_every_client_equal_to_a_fresh_fetch(alice, bob, carol, make_user):
    dave = allow(make_user("dave"), AllowType.ALLOW_ANY)
    clients = [ClientState(u) for u in (alice, bob, carol, dave)]
    steps = [
        lambda: fr.friend_add(user=alice, to="bob", source=WEB, group_name="work"),
        lambda: fr.friend_add(user=alice, to="carol", source=WEB, remark="C", group_name="uni"),
        lambda: fr.friend_request_mark_read(user=carol),
        lambda: fr.friend_request_accept(user=carol, user_id="alice", action=AGREE_AND_ADD,
                                         remark="A"),
        lambda: fr.friend_group_create(user=alice, name="close", user_ids=["bob", "carol"]),
        lambda: fr.friend_group_rename(user=alice, old_name="close", new_name="best"),
        lambda: fr.friend_update(user=alice, user_id="bob", remark="B", custom_fields=[
            {"key": "Tag_SNS_Custom_K", "value": "v"}]),
        lambda: fr.friend_group_create(user=carol, name="x", user_ids=["alice"]),
        lambda: fr.friend_delete(user=bob, user_ids=["alice"], delete_type="Delete_Type_Single"),
        lambda: fr.friend_delete(user=alice, user_ids=["carol"]),
        lambda: fr.friend_add(user=dave, to="alice", source=WEB),
        lambda: fr.friend_add(user=dave, to="carol", source=WEB),
        lambda: fr.friend_request_refuse(user=alice, user_id="dave"),
        lambda: fr.friend_add(user=alice, to="dave", source=WEB, add_type="Add_Type_Single",
                              group_name="best"),
        lambda: fr.friend_group_remove_members(user=alice, name="best", user_ids=["bob"]),
        lambda: fr.friend_group_add_members(user=alice, name="work", user_ids=["dave"]),
        lambda: fr.friend_group_delete(user=alice, name="work"),
        lambda: fr.friend_request_delete(user=dave, user_id="carol",
                                         pendency_type="Pendency_Type_SendOut"),
        lambda: fr.friend_add(user=bob, to="alice", source=WEB, group_name="mates"),
        lambda: fr.friend_delete_all(user=alice, delete_type="Delete_Type_Both"),
    ]
    for step in steps:
        step()
        for client in clients:
            client.catch_up_and_compare()
    assert clients[0].friends == {} and clients[1].friends == {}


# --- concurrency ---------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_never_pass_the_friend_limit(make_user):
    alice = make_user("alice")
    fill_friends(alice, fr.MAX_FRIENDS - 1, "c-")
    peers = [allow(make_user(f"peer{i}"), AllowType.ALLOW_ANY) for i in range(4)]
    barrier = threading.Barrier(len(peers))
    results: list = []

    def add(peer):
        try:
            barrier.wait()
            results.append(fr.friend_add(user=alice, to=peer.user_id, source=WEB,
                                         add_type="Add_Type_Single")["code"])
        except ChatError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(p,)) for p in peers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 30010, 30010, 30010]
    assert Friendship.objects.filter(owner=alice).count() == fr.MAX_FRIENDS
