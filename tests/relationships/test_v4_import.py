"""/v4 account_import and multiaccount_import of accounts that exist (tencent-rest.md §5),
through the real HTTP door: as Tencent's, an import updates the account's nick and face
URL, through relationships.services.profile_update, so the account's devices and its
friends' learn it as from any other profile change."""

from __future__ import annotations

import pytest

from accounts.models import SyncEntry, User
from accounts.selectors import profile_full
from relationships.models import Friendship

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IMPORT = "im_open_login_svc/account_import"
MULTI = "im_open_login_svc/multiaccount_import"
OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


@pytest.fixture
def people(make_user):
    """Imported accounts (no password); bob has alice in his friend list."""
    made = {name: make_user(name, password=None, avatar="https://old.example/a.png")
            for name in ("alice", "bob", "carol")}
    Friendship.objects.create(owner=made["bob"], friend=made["alice"],
                              add_time=made["bob"].date_joined)
    return made


def profile_events(user_id: str) -> list[dict]:
    return [e.payload for e in SyncEntry.objects.filter(
        user__user_id=user_id, kind=SyncEntry.Kind.PROFILE).order_by("seq")]


def test_reimport_updates_nick_and_face_and_tells_friends_devices(v4, connect, people):
    phone = connect("bob", deviceID="bobs-phone", platform="Android")
    assert v4(IMPORT, {"UserID": "alice", "Nick": "Alice Liddell",
                       "FaceUrl": "https://new.example/alice.png"}) == OK

    alice = User.objects.get(user_id="alice")
    assert (alice.nick, alice.avatar) == ("Alice Liddell", "https://new.example/alice.png")
    assert alice.pk == people["alice"].pk  # the same account
    # As a profile update: her devices and her friend's, live and through the sync log.
    event = phone.wait_event("PROFILE_UPDATED")
    assert event["data"][0]["userID"] == "alice"
    assert event["data"][0]["nick"] == "Alice Liddell"
    for user_id in ("alice", "bob"):
        assert [e["data"] for e in profile_events(user_id)] == [[profile_full(alice)]]
    assert profile_events("carol") == []


def test_reimport_changes_only_what_is_given_and_never_blanks(v4, people):
    assert v4(IMPORT, {"UserID": "alice", "Nick": "Ally"}) == OK
    assert v4(IMPORT, {"UserID": "alice", "Nick": "", "FaceUrl": ""}) == OK
    alice = User.objects.get(user_id="alice")
    assert (alice.nick, alice.avatar) == ("Ally", "https://old.example/a.png")
    # The same values again, or nothing at all: nothing changes, nothing is announced.
    assert v4(IMPORT, {"UserID": "alice", "Nick": "Ally"}) == OK
    assert v4(IMPORT, {"UserID": "alice"}) == OK
    assert len(profile_events("alice")) == 1 and len(profile_events("bob")) == 1


def test_a_bad_value_changes_nothing(v4, people):
    answer = v4(IMPORT, {"UserID": "alice", "Nick": "n" * 501, "FaceUrl": "https://x/a.png"})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 40601)
    assert v4(IMPORT, {"UserID": "alice", "Nick": 5})["ErrorCode"] == 70402
    alice = User.objects.get(user_id="alice")
    assert (alice.nick, alice.avatar) == ("Alice", "https://old.example/a.png")
    assert profile_events("alice") == [] and profile_events("bob") == []


def test_multiaccount_import_account_list_creates_and_updates(v4, connect, people):
    phone = connect("bob", deviceID="bobs-phone", platform="Android")
    answer = v4(MULTI, {"AccountList": [
        {"UserID": "alice", "Nick": "Alice L", "FaceUrl": "https://new.example/a.png"},
        {"UserID": "dave", "Nick": "Dave", "FaceUrl": "https://new.example/d.png"},
        {"UserID": "x" * 33, "Nick": "too long an ID"},
        {"UserID": "carol"}]})
    assert answer == {**OK, "FailAccounts": ["x" * 33]}
    alice, dave, carol = (User.objects.get(user_id=u) for u in ("alice", "dave", "carol"))
    assert (alice.nick, alice.avatar) == ("Alice L", "https://new.example/a.png")
    assert (dave.nick, dave.avatar) == ("Dave", "https://new.example/d.png")
    assert (carol.nick, carol.avatar) == ("Carol", "https://old.example/a.png")
    assert phone.wait_event("PROFILE_UPDATED")["data"][0]["nick"] == "Alice L"
    assert profile_events("carol") == []

    # The older form takes UserIDs only; a request malformed anywhere imports nothing.
    assert v4(MULTI, {"Accounts": ["alice", "erin"]}) == {**OK, "FailAccounts": []}
    assert User.objects.get(user_id="alice").nick == "Alice L"
    for body in ({"AccountList": [{"UserID": "fred"}, {"Nick": "no UserID"}]},
                 {"AccountList": [{"UserID": "fred"}, "ghost"]},
                 {"AccountList": [{"UserID": "fred", "Nick": 5}]},
                 {"AccountList": [{"UserID": "fred"}], "Accounts": ["gina"]},
                 {"AccountList": [{"UserID": f"u{i}"} for i in range(101)]}):
        answer = v4(MULTI, body)
        assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] in (70402, 70206)
    assert not User.objects.filter(user_id__in=["fred", "gina", "u0"]).exists()


def test_an_account_signed_up_with_a_password_is_not_updated(v4, make_user):
    make_user("mallory", nick="Mallory")  # signed up on the web UI
    answer = v4(IMPORT, {"UserID": "mallory", "Nick": "The real one"})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 910010)
    answer = v4(MULTI, {"AccountList": [{"UserID": "mallory", "Nick": "The real one"}]})
    assert answer["FailAccounts"] == ["mallory"]
    assert User.objects.get(user_id="mallory").nick == "Mallory"
    assert profile_events("mallory") == []
