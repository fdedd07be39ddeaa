"""The native REST door for messages and conversations (/api/v1/), as a client sees it."""

import json
import time

import pytest
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from accounts.usersig import gen_usersig
from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db

SEND = "/api/v1/messages/"
CONVERSATIONS = "/api/v1/conversations/"
UNREAD = "/api/v1/conversations/unread-count/"


def history(cid):
    return f"/api/v1/conversations/{cid}/messages/"


def read(cid):
    return f"/api/v1/conversations/{cid}/read/"


def text(t="hi"):
    return [{"type": "TIMTextElem", "payload": {"text": t}}]


def client_for(user, usersig) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig {user.user_id}:{usersig(user.user_id)}")
    return client


def assert_error(response, status, code):
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "detail"}


@pytest.fixture
def alice(make_user):
    return make_user("alice", nick="Alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob", nick="Bob")


@pytest.fixture
def as_alice(alice, usersig):
    return client_for(alice, usersig)


@pytest.fixture
def as_bob(bob, usersig):
    return client_for(bob, usersig)


def send(client, to="bob", elements=None, random=1, **extra):
    return client.post(SEND, {"to": to, "elements": elements or text(), "random": random,
                              **extra}, format="json")


# --- send -----------------------------------------------------------------------------

def test_send_returns_the_stored_message(as_alice, as_bob, alice, bob):
    response = send(as_alice, elements=text("hello bob"), random=42)
    assert response.status_code == 201
    sent = response.json()
    assert sent["from"] == "alice" and sent["to"] == "bob" and sent["flow"] == "out"
    assert sent["conversationID"] == "C2Cbob" and sent["random"] == 42
    assert sent["elements"] == text("hello bob") and sent["nick"] == "Alice"
    stored = Message.objects.get()
    assert sent["ID"] == f"{stored.pk}-{stored.time}-42"
    page = as_bob.get(history("C2Calice")).json()
    assert [m["ID"] for m in page["messageList"]] == [sent["ID"]]
    assert page["messageList"][0]["flow"] == "in"


def test_send_passes_every_option_to_the_service(as_alice, as_bob, bob):
    first = send(as_alice, random=1).json()
    response = send(as_alice, random=2, priority="High", cloudCustomData="cc",
                    needReadReceipt=True,
                    offlinePushInfo={"title": "T", "description": "D", "disablePush": False},
                    messageControlInfo={"excludedFromUnreadCount": True,
                                        "excludedFromLastMessage": True})
    assert response.status_code == 201
    sent = response.json()
    assert sent["priority"] == "High" and sent["cloudCustomData"] == "cc"
    assert sent["needReadReceipt"] is True
    stored = Message.objects.get(random=2)
    # In the one stored shape (push/offline_info.py): defaults are left out.
    assert stored.offline_push_info == {"title": "T", "description": "D"}
    assert stored.excluded_from_unread and stored.excluded_from_last_message
    # Excluded from the unread count and from the last message: bob's conversation
    # still shows the first message, with one unread.
    conv = as_bob.get(CONVERSATIONS).json()["conversationList"][0]
    assert conv["lastMessage"]["ID"] == first["ID"] and conv["unreadCount"] == 1


def test_online_only_message_is_not_stored(as_alice, bob):
    response = send(as_alice, onlineUserOnly=True)
    assert response.status_code == 201
    assert response.json()["onlineUserOnly"] is True
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_a_repeated_random_returns_the_same_message(as_alice, bob):
    first = send(as_alice, random=7)
    again = send(as_alice, random=7, elements=text("retry"))
    assert first.status_code == again.status_code == 201
    assert again.json()["ID"] == first.json()["ID"]
    assert again.json()["elements"] == text()
    assert Message.objects.count() == 1
    assert send(as_alice, random=8).json()["ID"] != first.json()["ID"]


@pytest.mark.parametrize(("body", "code"), [
    ({"to": "nobody"}, 20003),
    ({"to": ""}, 20003),
    ({"to": None}, 20003),
    ({"elements": [{"type": "TIMNopeElem", "payload": {}}]}, 90010),
    ({"elements": [{"type": "TIMTextElem", "payload": {"text": 5}}]}, 90010),
    ({"elements": []}, 90010),
    ({"elements": "hi"}, 90010),
    ({"elements": text("x" * 13000)}, 93000),
    ({"elements": text("x" * 6000), "cloudCustomData": "y" * 6500}, 93000),
    ({"random": "1"}, 90005),
    ({"random": -1}, 90005),
    ({"random": 2**32}, 90005),
    ({"random": 1.5}, 90005),
    ({"random": True}, 90005),
    ({"priority": "Urgent"}, 910003),
    ({"cloudCustomData": 5}, 910003),
    ({"needReadReceipt": "yes"}, 910003),
    ({"onlineUserOnly": 1}, 910003),
    ({"offlinePushInfo": "push"}, 90043),
    ({"messageControlInfo": {"excludedFromUnreadCount": "no"}}, 910003),
    ({"messageControlInfo": "none"}, 910003),
])
def test_send_rejections_carry_the_service_codes(as_alice, bob, body, code):
    data = {"to": "bob", "elements": text(), "random": 1, **body}
    assert_error(as_alice.post(SEND, data, format="json"), 400, code)
    assert not Message.objects.exists()


