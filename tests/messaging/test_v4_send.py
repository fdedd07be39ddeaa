"""/v4 openim sendmsg, batchsendmsg, importmsg and admin_getroammsg (tencent-rest.md
§3.1-§3.4), over real HTTP with Tencent's own UserSig package, against a live server."""

from __future__ import annotations

import json
import time

import pytest

from accounts.models import SyncEntry, User
from messaging import selectors
from messaging.commands import Origin, SendCommand
from messaging.models import Conversation, Message
from messaging.services import message_send
from messaging.tencent_body import (
    elements_from_msg_body,
    message_by_key,
    message_key,
    msg_body_from_elements,
)
from tests.conftest import start_server, stop_server
from tests.v4client import V4Client

pytestmark = pytest.mark.django_db(transaction=True)

URL = "https://files.example/x"


def text_body(s: str) -> list:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": s}}]


def send(v4, to="bob", body=None, **fields):
    request = {"To_Account": to, "MsgRandom": fields.pop("MsgRandom", 7),
               "MsgBody": body if body is not None else text_body("hi"), **fields}
    return v4("openim/sendmsg", request)


def code(answer: dict) -> int:
    if answer["ErrorCode"]:
        assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
    return answer["ErrorCode"]


# --- MsgBody both ways ------------------------------------------------------------------

TENCENT_BODIES = {
    "TIMTextElem": {"Text": "hello"},
    "TIMFaceElem": {"Index": 3, "Data": "smile"},
    "TIMLocationElem": {"Desc": "Shenzhen", "Latitude": 22.54, "Longitude": 113.94},
    "TIMCustomElem": {"Data": "{\"k\":1}", "Desc": "card", "Ext": "x", "Sound": "dingdong.aiff"},
    "TIMSoundElem": {"Url": URL, "UUID": "snd1", "Size": 2048, "Second": 4,
                     "Download_Flag": 2},
    "TIMImageElem": {"UUID": "img1", "ImageFormat": 3, "ImageInfoArray": [
        {"Type": 1, "Size": 1000, "Width": 800, "Height": 600, "URL": URL},
        {"Type": 3, "Size": 100, "Width": 198, "Height": 148, "URL": URL}]},
    "TIMFileElem": {"Url": URL, "UUID": "f1", "FileSize": 5000, "FileName": "a.pdf",
                    "Download_Flag": 2},
    "TIMVideoFileElem": {"VideoUrl": URL, "VideoUUID": "v1", "VideoSize": 9000,
                         "VideoSecond": 7, "VideoFormat": "mp4", "VideoDownloadFlag": 2,
                         "ThumbUrl": URL, "ThumbUUID": "t1", "ThumbWidth": 320,
                         "ThumbHeight": 240, "ThumbSize": 1500, "ThumbFormat": "JPG",
                         "ThumbDownloadFlag": 2},
    "TIMRelayElem": {"Title": "Chat history", "MsgNum": 1, "CompatibleText": "upgrade",
                     "AbstractList": ["a: hi"], "MsgList": [{"From_Account": "a"}]},
}


@pytest.mark.parametrize("mtype", sorted(TENCENT_BODIES))
def test_every_msg_type_is_sent_stored_and_pulled_back_the_same(v4, make_user, mtype):
    make_user("alice"), make_user("bob")
    body = [{"MsgType": mtype, "MsgContent": TENCENT_BODIES[mtype]}]
    answer = send(v4, From_Account="alice", body=body)
    assert code(answer) == 0
    msg = message_by_key(answer["MsgKey"])
    assert msg is not None and msg.time == answer["MsgTime"]
    assert msg.elements[0]["type"] == mtype
    # Back to Tencent's form: what went in comes out (history pulls it so).
    assert msg_body_from_elements(msg.elements) == body
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    assert roam["MsgList"][0]["MsgBody"] == body


