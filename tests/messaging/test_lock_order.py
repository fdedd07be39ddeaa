"""The global lock order (messaging/persist.py) between the history purge and the
writers of old messages, with two real PostgreSQL connections.

The purge (messaging/retention.py) locked the conversations a batch changes and then
deleted its messages; a recall, a modify, a delete-for-me and an account deletion
lock the message first and the conversation after. Gated here so the purge holds the
first conversation (a third connection holds the second) when the writer comes: on
the old order the two closed a cycle and one failed with "deadlock detected". Now the
purge locks its messages first, the writer waits for it, and finds the message gone.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.devices import user_delete
from accounts.models import SyncEntry
from accounts.services import sync_log_purge
from accounts.usersig import gen_usersig
from chat_project.errors import ChatError
from messaging.changes import (
    conversation_mark_read,
    conversation_pin,
    conversation_set_draft,
    message_delete_both_sides,
    message_modify,
    message_revoke,
    messages_delete,
)
from messaging.commands import Origin
from messaging.models import Conversation, MergedList, MergedUse, Message
from messaging.services import history_purge, message_send
from tests.outbox_helpers import lock_waiter
from tests.v4client import V4Client

pytestmark = pytest.mark.django_db(transaction=True)


def send(sender, to) -> str:
    view = message_send(origin=Origin.USER, sender=sender, to=to.user_id,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "old"}}],
                        random=7)
    return view["ID"]


def waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def wait_for(n: int) -> None:
    deadline = time.monotonic() + 10
    while waiting_on_locks() < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert waiting_on_locks() == n, f"{n} sessions should be waiting"


def race(second_conversation: int, write) -> dict:
    """A third connection holds the conversation the purge locks second; the purge
    starts (it waits there); `write` starts (it waits too); the third lets go."""
    blocker = connections.create_connection("default")
    blocker.ensure_connection()
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT 1 FROM messaging_conversation WHERE id = %s FOR UPDATE",
                       [second_conversation])
    outcome: dict = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reports what came out
            outcome[name] = exc
        finally:
            connection.close()

    purger = threading.Thread(target=run, args=(
        "purge", lambda: history_purge(before=timezone.now() + timezone.timedelta(seconds=5))))
    purger.start()
    wait_for(1)
    writer = threading.Thread(target=run, args=("write", write))
    writer.start()
    wait_for(2)
    blocker.rollback()
    blocker.close()
    purger.join(30)
    writer.join(30)
    return outcome


WRITES = {
    "admin recall": lambda pk, mid, alice: message_revoke(message_pk=pk, actor=None),
    "modify": lambda pk, mid, alice: message_modify(
        message_pk=pk, actor=alice,
        elements=[{"type": "TIMTextElem", "payload": {"text": "new"}}]),
    "delete for me": lambda pk, mid, alice: messages_delete(user=alice, message_ids=[mid]),
    "account deletion": lambda pk, mid, alice: user_delete(user=alice),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_writer_of_an_old_message_racing_its_purge_never_deadlocks(make_user, name):
    alice, bob = make_user("alice"), make_user("bob")  # alice's conversation locks first
    mid = send(alice, bob)
    pk = int(mid.split("-")[0])
    bobs = Conversation.objects.get(owner=bob, peer=alice)
    assert bobs.last_message_id == pk and alice.pk < bob.pk

    outcome = race(bobs.pk, lambda: WRITES[name](pk, mid, alice))

    # Before: one of the two failed with "deadlock detected" (the purge held alice's
    # conversation and waited for the message; the writer held the message and waited
    # for alice's conversation).
    assert outcome["purge"] == 1, outcome
    write = outcome["write"]
    if name == "account deletion":
        assert write is None, outcome
        assert not Conversation.objects.filter(pk=bobs.pk).exists()
    else:  # it waited for the purge, then found no message (a delete-for-me: IndexError)
        assert isinstance(write, ChatError) and write.code == 20022, outcome
        assert Conversation.objects.get(pk=bobs.pk).last_message_id is None
    assert not Message.objects.filter(pk=pk).exists()


# --- what a door answers when PostgreSQL still detects a deadlock ---------------------

def rest_recall(alice, pk, mid):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"UserSig {alice.user_id}:{gen_usersig(alice.user_id)}")
    response = client.post(f"/api/v1/messages/{mid}/revoke/")
    body = response.json() if response.headers["Content-Type"] == "application/json" \
        else {"code": None, "message": response.content.decode()}
    return response.status_code, body, response.headers.get("Retry-After")


def v4_recall(alice, pk, mid):
    msg = Message.objects.get(pk=pk)
    response = Client(raise_request_exception=False).post(
        V4Client("").url("openim/admin_msgwithdraw"), data=json.dumps({
            "From_Account": alice.user_id, "To_Account": "bob",
            "MsgKey": f"{pk}_{msg.random}_{msg.time}"}), content_type="application/json")
    return response.status_code, response.json(), None


@pytest.mark.parametrize("door", ["rest", "v4"])
def test_a_deadlock_at_a_door_answers_busy_retry(make_user, door):
    """Another session takes alice's conversation, then the message, the other way
    around from a recall (which holds the message and waits for the conversation): a
    real cycle, which PostgreSQL breaks by failing the recall (the other session waits
    longer before it looks). Before: the REST door answered HTTP 500, /v4 91000
    "internal error", neither a client can tell from a bug."""
    alice, bob = make_user("alice"), make_user("bob")
    mid = send(alice, bob)
    pk = int(mid.split("-")[0])
    other = connections.create_connection("default")
    other.ensure_connection()
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("SET LOCAL deadlock_timeout = '30s'")
        cursor.execute("SELECT 1 FROM messaging_conversation WHERE owner_id = %s AND peer_id = %s"
                       " FOR UPDATE", [alice.pk, bob.pk])
    outcome: dict = {}

    def recall():
        try:
            outcome["answer"] = (rest_recall if door == "rest" else v4_recall)(alice, pk, mid)
        finally:
            connection.close()

    thread = threading.Thread(target=recall)
    thread.start()
    wait_for(1)  # the recall holds the message and waits for alice's conversation
    with other.cursor() as cursor:  # the cycle closes; the recall's check fails it
        cursor.execute("SELECT 1 FROM messaging_message WHERE id = %s FOR UPDATE", [pk])
    other.rollback()
    other.close()
    thread.join(30)
    status, body, retry_after = outcome["answer"]
    if door == "rest":
        assert (status, body["code"], retry_after) == (503, 910503, "1"), (status, body)
    else:
        assert (status, body["ErrorCode"], body["ActionStatus"]) == (200, 60008, "FAIL"), body
    assert "retry" in (body.get("message") or body.get("ErrorInfo"))
    assert not Message.objects.get(pk=pk).is_revoked  # nothing half done: it can be retried


def test_an_operator_deleting_a_message_from_both_sides_takes_the_conversations_in_order(
        make_user):
    """The console's "delete from both sides" took the sender's conversation, then the
    receiver's; the purge takes them in (owner, peer) order. An old message both
    conversations still show as their last one (the newer was sent
    excludedFromLastMessage) is purged while an operator deletes the newer one, sent by
    bob (the second in order): the two closed a cycle on alice's and bob's conversations."""
    alice, bob = make_user("alice"), make_user("bob")
    old = int(send(alice, bob).split("-")[0])
    newer = int(message_send(
        origin=Origin.USER, sender=bob, to=alice.user_id, random=8,
        elements=[{"type": "TIMTextElem", "payload": {"text": "newer"}}],
        excluded_from_last_message=True)["ID"].split("-")[0])
    Message.objects.filter(pk=old).update(created_at=timezone.now() - timezone.timedelta(days=8))
    assert set(Conversation.objects.values_list("last_message_id", flat=True)) == {old}

    blocker = connections.create_connection("default")  # holds bob's sync head
    blocker.ensure_connection()
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_synchead WHERE user_id = %s FOR UPDATE", [bob.pk])
    outcome: dict = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reports what came out
            outcome[name] = exc
        finally:
            connection.close()

    deleter = threading.Thread(target=run, args=(
        "delete", lambda: message_delete_both_sides(message_pk=newer)))
    deleter.start()
    wait_for(1)  # it holds the message and a conversation, waiting for bob's sync head
    purger = threading.Thread(target=run, args=(
        "purge", lambda: history_purge(before=timezone.now() - timezone.timedelta(days=1))))
    purger.start()
    wait_for(2)
    blocker.rollback()
    blocker.close()
    deleter.join(30)
    purger.join(30)

    # Before: "deadlock detected" for one of the two.
    assert outcome["purge"] == 1, outcome
    assert not isinstance(outcome["delete"], Exception), outcome
    assert Message.objects.filter(pk=newer, deleted_by_sender=True,
                                  deleted_by_receiver=True).exists()


# --- a recall's sync-log copies and the sync-log purge ---------------------------------

def entry_ids_carrying(public_id: str) -> list[int]:
    return list(SyncEntry.objects.exclude(kind__in=SyncEntry.KINDS_WITHOUT_COPIES)
                .filter(payload__icontains=public_id).order_by("pk").values_list("pk", flat=True))


def test_a_recall_erasing_its_copies_racing_the_sync_log_purge_never_deadlocks(make_user):
    """A recall rewrites the sync-log entries that carry copies of its message (drafts,
    pins: a conversation entry's lastMessage); the sync-log purge deletes a batch of
    entries in id order. The recall wrote its copies in batches of 500 in the order its
    lookup found them (alice's entries, then bob's, on the (user, created_at) index), so
    with more than 500 copies it held alice's newer entries while it waited for bob's
    older one, which the purge held while it waited for alice's: "deadlock detected".
    Gated here: a third connection holds an entry the purge reaches between the two."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    mid = send(alice, bob)
    pk = int(mid.split("-")[0])
    conversation_pin(user=bob, peer=alice, is_pinned=True)  # bob's copy: the oldest
    message_send(origin=Origin.USER, sender=alice, to=carol.user_id, random=9,
                 elements=[{"type": "TIMTextElem", "payload": {"text": "between"}}])
    between = SyncEntry.objects.filter(user=carol).latest("pk").pk  # carries no copy
    for i in range(501):  # alice's copies, one more than a batch of the recall's writes
        conversation_set_draft(user=alice, peer=bob, draft_text=f"draft {i}")
    copies = entry_ids_carrying(mid)
    assert len(copies) == 502 and copies[0] < between < copies[1], (copies[:3], between)

    blocker = connections.create_connection("default")
    blocker.ensure_connection()
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_syncentry WHERE id = %s FOR UPDATE", [between])
    outcome: dict = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reports what came out
            outcome[name] = exc
        finally:
            connection.close()

    purger = threading.Thread(target=run, args=(
        "purge", lambda: sync_log_purge(before=timezone.now() + timezone.timedelta(seconds=5))))
    purger.start()
    wait_for(1)  # the purge holds bob's copy and waits for the entry between
    recaller = threading.Thread(target=run, args=(
        "recall", lambda: message_revoke(message_pk=pk, actor=None)))
    recaller.start()
    wait_for(2)  # the recall waits for the purge (before: holding alice's copies)
    blocker.rollback()
    blocker.close()
    purger.join(30)
    recaller.join(30)

    # Before: one of the two failed with "deadlock detected".
    assert isinstance(outcome["purge"], int) and outcome["purge"] > 502, outcome
    assert isinstance(outcome["recall"], dict) and outcome["recall"]["isRevoked"], outcome
    assert Message.objects.get(pk=pk).is_revoked
    # The copies went with the purge; what is left is the recall's own, content erased.
    left = SyncEntry.objects.filter(pk__in=entry_ids_carrying(mid))
    assert left.count() == 2 and all(e.pk > copies[-1] for e in left), list(left)
    assert not any('"old"' in json.dumps(e.payload) for e in left)


# --- the purge's writing statement: conversations before merged lists and uploads -----

def hold(sql: str, params: list):
    """A third connection holding the row `sql` selects FOR UPDATE (its rollback lets go)."""
    other = connections.create_connection("default")
    other.ensure_connection()
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute(sql + " FOR UPDATE", params)
        assert cursor.fetchone() is not None, sql
    return other


def let_go(other) -> None:
    other.rollback()
    other.close()


def forwarded_list_race(make_user, *, bob_reads: bool):
    """alice's old merged message and a newer forward of its list; the purge of the old
    one (gated on carol's conversation in its second statement) while alice deletes the
    newer one for herself and an operator recalls it."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    history = [{"ID": f"m-{i}", "from": "alice", "to": "bob", "time": 1_700_000_000 + i,
                "elements": [{"type": "TIMTextElem", "payload": {"text": "x" * 200}}]}
               for i in range(80)]
    relay = {"title": "history", "abstractList": ["alice: hi"],
             "compatibleText": "[Chat History]"}
    old = message_send(origin=Origin.USER, sender=alice, to=bob.user_id, random=1,
                       elements=[{"type": "TIMRelayElem",
                                  "payload": {**relay, "messageList": history}}])
    key = old["elements"][0]["payload"]["downloadKey"]
    newer = message_send(origin=Origin.USER, sender=alice, to=bob.user_id, random=2,
                         elements=[{"type": "TIMRelayElem",
                                    "payload": {**relay, "downloadKey": key}}])
    if bob_reads:  # the purge recounts nothing of bob's: it locks none of his conversations
        conversation_mark_read(user=bob, peer=alice)
    gate = message_send(origin=Origin.USER, sender=alice, to=carol.user_id, random=3,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "gate"}}])
    old_pk, newer_pk, gate_pk = (int(v["ID"].split("-")[0]) for v in (old, newer, gate))
    Message.objects.filter(pk__in=[old_pk, gate_pk]).update(
        created_at=timezone.now() - timezone.timedelta(days=8))
    assert MergedUse.objects.filter(merged__key=key).count() == 2

    carols = hold("SELECT 1 FROM messaging_conversation WHERE owner_id = %s AND peer_id = %s",
                  [carol.pk, alice.pk])
    outcome: dict = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reports what came out
            outcome[name] = exc
        finally:
            connection.close()

    held = [carols]
    purger = threading.Thread(target=run, args=(
        "purge", lambda: history_purge(before=timezone.now() - timezone.timedelta(days=1))))
    try:
        purger.start()
        lock_waiter("recount", timeout=10)  # its second statement waits for carol's
        messages_delete(user=alice, message_ids=[newer["ID"]])  # alice's last: the old one
        assert Conversation.objects.get(owner=alice, peer=bob).last_message_id == old_pk
        if bob_reads:  # the recall waits after the conversations, before the list
            held.append(hold("SELECT 1 FROM accounts_synchead WHERE user_id = %s", [alice.pk]))
        recaller = threading.Thread(target=run, args=(
            "recall", lambda: message_revoke(message_pk=newer_pk, actor=None)))
        recaller.start()
        # The recall holds alice's conversation; it waits for alice's sync head, or
        # for bob's conversation, which the purge's second statement holds.
        lock_waiter("accounts_synchead" if bob_reads else '"messaging_conversation"."id"',
                    timeout=10)
        let_go(held.pop(0))
        lock_waiter("locked AS MATERIALIZED", timeout=10)  # the purge's third statement
    finally:
        for other in held:
            let_go(other)
    purger.join(30)
    recaller.join(30)
    return outcome, (old_pk, gate_pk, alice, bob, key)


def test_the_purge_locks_a_conversation_before_the_merged_list_of_its_batch(make_user):
    """The purge's third statement locks again the conversations that made one of the
    batch's messages their last one after its second statement (here alice deletes her
    newer message for herself, so her conversation shows the old one again). It took
    them after it had marked the batch's merged lists, against the order of
    messaging/persist.py (conversations, then uploads and merged lists): a recall of
    alice's newer message, a forward of the same list, held her conversation and then
    locked the list to release it, while the purge held the list and waited for the
    conversation: "deadlock detected". Now the statement locks the conversations first,
    waits for the recall, and goes on."""
    outcome, (old_pk, gate_pk, alice, bob, key) = forwarded_list_race(make_user, bob_reads=True)

    # Before: the recall (or the purge) failed with "deadlock detected".
    assert outcome["purge"] == 2, outcome
    assert isinstance(outcome["recall"], dict) and outcome["recall"]["isRevoked"], outcome
    assert not Message.objects.filter(pk__in=[old_pk, gate_pk]).exists()
    assert Conversation.objects.get(owner=alice, peer=bob).last_message_id is None
    assert not MergedUse.objects.filter(merged__key=key).exists()
    assert MergedList.objects.get(key=key).delete_after is not None  # for the sweep


@pytest.mark.xfail(strict=True, reason="known: the conversations the purge's third statement "
                   "locks again may sort before those its second statement holds")
def test_the_purge_locks_again_a_conversation_that_sorts_before_one_it_holds(make_user):
    """Known, not fixed: as above, but bob has not read the old message, so the purge's
    second statement holds bob's conversation (his unread count goes down), and the third
    then locks alice's, which sorts before it ((owner, peer) order across the two
    statements is broken). The recall holds alice's and waits for bob's: "deadlock
    detected" for the recall (it answers "busy, retry")."""
    outcome, _ = forwarded_list_race(make_user, bob_reads=False)
    assert outcome["purge"] == 2, outcome
    assert isinstance(outcome["recall"], dict), outcome
