"""The seed's offline flow, end to end (issue 4): a real uvicorn process, real WebSocket
clients, PostgreSQL and Redis.

While B is away, what B's devices must learn waits in B's offline cache (the sync log,
bounded: 7 days, the newest 100 messages per peer); everything stays in history, which
B pages with getMessageList. Time is moved forward by ageing rows' created_at in the
database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import SyncEntry, User
from accounts.services import device_login
from accounts.usersig import gen_usersig
from messaging.selectors import sync_replay

pytestmark = pytest.mark.django_db(transaction=True)

CAP = account_selectors.OFFLINE_CACHE_PER_PEER


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def login_until_ready(ws, user_id: str, since: int, device: str = "bob-phone"):
    """Log in with `since`; return (login reply data, frames before SDK_READY, SDK_READY)."""
    data = ws.login(user_id, gen_usersig(user_id), deviceID=device, platform="Android",
                    since=since)
    frames = []
    while (frame := ws.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    return data, frames, frame


def page_all(ws, conversation_id: str, count: int = 100) -> list[dict]:
    """Every history message of a conversation, oldest first, paged back in time."""
    pages, next_id = [], None
    while True:
        data = {"conversationID": conversation_id, "count": count}
        if next_id:
            data["nextReqMessageID"] = next_id
        page = ws.ok("getMessageList", data)
        pages.insert(0, page["messageList"])
        if page["isCompleted"]:
            return [m for p in pages for m in p]
        next_id = page["nextReqMessageID"]


@pytest.mark.e2e
def test_offline_receiver_gets_the_newest_100_per_peer_then_pages_history(connect, make_user):
    for name in ("alice", "bob", "carol", "dave"):
        make_user(name)
    first = connect()
    _, frames, ready = login_until_ready(first, "bob", since=0)
    seen = ready["data"]["seq"]
    assert frames == [] and seen == 0
    first.close()  # B goes offline

    alice, carol, dave = connect("alice"), connect("carol"), connect("dave")
    sent = []  # (sender, message) in the order the server took them
    for i in range(2):
        sent.append(("carol", carol.ok("sendMessage", {"to": "bob", "elements": text(f"c{i}"),
                                                       "random": 1000 + i})))
    for i in range(150):
        sent.append(("alice", alice.ok("sendMessage", {"to": "bob", "elements": text(f"a{i}"),
                                                       "random": i})))
        if i in (20, 120):  # dave in the middle of alice's burst, once in each part
            sent.append(("dave", dave.ok("sendMessage", {
                "to": "bob", "elements": text(f"d{i}"), "random": 2000 + i})))
    for i in range(2, 4):
        sent.append(("carol", carol.ok("sendMessage", {"to": "bob", "elements": text(f"c{i}"),
                                                       "random": 1000 + i})))
    sent.append(("dave", dave.ok("sendMessage", {"to": "bob", "elements": text("d-last"),
                                                 "random": 3000})))
    from_alice = [m for who, m in sent if who == "alice"]
    assert len(from_alice) == 150 and len(sent) == 150 + 4 + 3

    # B logs in with its last since: the cache, in order, then SDK_READY.
    back = connect()
    login, frames, ready = login_until_ready(back, "bob", since=seen)
    head = login["seq"]
    assert head == seen + len(sent)
    # the cached messages, then the updated conversation list, then SDK_READY
    assert [f["event"] for f in frames[-2:]] == [
        "CONVERSATION_LIST_UPDATED", "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"]
    listed = {c["conversationID"]: c["unreadCount"] for c in frames[-2]["data"]}
    assert listed == {"C2Calice": 150, "C2Ccarol": 4, "C2Cdave": 3}
    assert frames[-1]["data"] == 157
    frames = frames[:-2]
    assert {f["event"] for f in frames} == {"MESSAGE_RECEIVED"}  # no SYNC_RESET
    replayed = [f["data"][0] for f in frames]
    dropped = from_alice[:150 - CAP]
    kept = [m for who, m in sent if who != "alice" or m not in dropped]
    assert [m["ID"] for m in replayed] == [m["ID"] for m in kept]
    assert len(replayed) == CAP + 4 + 3
    assert [m["from"] for m in replayed].count("alice") == CAP
    assert [m["payload"]["text"] for r in replayed if r["from"] == "alice"
            for m in r["elements"]] == [f"a{i}" for i in range(50, 150)]
    assert {m["ID"] for m in replayed}.isdisjoint(m["ID"] for m in dropped)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[-1] == head
    assert ready["data"]["seq"] == head
    bob_pk = User.objects.get(user_id="bob").pk
    assert account_selectors.offline_cache_dropped(user_pk=bob_pk, since=seen) == \
        {"alice": 150 - CAP}

    # The conversation list after SDK_READY: unread counts and last messages.
    convs = {c["conversationID"]: c for c in back.ok("getConversationList")["conversationList"]}
    assert {k: c["unreadCount"] for k, c in convs.items()} == \
        {"C2Calice": 150, "C2Ccarol": 4, "C2Cdave": 3}
    assert convs["C2Calice"]["lastMessage"]["ID"] == from_alice[-1]["ID"]
    assert convs["C2Ccarol"]["lastMessage"]["ID"] == \
        [m for who, m in sent if who == "carol"][-1]["ID"]
    assert convs["C2Cdave"]["lastMessage"]["ID"] == sent[-1][1]["ID"]
    assert back.ok("getTotalUnreadMessageCount") == 157

    # B opens the conversation: history has all 150, the 50 the cache dropped included.
    history = page_all(back, "C2Calice")
    assert [m["ID"] for m in history] == [m["ID"] for m in from_alice]
    assert [m["seq"] for m in history] == list(range(1, 151))
    assert all(m["flow"] == "in" for m in history)

    # A second device from the same `since` gets the same replay; one that is up to
    # date gets nothing. (Both logged in before: a since is trusted only from a device
    # the account has seen, accounts.devices.since_trusted.)
    for device in ("bob-tablet", "bob-pc"):
        device_login(user=User.objects.get(user_id="bob"), device_id=device, platform="Android")
    other = connect()
    _, again, _ = login_until_ready(other, "bob", since=seen, device="bob-tablet")
    assert [f["data"][0]["ID"] for f in again
            if f["event"] == "MESSAGE_RECEIVED"] == [m["ID"] for m in kept]
    latest = connect()
    assert login_until_ready(latest, "bob", since=head, device="bob-pc")[1] == []


@pytest.mark.e2e
def test_cache_entries_expire_after_7_days_and_history_stays(connect, make_user):
    make_user("alice"), make_user("bob")
    alice = connect("alice")
    old = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"old{i}"), "random": i})
           for i in range(3)]
    bob = User.objects.get(user_id="bob")
    aged = SyncEntry.objects.filter(user=bob)
    assert aged.count() == 3
    last_aged = max(aged.values_list("seq", flat=True))
    # Eight days pass for these entries (they are still in the table: not purged).
    aged.update(created_at=timezone.now() - timedelta(days=8))

    # Everything after since=0 has expired: SYNC_RESET, and nothing of it replayed.
    ws = connect()
    login, frames, ready = login_until_ready(ws, "bob", since=0)
    assert [f["event"] for f in frames] == ["SYNC_RESET"]
    assert ready["data"]["seq"] == login["seq"] == 3

    fresh = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"new{i}"),
                                      "random": 100 + i}) for i in range(2)]
    # A device whose since points before the expired entries: reset, no replay.
    ws2 = connect()
    login, frames, ready = login_until_ready(ws2, "bob", since=1, device="bob-tablet")
    assert [f["event"] for f in frames] == ["SYNC_RESET"]
    assert ready["data"]["seq"] == login["seq"] == 5
    # A device that had seen the expired entries misses nothing: only the fresh ones.
    device_login(user=bob, device_id="bob-pc", platform="Android")  # it logged in then
    ws3 = connect()
    _, frames, ready = login_until_ready(ws3, "bob", since=last_aged, device="bob-pc")
    assert [f["event"] for f in frames] == ["MESSAGE_RECEIVED"] * 2 + [
        "CONVERSATION_LIST_UPDATED", "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"]
    assert [f["data"][0]["ID"] for f in frames[:2]] == [m["ID"] for m in fresh]
    assert ready["data"]["seq"] == 5
    # The roaming store keeps its own time (CHAT_HISTORY_DAYS): all five are there.
    assert [m["ID"] for m in page_all(ws3, "C2Calice")] == [m["ID"] for m in old + fresh]


def test_replay_pages_keep_the_per_peer_cut_in_a_fixed_number_of_queries(
        make_user, django_assert_num_queries):
    from django.db import transaction

    from accounts.services import sync_publish
    from messaging.commands import Origin, SendCommand
    from messaging.services import message_send_many

    def send(sender, body, random):
        [result] = message_send_many([SendCommand(origin=Origin.USER, sender=sender, to="bob",
                                                  elements=text(body), random=random)])
        assert isinstance(result, dict), result

    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    order = []
    for i in range(130):
        sender = carol if i % 10 == 0 else alice
        send(sender, f"m{i}", i)
        order.append(sender.user_id)
    # A non-message entry in the middle replays whatever the cap does.
    with transaction.atomic():
        sync_publish([(bob.pk, SyncEntry.Kind.PROFILE, "PROFILE_UPDATED", [{"userID": "bob"}])])
    for i in range(130, 150):
        send(alice, f"m{i}", i)
        order.append("alice")
    head = account_selectors.sync_head(bob.pk)
    assert head == 151

    whole, reached = sync_replay(user=bob, since=0, upto=head)
    assert reached == head
    alice_total = order.count("alice")  # 137
    assert [e["event"] for e in whole].count("MESSAGE_RECEIVED") == CAP + order.count("carol")
    assert [e["event"] for e in whole].count("PROFILE_UPDATED") == 1
    texts = [e["data"][0]["elements"][0]["payload"]["text"] for e in whole
             if e["event"] == "MESSAGE_RECEIVED" and e["data"][0]["from"] == "alice"]
    alice_texts = [f"m{i}" for i, who in enumerate(order) if who == "alice"]
    assert texts == alice_texts[alice_total - CAP:]
    assert account_selectors.offline_cache_dropped(user_pk=bob.pk, since=0, upto=head) == \
        {"alice": alice_total - CAP}

    # Paged 25 entries at a time: the same events, two queries a page.
    paged, since = [], 0
    while since < head:
        with django_assert_num_queries(2):
            events, since = sync_replay(user=bob, since=since, upto=head, limit=25)
        paged.extend(events)
    assert paged == whole
    seqs = [e["seq"] for e in whole]
    assert seqs == sorted(seqs)

    # Entries past `upto` (sent during a replay) do not move the cut.
    send(alice, "late", 999)
    assert sync_replay(user=bob, since=0, upto=head)[0] == whole
