"""Message extensions over the doors: /v4 openim_msg_ext_http_svc set_key_values and
get_key_values (tencent-rest.md §3.10) with Tencent's own UserSig package over real
HTTP, and the socket ops setMessageExtensions / getMessageExtensions /
deleteMessageExtensions over real sockets, with the events reaching the peer's device
and replayed at reconnect."""

from __future__ import annotations

import pytest

from accounts.models import SyncEntry
from accounts.usersig import gen_usersig

pytestmark = pytest.mark.django_db(transaction=True)


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def tencent_text(s: str) -> list:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": s}}]


def code(answer: dict) -> int:
    if answer["ErrorCode"]:
        assert answer["ActionStatus"] == "FAIL" and answer["ErrorInfo"], answer
    else:
        assert answer["ActionStatus"] == "OK", answer
    return answer["ErrorCode"]


def err(ws, op, data) -> int:
    reply = ws.request(op, data)
    assert not reply["ok"], reply
    return reply["code"]


@pytest.fixture
def trio(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol")


def test_v4_set_and_get_key_values(v4, trio):
    sent = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                 "MsgRandom": 12, "MsgBody": tencent_text("vote"),
                                 "SupportMessageExtension": 1})
    assert code(sent) == 0
    key = sent["MsgKey"]
    where = {"From_Account": "alice", "To_Account": "bob", "MsgKey": key}
    ext = "openim_msg_ext_http_svc/set_key_values"
    answer = v4(ext, {**where, "OperateType": 1, "ExtensionList": [
        {"Key": "k1", "Value": "v1", "Seq": 0}, {"Key": "k2", "Value": "v2", "Seq": 0},
        {"Key": "k3", "Value": "", "Seq": 0}]})
    assert code(answer) == 0
    assert answer["ExtensionList"] == [
        {"ErrorCode": 0, "Extension": {"Key": k, "Value": v, "Seq": 1}}
        for k, v in (("k1", "v1"), ("k2", "v2"), ("k3", ""))]
    # The admin's Seq is not checked (Tencent's rule); From_Account is optional.
    answer = v4(ext, {"To_Account": "bob", "MsgKey": key, "OperateType": 1,
                      "ExtensionList": [{"Key": "k3", "Value": "v3", "Seq": 99}]})
    assert answer["ExtensionList"] == [{"ErrorCode": 0,
                                        "Extension": {"Key": "k3", "Value": "v3", "Seq": 2}}]
    get = "openim_msg_ext_http_svc/get_key_values"
    answer = v4(get, where)
    assert code(answer) == 0
    assert (answer["CompleteFlag"], answer["LatestSeq"], answer["ClearSeq"]) == (1, 2, 0)
    assert answer["ExtensionList"] == [{"Key": "k1", "Value": "v1", "Seq": 1},
                                       {"Key": "k2", "Value": "v2", "Seq": 1},
                                       {"Key": "k3", "Value": "v3", "Seq": 2}]
    assert [e["Key"] for e in v4(get, {**where, "StartSeq": 2})["ExtensionList"]] == ["k3"]
    # Delete some keys, then clear all.
    answer = v4(ext, {**where, "OperateType": 2, "ExtensionList": [{"Key": "k1", "Seq": 1}]})
    assert answer["ExtensionList"] == [{"ErrorCode": 0,
                                        "Extension": {"Key": "k1", "Value": "", "Seq": 1}}]
    assert code(v4(ext, {**where, "OperateType": 3})) == 0
    answer = v4(get, where)
    assert (answer["ExtensionList"], answer["LatestSeq"], answer["ClearSeq"]) == ([], 2, 2)
    # Both participants' devices learn it through their sync logs.
    for user_id in ("alice", "bob"):
        events = [e.payload["event"] for e in SyncEntry.objects.filter(
            user__user_id=user_id, kind=SyncEntry.Kind.EXTENSION).order_by("seq")]
        assert events == ["MESSAGE_EXTENSIONS_UPDATED"] * 2 + ["MESSAGE_EXTENSIONS_DELETED"] * 2