def test_msg_key_names_exactly_one_message(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    a = message_send(origin=Origin.USER,
                     sender=alice, to="bob", elements=elements_from_msg_body(text_body("a")),
                     random=5)
    b = message_send(origin=Origin.USER,
                     sender=bob, to="alice", elements=elements_from_msg_body(text_body("b")),
                     random=5)
    ma, mb = Message.objects.get(seq=a["seq"]), Message.objects.get(seq=b["seq"])
    assert message_key(ma) != message_key(mb)
    assert message_by_key(message_key(ma)) == ma and message_by_key(message_key(mb)) == mb
    pk, random, t = message_key(ma).split("_")
    assert (int(pk), int(random), int(t)) == (ma.pk, 5, ma.time)
    for bad in ("", "x_1_2", f"{ma.pk}_6_{ma.time}", f"{ma.pk}_5_{ma.time + 1}", None, 5,
                f"0_5_{ma.time}"):
        assert message_by_key(bad) is None


# --- sendmsg ---------------------------------------------------------------------------

def test_sendmsg_as_a_user_reaches_the_receiver_and_the_sender_devices(v4, make_user, connect):
    make_user("alice"), make_user("bob")
    bob_ws = connect("bob", deviceID="bob-1")
    alice_ws = connect("alice", deviceID="alice-1")
    answer = send(v4, From_Account="alice", SyncOtherMachine=1, MsgSeq=99,
                  CloudCustomData="cc", IsNeedReadReceipt=1, SupportMessageExtension=1,
                  OfflinePushInfo={"PushFlag": 0, "Desc": "push text", "Ext": "{}"})
    assert code(answer) == 0 and abs(answer["MsgTime"] - time.time()) < 5
    msg = message_by_key(answer["MsgKey"])
    assert (msg.msg_seq, msg.cloud_custom_data, msg.need_read_receipt) == (99, "cc", True)
    # In the one stored shape (push/offline_info.py).
    assert msg.offline_push_info == {"description": "push text", "extension": "{}"}
    got = bob_ws.wait_event("MESSAGE_RECEIVED")["data"][0]
    assert got["from"] == "alice" and got["elements"][0]["payload"]["text"] == "hi"
    assert alice_ws.wait_event("MESSAGE_RECEIVED")["data"][0]["flow"] == "out"
    assert Conversation.objects.get(owner__user_id="bob").unread_count == 1


def test_sendmsg_as_the_admin_imports_the_admin(v4, make_user):
    make_user("bob")
    assert not User.objects.filter(user_id="administrator").exists()
    answer = send(v4)
    assert code(answer) == 0
    assert message_by_key(answer["MsgKey"]).sender.user_id == "administrator"


def test_sendmsg_skips_blocklist_and_friends_rule_but_not_mute(v4, make_user):
    from relationships.models import Block, SendPolicy

    alice, bob = make_user("alice"), make_user("bob")
    SendPolicy(rule=SendPolicy.Rule.FRIENDS).save()
    Block.objects.create(owner=bob, blocked=alice, created_at=alice.date_joined)
    assert code(send(v4, From_Account="alice", MsgRandom=1)) == 0
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=4294967295)
    assert code(send(v4, From_Account="alice", MsgRandom=2)) == 20012
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=int(time.time()) - 1)
    assert code(send(v4, From_Account="alice", MsgRandom=3)) == 0


