"""Reconnect is never lossy: a device that comes back with `since` gets every change made
while it was away (messages, a recall, a modify, a read, conversation changes) exactly
once, in sync-log order, then SDK_READY; a `since` older than the cache gets SYNC_RESET.
Real uvicorn, real sockets, PostgreSQL and Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import SyncEntry
from accounts.usersig import gen_usersig

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def login_until_ready(ws, user_id: str, since: int, device: str):
    data = ws.login(user_id, gen_usersig(user_id), deviceID=device, platform="Android",
                    since=since)
    frames = []
    while (frame := ws.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    return data, frames, frame


def test_every_change_while_away_is_replayed_once_in_order(make_user, connect):
    for name in ("alice", "bob", "carol"):
        make_user(name)
    phone = connect()
    _, _, ready = login_until_ready(phone, "bob", since=0, device="bob-phone")
    alice, carol = connect("alice"), connect("carol")
    m0 = alice.ok("sendMessage", {"to": "bob", "elements": text("before"), "random": 1})
    phone.wait_event("MESSAGE_RECEIVED")
    since = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq").first().seq
    phone.close()  # the phone goes away at seq `since`

    desk = connect("bob", deviceID="bob-desk", platform="Windows")
    m1 = alice.ok("sendMessage", {"to": "bob", "elements": text("one"), "random": 2})
    m2 = alice.ok("sendMessage", {"to": "bob", "elements": text("two"), "random": 3})
    alice.ok("revokeMessage", {"messageID": m1["ID"]})
    alice.ok("modifyMessage", {"messageID": m2["ID"], "elements": text("two!")})
    c1 = carol.ok("sendMessage", {"to": "bob", "elements": text("carol"), "random": 4})
    desk.ok("setMessageRead", {"conversationID": "C2Calice"})
    desk.ok("pinConversation", {"conversationID": "C2Ccarol", "isPinned": True})
    desk.ok("deleteMessage", {"messageIDList": [m0["ID"]]})
    bob_sent = desk.ok("sendMessage", {"to": "alice", "elements": text("reply"), "random": 5})

    expected = list(SyncEntry.objects.filter(user__user_id="bob", seq__gt=since)
                    .order_by("seq").values_list("seq", "kind"))
    assert len(expected) >= 10

    back = connect()
    login, frames, ready = login_until_ready(back, "bob", since=since, device="bob-phone")
    head = login["seq"]
    assert head == expected[-1][0] and ready["data"]["seq"] == head
    logged = [f for f in frames if "seq" in f]
    assert "SYNC_RESET" not in [f["event"] for f in frames]
    # Each entry once, in seq order, nothing else with a seq.
    assert [f["seq"] for f in logged] == [seq for seq, _ in expected]
    by_event: dict[str, list] = {}
    for f in logged:
        by_event.setdefault(f["event"], []).append(f)
    received = [f["data"][0]["ID"] for f in by_event["MESSAGE_RECEIVED"]]
    assert received == [m1["ID"], m2["ID"], c1["ID"], bob_sent["ID"]]
    # A replayed message shows its state now: m1 recalled, m2 modified.
    replayed = {f["data"][0]["ID"]: f["data"][0] for f in by_event["MESSAGE_RECEIVED"]}
    assert replayed[m1["ID"]]["isRevoked"] and replayed[m1["ID"]]["elements"] == []
    assert replayed[m2["ID"]]["elements"] == text("two!")
    assert [f["data"][0]["ID"] for f in by_event["MESSAGE_REVOKED"]] == [m1["ID"]]
    assert [f["data"][0]["ID"] for f in by_event["MESSAGE_MODIFIED"]] == [m2["ID"]]
    assert [f["data"]["messageIDList"] for f in by_event["MESSAGE_DELETED"]] == [[m0["ID"]]]
    convs = [c for f in by_event["CONVERSATION_LIST_UPDATED"] for c in f["data"]]
    assert any(c["conversationID"] == "C2Calice" and c.get("unreadCount") == 0 for c in convs)
    assert any(c["conversationID"] == "C2Ccarol" and c.get("isPinned") for c in convs)
    # The order of the changes themselves: recall after its message, modify after it.
    order = [(f["event"], (f["data"][0] if isinstance(f["data"], list) else f["data"])
              .get("ID")) for f in logged]
    assert order.index(("MESSAGE_REVOKED", m1["ID"])) > order.index(("MESSAGE_RECEIVED",
                                                                     m1["ID"]))
    assert order.index(("MESSAGE_MODIFIED", m2["ID"])) > order.index(("MESSAGE_RECEIVED",
                                                                      m2["ID"]))
    # After the replay, the list and the total as they are now.
    tail = [f for f in frames if "seq" not in f]
    assert [f["event"] for f in tail] == ["CONVERSATION_LIST_UPDATED",
                                          "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"]
    now = {c["conversationID"]: c for c in tail[0]["data"]}
    assert now["C2Calice"]["unreadCount"] == 0 and now["C2Ccarol"]["unreadCount"] == 1
    assert now["C2Ccarol"]["isPinned"] and tail[1]["data"] == 1

    # Live events go on after SDK_READY, none repeated.
    alice.ok("revokeMessage", {"messageID": m2["ID"]})
    live = back.wait_event("MESSAGE_REVOKED")
    assert live["seq"] == head + 1 and live["data"][0]["ID"] == m2["ID"]
    # The same device again with the new since: nothing to replay.
    back.close()
    last = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq").first().seq
    assert last == live["seq"]
    again = connect()
    _, frames, ready = login_until_ready(again, "bob", since=last, device="bob-phone")
    assert frames == [] and ready["data"]["seq"] == last


def test_a_since_older_than_the_cache_gets_sync_reset(make_user, connect):
    for name in ("alice", "bob"):
        make_user(name)
    alice = connect("alice")
    m = alice.ok("sendMessage", {"to": "bob", "elements": text("old"), "random": 1})
    alice.ok("revokeMessage", {"messageID": m["ID"]})
    alice.ok("sendMessage", {"to": "bob", "elements": text("new"), "random": 2})
    entries = list(SyncEntry.objects.filter(user__user_id="bob").order_by("seq"))
    assert [e.kind for e in entries][:2] == [SyncEntry.Kind.MESSAGE, SyncEntry.Kind.REVOKE]
    # The first two entries leave the cache (older than 7 days).
    SyncEntry.objects.filter(pk__in=[e.pk for e in entries[:2]]).update(
        created_at=timezone.now() - timedelta(days=8))
    ws = connect()
    _, frames, ready = login_until_ready(ws, "bob", since=0, device="bob-phone")
    assert [f["event"] for f in frames] == ["SYNC_RESET"]
    assert ready["data"]["seq"] == entries[-1].seq
    # The client reloads: history shows the recalled one as recalled.
    page = ws.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"]
    assert [(h["isRevoked"], h["elements"]) for h in page] == [(True, []), (False, text("new"))]


def _bob_away_and_on_his_desk(make_user, connect):
    """Bob's phone logs in once and leaves; alice and bob's desk are online. Returns
    (the phone's since, alice's socket, the desk's socket)."""
    for name in ("alice", "bob"):
        make_user(name)
    phone = connect()
    login_until_ready(phone, "bob", since=0, device="bob-phone")
    phone.close()
    since = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq") \
        .values_list("seq", flat=True).first() or 0
    alice = connect("alice")
    desk = connect("bob", deviceID="bob-desk", platform="Windows")
    return since, alice, desk


def test_messages_deleted_or_cleared_elsewhere_are_not_replayed(make_user, connect):
    """What the user deleted (deleteMessage) or cleared (clearHistoryMessage) on one
    device while another was away is not in their history any more: the device coming
    back gets the deletion and the clear, never those messages' content (a replayed
    message shows its state now, as a recalled one does). The chain runs over them."""
    since, alice, desk = _bob_away_and_on_his_desk(make_user, connect)
    sent = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"secret {i}"),
                                     "random": 10 + i}) for i in range(3)]
    mine = desk.ok("sendMessage", {"to": "alice", "elements": text("mine"), "random": 20})
    desk.ok("deleteMessage", {"messageIDList": [sent[2]["ID"], mine["ID"]]})
    desk.ok("clearHistoryMessage", {"conversationID": "C2Calice"})
    kept = alice.ok("sendMessage", {"to": "bob", "elements": text("after"), "random": 30})

    back = connect()
    _, frames, ready = login_until_ready(back, "bob", since=since, device="bob-phone")
    received = [m["ID"] for f in frames if f["event"] == "MESSAGE_RECEIVED" for m in f["data"]]
    assert received == [kept["ID"]]
    texts = [str(f["data"]) for f in frames if f["event"] == "MESSAGE_RECEIVED"]
    assert not [t for t in texts if "secret" in t or "'mine'" in t]
    logged = [f for f in frames if "seq" in f]
    assert [f["event"] for f in logged][:2] == ["MESSAGE_DELETED", "CONVERSATION_LIST_UPDATED"]
    # Each event's prevSeq is the one before it, the first one's is `since`.
    assert [f["prevSeq"] for f in logged] == [since] + [f["seq"] for f in logged[:-1]]
    assert ready["data"]["seq"] == logged[-1]["seq"]