def test_v4_errors(v4, trio):
    plain = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                  "MsgRandom": 1, "MsgBody": tencent_text("x")})["MsgKey"]
    voted = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                  "MsgRandom": 2, "MsgBody": tencent_text("x"),
                                  "SupportMessageExtension": 1})["MsgKey"]
    ext = "openim_msg_ext_http_svc/set_key_values"
    one = [{"Key": "k", "Value": "v", "Seq": 0}]

    def set_code(**body):
        return code(v4(ext, {"From_Account": "alice", "To_Account": "bob", "MsgKey": voted,
                             "OperateType": 1, "ExtensionList": one, **body}))

    assert set_code(MsgKey=plain) == 23002
    assert set_code(From_Account="carol") == 23004  # not its sender
    assert set_code(To_Account="carol") == 23004
    pk, random, t = voted.split("_")
    assert set_code(MsgKey=f"{int(pk) + 1000}_{random}_{t}") == 23004
    assert set_code(MsgKey="nonsense") == 10004
    assert set_code(OperateType=4) == 10004
    assert set_code(ExtensionList=[{"Key": f"k{i}", "Value": "v", "Seq": 0}
                                   for i in range(21)]) == 10004
    assert set_code(ExtensionList=[{"Key": "k" * 101, "Value": "v", "Seq": 0}]) == 10004
    assert set_code(ExtensionList=[{"Key": "k", "Value": "v" * 1001, "Seq": 0}]) == 10004
    assert set_code(ExtensionList=[{"Key": "k", "Seq": 0}]) == 10004  # Value missing
    assert set_code(ExtensionList=[{"Key": "k", "Value": 5}]) == 10004
    assert set_code(ExtensionList=None) == 10004
    assert code(v4("openim_msg_ext_http_svc/get_key_values",
                   {"To_Account": "bob", "MsgKey": voted, "StartSeq": "x"})) == 10004
    status, raw = v4.raw(ext, b"{not json")
    assert status == 200 and b'"ErrorCode":10004' in raw


def test_socket_ops_reach_the_peer_and_are_replayed_at_reconnect(trio, connect):
    alice, bob = connect("alice", deviceID="a1"), connect("bob", deviceID="b1")
    carol = connect("carol", deviceID="c1")
    m = alice.ok("sendMessage", {"to": "bob", "elements": text("lunch?"), "random": 1,
                                 "isSupportExtension": True})
    assert m["isSupportExtension"] is True
    got = bob.wait_event("MESSAGE_RECEIVED")["data"][0]
    assert got["isSupportExtension"] is True
    history = bob.ok("getMessageList", {"conversationID": "C2Calice"})["messageList"]
    assert history[-1]["isSupportExtension"] is True
    bob_since = SyncEntry.objects.filter(user__user_id="bob").order_by("-seq").first().seq

    reply = bob.ok("setMessageExtensions", {"messageID": m["ID"], "extensions": [
        {"key": "bob", "value": "yes"}, {"key": "note", "value": "12:30", "seq": 0}]})
    assert reply == {"extensions": [{"code": 0, "key": "bob", "value": "yes", "seq": 1},
                                    {"code": 0, "key": "note", "value": "12:30", "seq": 1}]}
    ev = alice.wait_event("MESSAGE_EXTENSIONS_UPDATED")
    assert ev["data"] == {"messageID": m["ID"], "extensions": [
        {"key": "bob", "value": "yes", "seq": 1}, {"key": "note", "value": "12:30", "seq": 1}]}
    assert ev["seq"] > 0
    bob.wait_event("MESSAGE_EXTENSIONS_UPDATED")  # bob's own device too
    # alice writes "note" with a stale seq: refused with what is stored.
    reply = alice.ok("setMessageExtensions", {"messageID": m["ID"], "extensions": [
        {"key": "note", "value": "13:00", "seq": 0}]})
    assert reply["extensions"] == [{"code": 23001, "key": "note", "value": "12:30", "seq": 1}]
    got = alice.ok("getMessageExtensions", {"messageID": m["ID"]})
    assert got == {"extensions": [{"key": "bob", "value": "yes", "seq": 1},
                                  {"key": "note", "value": "12:30", "seq": 1}],
                   "isCompleted": True, "latestSeq": 1, "clearSeq": 0}
    reply = alice.ok("deleteMessageExtensions", {"messageID": m["ID"],
                                                 "extensions": [{"key": "note", "seq": 1}]})
    assert reply["extensions"] == [{"code": 0, "key": "note", "value": "", "seq": 1}]
    ev = bob.wait_event("MESSAGE_EXTENSIONS_DELETED")
    assert ev["data"] == {"messageID": m["ID"], "keyList": ["note"]}
    alice.ok("deleteMessageExtensions", {"messageID": m["ID"]})  # clear all
    assert bob.wait_event("MESSAGE_EXTENSIONS_DELETED",
                          where=lambda e: e["data"]["keyList"] == ["bob"])

    # carol is no participant; bounds are refused with their codes, never a 500.
    assert err(carol, "getMessageExtensions", {"messageID": m["ID"]}) == 23004
    assert err(carol, "setMessageExtensions", {"messageID": m["ID"], "extensions": [
        {"key": "carol", "value": "x"}]}) == 23004
    for bad in ([{"key": f"k{i}", "value": "v"} for i in range(21)],
                [{"key": "k" * 101, "value": "v"}], [{"key": "k", "value": "v" * 1001}],
                "x", [5], [{"key": "k"}], [{"key": "k", "value": "v", "seq": "1"}]):
        assert err(bob, "setMessageExtensions", {"messageID": m["ID"], "extensions": bad}) \
            == 10004, bad
    assert err(bob, "setMessageExtensions", {"messageID": m["ID"]}) == 10004
    assert err(bob, "deleteMessageExtensions", {"messageID": m["ID"],
                                                "keyList": ["k"] * 21}) == 10004
    assert err(bob, "getMessageExtensions", {"messageID": "nope"}) == 910003
    assert err(bob, "getMessageExtensions", {"messageID": m["ID"], "startSeq": -1}) == 10004

    # bob's phone was away since before the message: it gets the changes replayed.
    phone = connect()
    phone.login("bob", gen_usersig("bob"), deviceID="b1", platform="Android",
                since=bob_since)
    frames = []
    while (frame := phone.next_frame()).get("event") != "SDK_READY":
        frames.append(frame)
    replayed = [(f["event"], f["data"]) for f in frames
                if f.get("event", "").startswith("MESSAGE_EXTENSIONS")]
    assert replayed == [
        ("MESSAGE_EXTENSIONS_UPDATED", {"messageID": m["ID"], "extensions": [
            {"key": "bob", "value": "yes", "seq": 1},
            {"key": "note", "value": "12:30", "seq": 1}]}),
        ("MESSAGE_EXTENSIONS_DELETED", {"messageID": m["ID"], "keyList": ["note"]}),
        ("MESSAGE_EXTENSIONS_DELETED", {"messageID": m["ID"], "keyList": ["bob"]})]