def test_sync_other_machine(v4, make_user, connect):
    make_user("alice"), make_user("bob")
    alice_ws = connect("alice", deviceID="alice-1")
    head = SyncEntry.objects.filter(user__user_id="alice").count()
    # 2: nothing on the sender's side.
    key2 = send(v4, From_Account="alice", SyncOtherMachine=2, MsgRandom=2)["MsgKey"]
    assert SyncEntry.objects.filter(user__user_id="alice").count() == head
    assert not Conversation.objects.filter(owner__user_id="alice").exists()
    assert SyncEntry.objects.filter(user__user_id="bob").count() == 1
    alice_page = selectors.message_page(viewer=User.objects.get(user_id="alice"),
                                        conversation_id="C2Cbob")["messageList"]
    assert alice_page == []
    # omitted: roaming only: written for the sender (history, log) but not published.
    key0 = send(v4, From_Account="alice", MsgRandom=3)["MsgKey"]
    entry = SyncEntry.objects.get(user__user_id="alice")
    assert entry.message_id == message_by_key(key0).pk
    # 1: the sender's devices get it.
    key1 = send(v4, From_Account="alice", SyncOtherMachine=1, MsgRandom=4)["MsgKey"]
    ev = alice_ws.wait_event("MESSAGE_RECEIVED")
    assert ev["data"][0]["ID"].split("-")[0] == key1.split("_")[0]
    assert not [f for f in alice_ws.drain() if f.get("event") == "MESSAGE_RECEIVED"]
    # The sender's history: 0 and 1, not 2; the receiver's: all three.
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "alice", "Peer_Account": "bob",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    assert [m["MsgKey"] for m in roam["MsgList"]] == [key1, key0]
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    assert [m["MsgKey"] for m in roam["MsgList"]] == [key1, key0, key2]


def test_send_msg_control(v4, make_user):
    make_user("alice"), make_user("bob")
    first = send(v4, From_Account="alice", MsgRandom=1)["MsgKey"]
    send(v4, From_Account="alice", MsgRandom=2, SendMsgControl=["NoUnread", "NoLastMsg"])
    conv = Conversation.objects.get(owner__user_id="bob")
    assert conv.unread_count == 1 and conv.last_message == message_by_key(first)


def test_msg_life_time_zero_is_online_only(v4, make_user, connect):
    make_user("alice"), make_user("bob")
    bob_ws = connect("bob", deviceID="bob-1")
    answer = send(v4, From_Account="alice", MsgLifeTime=0)
    assert code(answer) == 0 and answer["MsgKey"].startswith("0_")
    assert bob_ws.wait_event("MESSAGE_RECEIVED")["data"][0]["onlineUserOnly"] is True
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert not Conversation.objects.exists()


def test_msg_life_time_over_7_days_clamps(v4, make_user):
    make_user("alice"), make_user("bob")
    before = time.time()
    key = send(v4, From_Account="alice", MsgLifeTime=30 * 86400)["MsgKey"]
    entry = SyncEntry.objects.get(user__user_id="bob")
    assert entry.message_id == message_by_key(key).pk
    life = entry.expires_at.timestamp() - before
    assert 7 * 86400 - 5 < life < 7 * 86400 + 5


BIG = "a" * 12300


@pytest.mark.parametrize("fields, expected", [
    ({"To_Account": None}, 90003),
    ({"To_Account": 5}, 90003),
    ({"To_Account": "nobody"}, 90012),
    ({"MsgRandom": None}, 90005),
    ({"MsgRandom": "7"}, 90005),
    ({"MsgRandom": 2**32}, 90005),
    ({"MsgBody": None}, 90002),
    ({"MsgBody": {"MsgType": "TIMTextElem"}}, 90007),
    ({"MsgBody": []}, 90002),
    ({"MsgBody": [{"MsgType": "TIMTextElem"}]}, 90002),
    ({"MsgBody": ["text"]}, 90002),
    ({"MsgBody": [{"MsgType": "TIMNopeElem", "MsgContent": {}}]}, 90010),
    ({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]}, 90010),
    ({"MsgBody": text_body(BIG)}, 93000),
    ({"CloudCustomData": "c" * 12289}, 93000),
    ({"MsgLifeTime": "60"}, 90044),
    ({"MsgLifeTime": -1}, 90044),
    ({"MsgLifeTime": 1.5}, 90044),
    ({"SyncOtherMachine": "1"}, 90031),
    ({"SyncOtherMachine": 3}, 90031),
    ({"MsgSeq": "x"}, 90004),
    ({"OfflinePushInfo": "push"}, 90043),
    ({"OfflinePushInfo": [1]}, 90043),
    ({"From_Account": "ghost"}, 20003),
    ({"IsNeedReadReceipt": 2}, 20001),
    ({"SendMsgControl": "NoUnread"}, 20001),
])
def test_sendmsg_errors(v4, make_user, fields, expected):
    make_user("alice"), make_user("bob")
    request = {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 7,
               "MsgBody": text_body("hi"), **fields}
    request = {k: v for k, v in request.items() if v is not None}
    assert code(v4("openim/sendmsg", request)) == expected
    assert not Message.objects.exists()