def test_a_recall_erases_the_content_from_the_sync_log_too(make_user, connect):
    """A recall erases the content in storage: that includes the copies the sync log
    holds for replay (a read's or a pin's conversation entry carries the last message,
    a modify's entry the new content), on both sides; a device coming back after the
    recall never gets the content."""
    since, alice, desk = _bob_away_and_on_his_desk(make_user, connect)
    m = alice.ok("sendMessage", {"to": "bob", "elements": text("the code is 4711"),
                                 "random": 1, "cloudCustomData": "code-4711"})
    desk.ok("setMessageRead", {"conversationID": "C2Calice"})
    desk.ok("pinConversation", {"conversationID": "C2Calice", "isPinned": True})
    alice.ok("modifyMessage", {"messageID": m["ID"], "elements": text("no, 4712")})
    alice.ok("pinConversation", {"conversationID": "C2Cbob", "isPinned": True})
    alice.ok("revokeMessage", {"messageID": m["ID"]})

    stored = [e.payload for e in SyncEntry.objects.filter(user__user_id__in=["alice", "bob"])]
    assert not [p for p in stored if "471" in str(p)]
    back = connect()
    _, frames, _ = login_until_ready(back, "bob", since=since, device="bob-phone")
    assert "471" not in str(frames)
    # The entries still say what they said otherwise: the pin, the read, the recall.
    events = [f["event"] for f in frames if "seq" in f]
    assert events.count("CONVERSATION_LIST_UPDATED") >= 2 and "MESSAGE_REVOKED" in events
    lasts = [c["lastMessage"] for f in frames if f["event"] == "CONVERSATION_LIST_UPDATED"
             for c in f["data"] if c.get("lastMessage")]
    assert lasts and all(x["isRevoked"] and x["elements"] == [] for x in lasts)
    revoked = next(f for f in frames if f["event"] == "MESSAGE_REVOKED")
    assert revoked["data"][0]["revokerInfo"] == {"userID": "alice"}


