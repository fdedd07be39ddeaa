"""Message reactions (messaging/reactions.py): add and remove with Tencent's codes, who
may, bounds, reads, the event in both people's sync logs, and a recall, the purge and
an account deletion taking them along (PostgreSQL, threads on their own connections
for the race)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import SyncEntry
from chat_project.errors import ChatError
from messaging.changes import message_revoke, messages_delete
from messaging.commands import Origin
from messaging.models import Message, Reaction
from messaging.reactions import (
    reaction_add,
    reaction_list_dict,
    reaction_remove,
    reaction_users,
    reactions_get,
)
from messaging.services import message_send

pytestmark = pytest.mark.django_db(transaction=True)


def send(sender, to, random=1):
    return message_send(origin=Origin.USER, sender=sender, to=to.user_id,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}],
                        random=random)


def pk_of(view) -> int:
    return int(view["ID"].split("-")[0])


def code_of(fn, **kw) -> int:
    with pytest.raises(ChatError) as err:
        fn(**kw)
    return err.value.code


def shown(msg_pk, viewer, **kw):
    [(msg, infos)] = reactions_get(message_pks=[msg_pk], actor=viewer, **kw)
    return reaction_list_dict(msg, infos)["reactionList"]


@pytest.fixture
def trio(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    alice.nick = "Alice A."
    alice.avatar = "https://example.test/a.png"
    alice.save()
    return alice, bob, carol


def test_add_remove_and_read_as_tencent_shapes_them(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    reaction_add(message_pk=m, actor=alice, reaction_id="👍")
    reaction_add(message_pk=m, actor=bob, reaction_id="🎉")
    reaction_add(message_pk=m, actor=bob, reaction_id="👍")
    alice_card = {"userID": "alice", "nick": "Alice A.", "avatar": "https://example.test/a.png"}
    bob_card = {"userID": "bob", "nick": "Bob", "avatar": ""}
    # In the order each reaction first came, its people in the order they came.
    assert shown(m, alice) == [
        {"reactionID": "👍", "totalUserCount": 2, "partialUserList": [alice_card, bob_card],
         "reactedByMyself": True},
        {"reactionID": "🎉", "totalUserCount": 1, "partialUserList": [bob_card],
         "reactedByMyself": False}]
    assert [r["reactedByMyself"] for r in shown(m, bob)] == [True, True]
    # maxUserCountPerReaction cuts the people shown, not the count.
    assert shown(m, bob, max_users=1)[0] == {
        "reactionID": "👍", "totalUserCount": 2, "partialUserList": [alice_card],
        "reactedByMyself": True}
    assert shown(m, bob, max_users=0)[0]["partialUserList"] == []
    # Twice is refused, as Tencent's 23007; removing what one has not made, 23008.
    assert code_of(reaction_add, message_pk=m, actor=alice, reaction_id="👍") == 23007
    assert code_of(reaction_remove, message_pk=m, actor=alice, reaction_id="🎉") == 23008
    assert code_of(reaction_remove, message_pk=m, actor=alice, reaction_id="nope") == 23008
    reaction_remove(message_pk=m, actor=bob, reaction_id="🎉")
    assert [r["reactionID"] for r in shown(m, alice)] == ["👍"]
    assert Reaction.objects.filter(message_id=m).count() == 2


def test_the_event_reaches_both_sync_logs_as_each_sees_it(trio):
    alice, bob, _ = trio
    m = send(alice, bob)
    reaction_add(message_pk=pk_of(m), actor=bob, reaction_id="❤️")
    reaction_remove(message_pk=pk_of(m), actor=bob, reaction_id="❤️")
    bob_card = [{"userID": "bob", "nick": "Bob", "avatar": ""}]
    for user, mine in ((alice, False), (bob, True)):
        entries = [e.payload for e in SyncEntry.objects.filter(
            user=user, kind=SyncEntry.Kind.REACTION).order_by("seq")]
        assert entries == [
            {"event": "MESSAGE_REACTIONS_UPDATED", "data": {"messageID": m["ID"], "reactionList": [
                {"reactionID": "❤️", "totalUserCount": 1, "partialUserList": bob_card,
                 "reactedByMyself": mine}]}},
            {"event": "MESSAGE_REACTIONS_UPDATED", "data": {"messageID": m["ID"], "reactionList": [
                {"reactionID": "❤️", "totalUserCount": 0, "partialUserList": [],
                 "reactedByMyself": False}]}}]
    # A refused call tells nobody.
    before = SyncEntry.objects.count()
    assert code_of(reaction_remove, message_pk=pk_of(m), actor=bob, reaction_id="❤️") == 23008
    assert SyncEntry.objects.count() == before


def test_only_the_two_people_while_it_is_in_their_history(trio):
    alice, bob, carol = trio
    m = pk_of(send(alice, bob))
    reaction_add(message_pk=m, actor=alice, reaction_id="👍")
    for fn in (reaction_add, reaction_remove):
        assert code_of(fn, message_pk=m, actor=carol, reaction_id="👍") == 23004
        assert code_of(fn, message_pk=10**12, actor=alice, reaction_id="👍") == 23004
    assert code_of(reactions_get, message_pks=[m], actor=carol) == 23004
    assert code_of(reaction_users, message_pk=m, actor=carol, reaction_id="👍") == 23004
    # One message that is not the caller's refuses the whole read, alike.
    own = pk_of(send(carol, alice, random=2))
    assert code_of(reactions_get, message_pks=[own, m], actor=carol) == 23004
    # Deleted from bob's history: bob can no longer reach it; alice still can.
    messages_delete(user=bob, message_ids=[Message.objects.get(pk=m).public_id])
    assert code_of(reaction_add, message_pk=m, actor=bob, reaction_id="🎉") == 23004
    assert code_of(reactions_get, message_pks=[m], actor=bob) == 23004
    reaction_add(message_pk=m, actor=alice, reaction_id="🎉")
    # Only alice's devices hear of it now.
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.REACTION, user=bob).count() == 1
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.REACTION, user=alice).count() == 2


def test_bounds_answer_their_codes(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    for bad in ("", "x" * 101, "é" * 51, None, 5, ["👍"], "a\x00b", "\ud800"):
        assert code_of(reaction_add, message_pk=m, actor=alice, reaction_id=bad) == 10004, bad
        assert code_of(reaction_remove, message_pk=m, actor=alice, reaction_id=bad) == 10004
    reaction_add(message_pk=m, actor=alice, reaction_id="x" * 100)
    # 20 reaction IDs a message; one more is 23005, joining one already there is not.
    for i in range(19):
        reaction_add(message_pk=m, actor=alice, reaction_id=f"r{i}")
    assert code_of(reaction_add, message_pk=m, actor=bob, reaction_id="one more") == 23005
    reaction_add(message_pk=m, actor=bob, reaction_id="r3")
    assert len(shown(m, bob)) == 20
    for kw in ({"message_pks": []}, {"message_pks": [m] * 21}, {"message_pks": m},
               {"message_pks": [m], "max_users": 11}, {"message_pks": [m], "max_users": -1},
               {"message_pks": [m], "max_users": True}, {"message_pks": [m], "max_users": "3"}):
        assert code_of(reactions_get, actor=alice, **kw) == 10004, kw
    for kw in ({"count": 0}, {"count": 101}, {"next_seq": -1}, {"next_seq": "0"}):
        assert code_of(reaction_users, message_pk=m, actor=alice, reaction_id="r3", **kw) \
            == 10004, kw


def test_the_people_of_a_reaction_page_by_next_seq(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    reaction_add(message_pk=m, actor=bob, reaction_id="👍")
    reaction_add(message_pk=m, actor=alice, reaction_id="👍")
    first = reaction_users(message_pk=m, actor=alice, reaction_id="👍", count=1)
    assert first == {"userList": [{"userID": "bob", "nick": "Bob", "avatar": ""}],
                     "nextSeq": 1, "isCompleted": False}
    rest = reaction_users(message_pk=m, actor=alice, reaction_id="👍", next_seq=1, count=1)
    assert [u["userID"] for u in rest["userList"]] == ["alice"] and rest["isCompleted"]
    assert reaction_users(message_pk=m, actor=bob, reaction_id="🙈") == {
        "userList": [], "nextSeq": 0, "isCompleted": True}


def test_two_adds_at_once_both_count(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    for round_ in range(6):
        barrier = threading.Barrier(2)
        errors = []

        def react(user, barrier=barrier, rid=f"r{round_}", errors=errors):
            try:
                barrier.wait()
                reaction_add(message_pk=m, actor=user, reaction_id=rid)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=react, args=(u,)) for u in (alice, bob)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        # The later of the two saw the earlier one: its event counts both.
        last = SyncEntry.objects.filter(user=alice, kind=SyncEntry.Kind.REACTION) \
            .order_by("-seq").first()
        assert last.payload["data"]["reactionList"][0]["totalUserCount"] == 2


def test_a_recall_takes_them_and_refuses_more(trio):
    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    reaction_add(message_pk=m, actor=bob, reaction_id="👍")
    message_revoke(message_pk=m, actor=alice)
    assert not Reaction.objects.filter(message_id=m).exists()
    assert code_of(reaction_add, message_pk=m, actor=bob, reaction_id="👍") == 20023
    assert code_of(reaction_remove, message_pk=m, actor=bob, reaction_id="👍") == 20023
    assert shown(m, bob) == []


def test_the_history_purge_takes_them_along(trio):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.services import history_purge

    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    keep = pk_of(send(bob, alice, random=2))
    reaction_add(message_pk=m, actor=bob, reaction_id="👍")
    Message.objects.filter(pk=keep).update(created_at=timezone.now() + timedelta(days=1))
    reaction_add(message_pk=keep, actor=alice, reaction_id="🎉")
    assert history_purge(before=timezone.now() + timedelta(seconds=5)) == 1
    assert list(Reaction.objects.values_list("message_id", flat=True)) == [keep]


def test_a_deleted_account_takes_them_along(trio):
    from accounts.devices import user_delete

    alice, bob, carol = trio
    m = pk_of(send(alice, bob))
    other = pk_of(send(carol, bob, random=2))
    reaction_add(message_pk=m, actor=bob, reaction_id="👍")
    reaction_add(message_pk=other, actor=bob, reaction_id="👍")
    user_delete(user=alice)
    assert list(Reaction.objects.values_list("message_id", flat=True)) == [other]


def test_who_cleared_the_history_gets_no_event_of_its_messages(trio):
    """The event goes to each of the two whose history holds the message: not to one
    who cleared the conversation (they could not read the reactions either: 23004)."""
    from messaging.changes import conversation_clear_history

    alice, bob, _ = trio
    m = pk_of(send(alice, bob))
    conversation_clear_history(user=bob, peer=alice)
    assert code_of(reactions_get, message_pks=[m], actor=bob) == 23004
    reaction_add(message_pk=m, actor=alice, reaction_id="👍")
    reaction_remove(message_pk=m, actor=alice, reaction_id="👍")
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.REACTION, user=alice).count() == 2
    assert not SyncEntry.objects.filter(kind=SyncEntry.Kind.REACTION, user=bob).exists()