def test_sendmsg_malformed_json_is_90001(v4):
    for raw in (b"{not json", b"[1]", b""):
        status, answer = v4.raw("openim/sendmsg", raw)
        assert status == 200 and code(json.loads(answer)) == 90001


# --- batchsendmsg ----------------------------------------------------------------------

@pytest.fixture
def eager_v4(transactional_db):
    """A live server that runs Celery tasks in process, and a /v4 client of it."""
    proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="1")
    try:
        yield V4Client(url)
    finally:
        stop_server(proc)


def test_batchsendmsg_fans_out_and_reports_unknown_receivers(eager_v4, make_user):
    make_user("alice")
    receivers = [make_user(f"r{i}", password=None).user_id for i in range(250)]  # no hashing
    answer = eager_v4("openim/batchsendmsg", {
        "From_Account": "alice", "To_Account": [*receivers, "ghost1", "ghost2"],
        "MsgRandom": 77, "MsgBody": text_body("to all"), "SendMsgControl": ["NoLastMsg"]})
    assert answer["ActionStatus"] == "SomeError" and answer["ErrorCode"] == 0
    assert answer["ErrorList"] == [{"To_Account": "ghost1", "ErrorCode": 70107},
                                   {"To_Account": "ghost2", "ErrorCode": 70107}]
    assert Message.objects.filter(random=77).count() == 250
    assert set(Message.objects.values_list("receiver__user_id", flat=True)) == set(receivers)
    conv = Conversation.objects.get(owner__user_id="r7")
    assert conv.unread_count == 1 and conv.last_message is None
    # The batch key, with From/To, names each receiver's message.
    msg = message_by_key(answer["MsgKey"], sender_id="alice", receiver_id="r7")
    assert msg is not None and msg.receiver.user_id == "r7"
    assert {m.time for m in Message.objects.all()} == {int(answer["MsgKey"].split("_")[2])}


def _at_a_seconds_start() -> None:
    """Wait for the next second to begin (two calls made now land in one second)."""
    time.sleep(1 - time.time() % 1 + 0.01)


def test_a_fixed_msgrandom_dedupes_within_a_second_only(eager_v4, make_user):
    # Tencent: MsgRandom dedupes within a second (tencent-rest.md §2.2), and its own
    # samples send one fixed value. A repeat in a later second is another message; it
    # was answered with the first message's MsgKey and never stored (a 10-minute window).
    make_user("alice"), make_user("bob"), make_user("carol")
    _at_a_seconds_start()
    first = send(eager_v4, From_Account="alice", MsgRandom=1287657, body=text_body("one"))
    retry = send(eager_v4, From_Account="alice", MsgRandom=1287657, body=text_body("one"))
    assert retry["MsgKey"] == first["MsgKey"] and retry["MsgTime"] == first["MsgTime"]
    _at_a_seconds_start()
    later = send(eager_v4, From_Account="alice", MsgRandom=1287657, body=text_body("two"))
    assert code(later) == 0 and later["MsgKey"] != first["MsgKey"]
    texts = [m.elements[0]["payload"]["text"]
             for m in Message.objects.filter(sender__user_id="alice").order_by("pk")]
    assert texts == ["one", "two"]

    def batch(text_):
        return eager_v4("openim/batchsendmsg", {
            "From_Account": "alice", "To_Account": ["bob", "carol"], "MsgRandom": 99,
            "MsgBody": text_body(text_)})

    assert code(batch("batch one")) == 0
    _at_a_seconds_start()
    assert code(batch("batch two")) == 0
    for receiver in ("bob", "carol"):
        got = [m.elements[0]["payload"]["text"]
               for m in Message.objects.filter(receiver__user_id=receiver, random=99)
               .order_by("pk")]
        assert got == ["batch one", "batch two"], receiver


