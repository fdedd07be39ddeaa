"""Merged messages whose list is stored apart (messaging/merged.py): stored once, sent and
delivered with a downloadKey, read back by downloadMergerMessage and GET
/api/v1/merged/<key>/ by those who have the message, nested, forwarded, deleted with the
message; the 300 / 200 KB limits. Real WebSocket clients against the live server, REST
over real HTTP, /v4 with the admin's UserSig."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.usersig import gen_usersig
from chat_project.errors import ChatError
from messaging import changes, merged
from messaging.commands import Origin, SendCommand
from messaging.elements import MAX_MERGED_BYTES, is_merged_key, json_size
from messaging.models import MergedList, MergedNest, MergedUse, Message
from messaging.services import history_purge, message_send, message_send_many
from messaging.tasks import purge_history, purge_uploads
from messaging.views import parse_message_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MISSING_KEY = "Z" * 32  # shaped as a downloadKey, names no list


def text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


def history(n: int, size: int = 200, tag: str = "m") -> list[dict]:
    """n merged messages of about `size` bytes of text each, as the Web SDK lists them."""
    return [{"ID": f"{tag}-{i}", "from": "alice", "to": "bob", "time": 1_700_000_000 + i,
             "elements": text(f"{tag} {i} " + "x" * size)} for i in range(n)]


def of_bytes(target: int) -> list[dict]:
    """A list exactly `target` bytes as compact UTF-8 JSON (multi-byte text included)."""
    msgs = history(max(1, target // 1200), size=1000)
    msgs[0]["elements"][0]["payload"]["text"] = "é"
    pad = target - json_size(msgs)
    assert pad >= 0
    msgs[-1]["elements"][0]["payload"]["text"] += "y" * pad
    assert json_size(msgs) == target
    return msgs


def relay(messages: list | None = None, *, key: str | None = None, title: str = "history"):
    payload = {"title": title, "abstractList": ["alice: hi"], "compatibleText": "[Chat History]"}
    if messages is not None:
        payload["messageList"] = messages
    if key is not None:
        payload["downloadKey"] = key
    return [{"type": "TIMRelayElem", "payload": payload}]


def rest(base: str, user: str, method: str, path: str, body: dict | None = None):
    """(status, JSON body) of a native REST call as `user`."""
    request = urllib.request.Request(
        f"{base}/api/v1/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"UserSig {user}:{gen_usersig(user)}",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def payload_of(message: dict) -> dict:
    return message["elements"][0]["payload"]


def send_ws(ws, to: str, elements: list, random: int, **extra) -> dict:
    return ws.request("sendMessage", {"to": to, "elements": elements, "random": random,
                                      **extra}, timeout=30)


def download(ws, key) -> dict:
    return ws.request("downloadMergerMessage", {"downloadKey": key})


# --- stored once, by downloadKey ----------------------------------------------------------

def test_a_large_list_is_stored_once_and_travels_by_download_key(connect, make_user,
                                                                 live_server_url):
    make_user("alice"), make_user("bob"), make_user("carol")
    alice, bob = connect("alice"), connect("bob")
    messages = history(80)  # about 20 KB: over 12 KB with it
    reply = send_ws(alice, "bob", relay(messages), 11)
    assert reply["ok"], reply
    sent = payload_of(reply["data"])
    assert "messageList" not in sent and len(sent["downloadKey"]) == 32
    assert sent["title"] == "history" and sent["abstractList"] == ["alice: hi"]
    key = sent["downloadKey"]

    # Delivered live without the list, with the same key.
    got = bob.wait_event("MESSAGE_RECEIVED")["data"][0]
    assert payload_of(got) == sent

    # A retry (same random) is the same message and stores nothing more.
    again = send_ws(alice, "bob", relay(messages), 11)
    assert again["data"]["ID"] == reply["data"]["ID"]
    assert payload_of(again["data"])["downloadKey"] == key
    assert MergedList.objects.count() == 1
    row = MergedList.objects.get()
    assert (row.key, row.count, row.messages) == (key, 80, messages)
    assert row.bytes == json_size(messages)
    assert MergedUse.objects.count() == 1
    stored = Message.objects.get()
    assert "messageList" not in json.dumps(stored.elements)

    # Sender and receiver read it, over the socket and REST; history has no list either.
    for ws in (alice, bob):
        answer = download(ws, key)
        assert answer["ok"] and answer["data"] == {"messageList": messages}
    for user in ("alice", "bob"):
        status, body = rest(live_server_url, user, "GET", f"merged/{key}/")
        assert (status, body) == (200, {"messageList": messages})
    page = bob.ok("getMessageList", {"conversationID": "C2Calice"})
    assert payload_of(page["messageList"][0]) == sent


def test_a_small_list_stays_inline(connect, make_user):
    make_user("alice"), make_user("bob")
    alice, bob = connect("alice"), connect("bob")
    messages = history(3, size=20)
    reply = send_ws(alice, "bob", relay(messages), 1)
    assert payload_of(reply["data"])["messageList"] == messages
    assert "downloadKey" not in payload_of(reply["data"])
    assert payload_of(bob.wait_event("MESSAGE_RECEIVED")["data"][0])["messageList"] == messages
    assert MergedList.objects.count() == 0


def test_a_batch_of_one_list_to_many_stores_it_once(make_user):
    alice = make_user("alice")
    for uid in ("bob", "carol"):
        make_user(uid)
    messages = history(80)
    results = message_send_many([
        SendCommand(origin=Origin.BATCH, sender=alice, to=uid, elements=relay(messages),
                    random=5) for uid in ("bob", "carol")])
    keys = {payload_of(r)["downloadKey"] for r in results}
    assert len(keys) == 1 and MergedList.objects.count() == 1
    assert MergedUse.objects.count() == 2


def test_a_send_that_fails_in_its_transaction_leaves_no_list(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    first = message_send(origin=Origin.USER, sender=alice, to="bob", elements=text("hi"),
                         random=1)
    # A primary key already taken (as a reserved MsgKey could be): the INSERT fails
    # after the list was written, and the transaction takes both back.
    [result] = message_send_many([SendCommand(
        origin=Origin.USER, sender=alice, to="bob", elements=relay(history(80)), random=2,
        message_pk=parse_message_id(first["ID"]))])
    assert result.code == 20005
    assert MergedList.objects.count() == 0 and Message.objects.count() == 1


# --- who may read -------------------------------------------------------------------------

def test_a_third_user_gets_the_answer_a_missing_key_gets(connect, make_user, live_server_url):
    make_user("alice"), make_user("bob"), make_user("carol")
    alice, carol = connect("alice"), connect("carol")
    key = payload_of(send_ws(alice, "bob", relay(history(80)), 1)["data"])["downloadKey"]

    def shape(answer):
        return (answer["ok"], answer.get("code"), answer.get("message"))

    theirs, missing = download(carol, key), download(carol, MISSING_KEY)
    assert shape(theirs) == shape(missing) == (False, 20022, merged.NOT_FOUND)
    assert shape(download(carol, "not a key")) == shape(missing)
    assert download(carol, 12)["code"] == 910003
    assert download(carol, None)["code"] == 910003
    a = rest(live_server_url, "carol", "GET", f"merged/{key}/")
    b = rest(live_server_url, "carol", "GET", f"merged/{MISSING_KEY}/")
    assert a == b == (404, {"code": 20022, "message": merged.NOT_FOUND})
    assert "x" * 50 not in json.dumps([theirs, a])


def test_deleted_or_cleared_history_no_longer_reads_the_list(connect, make_user):
    make_user("alice"), make_user("bob")
    alice, bob = connect("alice"), connect("bob")
    sent = send_ws(alice, "bob", relay(history(80)), 1)["data"]
    key = payload_of(sent)["downloadKey"]
    bob.ok("deleteMessage", {"messageIDList": [sent["ID"]]})
    assert download(bob, key)["code"] == 20022  # bob deleted it from his history
    assert download(alice, key)["ok"]  # alice still has it
    assert MergedList.objects.count() == 1
    alice.ok("clearHistoryMessage", {"conversationID": "C2Cbob"})
    assert download(alice, key)["code"] == 20022
    # Neither side sees it any more: the list goes.
    assert MergedList.objects.count() == 0 and MergedUse.objects.count() == 0


# --- forwards and nesting -----------------------------------------------------------------

def test_forward_by_key_needs_a_key_the_sender_may_read(connect, make_user, live_server_url):
    for uid in ("alice", "bob", "carol", "dave"):
        make_user(uid)
    alice, bob, carol, dave = (connect(u) for u in ("alice", "bob", "carol", "dave"))
    messages = history(80)
    key = payload_of(send_ws(alice, "bob", relay(messages), 1)["data"])["downloadKey"]

    # bob forwards it as createForwardMessage does: the element with only the key.
    fwd = send_ws(bob, "carol", relay(key=key), 2)
    assert fwd["ok"], fwd
    assert payload_of(fwd["data"])["downloadKey"] == key
    assert download(carol, key)["data"] == {"messageList": messages}
    assert MergedList.objects.count() == 1 and MergedUse.objects.count() == 2

    # dave cannot read it, so cannot forward it: the answer a key that is not stored gets.
    before = Message.objects.count()
    refused = send_ws(dave, "carol", relay(key=key), 3)
    missing = send_ws(dave, "carol", relay(key=MISSING_KEY), 4)
    assert (refused["code"], refused["message"]) == (missing["code"], missing["message"])
    assert refused["code"] == 20022
    status, body = rest(live_server_url, "dave", "POST", "messages/",
                        {"to": "carol", "elements": relay(key=key), "random": 5})
    assert (status, body["code"]) == (400, 20022)
    # Nor hide it in a list of his own.
    hidden = send_ws(dave, "carol", relay([{"elements": relay(key=key)}]), 6)
    assert hidden["code"] == 20022
    assert Message.objects.count() == before
    # A key given with a list is the client's and is not kept: the list is.
    mixed = send_ws(dave, "carol", relay(history(2, size=10), key=key), 7)
    assert mixed["ok"] and "downloadKey" not in payload_of(mixed["data"])


def test_nested_lists_and_recall_of_the_inner_message(connect, make_user):
    for uid in ("alice", "bob", "carol", "dave"):
        make_user(uid)
    alice, bob, carol, dave = (connect(u) for u in ("alice", "bob", "carol", "dave"))
    inner_messages = history(80, tag="inner")
    inner_msg = send_ws(alice, "bob", relay(inner_messages), 1)["data"]
    inner = payload_of(inner_msg)["downloadKey"]

    # bob merges a history holding alice's merged message (by its key) and sends it on.
    outer_messages = history(60, tag="outer") + [
        {"ID": "nested", "from": "alice", "to": "bob", "elements": relay(key=inner)}]
    outer_msg = send_ws(bob, "carol", relay(outer_messages), 2)["data"]
    outer = payload_of(outer_msg)["downloadKey"]
    assert MergedNest.objects.filter(parent__key=outer, child__key=inner).exists()

    # carol reads the outer list, and through it the inner one; dave neither.
    got = download(carol, outer)["data"]["messageList"]
    assert payload_of(got[-1])["downloadKey"] == inner
    assert download(carol, inner)["data"] == {"messageList": inner_messages}
    assert download(dave, inner)["code"] == download(dave, outer)["code"] == 20022
    # Reading through the nest lets carol forward the inner list too.
    assert send_ws(carol, "dave", relay(key=inner), 3)["ok"]
    assert download(dave, inner)["data"] == {"messageList": inner_messages}

    # alice recalls the original: the inner list stays for the messages nesting or
    # forwarding it, which keep working.
    assert alice.request("revokeMessage", {"messageID": inner_msg["ID"]})["ok"]
    assert MergedList.objects.filter(key=inner).exists()
    assert download(alice, inner)["code"] == 20022  # her message is recalled
    assert download(carol, inner)["data"] == {"messageList": inner_messages}
    assert download(bob, inner)["ok"]  # bob sent the outer list nesting it

    # bob recalls the outer message: the outer list goes; the inner stays for dave's.
    assert bob.request("revokeMessage", {"messageID": outer_msg["ID"]})["ok"]
    assert not MergedList.objects.filter(key=outer).exists()
    assert download(dave, inner)["ok"]
    assert download(bob, inner)["code"] == 20022


def test_a_small_inline_list_nesting_a_stored_one_gives_its_readers_the_key(connect, make_user):
    for uid in ("alice", "bob", "carol"):
        make_user(uid)
    alice, bob, carol = (connect(u) for u in ("alice", "bob", "carol"))
    messages = history(80)
    key = payload_of(send_ws(alice, "bob", relay(messages), 1)["data"])["downloadKey"]
    small = [{"ID": "n", "from": "alice", "elements": relay(key=key)}]
    sent = send_ws(bob, "carol", relay(small), 2)
    assert payload_of(sent["data"])["messageList"] == small  # fits in 12 KB: inline
    assert download(carol, key)["data"] == {"messageList": messages}
    assert bob.request("revokeMessage", {"messageID": sent["data"]["ID"]})["ok"]
    assert download(carol, key)["code"] == 20022


def test_recall_removes_the_list_and_what_only_it_nested(connect, make_user):
    make_user("alice"), make_user("bob")
    alice, bob = connect("alice"), connect("bob")
    first = send_ws(alice, "bob", relay(history(80, tag="a")), 1)["data"]
    inner = payload_of(first)["downloadKey"]
    outer_msg = send_ws(alice, "bob", relay(history(60) + [{"elements": relay(key=inner)}]),
                        2)["data"]
    outer = payload_of(outer_msg)["downloadKey"]
    assert alice.request("revokeMessage", {"messageID": first["ID"]})["ok"]
    assert MergedList.objects.filter(key=inner).exists()  # the outer list nests it
    revoked = alice.request("revokeMessage", {"messageID": outer_msg["ID"]})
    assert revoked["ok"] and revoked["data"]["elements"] == []
    assert MergedList.objects.count() == 0
    assert MergedNest.objects.count() == 0 and MergedUse.objects.count() == 0
    assert download(bob, outer)["code"] == download(bob, inner)["code"] == 20022


def test_history_purge_removes_the_list_unless_a_newer_message_refers_to_it(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    old = message_send(origin=Origin.USER, sender=alice, to="bob", elements=relay(history(80)),
                       random=1)
    key = payload_of(old)["downloadKey"]
    lone = message_send(origin=Origin.USER, sender=alice, to="bob",
                        elements=relay(history(80, tag="lone")), random=2)
    lone_key = payload_of(lone)["downloadKey"]
    message_send(origin=Origin.USER, sender=bob, to="carol", elements=relay(key=key),
                 random=3)  # a forward, newer: it keeps the list
    past = timezone.now() - timedelta(days=settings.CHAT_HISTORY_DAYS + 1)
    Message.objects.filter(random__in=[1, 2]).update(created_at=past)
    assert purge_history.apply().get() == 2
    assert not MergedList.objects.filter(key=lone_key).exists()
    assert MergedList.objects.filter(key=key, delete_after__isnull=True).exists()
    assert merged.access_merged_list(user=carol, download_key=key)["messageList"]
    # The forward purged too: now nothing refers to it.
    Message.objects.update(created_at=past)
    assert history_purge(before=timezone.now()) == 1
    assert merged.merged_sweep() == 1
    assert MergedList.objects.count() == 0 and MergedUse.objects.count() == 0


def test_the_purge_sweep_takes_a_nested_list_with_the_list_nesting_it(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    inner = message_send(origin=Origin.USER, sender=alice, to="bob",
                         elements=relay(history(80, tag="in")), random=1)
    inner_key = payload_of(inner)["downloadKey"]
    outer = message_send(origin=Origin.USER, sender=alice, to="bob",
                         elements=relay(history(60) + [{"elements": relay(key=inner_key)}]),
                         random=2)
    assert payload_of(outer)["downloadKey"] != inner_key
    Message.objects.update(created_at=timezone.now() - timedelta(days=1))
    assert history_purge(before=timezone.now()) == 2
    assert MergedList.objects.filter(delete_after__isnull=False).count() == 2
    assert merged.merged_sweep() == 2
    assert MergedList.objects.count() == MergedNest.objects.count() == 0


def test_lists_an_account_deletion_left_behind_go_at_the_hourly_sweep(make_user):
    alice, _, carol = make_user("alice"), make_user("bob"), make_user("carol")
    gone = message_send(origin=Origin.USER, sender=alice, to="bob",
                        elements=relay(history(80, tag="gone")), random=1)
    kept = message_send(origin=Origin.USER, sender=carol, to="bob",
                        elements=relay(history(80, tag="kept")), random=2)
    alice.delete()  # her dialogs and messages go by Django's cascade, no release
    assert MergedList.objects.count() == 2
    assert purge_uploads.apply().get() == 0  # no upload; the merged lists are swept too
    assert list(MergedList.objects.values_list("key", flat=True)) \
        == [payload_of(kept)["downloadKey"]]
    assert not MergedList.objects.filter(key=payload_of(gone)["downloadKey"]).exists()


# --- limits --------------------------------------------------------------------------------

def test_limits_300_messages_and_200_kb(connect, make_user, live_server_url):
    make_user("alice"), make_user("bob")
    alice = connect("alice")
    assert send_ws(alice, "bob", relay(history(300, size=10)), 1)["ok"]
    over = send_ws(alice, "bob", relay(history(301, size=10)), 2)
    assert over["code"] == 910013, over
    status, body = rest(live_server_url, "alice", "POST", "messages/",
                        {"to": "bob", "elements": relay(history(301, size=10)), "random": 3})
    assert (status, body["code"]) == (400, 910013)

    exact = of_bytes(MAX_MERGED_BYTES)
    status, body = rest(live_server_url, "alice", "POST", "messages/",
                        {"to": "bob", "elements": relay(exact), "random": 4})
    assert status == 201, body
    status, body = rest(live_server_url, "alice", "POST", "messages/",
                        {"to": "bob", "elements": relay(of_bytes(MAX_MERGED_BYTES + 1)),
                         "random": 5})
    assert (status, body["code"]) == (400, 910014)
    over = send_ws(alice, "bob", relay(of_bytes(MAX_MERGED_BYTES + 1)), 6)
    assert over["code"] == 910014
    # The rest of the message still counts toward 12 KB.
    too_long = send_ws(alice, "bob", relay(history(2), title="t" * 13000), 7)
    assert too_long["code"] == 93000
    assert MergedList.objects.count() == 2


def test_a_message_naming_more_than_300_stored_lists_is_refused(make_user):
    alice, _ = make_user("alice"), make_user("bob")
    names = [{"elements": relay(key=f"{3 * i:032d}") + relay(key=f"{3 * i + 1:032d}")
              + relay(key=f"{3 * i + 2:032d}")} for i in range(101)]  # 303 keys
    with pytest.raises(ChatError) as refused:
        message_send(origin=Origin.USER, sender=alice, to="bob", elements=relay(names),
                     random=1)
    assert refused.value.code == 910013
    assert not Message.objects.exists() and not MergedList.objects.exists()


def test_a_200_kb_list_and_a_full_12_kb_rest_fit_one_socket_frame(connect, make_user):
    """The largest sendMessage the limits allow: a 200 KB list, the rest of the message
    at 12 KB (cloudCustomData fills it), offline push options; one frame under 256 KB."""
    make_user("alice"), make_user("bob")
    alice, bob = connect("alice"), connect("bob")
    messages = of_bytes(MAX_MERGED_BYTES)
    elements = relay(messages)
    light = json_size([{"type": "TIMRelayElem", "payload": {
        **{k: v for k, v in elements[0]["payload"].items() if k != "messageList"},
        "downloadKey": "k" * 32}}])
    data = {"to": "bob", "elements": elements, "random": 9,
            "cloudCustomData": "c" * (settings.CHAT_MAX_CONTENT_BYTES - light),
            "offlinePushInfo": {"title": "t" * 100, "description": "d" * 200}}
    frame = json.dumps({"id": "big", "op": "sendMessage", "data": data},
                       ensure_ascii=False, separators=(",", ":"))
    assert 200 * 1024 + 12 * 1024 < len(frame.encode()) < settings.CHAT_SOCKET_MAX_FRAME
    alice.send_raw(frame)
    reply = alice.reply_to("big", timeout=30)
    assert reply["ok"], reply
    key = payload_of(reply["data"])["downloadKey"]
    assert payload_of(bob.wait_event("MESSAGE_RECEIVED", timeout=30)["data"][0]) \
        == payload_of(reply["data"])
    assert download(bob, key)["data"] == {"messageList": messages}


# --- /v4 ------------------------------------------------------------------------------------

def test_v4_sendmsg_stores_a_large_msg_list_and_roaming_answers_json_msg_key(
        v4, connect, make_user):
    make_user("alice"), make_user("bob")
    msg_list = [{"From_Account": "alice", "To_Account": "bob", "MsgSeq": i,
                 "MsgRandom": i, "MsgTimeStamp": 1_700_000_000 + i,
                 "MsgBody": [{"MsgType": "TIMTextElem",
                              "MsgContent": {"Text": f"{i} " + "x" * 200}}]}
                for i in range(80)]
    body = [{"MsgType": "TIMRelayElem", "MsgContent": {
        "Title": "history", "MsgNum": 80, "CompatibleText": "[Chat History]",
        "AbstractList": ["alice: hi"], "MsgList": msg_list}}]
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 1, "MsgBody": body})
    assert answer["ErrorCode"] == 0, answer
    row = MergedList.objects.get()
    assert row.messages == msg_list
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    content = roam["MsgList"][0]["MsgBody"][0]["MsgContent"]
    assert content["JsonMsgKey"] == row.key and "MsgList" not in content
    assert content["MsgNum"] == 80
    assert download(connect("bob"), row.key)["data"] == {"messageList": msg_list}

    # A small one stays inline, with MsgNum; a JsonMsgKey forwarded by the admin is kept.
    small = [{"MsgType": "TIMRelayElem", "MsgContent": {
        "Title": "t", "MsgNum": 1, "CompatibleText": "c", "AbstractList": [],
        "MsgList": msg_list[:1]}}]
    assert v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 2,
                                 "MsgBody": small})["ErrorCode"] == 0
    fwd = [{"MsgType": "TIMRelayElem", "MsgContent": {
        "Title": "t", "CompatibleText": "c", "AbstractList": [], "JsonMsgKey": row.key}}]
    assert v4("openim/sendmsg", {"From_Account": "bob", "To_Account": "alice", "MsgRandom": 3,
                                 "MsgBody": fwd})["ErrorCode"] == 0
    roam = v4("openim/admin_getroammsg", {"Operator_Account": "bob", "Peer_Account": "alice",
                                          "MaxCnt": 10, "MinTime": 0, "MaxTime": 2**32 - 1})
    contents = [m["MsgBody"][0]["MsgContent"] for m in roam["MsgList"]]
    assert contents[1]["MsgList"] == msg_list[:1] and contents[1]["MsgNum"] == 1
    assert contents[2]["JsonMsgKey"] == row.key and contents[2]["MsgNum"] == 80
    assert MergedList.objects.count() == 1 and MergedUse.objects.count() == 2


def test_modify_to_a_large_list_stores_it_and_releases_the_old_one(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sent = message_send(origin=Origin.USER, sender=alice, to="bob",
                        elements=relay(history(80, tag="a")), random=1)
    old_key = payload_of(sent)["downloadKey"]
    changed = changes.message_modify(message_pk=parse_message_id(sent["ID"]), actor=alice,
                                     elements=relay(history(80, tag="b")))
    new_key = payload_of(changed)["downloadKey"]
    assert new_key != old_key
    assert list(MergedList.objects.values_list("key", flat=True)) == [new_key]
    assert merged.access_merged_list(user=bob, download_key=new_key)["messageList"][0]["ID"] \
        == "b-0"


def test_keys_are_random_tokens_of_the_shape_the_doors_accept():
    keys = {merged.new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(is_merged_key(k) for k in keys)