def test_over_200_writes_a_minute_on_one_message_are_too_frequent(trio, connect, v4,
                                                                  live_server_url):
    """Tencent's 23003: at most 200 extension writes a minute on one message, whoever
    writes and through whichever door; reads go on, and other messages are not held."""
    import json
    import urllib.error
    import urllib.request

    from messaging.extensions import extensions_set
    from messaging.models import Message
    from messaging.tencent_body import message_key

    alice = connect("alice", deviceID="a1")
    poll = alice.ok("sendMessage", {"to": "bob", "elements": text("poll"), "random": 5,
                                    "isSupportExtension": True})
    other = alice.ok("sendMessage", {"to": "bob", "elements": text("other"), "random": 6,
                                     "isSupportExtension": True})
    msg = Message.objects.get(random=5)
    for i in range(199):  # the app admin's writes count too
        extensions_set(message_pk=msg.pk, actor=None, items=[("n", str(i), None)])
    # The 200th goes through, the 201st does not, on every door.
    reply = alice.ok("setMessageExtensions", {"messageID": poll["ID"], "extensions": [
        {"key": "alice", "value": "yes"}]})
    assert reply["extensions"][0]["code"] == 0
    for op, data in (("setMessageExtensions", {"extensions": [{"key": "bob", "value": "no"}]}),
                     ("deleteMessageExtensions", {"keyList": ["alice"]})):
        reply = alice.request(op, {"messageID": poll["ID"], **data})
        assert (reply["ok"], reply["code"]) == (False, 23003), reply
        assert "at most 200 extension writes a minute" in reply["message"]
    answer = v4("openim_msg_ext_http_svc/set_key_values", {
        "To_Account": "bob", "MsgKey": message_key(msg), "OperateType": 1,
        "ExtensionList": [{"Key": "admin", "Value": "x"}]})
    assert code(answer) == 23003 and "at most 200" in answer["ErrorInfo"]
    for path, body in (("", {"extensions": [{"key": "bob", "value": "no"}]}),
                       ("delete/", {"keyList": ["alice"]})):
        request = urllib.request.Request(
            f"{live_server_url}/api/v1/messages/{poll['ID']}/extensions/{path}",
            method="POST", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"UserSig bob:{gen_usersig('bob')}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 429
        assert json.loads(refused.value.read())["code"] == 23003
    # Nothing of the refused writes was stored; reads and other messages go on.
    got = alice.ok("getMessageExtensions", {"messageID": poll["ID"]})
    assert (got["latestSeq"], sorted(e["key"] for e in got["extensions"])) \
        == (200, ["alice", "n"])
    assert code(v4("openim_msg_ext_http_svc/get_key_values", {
        "To_Account": "bob", "MsgKey": message_key(msg)})) == 0
    reply = alice.ok("setMessageExtensions", {"messageID": other["ID"], "extensions": [
        {"key": "alice", "value": "yes"}]})
    assert reply["extensions"][0]["code"] == 0
