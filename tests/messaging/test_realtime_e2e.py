"""End to end: a real uvicorn process, real WebSocket clients, PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from accounts.usersig import gen_usersig
from messaging.models import Message
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def test_login_errors_keep_the_socket_open(connect, make_user):
    make_user("alice")
    ws = connect()
    assert ws.request("getConversationList")["code"] == 70002
    expired = gen_usersig("alice", 1, now=int(time.time()) - 10)
    for sig, code in [(expired, 70001), (gen_usersig("alice", key="wrong"), 70009),
                      (gen_usersig("bob"), 70013), (gen_usersig("alice", sdkappid=1), 70014),
                      ("garbage", 70003), ("", 70002)]:
        reply = ws.request("login", {"userID": "alice", "userSig": sig})
        assert (reply["ok"], reply["code"]) == (False, code), reply
    assert ws.request("login", {})["code"] == 70002  # no cookie, no UserSig
    assert ws.ok("ping") == {}
    data = ws.login("alice", gen_usersig("alice"))
    assert data["userID"] == "alice"
    assert ws.wait_event("SDK_READY")["data"]["seq"] == data["seq"]


def test_malformed_frames_get_errors_and_the_socket_stays(connect, make_user):
    make_user("alice")
    ws = connect("alice")
    ws.send_raw("{not json")
    assert ws.wait_event("ERROR")["data"]["code"] == 910002
    ws.send_raw("[1, 2]")
    assert ws.wait_event("ERROR")["data"]["code"] == 910002
    assert ws.request("noSuchOp")["code"] == 910001
    assert ws.request("sendMessage", "not an object")["code"] == 910003  # type: ignore[arg-type]
    assert ws.request("sendMessage", {"to": "alice", "elements": [], "random": 1})["code"] == 90010
    assert ws.request("getMessageList", {"conversationID": "nope"})["code"] == 910003
    assert ws.request("ack", {"seq": "x"})["code"] == 910003
    assert ws.request("login", {"userID": "alice", "userSig": gen_usersig("alice")})["code"] \
        == 910003  # already logged in
    assert ws.ok("ping") == {}


def test_first_login_registers_a_new_user_id(connect, db):
    ws = connect()
    assert ws.login("newcomer", gen_usersig("newcomer"))["userID"] == "newcomer"
    from accounts.models import User

    assert User.objects.filter(user_id="newcomer").exists()


def test_two_devices_of_one_user_stay_in_sync(connect, make_user):
    make_user("alice"), make_user("bob")
    phone = connect("alice", deviceID="phone-1", platform="Android")
    laptop = connect("alice", deviceID="web-1", platform="Web")
    bob = connect("bob", deviceID="bob-phone", platform="iOS")
    bob2 = connect("bob", deviceID="bob-web", platform="Web")

    sent = phone.ok("sendMessage", {"to": "bob", "elements": text("hi bob"), "random": 1})
    assert sent["flow"] == "out" and sent["seq"] == 1

    for device in (bob, bob2):
        ev = device.wait_event("MESSAGE_RECEIVED")
        assert ev["data"][0]["ID"] == sent["ID"] and ev["data"][0]["flow"] == "in"
        conv = device.wait_event("CONVERSATION_LIST_UPDATED")["data"][0]
        assert (conv["conversationID"], conv["unreadCount"]) == ("C2Calice", 1)
        assert device.wait_event("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED")["data"] == 1
    echo = laptop.wait_event("MESSAGE_RECEIVED")
    assert echo["data"][0]["ID"] == sent["ID"] and echo["data"][0]["flow"] == "out"
    # the sending device has the reply; it gets no echo of its own message, but its
    # conversation list is updated like every other device's
    on_phone = [e["event"] for e in phone.drain()]
    assert "MESSAGE_RECEIVED" not in on_phone and "CONVERSATION_LIST_UPDATED" in on_phone

    bob.ok("setMessageRead", {"conversationID": "C2Calice"})
    conv = bob2.wait_event("CONVERSATION_LIST_UPDATED",
                           where=lambda e: e["data"][0]["unreadCount"] == 0)
    assert conv["data"][0]["conversationID"] == "C2Calice"
    assert bob2.wait_event("TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
                           where=lambda e: e["data"] == 0)
    for device in (phone, laptop):
        receipt = device.wait_event("MESSAGE_READ_BY_PEER")["data"][0]
        assert receipt["conversationID"] == "C2Cbob" and receipt["peerReadSeq"] == 1
    # one row per device login, with its platform and how far it acknowledged
    bob.ok("ack", {"seq": 1})
    from accounts.models import Device

    devices = {d.device_id: d for d in Device.objects.filter(user__user_id="bob")}
    assert {k: d.platform for k, d in devices.items()} == {"bob-phone": "iOS", "bob-web": "Web"}
    assert devices["bob-phone"].acked_seq == 1 and devices["bob-web"].acked_seq == 0
    history = laptop.ok("getMessageList", {"conversationID": "C2Cbob"})
    assert history["messageList"][0]["isPeerRead"] is True
    assert bob2.ok("getConversationList")["conversationList"][0]["unreadCount"] == 0


def test_offline_receiver_gets_exactly_what_it_missed(connect, make_user):
    make_user("alice"), make_user("bob")
    alice = connect("alice")
    bob = connect()
    first = bob.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android",
                      since=0)
    ready = bob.wait_event("SDK_READY")
    seen = ready["data"]["seq"]
    assert seen == first["seq"] == 0
    alice.ok("sendMessage", {"to": "bob", "elements": text("before"), "random": 100})
    got = bob.wait_event("MESSAGE_RECEIVED")
    seen = got["seq"]
    bob.close()

    missed = [alice.ok("sendMessage", {"to": "bob", "elements": text(f"m{i}"), "random": i})
              for i in range(5)]
    back = connect()
    head = back.login("bob", gen_usersig("bob"), deviceID="bob-phone", platform="Android",
                      since=seen)["seq"]
    frames = []
    while (frame := back.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    replayed = [f for f in frames if f["event"] == "MESSAGE_RECEIVED"]
    assert [m["data"][0]["ID"] for m in replayed] == [m["ID"] for m in missed]
    seqs = [f["seq"] for f in replayed]
    assert seqs == sorted(seqs) and seqs[0] == seen + 1 and seqs[-1] == head
    assert frame["data"]["seq"] == head
    # live traffic continues after the replay
    alice.ok("sendMessage", {"to": "bob", "elements": text("live"), "random": 200})
    assert back.wait_event("MESSAGE_RECEIVED")["seq"] == head + 1


def test_since_beyond_the_log_gets_sync_reset(connect, make_user):
    make_user("alice")
    ws = connect()
    ws.login("alice", gen_usersig("alice"), since=999)
    assert ws.wait_event("SYNC_RESET")
    assert ws.wait_event("SDK_READY")["data"]["seq"] == 0


def test_same_device_login_kicks_the_older_socket(connect, make_user):
    make_user("alice")
    old = connect("alice", deviceID="d1", platform="Web")
    connect("alice", deviceID="d1", platform="Web")
    assert old.wait_event("KICKED_OUT")["data"]["reason"] == "multipleDevice"
    with pytest.raises(ConnectionClosed):
        old.drain(quiet=2)
    assert old.closed_code == 4001


def test_second_phone_kicks_the_first_but_tabs_coexist(connect, make_user):
    make_user("alice")
    phone1 = connect("alice", deviceID="p1", platform="Android")
    tab1 = connect("alice", deviceID="t1", platform="Web")
    connect("alice", deviceID="t2", platform="Web")
    connect("alice", deviceID="p2", platform="Android")
    assert phone1.wait_event("KICKED_OUT")["data"]["reason"] == "multipleDevice"
    assert tab1.ok("ping") == {}


def test_browser_session_cookie_logs_in(live_server_url, make_user):
    make_user("alice", password="secret-pw")
    http = Client()
    assert http.login(user_id="alice", password="secret-pw")
    cookie = f"sessionid={http.cookies['sessionid'].value}"
    origin = live_server_url
    ws = WsClient(live_server_url, headers={"Cookie": cookie, "Origin": origin})
    assert ws.ok("login", {})["userID"] == "alice"
    ws.close()
    # a foreign page cannot ride on the cookie
    with pytest.raises(InvalidStatus):
        WsClient(live_server_url, headers={"Cookie": cookie, "Origin": "https://evil.example"})


def test_two_senders_200_each_lose_nothing(connect, make_user):
    make_user("alice"), make_user("bob"), make_user("carol")
    receiver = connect("carol")
    senders = {"alice": connect("alice"), "bob": connect("bob")}
    replies: dict[str, list] = {"alice": [], "bob": []}
    errors: list = []

    def run(name):
        try:
            for i in range(200):
                replies[name].append(senders[name].ok(
                    "sendMessage", {"to": "carol", "elements": text(f"{name}-{i}"), "random": i}))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in senders]
    for t in threads:
        t.start()
    received = []
    deadline = time.monotonic() + 60
    while len(received) < 400 and time.monotonic() < deadline:
        ev = receiver.wait_event("MESSAGE_RECEIVED", timeout=20)
        received.extend(ev["data"])
    for t in threads:
        t.join(30)
    assert not errors
    assert len(received) == 400
    for name in ("alice", "bob"):
        mine = [m for m in received if m["from"] == name]
        assert [m["elements"][0]["payload"]["text"] for m in mine] == \
            [f"{name}-{i}" for i in range(200)]
        seqs = [m["seq"] for m in mine]
        assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False))
        assert [r["ID"] for r in replies[name]] == [m["ID"] for m in mine]
    assert Message.objects.count() == 400
    history = receiver.ok("getMessageList", {"conversationID": "C2Calice", "count": 100})
    assert [m["seq"] for m in history["messageList"]] == list(range(101, 201))
    conv = {c["conversationID"]: c for c in
            receiver.ok("getConversationList")["conversationList"]}
    assert conv["C2Calice"]["unreadCount"] == 200 and conv["C2Cbob"]["unreadCount"] == 200
    # the receiver's sync log has every message once, in order, with no holes
    from accounts.models import SyncEntry

    logged = list(SyncEntry.objects.filter(user__user_id="carol").order_by("seq")
                  .values_list("seq", "message_id"))
    assert [seq for seq, _ in logged] == list(range(1, 401))
    assert len({mid for _, mid in logged}) == 400


def test_profile_ops_reach_every_device(connect, make_user):
    make_user("alice")
    phone = connect("alice", deviceID="p", platform="Android")
    web = connect("alice", deviceID="w", platform="Web")
    assert phone.ok("getMyProfile")["nick"] == "Alice"
    updated = phone.ok("updateMyProfile", {"nick": "Ally", "selfSignature": "hi"})
    assert (updated["nick"], updated["selfSignature"]) == ("Ally", "hi")
    event = web.wait_event("PROFILE_UPDATED")
    assert event["data"][0]["nick"] == "Ally" and event["seq"] >= 1
    assert phone.request("updateMyProfile", {"nickname": "x"})["code"] == 910003
    assert phone.request("updateMyProfile", {"location": "x" * 17})["code"] == 40601
    assert phone.request("updateMyProfile", {"gender": "robot"})["code"] == 40605
    # the sender's new nick is on the next message
    make_user("bob")
    sent = phone.ok("sendMessage", {"to": "bob", "elements": text("x"), "random": 1})
    assert sent["nick"] == "Ally"


def test_a_kick_still_in_flight_spares_a_device_that_logged_in_after_it(connect, make_user):
    import time as clock

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    alice = make_user("alice")
    sent_before = clock.time() - 1  # a kick sent before the phone below logged in
    phone = connect("alice", deviceID="p9", platform="Android")
    from messaging.consumers import _device_group

    layer = get_channel_layer()
    group = _device_group(alice.pk, "p9")
    async_to_sync(layer.group_send)(group, {"type": "chat.kick", "reason": "multipleDevice",
                                            "keep": "nobody", "at": sent_before})
    assert phone.ok("ping") == {}
    assert not [e for e in phone.drain(quiet=0.5) if e.get("event") == "KICKED_OUT"]
    async_to_sync(layer.group_send)(group, {"type": "chat.kick", "reason": "multipleDevice",
                                            "keep": "nobody", "at": clock.time()})
    assert phone.wait_event("KICKED_OUT")["data"]["reason"] == "multipleDevice"


def test_typing_reaches_the_peer_online_and_is_never_stored(connect, make_user):
    from relationships.services import block_add

    carol = [make_user(u) for u in ("alice", "bob", "carol")][-1]
    a, b, c = connect("alice"), connect("bob"), connect("carol")
    assert a.ok("typing", {"to": "bob"}) == {}
    event = b.wait_event("TYPING")
    assert event["data"] == {"from": "alice", "conversationID": "C2Calice", "typing": True}
    assert "seq" not in event  # not in the sync log
    assert a.ok("typing", {"to": "bob", "typing": False}) == {}
    assert b.wait_event("TYPING")["data"]["typing"] is False
    # Bad input gets a clear error; an unknown peer is 20003.
    assert a.request("typing", {"to": 7})["code"] == 910003
    assert a.request("typing", {"to": "bob", "typing": "yes"})["code"] == 910003
    assert a.request("typing", {"to": "nobody"})["code"] == 20003
    # A peer who blocked the sender hears nothing, and the sender learns nothing.
    block_add(owner=carol, user_ids=["alice"])
    assert a.ok("typing", {"to": "carol"}) == {}
    assert all(f.get("event") != "TYPING" for f in c.drain(quiet=0.5))
    # Nothing was written.
    assert not Message.objects.exists()


def test_ack_refuses_a_seq_past_the_sync_head(connect, make_user):
    """`ack` tells the server how far this device has processed the sync log (PROTOCOL.md,
    Session step 4): a seq the log has not reached, or not a seq at all, is refused
    910003 and the device's acked_seq stays where it was."""
    from accounts.models import Device

    make_user("alice"), make_user("bob")
    alice = connect("alice", deviceID="alice-phone", platform="iOS")
    bob = connect("bob")
    bob.ok("sendMessage", {"to": "alice", "elements": text("hi"), "random": 1})
    head = alice.wait_event("MESSAGE_RECEIVED")["seq"]
    assert alice.request("ack", {"seq": head + 1})["code"] == 910003
    assert alice.request("ack", {"seq": 10**12})["code"] == 910003
    assert alice.request("ack", {"seq": -1})["code"] == 910003
    assert alice.request("ack", {"seq": 1.5})["code"] == 910003
    assert Device.objects.get(user__user_id="alice", device_id="alice-phone").acked_seq == 0
    assert alice.ok("ack", {"seq": head}) == {}
    assert Device.objects.get(user__user_id="alice", device_id="alice-phone").acked_seq == head
    assert alice.ok("ack", {"seq": head - 1}) == {}  # an older ack moves nothing back
    assert Device.objects.get(user__user_id="alice", device_id="alice-phone").acked_seq == head