def test_batchsendmsg_errors(v4, make_user):
    make_user("alice"), make_user("bob")
    base = {"From_Account": "alice", "To_Account": ["bob"], "MsgRandom": 1,
            "MsgBody": text_body("x")}

    def batch(**fields):
        body = {k: v for k, v in {**base, **fields}.items() if v is not None}
        return v4("openim/batchsendmsg", body)

    assert code(batch(To_Account=[f"u{i}" for i in range(501)])) == 90011
    assert code(batch(To_Account="bob")) == 90003
    assert code(batch(To_Account=[])) == 90003
    assert code(batch(To_Account=["ghost"])) == 90012
    assert code(batch(From_Account="ghost")) == 90008
    assert code(batch(MsgLifeTime=604801)) == 90026
    assert code(batch(MsgLifeTime="x")) == 90044
    assert code(batch(MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {}}])) == 90010
    assert code(batch(MsgRandom=None)) == 90005
    assert code(batch(MsgSeq=-1)) == 90004
    # A muted sender may still batch-send (Tencent: no mute check here).
    User.objects.filter(user_id="alice").update(c2c_mute_until=4294967295)
    assert code(batch()) == 0


# --- importmsg ---------------------------------------------------------------------------

def imp(v4, **fields):
    body = {"SyncFromOldSystem": 2, "From_Account": "alice", "To_Account": "bob",
            "MsgRandom": 1, "MsgTimeStamp": int(time.time()) - 3600, "MsgBody": text_body("old"),
            **fields}
    return v4("openim/importmsg", {k: v for k, v in body.items() if v is not None})


def test_importmsg_historical_and_realtime(v4, make_user, connect):
    make_user("alice"), make_user("bob")
    bob_ws = connect("bob", deviceID="bob-1")
    now = int(time.time())
    # Imported out of order: history by time comes back in MsgTimeStamp order.
    assert code(imp(v4, MsgTimeStamp=now - 100, MsgRandom=2, MsgSeq=2,
                    MsgBody=text_body("second"))) == 0
    assert code(imp(v4, MsgTimeStamp=now - 200, MsgRandom=1, MsgSeq=1,
                    MsgBody=text_body("first"), From_Account="bob", To_Account="alice")) == 0
    assert Message.objects.get(random=1).created_at.timestamp() == now - 200
    # The conversations show the newest by time, not the last imported.
    for owner in ("alice", "bob"):
        assert Conversation.objects.get(owner__user_id=owner).last_message.random == 2
    assert Conversation.objects.get(owner__user_id="bob").unread_count == 0
    assert not SyncEntry.objects.filter(kind="message").exists()
    assert not [f for f in bob_ws.drain() if f.get("event") == "MESSAGE_RECEIVED"]
    # Dedupe: the same (MsgSeq, MsgRandom, MsgTimeStamp), also From/To swapped.
    assert code(imp(v4, MsgTimeStamp=now - 100, MsgRandom=2, MsgSeq=2,
                    MsgBody=text_body("again"), From_Account="bob", To_Account="alice")) == 0
    assert Message.objects.count() == 2
    # Realtime (5, and 1 as its alias): unread and delivered.
    assert code(imp(v4, SyncFromOldSystem=5, MsgTimeStamp=now - 10, MsgRandom=3,
                    MsgBody=text_body("live"))) == 0
    assert bob_ws.wait_event("MESSAGE_RECEIVED")["data"][0]["elements"][0]["payload"][
        "text"] == "live"
    assert code(imp(v4, SyncFromOldSystem=1, MsgTimeStamp=now - 5, MsgRandom=4)) == 0
    assert Conversation.objects.get(owner__user_id="bob").unread_count == 2
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": now})
    texts = [m["MsgBody"][0]["MsgContent"]["Text"] for m in roam["MsgList"]]
    assert texts == ["old", "live", "second", "first"]
    assert [m["MsgTimeStamp"] for m in roam["MsgList"]] == [now - 5, now - 10, now - 100,
                                                            now - 200]
    # The dialog seq grows in import order.
    assert [m.seq for m in Message.objects.order_by("pk")] == [1, 2, 3, 4]


