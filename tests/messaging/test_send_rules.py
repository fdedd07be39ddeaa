"""Which rules a send obeys comes from its origin, through one table (messaging.services
SEND_RULES): every origin has a row, the pipeline does what the row says whatever the
caller set, and a user's online-only message obeys the blocklist and the friends-only
rule as a stored one does, on a real server, while the app admin's /v4 sends pass them
(tencent-rest.md §3.1)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from accounts import webhooks
from accounts.models import User
from chat_project.errors import ChatError
from messaging.commands import Dedupe, Origin, SendCommand, SendRules
from messaging.models import Message
from messaging.services import SEND_RULES, message_send_many
from relationships import services as relationships
from relationships.models import Block, Friendship, SendPolicy
from tests import webhook_receiver as receiver_module
from tests.webhook_receiver import Reply, use_webhooks

webhook_receiver = receiver_module.webhook_receiver  # the fixture

TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def send(origin: Origin, sender: User, to: str = "bob", random: int = 1, **kw):
    """One command through the pipeline: the sender's view, or the ChatError."""
    kw.setdefault("elements", TEXT)
    cmd = SendCommand(origin=origin, sender=sender, to=to, random=random, **kw)
    [result] = message_send_many([cmd])
    return result


def refused_with(result) -> int:
    return result.code if isinstance(result, ChatError) else 0


# --- the table ---------------------------------------------------------------------------

def test_every_origin_has_a_row_stating_every_rule():
    assert set(SEND_RULES) == set(Origin)
    for rules in SEND_RULES.values():
        assert isinstance(rules, SendRules)
    # No rule has a default, so a new row must state each one.
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(SendRules))


def test_a_command_must_say_where_it_comes_from(db):
    alice = User(user_id="alice")
    with pytest.raises(TypeError):
        SendCommand(sender=alice, to="bob", elements=TEXT, random=1)  # no origin
    with pytest.raises(TypeError):
        SendCommand(origin="user", sender=alice, to="bob", elements=TEXT, random=1)
    with pytest.raises(TypeError):  # rules are the pipeline's to set, not the caller's
        SendCommand(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1,
                    rules=SEND_RULES[Origin.BATCH])
    with pytest.raises(ValueError):  # a historical message is an import's alone
        SendCommand(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1,
                    historical=True)