def media(url: str) -> list:
    """An element of each kind that carries a URL, every URL `url`."""
    return [
        {"type": "TIMImageElem", "payload": {"uuid": "img1", "imageInfoArray": [
            {"type": 1, "size": 1, "width": 1, "height": 1, "url": url}]}},
        {"type": "TIMSoundElem", "payload": {"uuid": "snd1", "url": url, "size": 1,
                                             "second": 1}},
        {"type": "TIMFileElem", "payload": {"uuid": "f1", "url": url, "fileName": "a.pdf",
                                            "fileSize": 1}},
        {"type": "TIMVideoFileElem", "payload": {"videoUUID": "v1", "videoUrl": url,
                                                 "videoSize": 1, "videoSecond": 1,
                                                 "thumbUrl": url}}]


def urls_of(elements: list) -> list:
    image, sound, file, video = (e["payload"] for e in elements)
    return [image["imageInfoArray"][0]["url"], sound["url"], file["url"],
            video["videoUrl"], video["thumbUrl"]]


@pytest.mark.parametrize(("sent", "kept"), [
    ("HTTPS://files.example/A.png", "https://files.example/A.png"),
    ("Http://files.example/a.png", "http://files.example/a.png"),
    ("hTtPs://Files.Example/a.png?Q=R", "https://Files.Example/a.png?Q=R"),
])
def test_a_url_scheme_in_any_case_is_accepted_and_kept_in_lower_case(as_alice, as_bob,
                                                                     sent, kept):
    """Schemes are case-insensitive (RFC 3986 3.1); clients compare them in lower case."""
    response = send(as_alice, elements=media(sent))
    assert response.status_code == 201, response.json()
    assert urls_of(response.json()["elements"]) == [kept] * 5
    received = as_bob.get(history("C2Calice")).json()["messageList"]
    assert urls_of(received[0]["elements"]) == [kept] * 5


@pytest.mark.parametrize("url", [
    "JavaScript:alert(1)", "JAVASCRIPT:alert(1)", "javascript:alert(1)",
    "Data:text/html,<script>alert(1)</script>", "DATA:image/png;base64,AA",
    "VBScript:msgbox(1)", "File:///etc/passwd", "HTTPS:files.example/a.png",
    "httpſ://files.example/a.png", " HTTPS://files.example/a.png", "Blob:https://x/1",
])
def test_other_schemes_are_refused_in_any_case(as_alice, bob, url):
    for element in media(url):
        assert_error(send(as_alice, elements=[element]), 400, 90010)
    assert not Message.objects.exists()


# What a browser reads as another host, though it starts with "/": protocol-relative,
# a backslash for the second slash (WHATWG URL parsing treats it as one), and a tab
# or newline between the slashes (browsers delete them before parsing).
OTHER_HOST_PATHS = ["//files.example/a.png", "/\\files.example/a.png",
                    "/\t/files.example/a.png", "/\n/files.example/a.png"]


@pytest.mark.parametrize("url", OTHER_HOST_PATHS)
def test_a_url_naming_another_host_is_not_taken_as_a_path_on_this_server(as_alice, bob,
                                                                         url):
    """The web page and the console refuse to link it (it is not ours, and its scheme
    is the page's); the element checks refuse it too, so nothing is stored that no
    one will show."""
    for element in media(url):
        assert_error(send(as_alice, elements=[element]), 400, 90010)
    assert not Message.objects.exists()


def test_a_path_on_this_server_is_accepted_as_it_is(as_alice, bob):
    response = send(as_alice, elements=media("/media/uploads/ab/a.png"))
    assert response.status_code == 201, response.json()
    assert urls_of(response.json()["elements"]) == ["/media/uploads/ab/a.png"] * 5


@pytest.mark.parametrize(("missing", "code"), [("to", 20003), ("elements", 90010),
                                               ("random", 90005)])