def test_a_device_of_a_deleted_account_gets_sync_reset_from_the_new_one(make_user, connect,
                                                                        v4):
    """After account_delete the UserID can be registered again: a new, empty account.
    The old account's phone holds a `since` of the old sync log; the new log's seqs
    start again from 1, so that `since` may be at or below the new head. It must get
    SYNC_RESET, not the new account's entries on top of its stale state: a `since` is
    only trusted from a deviceID the account has seen (a Device row). A brand-new
    device's first login (since 0) is replayed as before, and a device the account
    knows keeps its replay."""
    for name in ("alice", "bob", "carol"):
        make_user(name)
    pad = connect()
    login_until_ready(pad, "bob", since=0, device="bob-pad")
    pad.close()
    phone = connect()
    login_until_ready(phone, "bob", since=0, device="bob-phone")
    alice = connect("alice")
    for n in range(3):
        alice.ok("sendMessage", {"to": "bob", "elements": text(f"old {n}"), "random": n + 1})
        phone.wait_event("MESSAGE_RECEIVED", where=lambda e, n=n: e["data"][0]["elements"]
                         == text(f"old {n}"))
    old_since = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq") \
        .values_list("seq", flat=True).first()
    phone.close()
    answer = v4("im_open_login_svc/account_delete", {"DeleteItem": [{"UserID": "bob"}]})
    assert answer["ResultItem"][0]["ResultCode"] == 0, answer

    # bob again: a first login registers him, from a brand-new device, since 0.
    tablet = connect()
    data, frames, ready = login_until_ready(tablet, "bob", since=0, device="bob-tablet")
    assert frames == [] and data["seq"] == 0
    carol = connect("carol")
    for n in range(old_since + 2):
        carol.ok("sendMessage", {"to": "bob", "elements": text(f"new {n}"),
                                 "random": 100 + n})
    head = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq") \
        .values_list("seq", flat=True).first()
    assert head > old_since

    # the old devices, their since at or below the new head: SYNC_RESET, no replay.
    for since, device in ((old_since, "bob-phone"), (1, "bob-pad")):
        old_phone = connect()
        _, frames, ready = login_until_ready(old_phone, "bob", since=since, device=device)
        assert [f["event"] for f in frames] == ["SYNC_RESET"], frames
        assert ready["data"]["seq"] == head
        old_phone.close()

    # another brand-new device, since 0: the whole cache, no reset.
    laptop = connect()
    _, frames, _ = login_until_ready(laptop, "bob", since=0, device="bob-laptop")
    assert "SYNC_RESET" not in [f["event"] for f in frames]
    assert sum(f["event"] == "MESSAGE_RECEIVED" for f in frames) == old_since + 2
    laptop.close()
    # the tablet, which this account has seen, is replayed from its since.
    tablet.close()
    tablet = connect()
    _, frames, _ = login_until_ready(tablet, "bob", since=head - 1, device="bob-tablet")
    assert [f["event"] for f in frames][0] == "MESSAGE_RECEIVED"
    assert "SYNC_RESET" not in [f["event"] for f in frames]
