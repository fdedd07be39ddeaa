"""Push-to-all audiences (tencent-rest.md §10 companions): attribute names, users'
attributes and tags, through the /v4 door over real HTTP, stored as rows."""

from __future__ import annotations

import pytest

from push.models import AttrName, UserAttr, UserTag

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def users(make_user):
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


def ok(answer: dict) -> dict:
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("OK", 0), answer
    return answer


def code(answer: dict) -> int:
    assert answer["ErrorCode"] == 0 or answer["ActionStatus"] == "FAIL", answer
    if answer["ErrorCode"]:
        assert answer["ErrorInfo"], answer  # every failure says why
    return answer["ErrorCode"]


def test_attr_names_set_get_merge_rename_and_free(v4):
    assert ok(v4("all_member_push/im_get_attr_name", {}))["AttrNames"] == {}
    ok(v4("all_member_push/im_set_attr_name",
          {"AttrNames": {"0": "sex", "1": "city", "2": "会员等级"}}))
    assert ok(v4("all_member_push/im_get_attr_name", {}))["AttrNames"] == {
        "0": "sex", "1": "city", "2": "会员等级"}
    # Slots not named keep their names; a swap of two names is one request.
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"0": "city", "1": "sex"}}))
    assert ok(v4("all_member_push/im_get_attr_name", {}))["AttrNames"] == {
        "0": "city", "1": "sex", "2": "会员等级"}
    # An empty name frees the slot.
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"2": ""}}))
    assert dict(AttrName.objects.values_list("slot", "name")) == {0: "city", 1: "sex"}


@pytest.mark.parametrize("names", [
    {"10": "too far"},                 # slots are 0 to 9
    {"x": "sex"},                      # not a number
    {"0": "n" * 51},                   # over 50 bytes
    {"0": "级" * 17},                  # 51 bytes in UTF-8
    {"0": 5},                          # not a string
    {"0": "sex", "1": "sex"},          # one name twice
    {},                                # nothing to set
])
def test_attr_name_errors(v4, names):
    assert code(v4("all_member_push/im_set_attr_name", {"AttrNames": names})) == 90033
    assert not AttrName.objects.exists()


def test_user_attrs_set_get_remove(v4, users):
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"0": "sex", "1": "city"}}))
    ok(v4("all_member_push/im_set_attr", {"UserAttrs": [
        {"To_Account": "alice", "Attrs": {"sex": "female", "city": "Shenzhen"}},
        {"To_Account": "bob", "Attrs": {"city": "Beijing"}},
    ]}))
    answer = ok(v4("all_member_push/im_get_attr", {"To_Account": ["bob", "alice", "carol"]}))
    assert answer["UserAttrs"] == [
        {"To_Account": "bob", "Attrs": {"city": "Beijing"}},
        {"To_Account": "alice", "Attrs": {"sex": "female", "city": "Shenzhen"}},
        {"To_Account": "carol", "Attrs": {}},
    ]
    # Setting again replaces the value (one row per user and attribute).
    ok(v4("all_member_push/im_set_attr",
          {"UserAttrs": [{"To_Account": "bob", "Attrs": {"city": "Shanghai"}}]}))
    assert UserAttr.objects.filter(user=users["bob"]).count() == 1
    ok(v4("all_member_push/im_remove_attr",
          {"UserAttrs": [{"To_Account": "alice", "Attrs": ["sex"]}]}))
    answer = ok(v4("all_member_push/im_get_attr", {"To_Account": ["alice", "bob"]}))
    assert answer["UserAttrs"] == [{"To_Account": "alice", "Attrs": {"city": "Shenzhen"}},
                                   {"To_Account": "bob", "Attrs": {"city": "Shanghai"}}]
    # Renaming an attribute keeps the users' values (they belong to the slot).
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"1": "town"}}))
    answer = ok(v4("all_member_push/im_get_attr", {"To_Account": ["bob"]}))
    assert answer["UserAttrs"] == [{"To_Account": "bob", "Attrs": {"town": "Shanghai"}}]
    # Freeing the slot drops the values.
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"1": ""}}))
    assert not UserAttr.objects.filter(slot=1).exists()