def test_a_missing_required_field_gets_the_service_code(as_alice, bob, missing, code):
    data = {"to": "bob", "elements": text(), "random": 1}
    del data[missing]
    assert_error(as_alice.post(SEND, data, format="json"), 400, code)


def test_malformed_bodies(as_alice, bob):
    response = as_alice.post(SEND, "{not json", content_type="application/json")
    assert_error(response, 400, 90001)
    assert_error(as_alice.post(SEND, [1, 2], format="json"), 400, 910003)
    response = as_alice.post(SEND, {"to": "bob"}, format="multipart")
    assert response.status_code == 415
    assert response.json()["code"] == 20001


# --- authentication -------------------------------------------------------------------

ENDPOINTS = [
    ("post", SEND), ("get", CONVERSATIONS), ("get", UNREAD), ("get", history("C2Cbob")),
    ("post", read("C2Cbob")), ("get", "/api/v1/me/"), ("patch", "/api/v1/me/"),
    ("post", "/api/v1/files/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_requires_authentication(bob, method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert_error(response, 401, 910008)
    assert response["WWW-Authenticate"] == "UserSig"


@pytest.mark.parametrize(("header", "code"), [
    (lambda: f"UserSig alice:{gen_usersig('alice', expire=10, now=int(time.time()) - 100)}",
     70001),
    (lambda: "UserSig alice", 70002),
    (lambda: "UserSig alice:not-a-usersig", 70003),
    (lambda: f"UserSig alice:{gen_usersig('alice', key='another key')}", 70009),
    (lambda: f"UserSig alice:{gen_usersig('bob')}", 70013),
    (lambda: f"UserSig alice:{gen_usersig('alice', sdkappid=1400000999)}", 70014),
])
def test_a_bad_usersig_gets_its_code(alice, header, code):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header())
    assert_error(client.get(CONVERSATIONS), 401, code)
    assert_error(client.post(SEND, {"to": "alice", "elements": text(), "random": 1},
                             format="json"), 401, code)
    assert not Message.objects.exists()


def test_a_valid_usersig_registers_a_new_user_id(usersig):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig carol:{usersig('carol')}")
    assert client.get("/api/v1/me/").json()["userID"] == "carol"


def test_session_login_needs_the_csrf_token_to_write(alice, bob):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(user_id="alice", password="pw-123456")
    assert client.get(CONVERSATIONS).status_code == 200
    body = {"to": "bob", "elements": text(), "random": 5}
    assert_error(client.post(SEND, body, format="json"), 403, 910009)
    assert not Message.objects.exists()
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    response = client.post(SEND, body, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201 and response.json()["from"] == "alice"
    assert client.post(read("C2Cbob"), HTTP_X_CSRFTOKEN=token).status_code == 200


# --- conversations, history, read -----------------------------------------------------

def test_conversation_list_and_unread_count(as_alice, as_bob, alice, bob, make_user):
    carol = make_user("carol")
    send(as_alice, random=1)
    last = send(as_alice, random=2, elements=text("second")).json()
    assert as_bob.get(CONVERSATIONS).json()["conversationList"][0] == {
        "conversationID": "C2Calice", "type": "C2C",
        "userProfile": {"userID": "alice", "nick": "Alice", "avatar": ""},
        "lastMessage": dict(last, flow="in", conversationID="C2Calice"), "unreadCount": 2, "isPinned": False,
        "draftText": "", "peerReadTime": 0, "messageRemindType": "AcceptAndNotify",
    }
    as_bob.post(SEND, {"to": "carol", "elements": text(), "random": 1}, format="json")
    ids = [c["conversationID"] for c in as_bob.get(CONVERSATIONS).json()["conversationList"]]
    assert ids == ["C2Ccarol", "C2Calice"]  # most recent first
    assert as_bob.get(UNREAD).json() == {"totalUnreadCount": 2}
    assert as_alice.get(UNREAD).json() == {"totalUnreadCount": 0}
    assert client_for(carol, gen_usersig).get(UNREAD).json() == {"totalUnreadCount": 1}


def test_history_pages_back_in_time(as_alice, as_bob):
    sent = [send(as_alice, random=i, elements=text(f"m{i}")).json()["ID"] for i in range(5)]
    pages, next_id = [], ""
    while True:
        response = as_bob.get(history("C2Calice"), {"count": 2, "nextReqMessageID": next_id})
        assert response.status_code == 200
        page = response.json()
        pages.append([m["ID"] for m in page["messageList"]])
        next_id = page["nextReqMessageID"]
        if page["isCompleted"]:
            assert next_id == ""
            break
        assert next_id == page["messageList"][0]["ID"]
    assert pages == [sent[3:5], sent[1:3], sent[0:1]]
    default = as_bob.get(history("C2Calice")).json()
    assert [m["ID"] for m in default["messageList"]] == sent and default["isCompleted"]


@pytest.mark.parametrize(("cid", "query", "code"), [
    ("C2Calice", {"count": "many"}, 910003),
    ("C2Calice", {"count": "0"}, 910003),
    ("C2Calice", {"count": "101"}, 910003),
    ("C2Calice", {"nextReqMessageID": "999999-1-1"}, 910004),
    ("C2Calice", {"nextReqMessageID": "junk"}, 910004),
    ("alice", {}, 910003),
    ("C2Cnobody", {}, 20003),
])
def test_history_rejections(as_alice, as_bob, cid, query, code):
    send(as_alice)
    assert_error(as_bob.get(history(cid), query), 400, code)


def test_a_user_id_with_a_slash_is_addressable(as_alice, make_user, usersig):
    odd = make_user("team/ops")
    sent = send(as_alice, to="team/ops").json()
    page = client_for(odd, usersig).get(history("C2Calice")).json()
    assert [m["ID"] for m in page["messageList"]] == [sent["ID"]]
    mine = as_alice.get("/api/v1/conversations/C2Cteam%2Fops/messages/").json()
    assert [m["ID"] for m in mine["messageList"]] == [sent["ID"]]


def test_mark_read_sets_unread_to_zero(as_alice, as_bob):
    for i in range(3):
        send(as_alice, random=i)
    assert as_bob.get(UNREAD).json() == {"totalUnreadCount": 3}
    response = as_bob.post(read("C2Calice"))
    assert response.status_code == 200 and response.json() == {}
    assert as_bob.get(UNREAD).json() == {"totalUnreadCount": 0}
    assert as_bob.get(CONVERSATIONS).json()["conversationList"][0]["unreadCount"] == 0
    # The sender sees her messages read by the peer.
    page = as_alice.get(history("C2Cbob")).json()
    assert [m["isPeerRead"] for m in page["messageList"]] == [True, True, True]
    assert as_alice.get(CONVERSATIONS).json()["conversationList"][0]["peerReadTime"] > 0
    # Reading again is harmless.
    assert as_bob.post(read("C2Calice")).json() == {}


def test_mark_read_rejections(as_bob):
    assert_error(as_bob.post(read("C2Cnobody")), 400, 20003)
    assert_error(as_bob.post(read("nobody")), 400, 910003)


def test_responses_are_json_with_camel_case_names(as_alice, bob):
    response = send(as_alice)
    assert response["Content-Type"] == "application/json"
    assert "conversationID" in json.loads(response.content)


def test_reaction_and_extension_queries_answer_bad_fields_as_the_socket_does(as_alice, as_bob):
    """A bad query field is 10004 on the REST door, as in the body and on the socket
    (README "Message reactions", "Message extensions"), not DRF's 910003."""
    m = send(as_alice, isSupportExtension=True).json()["ID"]
    assert as_bob.post(f"/api/v1/messages/{m}/reactions/", {"reactionID": "👍"},
                       format="json").status_code == 200
    reactions = f"/api/v1/messages/{m}/reactions/"
    users = f"/api/v1/messages/{m}/reactions/users/"
    for query in ("maxUserCountPerReaction=11", "maxUserCountPerReaction=-1",
                  "maxUserCountPerReaction=x"):
        assert_error(as_bob.get(f"{reactions}?{query}"), 400, 10004)
    for query in ("reactionID=%F0%9F%91%8D&count=0", "reactionID=%F0%9F%91%8D&count=101",
                  "reactionID=%F0%9F%91%8D&count=x", "reactionID=%F0%9F%91%8D&nextSeq=-1",
                  "reactionID=", "", "reactionID=" + "%C3%A9" * 51):
        assert_error(as_bob.get(f"{users}?{query}"), 400, 10004)
    for query in ("startSeq=-1", "startSeq=x"):
        assert_error(as_bob.get(f"/api/v1/messages/{m}/extensions/?{query}"), 400, 10004)
    # Good values still read as numbers.
    got = as_bob.get(f"{reactions}?maxUserCountPerReaction=0").json()
    assert got["reactionList"][0]["partialUserList"] == []
    got = as_bob.get(f"{users}?reactionID=%F0%9F%91%8D&count=1&nextSeq=0").json()
    assert [u["userID"] for u in got["userList"]] == ["bob"]
    assert as_bob.get(f"/api/v1/messages/{m}/extensions/?startSeq=0").status_code == 200
