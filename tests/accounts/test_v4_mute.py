"""Global mute (tencent-rest.md §9): the service in accounts/mute.py and the /v4
commands openconfigsvr/setnospeaking and getnospeaking, over real HTTP."""

from __future__ import annotations

import json
import time

import pytest

from accounts import mute
from accounts.models import User

FOREVER = 4294967295


# --- the service ------------------------------------------------------------------------

@pytest.mark.django_db
def test_mute_set_stores_until_times_and_remaining_counts_down(make_user):
    alice = make_user("alice")
    mute.mute_set(alice, c2c_seconds=600, group_seconds=FOREVER, now=1_000_000)
    alice.refresh_from_db()
    assert (alice.c2c_mute_until, alice.group_mute_until) == (1_000_600, FOREVER)
    assert mute.mute_remaining(alice, now=1_000_000) == (600, FOREVER)
    assert mute.mute_remaining(alice, now=1_000_599) == (1, FOREVER)
    assert mute.mute_remaining(alice, now=1_000_600) == (0, FOREVER)
    assert mute.mute_remaining(alice, now=2_000_000) == (0, FOREVER)
    assert mute.is_c2c_muted(alice, 1_000_599)
    assert not mute.is_c2c_muted(alice, 1_000_600)


@pytest.mark.django_db
def test_mute_set_leaves_the_time_not_given_and_zero_unmutes(make_user):
    alice = make_user("alice")
    mute.mute_set(alice, c2c_seconds=FOREVER, group_seconds=60)
    mute.mute_set(alice, group_seconds=0)
    alice.refresh_from_db()
    assert alice.c2c_mute_until == FOREVER and alice.group_mute_until == 0
    assert mute.is_c2c_muted(alice, time.time() + 10 * 365 * 86400)  # for ever is for ever
    mute.mute_set(alice, c2c_seconds=0)
    alice.refresh_from_db()
    assert alice.c2c_mute_until == 0
    assert not mute.is_c2c_muted(alice, time.time())
    assert mute.mute_remaining(alice) == (0, 0)


@pytest.mark.django_db
def test_a_new_user_is_not_muted(make_user):
    bob = make_user("bob")
    assert mute.mute_remaining(bob) == (0, 0)
    assert not mute.is_c2c_muted(bob, time.time())


def test_a_huge_finite_time_is_capped_at_forever():
    assert mute.mute_until(FOREVER - 1, now=2_000_000_000) == FOREVER
    assert mute.mute_until(5, now=100) == 105
    assert mute.mute_until(0, now=100) == 0


# --- the /v4 door -----------------------------------------------------------------------

live_db = pytest.mark.django_db(transaction=True)


@live_db
def test_setnospeaking_then_getnospeaking_round_trip(v4, make_user):
    make_user("lumotuwe")
    answer = v4("openconfigsvr/setnospeaking", {
        "Set_Account": "lumotuwe", "C2CmsgNospeakingTime": 7200,
        "GroupmsgNospeakingTime": FOREVER})
    assert answer == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    user = User.objects.get(user_id="lumotuwe")
    assert user.group_mute_until == FOREVER
    assert abs(user.c2c_mute_until - (time.time() + 7200)) <= 5

    answer = v4("openconfigsvr/getnospeaking", {"Get_Account": "lumotuwe"})
    assert answer["ErrorCode"] == 0
    assert 7195 <= answer["C2CmsgNospeakingTime"] <= 7200
    assert answer["GroupmsgNospeakingTime"] == FOREVER

    # Only C2C given: the group time stays; 0 unmutes.
    v4("openconfigsvr/setnospeaking", {"Set_Account": "lumotuwe", "C2CmsgNospeakingTime": 0})
    answer = v4("openconfigsvr/getnospeaking", {"Get_Account": "lumotuwe"})
    assert (answer["C2CmsgNospeakingTime"], answer["GroupmsgNospeakingTime"]) == (0, FOREVER)

    v4("openconfigsvr/setnospeaking", {"Set_Account": "lumotuwe",
                                       "C2CmsgNospeakingTime": FOREVER})
    answer = v4("openconfigsvr/getnospeaking", {"Get_Account": "lumotuwe"})
    assert answer["C2CmsgNospeakingTime"] == FOREVER
    assert mute.is_c2c_muted(User.objects.get(user_id="lumotuwe"), time.time())


@live_db
def test_an_expired_mute_reads_as_zero(v4, make_user):
    user = make_user("brief")
    User.objects.filter(pk=user.pk).update(c2c_mute_until=int(time.time()) - 1)
    answer = v4("openconfigsvr/getnospeaking", {"Get_Account": "brief"})
    assert (answer["C2CmsgNospeakingTime"], answer["GroupmsgNospeakingTime"]) == (0, 0)


@live_db
@pytest.mark.parametrize("body, code", [
    ({"C2CmsgNospeakingTime": 60}, 130004),                          # no Set_Account
    ({"Set_Account": None, "C2CmsgNospeakingTime": 60}, 130004),
    ({"Set_Account": 42, "C2CmsgNospeakingTime": 60}, 130005),       # not a string
    ({"Set_Account": "", "C2CmsgNospeakingTime": 60}, 130005),
    ({"Set_Account": "nobody", "C2CmsgNospeakingTime": 60}, 130005),  # no such account
    ({"Set_Account": "muted"}, 130008),                               # neither time
    ({"Set_Account": "muted", "C2CmsgNospeakingTime": -1}, 130001),
    ({"Set_Account": "muted", "C2CmsgNospeakingTime": FOREVER + 1}, 130001),
    ({"Set_Account": "muted", "GroupmsgNospeakingTime": "soon"}, 130001),
    ({"Set_Account": "muted", "C2CmsgNospeakingTime": 1.5}, 130001),
])
def test_setnospeaking_failures(v4, make_user, body, code):
    make_user("muted")
    answer = v4("openconfigsvr/setnospeaking", body)
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == code, answer
    assert answer["ErrorInfo"]
    assert User.objects.get(user_id="muted").c2c_mute_until == 0


@live_db
@pytest.mark.parametrize("body, code", [
    ({}, 130002),
    ({"Get_Account": ["a"]}, 130003),
    ({"Get_Account": "nobody"}, 130003),
])
def test_getnospeaking_failures(v4, body, code):
    answer = v4("openconfigsvr/getnospeaking", body)
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == code, answer


@live_db
def test_malformed_json_is_130001(v4):
    for path in ("openconfigsvr/setnospeaking", "openconfigsvr/getnospeaking"):
        status, raw = v4.raw(path, b'{"Set_Account": ')
        assert status == 200 and json.loads(raw)["ErrorCode"] == 130001


@live_db
def test_a_muted_sender_is_refused_until_unmuted(v4, connect, make_user):
    """End to end: the mute set over /v4 is what the send pipeline reads (20012)."""
    make_user("loud"), make_user("quiet")
    loud = connect("loud")

    def send(random):
        return loud.request("sendMessage", {
            "to": "quiet", "random": random,
            "elements": [{"type": "TIMTextElem", "payload": {"text": "hey"}}]})

    assert send(1)["ok"]
    v4("openconfigsvr/setnospeaking", {"Set_Account": "loud", "C2CmsgNospeakingTime": 600})
    refused = send(2)
    assert not refused["ok"] and refused["code"] == 20012
    # A group-only mute does not touch one-to-one messages.
    v4("openconfigsvr/setnospeaking", {"Set_Account": "loud", "C2CmsgNospeakingTime": 0,
                                       "GroupmsgNospeakingTime": FOREVER})
    assert send(3)["ok"]