def test_user_attr_errors_write_nothing(v4, users):
    ok(v4("all_member_push/im_set_attr_name", {"AttrNames": {"0": "sex"}}))

    def set_attr(entries):
        return code(v4("all_member_push/im_set_attr", {"UserAttrs": entries}))

    good = {"To_Account": "alice", "Attrs": {"sex": "f"}}
    assert set_attr([good, {"To_Account": "bob", "Attrs": {"age": "3"}}]) == 90033  # unnamed
    assert set_attr([good, {"To_Account": "bob", "Attrs": {"sex": "v" * 51}}]) == 90033
    assert set_attr([good, {"To_Account": "bob", "Attrs": {"sex": ["x"]}}]) == 90033
    assert set_attr([good, {"To_Account": "bob", "Attrs": {}}]) == 90033
    assert set_attr([good, {"To_Account": "nobody", "Attrs": {"sex": "m"}}]) == 70107
    assert set_attr([good, {"Attrs": {"sex": "m"}}]) == 70402
    assert set_attr("alice") == 70402
    assert not UserAttr.objects.exists()  # all or nothing
    many = [{"To_Account": f"u{n}", "Attrs": {"sex": "m"}} for n in range(101)]
    assert set_attr(many) == 90018
    assert code(v4("all_member_push/im_get_attr", {"To_Account": "alice"})) == 70402
    assert code(v4("all_member_push/im_remove_attr",
                   {"UserAttrs": [{"To_Account": "alice", "Attrs": ["nope"]}]})) == 90033


def test_tags_add_get_remove_and_remove_all(v4, users):
    ok(v4("all_member_push/im_add_tag", {"UserTags": [
        {"To_Account": "alice", "Tags": ["vip", "beta"]},
        {"To_Account": "bob", "Tags": ["vip"]},
    ]}))
    # Adding a tag twice is no error and stores it once.
    ok(v4("all_member_push/im_add_tag", {"UserTags": [{"To_Account": "alice",
                                                        "Tags": ["vip", "vip", "标签"]}]}))
    answer = ok(v4("all_member_push/im_get_tag", {"To_Account": ["alice", "bob", "carol"]}))
    assert answer["UserTags"] == [
        {"To_Account": "alice", "Tags": ["vip", "beta", "标签"]},
        {"To_Account": "bob", "Tags": ["vip"]},
        {"To_Account": "carol", "Tags": []},
    ]
    ok(v4("all_member_push/im_remove_tag",
          {"UserTags": [{"To_Account": "alice", "Tags": ["beta", "never-had"]}]}))
    assert sorted(UserTag.objects.filter(user=users["alice"]).values_list("tag", flat=True)) \
        == ["vip", "标签"]
    ok(v4("all_member_push/im_remove_all_tags", {"To_Account": ["alice"]}))
    assert list(UserTag.objects.values_list("user__user_id", "tag")) == [("bob", "vip")]


def test_tag_errors(v4, users):
    def add(tags, who="alice"):
        return code(v4("all_member_push/im_add_tag",
                       {"UserTags": [{"To_Account": who, "Tags": tags}]}))

    assert add(["t" * 51]) == 90020                      # over 50 bytes
    assert add(["t" * 50]) == 0                          # 50 is fine
    assert add([""]) == 90040                            # an empty tag
    assert add([None]) == 90040
    assert add([]) == 90040
    assert add([f"t{n}" for n in range(11)]) == 90032    # over 10 in one request
    assert add(["x"], who="nobody") == 70107
    for n in range(9):                                   # 1 + 9 * 11 = 100 tags
        assert add([f"b{n}-{k}" for k in range(10)] + [f"c{n}"]) == 90032
        assert add([f"b{n}-{k}" for k in range(10)]) == 0
        assert add([f"c{n}"]) == 0
    assert UserTag.objects.filter(user=users["alice"]).count() == 100
    assert add(["one-more"]) == 90032                    # a user has at most 100
    assert code(v4("all_member_push/im_remove_all_tags", {"To_Account": ["nobody"]})) == 70107
    assert code(v4("all_member_push/im_get_tag",
                   {"To_Account": [f"u{n}" for n in range(101)]})) == 90018