def test_the_pipeline_takes_the_rules_from_the_table_not_the_caller(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    Block.objects.create(owner=bob, blocked=alice, created_at=alice.date_joined)
    cmd = SendCommand(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1)
    cmd.rules = SEND_RULES[Origin.SYSTEM]  # a caller that tries to pick its rules
    [result] = message_send_many([cmd])
    assert refused_with(result) == 20007
    assert cmd.rules is SEND_RULES[Origin.USER]
    assert not Message.objects.exists()


# --- the pipeline does what each row says -------------------------------------------------

ORIGINS = list(Origin)


@pytest.mark.django_db
@pytest.mark.parametrize("online", [False, True], ids=["stored", "online-only"])
@pytest.mark.parametrize("origin", ORIGINS, ids=[o.value for o in ORIGINS])
def test_relationship_rules_as_the_row_says(make_user, origin, online):
    rules = SEND_RULES[origin]
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    relationships.block_add(owner=bob, user_ids=["alice"])
    SendPolicy(rule=SendPolicy.Rule.FRIENDS).save()
    now = int(time.time())
    blocked = send(origin, alice, "bob", online_user_only=online, time=now)
    strangers = send(origin, carol, "bob", random=2, online_user_only=online, time=now)
    assert refused_with(blocked) == (20007 if rules.relationships else 0)
    assert refused_with(strangers) == (20009 if rules.relationships else 0)
    stored = Message.objects.count()
    assert stored == (0 if online or rules.relationships else 2)


@pytest.mark.django_db
@pytest.mark.parametrize("online", [False, True], ids=["stored", "online-only"])
@pytest.mark.parametrize("origin", ORIGINS, ids=[o.value for o in ORIGINS])
def test_global_mute_as_the_row_says(make_user, origin, online):
    alice, _ = make_user("alice"), make_user("bob")
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=4294967295)
    result = send(origin, alice, online_user_only=online, time=int(time.time()))
    assert refused_with(result) == (20012 if SEND_RULES[origin].mute else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("online", [False, True], ids=["stored", "online-only"])
@pytest.mark.parametrize("origin", ORIGINS, ids=[o.value for o in ORIGINS])
def test_before_send_webhook_as_the_row_says(webhook_receiver, make_user, origin, online):
    alice, _ = make_user("alice"), make_user("bob")
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    webhook_receiver.answer(Reply.code(1))  # refuses whatever it is asked about
    result = send(origin, alice, online_user_only=online, time=int(time.time()))
    if SEND_RULES[origin].webhooks:
        assert refused_with(result) == 20006
        [request] = webhook_receiver.requests
        assert request.body["OnlineOnlyFlag"] == (1 if online else 0)
    else:
        assert refused_with(result) == 0
        assert webhook_receiver.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("origin", ORIGINS, ids=[o.value for o in ORIGINS])
def test_dedupe_and_time_as_the_row_says(make_user, origin):
    rules = SEND_RULES[origin]
    alice, _ = make_user("alice"), make_user("bob")
    day_ago = int(time.time()) - 86400
    first = send(origin, alice, random=5, time=day_ago, msg_seq=1, elements=text("a"))
    # The same random, another second: a retry within the window; another import, or
    # another of the REST API's sends (Tencent dedupes those within a second).
    second = send(origin, alice, random=5, time=day_ago + 1, msg_seq=1, elements=text("b"))
    if rules.dedupe is Dedupe.RETRY_WINDOW:
        assert second["ID"] == first["ID"] and Message.objects.count() == 1
    elif rules.dedupe is Dedupe.SAME_SECOND:
        assert second["ID"] != first["ID"] and Message.objects.count() == 2
        again = send(origin, alice, random=5, time=day_ago, elements=text("c"))
        assert again["ID"] == first["ID"] and Message.objects.count() == 2
    else:
        assert rules.dedupe is Dedupe.IMPORT_KEY
        assert second["ID"] != first["ID"] and Message.objects.count() == 2
        again = send(origin, alice, random=5, time=day_ago, msg_seq=1, elements=text("c"))
        assert again["ID"] == first["ID"] and Message.objects.count() == 2
    msg = Message.objects.order_by("pk").first()
    assert msg.time == day_ago
    assert (abs(msg.created_at.timestamp() - day_ago) < 1) is rules.backdated


@pytest.mark.django_db
@pytest.mark.parametrize("origin", ORIGINS, ids=[o.value for o in ORIGINS])
def test_the_system_notice_mark_as_the_row_says(make_user, origin):
    """Stored, in history and in the online-only view alike: isSystem is the row's."""
    rules = SEND_RULES[origin]
    alice, _ = make_user("alice"), make_user("bob")
    now = int(time.time())
    stored = send(origin, alice, random=7, time=now, msg_seq=1)
    online = send(origin, alice, random=8, time=now, online_user_only=True)
    assert stored["isSystem"] is online["isSystem"] is rules.system_notice
    assert Message.objects.get(random=7).is_system is rules.system_notice
    assert [o for o in ORIGINS if SEND_RULES[o].system_notice] == [Origin.SYSTEM]


# --- online-only over the real doors --------------------------------------------------------

def _messages_before(ws, barrier_from: str) -> list[dict]:
    """The MESSAGE_RECEIVED frames that reach `ws` before the first one from
    `barrier_from` (which must come): what got through ahead of it."""
    before = []
    while True:
        frame = ws.wait_event("MESSAGE_RECEIVED")
        if frame["data"][0]["from"] == barrier_from:
            return before
        before.append(frame)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_blocked_users_online_only_message_does_not_reach_the_blocker(make_user, connect):
    make_user("alice"), make_user("carol")
    bob = make_user("bob")
    relationships.block_add(owner=bob, user_ids=["alice"])
    bob_ws = connect("bob", deviceID="bob-1")
    alice_ws, alice_other = connect("alice", deviceID="a-1"), connect("alice", deviceID="a-2")
    carol_ws = connect("carol", deviceID="c-1")
    reply = alice_ws.request("sendMessage", {"to": "bob", "elements": text("let me in"),
                                             "random": 1, "onlineUserOnly": True})
    assert not reply["ok"] and reply["code"] == 20007, reply
    # Sends that may go, after the refused one: nothing arrives ahead of them.
    carol_ws.ok("sendMessage", {"to": "bob", "elements": text("barrier"), "random": 2,
                                "onlineUserOnly": True})
    assert _messages_before(bob_ws, "carol") == []
    alice_ws.ok("sendMessage", {"to": "carol", "elements": text("barrier"), "random": 3,
                                "onlineUserOnly": True})
    ahead = _messages_before(alice_other, "alice")  # its copy of the one to carol
    assert ahead == []
    assert not Message.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_friends_only_holds_for_online_only_messages(make_user, connect):
    alice, bob = make_user("alice"), make_user("bob")
    SendPolicy(rule=SendPolicy.Rule.FRIENDS).save()
    bob_ws = connect("bob", deviceID="bob-1")
    alice_ws = connect("alice", deviceID="a-1")
    reply = alice_ws.request("sendMessage", {"to": "bob", "elements": text("hello?"),
                                             "random": 1, "onlineUserOnly": True})
    assert not reply["ok"] and reply["code"] == 20009, reply
    # Once bob has alice as a friend (one way is enough), the same send goes, and it is
    # the first message bob's device sees.
    Friendship.objects.create(owner=bob, friend=alice, add_time=alice.date_joined)
    alice_ws.ok("sendMessage", {"to": "bob", "elements": text("now?"), "random": 2,
                                "onlineUserOnly": True})
    frame = bob_ws.wait_event("MESSAGE_RECEIVED")
    assert frame["data"][0]["random"] == 2 and frame["data"][0]["onlineUserOnly"] is True
    assert not Message.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_app_admins_online_only_send_passes_block_and_friends_only(make_user, connect,
                                                                         v4):
    make_user("alice"), make_user("bob")
    relationships.block_add(owner=User.objects.get(user_id="bob"), user_ids=["alice"])
    SendPolicy(rule=SendPolicy.Rule.FRIENDS).save()
    bob_ws = connect("bob", deviceID="bob-1")
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 9, "MsgLifeTime": 0,
                                   "MsgBody": [{"MsgType": "TIMTextElem",
                                                "MsgContent": {"Text": "from the app"}}]})
    assert answer["ErrorCode"] == 0, answer
    frame = bob_ws.wait_event("MESSAGE_RECEIVED")
    assert frame["data"][0]["from"] == "alice" and frame["data"][0]["onlineUserOnly"] is True
    assert not Message.objects.exists()