@pytest.mark.parametrize("fields, expected", [
    ({"SyncFromOldSystem": None}, 90030),
    ({"SyncFromOldSystem": "2"}, 90030),
    ({"SyncFromOldSystem": 3}, 90030),
    ({"MsgTimeStamp": None}, 90006),
    ({"MsgTimeStamp": "yesterday"}, 90006),
    ({"From_Account": None}, 90008),
    ({"From_Account": "ghost"}, 90008),
    ({"To_Account": None}, 90003),
    ({"To_Account": "ghost"}, 90012),
    ({"MsgRandom": None}, 90005),
    ({"MsgBody": "hi"}, 90007),
    ({"MsgBody": [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": "x"}}]}, 90010),
])
def test_importmsg_errors(v4, make_user, fields, expected):
    make_user("alice"), make_user("bob")
    assert code(imp(v4, **fields)) == expected
    assert not Message.objects.exists()


# --- admin_getroammsg ---------------------------------------------------------------------

def roam(v4, **fields):
    body = {"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 100,
            "MinTime": 0, "MaxTime": 2**32 - 1, **fields}
    return v4("openim/admin_getroammsg", {k: v for k, v in body.items() if v is not None})


def test_admin_getroammsg_pages_views_and_flags(v4, make_user):
    from messaging.changes import conversation_clear_history, message_revoke

    alice, bob = make_user("alice"), make_user("bob")
    now = int(time.time())
    sent = []
    for i in range(30):  # ~600 bytes each: a 13 KB page holds about 20
        sender, to = (alice, "bob") if i % 2 == 0 else (bob, "alice")
        sent.append(message_send(origin=Origin.USER,
                                 sender=sender, to=to, random=i, time=now - 100 + i,
                                 elements=[{"type": "TIMTextElem",
                                            "payload": {"text": f"{i:02d}" + "x" * 400}}]))
    pages, last_key, max_time = [], None, now
    while True:
        page = roam(v4, MaxTime=max_time, LastMsgKey=last_key)
        assert code(page) == 0 and page["MsgCnt"] == len(page["MsgList"])
        assert len(json.dumps(page["MsgList"])) <= 14 * 1024
        pages.append(page)
        if page["Complete"]:
            break
        last_key, max_time = page["LastMsgKey"], page["LastMsgTime"]
    assert len(pages) >= 2
    items = [m for p in pages for m in p["MsgList"]]
    assert [int(m["MsgBody"][0]["MsgContent"]["Text"][:2]) for m in items] == \
        list(range(29, -1, -1))
    # Legacy names give the same view.
    legacy = v4("openim/admin_getroammsg", {"From_Account": "alice", "To_Account": "bob",
                                            "MaxCnt": 5, "MinTime": 0, "MaxTime": now})
    assert [m["MsgKey"] for m in legacy["MsgList"]] == [m["MsgKey"] for m in items[:5]]
    assert legacy["Complete"] == 0
    # MinTime/MaxTime are inclusive bounds on MsgTimeStamp.
    window = roam(v4, MinTime=now - 90, MaxTime=now - 81)
    assert [m["MsgTimeStamp"] for m in window["MsgList"]] == list(range(now - 81, now - 91, -1))
    # Recalled: flag 8, no body. Read by the peer: IsPeerRead on the owner's messages.
    first = Message.objects.get(random=0)
    message_revoke(message_pk=first.pk, actor=alice, platform="RESTAPI")
    Conversation.objects.filter(owner=alice, peer=bob).update(peer_read_seq=3)
    items = {m["MsgRandom"]: m for m in roam(v4, MaxTime=now - 90)["MsgList"]}
    assert sorted(items) == list(range(11))
    assert items[0]["MsgFlagBits"] == 8 and items[0]["MsgBody"] == []
    assert items[2]["MsgFlagBits"] == 0 and items[2]["IsPeerRead"] == 1
    assert items[4]["IsPeerRead"] == 0 and items[1]["IsPeerRead"] == 0  # later; bob's own
    # Deleted on one side, or cleared by one side: gone from that side's view only.
    Message.objects.filter(random=4).update(deleted_by_sender=True)
    conversation_clear_history(user=bob, peer=alice)
    assert sorted(m["MsgRandom"] for m in roam(v4, MaxTime=now - 90)["MsgList"]) == \
        [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert roam(v4, Operator_Account="bob", Peer_Account="alice")["MsgList"] == []


def test_admin_getroammsg_errors(v4, make_user):
    make_user("alice"), make_user("bob")
    assert code(roam(v4, Operator_Account=None)) == 90008
    assert code(roam(v4, Operator_Account="ghost")) == 90008
    assert code(roam(v4, Peer_Account=None)) == 90003
    assert code(roam(v4, MaxCnt=None)) == 20001
    assert code(roam(v4, LastMsgKey="garbage")) == 20001
    assert code(roam(v4)) == 0 and roam(v4)["Complete"] == 1


def test_send_command_time_is_kept(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    from messaging.services import message_send_many

    [view] = message_send_many([SendCommand(origin=Origin.BATCH, sender=alice, to="bob",
                                            random=1, time=12345,
                                            elements=elements_from_msg_body(text_body("t")))])
    assert view["time"] == 12345


@pytest.mark.parametrize(("mtype", "content"), [
    ("TIMSoundElem", {"UUID": "snd-legacy", "Size": 2048, "Second": 4}),
    ("TIMFileElem", {"UUID": "file-legacy", "FileSize": 5000, "FileName": "a.pdf"}),
])
def test_a_legacy_sound_or_file_body_without_its_url_is_sent(v4, make_user, mtype, content):
    """tencent-rest.md §2.1: a 2.x/3.x backend sends TIMSoundElem and TIMFileElem with
    only UUID and sizes (the file was found by UUID). They were refused 90010 ("url: is
    required"); now stored with an empty URL (the chat page shows "[Voice]" or the file's
    name without a link)."""
    make_user("alice"), make_user("bob")
    answer = send(v4, From_Account="alice", body=[{"MsgType": mtype, "MsgContent": content}])
    assert code(answer) == 0, answer
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    got = roam["MsgList"][0]["MsgBody"][0]
    assert got["MsgType"] == mtype
    assert {k: got["MsgContent"][k] for k in content} == content
    assert got["MsgContent"].get("Url", "") == ""


@pytest.mark.parametrize("url", ["//files.example/x", "/\\files.example/x"])
def test_a_protocol_relative_url_is_refused_not_stored_as_a_path(v4, make_user, url):
    """`//host/x` (or `/\\host/x`, which browsers read the same) names another host:
    the chat page and the console would never link it. The send is refused 90010
    instead of stored as if it were a file on this server."""
    make_user("alice"), make_user("bob")
    for mtype, content in TENCENT_BODIES.items():
        if mtype not in ("TIMSoundElem", "TIMImageElem", "TIMFileElem", "TIMVideoFileElem"):
            continue
        content = json.loads(json.dumps(content).replace(json.dumps(URL), json.dumps(url)))
        answer = send(v4, From_Account="alice", body=[{"MsgType": mtype, "MsgContent": content}])
        assert code(answer) == 90010, (mtype, answer)
    assert not Message.objects.exists()
