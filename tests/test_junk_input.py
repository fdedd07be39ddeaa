"""Junk input gets its documented code, never a 500 or "internal error" (issue 9, item
10): NUL bytes PostgreSQL cannot store, JSON nested deeper than anyone sends, integers
beyond 64 bits, and message IDs that are not ours. The REST door is driven in process;
the socket and /v4 doors through a live server."""

from __future__ import annotations

import logging
import time

import pytest
from rest_framework.test import APIClient

from accounts.usersig import gen_usersig
from chat_project import wire
from chat_project.errors import CODES, ChatError
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send
from messaging.views import parse_message_id

NUL = "a\x00b"
TEXT = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]


def nested(depth: int) -> list:
    """Lists `depth` deep: nested(1) is []."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def rest(user_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig {user_id}:{gen_usersig(user_id)}")
    return client


def error_of(response) -> int:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()["code"]


# --- the helper every validator uses ---------------------------------------------------

@pytest.mark.parametrize(("value", "why"), [
    ({"a": [1, "x\x00"]}, "NUL"),
    ({"k\x00": 1}, "NUL"),
    ([2**63], "integer"),
    ([-(2**63) - 1], "integer"),
    ([float("inf")], "number"),
    ([6e19], "number"),  # jsonb would give it back as an int past 64 bits
    (nested(wire.MAX_DEPTH + 1), "deep"),
])
def test_junk_in_names_what_cannot_be_stored(value, why):
    assert why in wire.junk_in(value)


def test_junk_in_passes_what_can():
    assert wire.junk_in({"a": [1, 2.5, None, True, "ü", {"b": [2**63 - 1]}]}) is None
    assert wire.junk_in(nested(wire.MAX_DEPTH)) is None


# --- message IDs: one parser ------------------------------------------------------------

@pytest.mark.parametrize("junk", [
    "²-1-1", "١٢-1-1", "1-²-1", "9" * 5000 + "-1-1", "1-1-" + "9" * 5000, str(2**63) + "-1-1",
    "0-1-1", "-1-1", "1--1", "1-1", "1-1-1-1", " 1-1-1", "1-1-1\n", 5, None, ["1-1-1"],
])
def test_a_message_id_is_three_runs_of_ascii_digits(junk):
    assert parse_message_id(junk) is None


def test_a_real_message_id_parses():
    assert parse_message_id("42-1733300000-4294967295") == 42
    assert parse_message_id(f"{2**63 - 1}-1-1") == 2**63 - 1


# --- the send pipeline ------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("change", "code"), [
    ({"elements": [{"type": "TIMTextElem", "payload": {"text": NUL}}]}, 90010),
    ({"cloud_custom_data": NUL}, 90010),
    ({"elements": [{"type": "TIMCustomElem", "payload": {"data": NUL}}]}, 90010),
    ({"elements": [{"type": "TIMCustomElem", "payload": {"data": "x", "extension": NUL}}]},
     90010),
    ({"elements": [{"type": "TIMFaceElem", "payload": {"index": 2**63}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "messageList": [{"text": NUL}]}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "messageList": [{"n": 2**64}]}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {  # found by tests/test_fuzz.py
        "title": "t", "compatibleText": "c", "messageList": [{"n": 5.9e19}]}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "abstractList": [NUL],
        "messageList": [{"a": 1}]}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c",
        "messageList": [nested(wire.MAX_DEPTH)]}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {  # a key that is not a string
        "title": "t", "compatibleText": "c", "downloadKey": 2**64}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "downloadKey": "k\x00" * 16}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "downloadKey": "9" * 5000}}]}, 90010),
    ({"elements": [{"type": "TIMRelayElem", "payload": {  # shaped as ours, stored nowhere
        "title": "t", "compatibleText": "c", "downloadKey": "A" * 32}}]}, 20022),
    ({"elements": [{"type": "TIMRelayElem", "payload": {
        "title": "t", "compatibleText": "c", "messageList": [{}] * 301}}]}, 910013),
    ({"offline_push_info": {"title": NUL}}, 90043),
    ({"offline_push_info": {"ext": {"deep": [NUL]}}}, 90043),
])
def test_junk_in_a_send_is_refused_with_its_code_and_stays_out_of_the_log(
        make_user, caplog, change, code):
    alice, _ = make_user("alice"), make_user("bob")
    kwargs = {"origin": Origin.USER, "sender": alice, "to": "bob", "elements": TEXT,
              "random": 1, **change}
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ChatError) as raised:
            message_send(**kwargs)
    assert raised.value.code == code and code in CODES
    assert "\x00" not in caplog.text and not Message.objects.exists()


# --- the REST door ----------------------------------------------------------------------

@pytest.mark.django_db
def test_rest_send_with_nul_deep_json_or_huge_random_gets_its_code(make_user):
    make_user("alice"), make_user("bob")
    alice = rest("alice")
    send = "/api/v1/messages/"
    body = {"to": "bob", "elements": [{"type": "TIMTextElem", "payload": {"text": NUL}}],
            "random": 1}
    assert error_of(alice.post(send, body, format="json")) == 90010
    assert error_of(alice.post(send, {**body, "elements": TEXT, "cloudCustomData": NUL},
                               format="json")) == 90010
    deep = "[" * 100_000 + "]" * 100_000  # Python's json would raise RecursionError
    assert error_of(alice.post(send, deep, content_type="application/json")) == 90001
    lone = b'{"to": "bob", "elements": [{"type": "TIMTextElem", "payload": {"text": "\\ud800"}}]}'
    assert error_of(alice.post(send, lone, content_type="application/json")) == 90001
    assert error_of(alice.post(send, {**body, "elements": TEXT, "random": 2**64},
                               format="json")) == 90005
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_rest_draft_with_nul_is_refused(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1)
    draft = "/api/v1/conversations/C2Cbob/draft/"
    assert error_of(rest("alice").post(draft, {"draftText": NUL}, format="json")) == 910003
    assert Conversation.objects.get(owner=alice, peer=bob).draft_text == ""


@pytest.mark.django_db
@pytest.mark.parametrize("message_id", ["²-1-1", "9" * 5000, "9" * 5000 + "-1-1",
                                        f"{2**63}-1-1"])
def test_rest_message_ids_that_are_not_ours(make_user, message_id):
    alice, _ = make_user("alice"), make_user("bob")
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=TEXT, random=1)
    client = rest("alice")
    assert error_of(client.post(f"/api/v1/messages/{message_id}/revoke/")) == 910003
    assert error_of(client.post(f"/api/v1/messages/{message_id}/modify/",
                                {"elements": TEXT}, format="json")) == 910003
    assert error_of(client.post("/api/v1/messages/delete/",
                                {"messageIDList": [message_id]}, format="json")) == 910003
    assert error_of(client.post("/api/v1/messages/read-receipts/",
                                {"messageIDList": [message_id]}, format="json")) == 910003
    assert error_of(client.get("/api/v1/conversations/C2Cbob/messages/",
                               {"nextReqMessageID": message_id})) == 910004


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["9" * 5000, "A" * 31, "A" * 33, "%00" * 32, "..",
                                 "%C3%A9" * 32, "A" * 32])
def test_rest_merged_list_with_junk_keys_is_not_found(make_user, key):
    make_user("alice")
    response = rest("alice").get(f"/api/v1/merged/{key}/")
    assert response.status_code == 404, response.content[:300]
    assert response.json()["code"] == 20022


@pytest.mark.django_db
def test_rest_start_index_beyond_bigint(make_user):
    make_user("alice")
    client = rest("alice")
    for huge in (2**63, 2**63 - 1, 10**30):
        assert error_of(client.get("/api/v1/friends/", {"startIndex": huge})) == 30001
        assert error_of(client.get("/api/v1/blocklist/", {"startIndex": huge})) == 30001
    assert client.get("/api/v1/friends/", {"startIndex": 2**31 - 1}).status_code == 200


# --- the socket and /v4 doors -----------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_socket_junk_gets_its_code(make_user, connect):
    make_user("alice"), make_user("bob")
    alice = connect("alice")

    def code(op, data):
        reply = alice.request(op, data)
        assert not reply["ok"], reply
        return reply["code"]

    sent = alice.ok("sendMessage", {"to": "bob", "elements": TEXT, "random": 1})
    assert code("sendMessage", {"to": "bob", "random": 2, "elements": [
        {"type": "TIMCustomElem", "payload": {"data": NUL}}]}) == 90010
    assert code("sendMessage", {"to": "bob", "random": 2, "elements": TEXT,
                                "offlinePushInfo": {"description": NUL}}) == 90043
    assert code("setConversationDraft", {"conversationID": "C2Cbob",
                                         "draftText": NUL}) == 910003
    assert code("revokeMessage", {"messageID": "²-1-1"}) == 910003
    assert code("getMessageList", {"conversationID": "C2Cbob",
                                   "nextReqMessageID": "9" * 5000}) == 910004
    assert code("getFriendList", {"startIndex": 2**63}) == 30001
    assert code("ack", {"seq": 2**63}) == 910003  # found by the sweep in tests/test_fuzz.py
    alice.send_raw('{"id": "deep", "op": "ping", "data": ' + "[" * 5000 + "]" * 5000 + "}")
    assert alice.next_frame()["data"]["code"] == 910002
    # The socket still serves.
    assert alice.ok("getMessageList", {"conversationID": "C2Cbob"})["messageList"][0]["ID"] \
        == sent["ID"]
    for key in (None, 2**63, ["A" * 32], {"k": 1}):
        assert code("downloadMergerMessage", {"downloadKey": key}) == 910003
    for key in ("9" * 5000, NUL * 32, "A" * 32):
        assert code("downloadMergerMessage", {"downloadKey": key}) == 20022


@pytest.mark.django_db(transaction=True)
def test_socket_junk_on_a_real_messages_extensions_and_reactions(make_user, connect):
    """The extension and reaction ops on a message the caller may touch (so the junk
    reaches the services' own checks, past the message ID), each field in turn: 10004
    or 910003, never an internal error, nothing stored but the good write, and the
    socket still serves."""
    from messaging.models import Extension, Reaction

    make_user("alice"), make_user("bob")
    alice = connect("alice")
    mid = alice.ok("sendMessage", {"to": "bob", "elements": TEXT, "random": 1,
                                   "isSupportExtension": True})["ID"]
    examples = {
        "setMessageExtensions": {"messageID": mid, "extensions": [
            {"key": "k", "value": "v", "seq": 0}]},
        "deleteMessageExtensions": {"messageID": mid, "keyList": ["gone"]},
        "getMessageExtensions": {"messageID": mid, "startSeq": 0},
        "addMessageReaction": {"messageID": mid, "reactionID": "up"},
        "removeMessageReaction": {"messageID": mid, "reactionID": "none"},
        "getMessageReactions": {"messageIDList": [mid], "maxUserCountPerReaction": 5},
        "getAllUserListOfMessageReaction": {"messageID": mid, "reactionID": "up",
                                            "nextSeq": 0, "count": 10},
    }
    junk = [NUL, "", "x" * 101, 2**63, -1, 1.5, None, True, [], {}, nested(30),
            [{"key": NUL, "value": "v"}], [{"key": "k", "value": NUL}],
            [{"key": "k", "value": "v", "seq": -1}], [{"key": "k", "value": "v" * 1001}],
            [{"key": "k", "value": "v", "seq": True}], [NUL], [2**63], [mid] * 21]
    failures = []
    for op, example in examples.items():
        for field in example:
            for value in junk:
                reply = alice.request(op, {**example, field: value})
                while not reply["ok"] and reply["code"] == 910005:  # some 400 frames
                    time.sleep(0.5)
                    reply = alice.request(op, {**example, field: value})
                if not reply["ok"] and reply["code"] not in (10004, 910003, 23001, 23004):
                    failures.append(f"{op} {field}={value!r:.60} -> {reply}")
    assert not failures, "\n".join(failures)
    # The good part of the sweep: the first write, a reaction; no junk stored.
    alice.ok("setMessageExtensions", examples["setMessageExtensions"])
    assert set(Extension.objects.values_list("key", flat=True)) <= {"k"}
    assert set(Reaction.objects.values_list("reaction_id", flat=True)) <= {"up"}
    page = alice.ok("getMessageExtensions", {"messageID": mid})
    assert [e["key"] for e in page["extensions"]] == ["k"]


@pytest.mark.django_db(transaction=True)
def test_v4_junk_gets_its_code(make_user, v4):
    make_user("alice"), make_user("bob")
    for start in (2**63, str(2**63)):
        answer = v4("sns/friend_get", {"From_Account": "alice", "StartIndex": start})
        assert answer["ErrorCode"] == 30001, answer
        answer = v4("sns/black_list_get", {"From_Account": "alice", "StartIndex": start,
                                           "MaxLimited": 10, "LastSequence": 0})
        assert answer["ErrorCode"] == 30001, answer
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 1, "MsgBody": [
                                       {"MsgType": "TIMTextElem", "MsgContent": {"Text": NUL}}]})
    assert answer["ErrorCode"] == 90010, answer
    answer = v4("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob",
                                   "MsgRandom": 1, "CloudCustomData": NUL, "MsgBody": [
                                       {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})
    assert answer["ErrorCode"] == 90010, answer
    # Found by the sweep in tests/test_fuzz.py (were 70500 and 91000, "internal error"):
    answer = v4("im_open_login_svc/account_import", {"UserID": "dave", "FaceUrl": NUL})
    assert answer["ErrorCode"] == 40605, answer
    answer = v4("openim/admin_set_msg_read", {"Report_Account": "bob", "Peer_Account": "alice",
                                              "MsgReadTime": "9" * 5000})
    assert answer["ErrorCode"] == 90001, answer
    status, raw = v4.raw("openim/sendmsg", b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert status == 200 and wire.loads(raw)["ErrorCode"] == 90001


# --- found by the fuzzers (tests/test_fuzz.py) ------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"messageIDList": None}, {"messageIDList": []},
                                  {"messageIDList": ["1-1-1"] * 31}])
def test_rest_read_receipts_without_a_list(make_user, body):
    make_user("alice")
    response = rest("alice").post("/api/v1/messages/read-receipts/", body, format="json")
    assert error_of(response) == 910003


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"deviceID": "0", "vendor": "apns"},
                                  {"deviceID": "0", "vendor": "apns", "token": None}])
def test_rest_push_token_without_a_token(make_user, body):
    make_user("alice")
    assert error_of(rest("alice").post("/api/v1/push/tokens/", body, format="json")) == 910003


# --- offline push: receive options and offline push settings (push/) ---------------------

@pytest.mark.django_db
@pytest.mark.parametrize("body, code", [
    ({}, 910020), ({"opt": None}, 910020), ({"opt": "x" * 10000}, 910020),
    ({"opt": 2, "startHour": 2**70}, 910020), ({"opt": 2, "duration": -1}, 910020),
    ({"opt": 2, "startHour": [1]}, 910020), ({"opt": {"a": 1}}, 910020),
])
def test_rest_receive_option_junk(make_user, body, code):
    make_user("alice")
    response = rest("alice").put("/api/v1/push/receive-option/", body, format="json")
    assert error_of(response) == code


@pytest.mark.django_db
@pytest.mark.parametrize("body, code", [
    ({}, 910021), ({"userIDList": None, "messageRemindType": "Discard"}, 910022),
    ({"userIDList": ["a\x00b"], "messageRemindType": "Discard"}, 20003),
    ({"userIDList": [{"x": 1}], "messageRemindType": "Discard"}, 910022),
    ({"userIDList": ["bob"], "messageRemindType": ["Discard"]}, 910021),
])
def test_rest_remind_type_junk(make_user, body, code):
    make_user("alice"), make_user("bob")
    response = rest("alice").post("/api/v1/conversations/remind-type/", body, format="json")
    assert error_of(response) == code


@pytest.mark.django_db
@pytest.mark.parametrize("info", ["x", {"title": 5}, {"description": "d" * 4000},
                                  {"disablePush": "no"}, {"title": "\x00"},
                                  {"androidVIVOClassification": 2**70}])
def test_rest_send_with_bad_offline_push_info_is_90043(make_user, info):
    make_user("alice"), make_user("bob")
    response = rest("alice").post("/api/v1/messages/", {
        "to": "bob", "random": 1, "offlinePushInfo": info,
        "elements": [{"type": "TIMTextElem", "payload": {"text": "x"}}]}, format="json")
    assert error_of(response) == 90043
    assert not Message.objects.exists()
