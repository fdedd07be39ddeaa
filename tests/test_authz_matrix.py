"""The authorization matrix (issue 9): every door that takes a message, a conversation or
a user refuses a caller who is not allowed, and the refusal teaches them nothing.

The doors are listed from the code, not by hand: the WebSocket op table
(messaging.consumers.OPS, which merges each app's ws_ops), every URL pattern the
resolver knows (with each HTTP method its view answers), the Django admin's model pages,
and the /v4 command table (chat_project.v4). `test_every_door_has_a_row` compares that
live set with the rows below: a new door without a row, or a row whose door is gone,
fails it. Every row says what its door takes and how a forbidden caller is probed; a
row that names no target says why.

The probes run against one real server (tests/conftest.py: live_server_url) with real
users, set up through the REST door, one scenario per door family:

- alice and carol are friends and talk (their messages and alice's remark and draft for
  carol carry SECRET); alice keeps carol in a friend list; dave's friend request waits
  for alice; carol has blocked bob; alice once wrote to bob, so bob has a conversation
  with her; erin is a bystander. bob is the attacker, on a socket and over REST with his
  own UserSig.
- "Refused alike": bob's try on something of theirs (alice's message to carol, dave's
  request to alice, alice's friend list) gets the same answer as the same try on
  something that does not exist (code and message, but for the ID or name he sent,
  which the message may echo): the refusal does not tell him it exists.
- "Own only": the door acts on the caller's own data (a conversation ID names the
  caller's own conversation with that peer; a device ID one of the caller's devices);
  whatever it answers, the snapshot shows nobody else's changed.
- Around every probe: a snapshot of what alice, carol and dave own among themselves
  (messages, conversations, friendships, requests, lists, blocks, profiles, sync log but
  for the entries about bob, push tokens) must not change, and no answer nor event bob
  gets may contain SECRET.
- Doors as a whole: every op before `login` is 70002; every REST endpoint refuses no
  credentials (910008), a UserSig of another app (70014), another user's (70013), a
  malformed one (70002), a disabled account's (70051) and a cross-site form riding a
  signed-in session (no CSRF token), each alike for an existing and a missing target;
  every /v4 command answers 60010 to a user's own UserSig and 60004 to the admin's
  UserID with a user's or another app's UserSig or none, the answer a command that does
  not exist gets; every admin page refuses an anonymous and a signed-in non-staff user
  (a redirect to the admin sign-in, alike for an object that exists and one that does
  not); the web UI's pages need a sign-in; uploads are not listed.

A row may carry `xfail="why"`: a known hole, whose probe must fail (strict: a probe that
passes fails the test, so the mark goes when the hole is fixed).
"""

from __future__ import annotations

import http.cookiejar as cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from accounts.models import AllowType, SyncEntry, User
from accounts.services import user_create
from accounts.usersig import gen_usersig
from chat_project.v4 import load_commands
from messaging.consumers import OPS
from messaging.models import Conversation, Message
from push.models import PushToken, ReceiveOption
from relationships.models import Block, FriendGroup, FriendRequest, Friendship
from tests.v4client import V4Client
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MESSAGE, CONVERSATION, USER, NONE = "message", "conversation", "user", "none"
SECRET = "s3cr3t-ac"
GHOST = "nobody-here"  # a UserID nobody has
OTHER_APP = 1400009999
ROW_HINT = "add a row to tests/test_authz_matrix.py"


@dataclass(frozen=True)
class Row:
    takes: str                                   # MESSAGE, CONVERSATION, USER or NONE
    probe: Callable[[Scenario], None] | None = None
    reason: str = ""                             # why a row has no target probe
    xfail: str = ""                              # a known hole (strict)


# --- answers from the doors --------------------------------------------------------------

@dataclass
class Answer:
    ok: bool
    code: int | None = None
    message: str = ""
    data: object = None
    status: int | None = None  # REST's HTTP status
    raw: str = ""

    def shape(self) -> tuple:
        """What a caller learns from a refusal: the digits in the message are the ID
        the caller sent, echoed back, so they are left out."""
        return (self.ok, self.status, self.code, re.sub(r"\d+", "#", self.message),
                None if not self.ok else json.dumps(self.data, sort_keys=True))


def http(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict | None = None, opener=None) -> tuple[int, dict, str]:
    """(status, headers, text) without following redirects."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = opener or _NO_REDIRECT
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, _lower(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), exc.read().decode(errors="replace")


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECT = urllib.request.build_opener(_KeepRedirects)


def rest_answer(status: int, text: str) -> Answer:
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if 200 <= status < 300:
        return Answer(True, data=data, status=status, raw=text)
    data = data if isinstance(data, dict) else {}
    return Answer(False, code=data.get("code"), message=str(data.get("message", "")),
                  status=status, raw=text)


# --- the scenario --------------------------------------------------------------------------

@dataclass
class Scenario:
    url: str
    users: dict[str, User]
    m_ac: str  # alice -> carol
    m_missing: str  # the ID of a message that does not exist
    k_ac: str = ""  # the downloadKey of alice's merged message to carol (stored list)
    k_missing: str = "A" * 32  # a downloadKey shaped as ours that names no list
    sockets: dict[str, WsClient] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    def socket(self, user_id: str) -> WsClient:
        if user_id not in self.sockets:
            ws = self.sockets[user_id] = WsClient(self.url)
            ws.login(user_id, gen_usersig(user_id), deviceID=f"{user_id}-probe",
                     platform="Android")
            ws.wait_event("SDK_READY")
        return self.sockets[user_id]

    def ws(self, op: str, data: dict | None = None, *, as_: str = "bob") -> Answer:
        frame = self.socket(as_).request(op, data if data is not None else {})
        raw = json.dumps(frame)
        answer = (Answer(True, data=frame.get("data"), raw=raw) if frame.get("ok") else
                  Answer(False, code=frame.get("code"), message=frame.get("message", ""),
                         raw=raw))
        self.answers.append(answer)
        return answer

    def rest(self, method: str, path: str, body: dict | None = None, *, as_: str | None = "bob",
             query: dict | None = None, authorization: str | None = None) -> Answer:
        url = f"{self.url}/api/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif as_ is not None:
            headers["Authorization"] = f"UserSig {as_}:{gen_usersig(as_)}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, _, text = http(url, method, data, headers)
        answer = rest_answer(status, text)
        self.answers.append(answer)
        return answer


def _text(s: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": s}}]


@pytest.fixture
def scenario(live_server_url):
    """The users and what they own, set up through the REST door as each of them."""
    # Only bob signs in with a password (the admin probes): hashing costs time.
    users = {uid: user_create(user_id=uid, password="pw-123456" if uid == "bob" else None,
                              nick=uid.title())
             for uid in ("alice", "bob", "carol", "dave", "erin")}

    def call(user_id: str, method: str, path: str, body: dict, status: int = 200) -> dict:
        got, _, text = http(f"{live_server_url}/api/v1/{path}", method,
                            json.dumps(body).encode(),
                            {"Authorization": f"UserSig {user_id}:{gen_usersig(user_id)}",
                             "Content-Type": "application/json"})
        assert got == status, (path, got, text)
        return json.loads(text)

    def send(sender: str, to: str, text: str, **extra) -> str:
        return call(sender, "POST", "messages/", {
            "to": to, "elements": _text(text), "random": time.monotonic_ns() % 2**31,
            **extra}, 201)["ID"]

    call("carol", "PATCH", "me/", {"allowType": AllowType.ALLOW_ANY})
    call("alice", "POST", "friends/", {"to": "carol", "source": "AddSource_Type_Web",
                                       "remark": f"{SECRET}-remark"})
    call("alice", "PATCH", "me/", {"allowType": AllowType.NEED_CONFIRM})
    call("dave", "POST", "friends/", {"to": "alice", "source": "AddSource_Type_Web",
                                      "wording": f"{SECRET}-wording"})
    call("alice", "POST", "friend-groups/", {"name": "work", "userIDList": ["carol"]})
    call("alice", "POST", "push/tokens/", {"deviceID": "alice-phone", "vendor": "fcm",
                                           "token": "alice-fcm-token-" + "x" * 40}, 201)
    m_ac = send("alice", "carol", f"{SECRET} one", isSupportExtension=True)
    # A merged message over 12 KB with its list: stored apart, sent with a downloadKey.
    relay = call("alice", "POST", "messages/", {
        "to": "carol", "random": time.monotonic_ns() % 2**31, "elements": [{
            "type": "TIMRelayElem", "payload": {
                "title": "history", "compatibleText": "[Chat History]", "messageList": [
                    {"from": "alice", "elements": _text(f"{SECRET} {i} " + "x" * 200)}
                    for i in range(80)]}}]}, 201)
    k_ac = relay["elements"][0]["payload"]["downloadKey"]
    send("carol", "alice", f"{SECRET} two")
    send("alice", "bob", "hello bob")
    call("carol", "POST", "blocklist/", {"userIDList": ["bob"]})
    call("alice", "POST", "conversations/C2Ccarol/draft/", {"draftText": f"{SECRET}-draft"})
    alice, carol, dave = (users[u] for u in ("alice", "carol", "dave"))
    assert Friendship.objects.filter(owner=carol, friend=alice).exists()
    assert FriendRequest.objects.filter(requester=dave, target=alice).exists()
    assert FriendGroup.objects.filter(owner=alice, name="work").exists()
    assert Block.objects.filter(owner=carol, blocked=users["bob"]).exists()
    top = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
    _, stamp, rnd = m_ac.split("-", 2)
    sc = Scenario(live_server_url, users, m_ac, f"{top + 1000}-{stamp}-{rnd}", k_ac)
    yield sc
    for ws in sc.sockets.values():
        try:
            ws.drain(quiet=0.01)
            ws.close()
        except Exception:
            pass


VICTIMS = ("alice", "carol", "dave")


def snapshot() -> dict:
    """What the victims own among themselves, as plain rows: no probe of bob's may
    change it. (What they share with bob, e.g. alice's conversation with him, bob may
    legitimately change: his read receipt moves her peer-read position.)"""
    pks = list(User.objects.filter(user_id__in=VICTIMS).values_list("pk", flat=True))

    def rows(qs, *exclude):
        return [{k: v for k, v in r.items() if k not in exclude} for r in qs.order_by("pk")
                .values()]

    # The victims' sync log, but for the entries about bob (his read receipt, his
    # friend request), which he may cause.
    sync = [(e.pk, e.kind) for e in SyncEntry.objects.filter(user_id__in=pks).order_by("pk")
            if not re.search(r'"(C2C)?bob"', json.dumps(e.payload))]
    return {
        "users": rows(User.objects.filter(pk__in=pks), "last_login"),
        "messages": rows(Message.objects.filter(sender_id__in=pks, receiver_id__in=pks)),
        "conversations": rows(Conversation.objects.filter(owner_id__in=pks, peer_id__in=pks)),
        "friendships": rows(Friendship.objects.filter(owner_id__in=pks, friend_id__in=pks)),
        "requests": rows(FriendRequest.objects.filter(target_id__in=pks, requester_id__in=pks)),
        "groups": [(g.name, sorted(m.friend_id for m in g.members.all()))
                   for g in FriendGroup.objects.filter(owner_id__in=pks).order_by("pk")],
        "blocks": rows(Block.objects.filter(owner_id__in=pks)),
        "sync": sync,
        "push": rows(PushToken.objects.filter(user_id__in=pks)),
        "receive": rows(ReceiveOption.objects.filter(user_id__in=pks), "updated_at"),
    }


# --- probes --------------------------------------------------------------------------------

Call = Callable[[Scenario], Answer]


def alike(target: Call, missing: Call, *, code: int | None = None, refused: bool = True,
          echo: tuple[str, str] | None = None) -> Callable[[Scenario], None]:
    """bob's try on something that exists but is not his gets the answer a try on
    something that does not exist gets (and, with `refused`, it is a refusal). `echo`:
    the two names bob sent, which the messages may repeat back."""
    def probe(sc: Scenario) -> None:
        a, b = target(sc), missing(sc)
        if refused:
            assert not a.ok, f"not refused: {a.raw}"
        if code is not None:
            assert a.code == code, f"expected {code}: {a.raw}"
        if echo is not None:
            a.message = a.message.replace(echo[0], "<name>")
            b.message = b.message.replace(echo[1], "<name>")
        assert a.shape() == b.shape(), \
            f"the answer tells an existing target from a missing one: {a.raw} vs {b.raw}"
    return probe


def refused(code: int, call: Call) -> Callable[[Scenario], None]:
    def probe(sc: Scenario) -> None:
        a = call(sc)
        assert not a.ok and a.code == code, f"expected a refusal {code}: {a.raw}"
    return probe


def own_only(*calls: Call) -> Callable[[Scenario], None]:
    """The door acts on the caller's own data: whatever it answers, the snapshot around
    the probe shows nobody else's changed, and no answer carries SECRET."""
    def probe(sc: Scenario) -> None:
        for call in calls:
            call(sc)
    return probe


def sent_as_caller(call: Call) -> Callable[[Scenario], None]:
    """A sender named in the request is not taken: the message is bob's (to erin, a
    bystander), and alice has sent erin nothing."""
    def probe(sc: Scenario) -> None:
        a = call(sc)
        assert a.ok and a.data["from"] == "bob", f"not sent as bob: {a.raw}"
        assert not Message.objects.filter(sender__user_id="alice",
                                          receiver__user_id="erin").exists()
    return probe


def both(*probes) -> Callable[[Scenario], None]:
    def probe(sc: Scenario) -> None:
        for p in probes:
            p(sc)
    return probe


def ws(op: str, data: dict | Callable[[Scenario], dict] | None = None, *,
       as_: str = "bob") -> Call:
    return lambda sc: sc.ws(op, data(sc) if callable(data) else data, as_=as_)


def rest(method: str, path: str | Callable[[Scenario], str],
         body: dict | Callable[[Scenario], dict] | None = None, *, as_: str = "bob",
         query: dict | Callable[[Scenario], dict] | None = None) -> Call:
    return lambda sc: sc.rest(method, path(sc) if callable(path) else path,
                              body(sc) if callable(body) else body, as_=as_,
                              query=query(sc) if callable(query) else query)


def typing_reveals_nothing(sc: Scenario) -> None:
    """carol blocked bob: his typing reaches her no device, and his reply is the one a
    typing to a peer who did not block him gets (dave)."""
    carol = sc.socket("carol")
    carol.drain(quiet=0.05)
    a = sc.ws("typing", {"to": "carol", "typing": True})
    b = sc.ws("typing", {"to": "dave", "typing": True})
    assert a.shape() == b.shape(), f"typing tells a blocker: {a.raw} vs {b.raw}"
    got = [f for f in carol.drain(quiet=0.4) if f.get("event") == "TYPING"]
    assert not got, f"carol, who blocked bob, got his typing: {got}"


def login_as_another(sc: Scenario) -> None:
    """A socket that logs in as alice with bob's UserSig gets 70013, as it does for a
    UserID nobody has; another app's UserSig gets 70014."""
    anon = WsClient(sc.url)
    try:
        sig = gen_usersig("bob")
        a = anon.request("login", {"userID": "alice", "userSig": sig})
        b = anon.request("login", {"userID": GHOST, "userSig": sig})
        c = anon.request("login", {"userID": "bob", "userSig": gen_usersig("bob",
                                                                            sdkappid=OTHER_APP)})
        assert not a["ok"] and a["code"] == 70013, a
        assert (a["ok"], a["code"], a["message"]) == (b["ok"], b["code"], b["message"]), (a, b)
        assert not c["ok"] and c["code"] == 70014, c
    finally:
        anon.close()
    assert not User.objects.filter(user_id=GHOST).exists()


def message_data(field_name: str, *, as_list: bool = False):
    """(data naming alice's message to carol, data naming a message that does not
    exist), for an op's `field_name`."""
    def data(which: str):
        def build(sc: Scenario) -> dict:
            mid = getattr(sc, which)
            return {field_name: [mid] if as_list else mid}
        return build
    return data("m_ac"), data("m_missing")


def _msg_page_probe(sc_call):
    return alike(
        lambda sc: sc_call(sc, {"conversationID": "C2Calice", "nextReqMessageID": sc.m_ac}),
        lambda sc: sc_call(sc, {"conversationID": "C2Calice",
                                "nextReqMessageID": sc.m_missing}),
        code=910004)


_ONE_MESSAGE = message_data("messageID")
_MESSAGE_LIST = message_data("messageIDList", as_list=True)
_GROUP = "work"  # alice's friend list (bob guesses its name)

# --- the WebSocket ops -------------------------------------------------------------------

WS_ROWS: dict[str, Row] = {
    "ping": Row(NONE, reason="answers {} and reads nothing"),
    "login": Row(USER, login_as_another),
    "logout": Row(NONE, reason="ends the caller's own socket, nothing else"),
    "ack": Row(NONE, own_only(ws("ack", {"seq": 10**6}))),
    "sync": Row(NONE, own_only(ws("sync", {"since": 0}))),
    "sendMessage": Row(USER, both(
        refused(20007, ws("sendMessage", {"to": "carol", "elements": _text("hi"),
                                          "random": 1})),
        refused(20003, ws("sendMessage", {"to": GHOST, "elements": _text("hi"),
                                          "random": 2})),
        sent_as_caller(ws("sendMessage", {"from": "alice", "sender": "alice", "to": "erin",
                                          "elements": _text("hi"), "random": 5})))),
    "getMessageList": Row(CONVERSATION, both(
        _msg_page_probe(lambda sc, d: sc.ws("getMessageList", d)),
        own_only(ws("getMessageList", {"conversationID": "C2Ccarol"}),
                 ws("getMessageList", {"conversationID": "C2Calice"})))),
    "getConversationList": Row(NONE, own_only(ws("getConversationList"))),
    "getTotalUnreadMessageCount": Row(NONE, own_only(ws("getTotalUnreadMessageCount"))),
    "revokeMessage": Row(MESSAGE, alike(ws("revokeMessage", _ONE_MESSAGE[0]),
                                        ws("revokeMessage", _ONE_MESSAGE[1]), code=20022)),
    "modifyMessage": Row(MESSAGE, alike(
        ws("modifyMessage", lambda sc: {"messageID": sc.m_ac, "elements": _text("pwned")}),
        ws("modifyMessage", lambda sc: {"messageID": sc.m_missing,
                                        "elements": _text("pwned")}), code=20022)),
    # alice's message to carol supports extensions (the scenario): bob is answered as
    # for a message that does not exist.
    "setMessageExtensions": Row(MESSAGE, alike(
        ws("setMessageExtensions", lambda sc: {"messageID": sc.m_ac, "extensions": [
            {"key": "bob", "value": "pwned", "seq": 0}]}),
        ws("setMessageExtensions", lambda sc: {"messageID": sc.m_missing, "extensions": [
            {"key": "bob", "value": "pwned", "seq": 0}]}), code=23004)),
    "getMessageExtensions": Row(MESSAGE, alike(
        ws("getMessageExtensions", _ONE_MESSAGE[0]), ws("getMessageExtensions", _ONE_MESSAGE[1]),
        code=23004)),
    "deleteMessageExtensions": Row(MESSAGE, alike(
        ws("deleteMessageExtensions", _ONE_MESSAGE[0]),
        ws("deleteMessageExtensions", _ONE_MESSAGE[1]), code=23004)),
    # Reactions: bob is answered as for a message that does not exist.
    "addMessageReaction": Row(MESSAGE, alike(
        ws("addMessageReaction", lambda sc: {"messageID": sc.m_ac, "reactionID": "👍"}),
        ws("addMessageReaction", lambda sc: {"messageID": sc.m_missing, "reactionID": "👍"}),
        code=23004)),
    "removeMessageReaction": Row(MESSAGE, alike(
        ws("removeMessageReaction", lambda sc: {"messageID": sc.m_ac, "reactionID": "👍"}),
        ws("removeMessageReaction", lambda sc: {"messageID": sc.m_missing, "reactionID": "👍"}),
        code=23004)),
    "getMessageReactions": Row(MESSAGE, alike(
        ws("getMessageReactions", _MESSAGE_LIST[0]), ws("getMessageReactions", _MESSAGE_LIST[1]),
        code=23004)),
    "getAllUserListOfMessageReaction": Row(MESSAGE, alike(
        ws("getAllUserListOfMessageReaction",
           lambda sc: {"messageID": sc.m_ac, "reactionID": "👍"}),
        ws("getAllUserListOfMessageReaction",
           lambda sc: {"messageID": sc.m_missing, "reactionID": "👍"}), code=23004)),
    "deleteMessage": Row(MESSAGE, alike(ws("deleteMessage", _MESSAGE_LIST[0]),
                                        ws("deleteMessage", _MESSAGE_LIST[1]), code=20022)),
    "sendMessageReadReceipt": Row(MESSAGE, alike(
        ws("sendMessageReadReceipt", _MESSAGE_LIST[0]), ws("sendMessageReadReceipt", _MESSAGE_LIST[1]),
        code=20022)),
    "deleteConversation": Row(CONVERSATION, own_only(
        ws("deleteConversation", {"conversationID": "C2Ccarol"}),
        ws("deleteConversation", {"conversationIDList": ["C2Cdave"],
                                  "clearHistoryMessage": True}))),
    "clearHistoryMessage": Row(CONVERSATION, own_only(
        ws("clearHistoryMessage", {"conversationID": "C2Ccarol"}))),
    "pinConversation": Row(CONVERSATION, alike(
        ws("pinConversation", {"conversationID": "C2Ccarol", "isPinned": True}),
        ws("pinConversation", {"conversationID": "C2Cdave", "isPinned": True}))),
    "setConversationDraft": Row(CONVERSATION, alike(
        ws("setConversationDraft", {"conversationID": "C2Ccarol", "draftText": "x"}),
        ws("setConversationDraft", {"conversationID": "C2Cdave", "draftText": "x"}))),
    "setMessageRead": Row(CONVERSATION, own_only(
        ws("setMessageRead", {"conversationID": "C2Ccarol"}),
        ws("setMessageRead", {"conversationID": "C2Calice"}))),
    "typing": Row(USER, typing_reveals_nothing),
    # receive options: the caller's own conversations and option only
    "setMessageRemindType": Row(USER, own_only(
        ws("setMessageRemindType", {"userIDList": ["alice", "carol"],
                                    "messageRemindType": "Discard"})),
        reason="sets the caller's own option on the caller's own conversations; UserIDs "
               "are public (profiles are)"),
    "setAllReceiveMessageOpt": Row(NONE, own_only(
        ws("setAllReceiveMessageOpt", {"opt": 2, "startHour": 1, "duration": 60}))),
    "getAllReceiveMessageOpt": Row(NONE, own_only(ws("getAllReceiveMessageOpt"))),
    "downloadMergerMessage": Row(MESSAGE, alike(
        ws("downloadMergerMessage", lambda sc: {"downloadKey": sc.k_ac}),
        ws("downloadMergerMessage", lambda sc: {"downloadKey": sc.k_missing}), code=20022)),
    # accounts
    "getMyProfile": Row(NONE, own_only(ws("getMyProfile"))),
    "setSelfStatus": Row(NONE, own_only(ws("setSelfStatus", {"customStatus": "here"}))),
    "getUserStatus": Row(USER, own_only(ws("getUserStatus", {"userIDList": ["alice"]})),
                         reason="online status is public, as Tencent's getUserStatus"),
    "subscribeUserStatus": Row(USER, own_only(
        ws("subscribeUserStatus", {"userIDList": ["alice"]})),
        reason="online status is public, as Tencent's subscribeUserStatus"),
    "unsubscribeUserStatus": Row(USER, own_only(
        ws("unsubscribeUserStatus", {"userIDList": ["alice", "carol"]}))),
    # profiles
    "updateMyProfile": Row(USER, both(
        refused(910003, ws("updateMyProfile", {"userID": "alice", "nick": "pwned"})),
        own_only(ws("updateMyProfile", {"nick": "Bob B"})))),
    "getUserProfile": Row(USER, own_only(ws("getUserProfile", {"userIDList": ["alice"]})),
                          reason="profiles are public, as Tencent's getUserProfile"),
    "searchUsers": Row(USER, own_only(ws("searchUsers", {"keyword": "a"})),
                       reason="finds public profiles by UserID or nick"),
    # friends
    "addFriend": Row(USER, both(
        refused(30525, ws("addFriend", {"to": "carol", "source": "AddSource_Type_Web"})),
        own_only(ws("addFriend", {"to": "alice", "source": "AddSource_Type_Web",
                                  "wording": "hi"})))),
    "deleteFriend": Row(USER, own_only(
        ws("deleteFriend", {"userIDList": ["alice", "carol"],
                            "type": "Delete_Type_Both"}))),
    "deleteAllFriends": Row(NONE, own_only(ws("deleteAllFriends",
                                              {"type": "Delete_Type_Both"}))),
    "checkFriend": Row(USER, own_only(ws("checkFriend", {"userIDList": ["alice", "carol"],
                                                         "type": "CheckResult_Type_Both"})),
                       reason="tells the caller's own relation with each, nothing more"),
    "getFriendList": Row(NONE, own_only(ws("getFriendList"))),
    "getFriendProfile": Row(USER, own_only(ws("getFriendProfile",
                                              {"userIDList": ["alice", "carol"]}))),
    "updateFriend": Row(USER, alike(ws("updateFriend", {"userID": "carol", "remark": "x"}),
                                    ws("updateFriend", {"userID": "dave", "remark": "x"}),
                                    echo=("carol", "dave"))),
    "getFriendApplicationList": Row(NONE, own_only(ws("getFriendApplicationList"))),
    "acceptFriendApplication": Row(USER, alike(
        ws("acceptFriendApplication", {"userID": "dave",
                                       "type": "Response_Action_AgreeAndAdd"}),
        ws("acceptFriendApplication", {"userID": "carol",
                                       "type": "Response_Action_AgreeAndAdd"}),
        code=30614)),
    "refuseFriendApplication": Row(USER, alike(
        ws("refuseFriendApplication", {"userID": "dave"}),
        ws("refuseFriendApplication", {"userID": "carol"}), code=30614)),
    "deleteFriendApplication": Row(USER, both(
        alike(ws("deleteFriendApplication", {"userID": "dave",
                                             "type": "Pendency_Type_ComeIn"}),
              ws("deleteFriendApplication", {"userID": "carol",
                                             "type": "Pendency_Type_ComeIn"}), code=30614),
        alike(ws("deleteFriendApplication", {"userID": "dave",
                                             "type": "Pendency_Type_SendOut"}),
              ws("deleteFriendApplication", {"userID": "carol",
                                             "type": "Pendency_Type_SendOut"}),
              code=30614))),
    "setFriendApplicationRead": Row(NONE, own_only(ws("setFriendApplicationRead"))),
    "getFriendGroupList": Row(NONE, own_only(ws("getFriendGroupList"))),
    "deleteFriendGroup": Row(USER, alike(ws("deleteFriendGroup", {"name": _GROUP}),
                                         ws("deleteFriendGroup", {"name": "no-such"}), echo=(_GROUP, "no-such"))),
    "renameFriendGroup": Row(USER, alike(
        ws("renameFriendGroup", {"oldName": _GROUP, "newName": "mine"}),
        ws("renameFriendGroup", {"oldName": "no-such", "newName": "mine"}), echo=(_GROUP, "no-such"))),
    "addToFriendGroup": Row(USER, alike(
        ws("addToFriendGroup", {"name": _GROUP, "userIDList": ["carol"]}),
        ws("addToFriendGroup", {"name": "no-such", "userIDList": ["carol"]}), echo=(_GROUP, "no-such"))),
    "removeFromFriendGroup": Row(USER, alike(
        ws("removeFromFriendGroup", {"name": _GROUP, "userIDList": ["carol"]}),
        ws("removeFromFriendGroup", {"name": "no-such", "userIDList": ["carol"]}),
        echo=(_GROUP, "no-such"))),
    "createFriendGroup": Row(USER, own_only(
        ws("createFriendGroup", {"name": "bobs", "userIDList": ["carol", "alice"]}))),
    # blocklist (last: bob blocks alice, then lets her go)
    "getBlacklist": Row(NONE, own_only(ws("getBlacklist"))),
    "checkBlacklist": Row(USER, own_only(ws("checkBlacklist", {"userIDList": ["alice"]})),
                          reason="the caller's own list (with type Both, whether the "
                                 "other blocked the caller, as Tencent's black_list_check)"),
    "addToBlacklist": Row(USER, own_only(ws("addToBlacklist", {"userIDList": ["dave"]}))),
    "removeFromBlacklist": Row(USER, own_only(
        ws("removeFromBlacklist", {"userIDList": ["dave", "carol"]}))),
}


# --- the native REST API ------------------------------------------------------------------

def _conv_path(cid: str, action: str) -> str:
    return f"conversations/{cid}/{action}/"


REST_ROWS: dict[str, Row] = {
    "POST api/v1/messages/": Row(USER, both(
        refused(20007, rest("POST", "messages/", {"to": "carol", "elements": _text("hi"),
                                                  "random": 3})),
        refused(20003, rest("POST", "messages/", {"to": GHOST, "elements": _text("hi"),
                                                  "random": 4})),
        sent_as_caller(rest("POST", "messages/", {"from": "alice", "sender": "alice",
                                                  "to": "erin", "elements": _text("hi"),
                                                  "random": 6})))),
    "GET api/v1/conversations/": Row(NONE, own_only(rest("GET", "conversations/"))),
    "GET api/v1/merged/<str:download_key>/": Row(MESSAGE, alike(
        rest("GET", lambda sc: f"merged/{sc.k_ac}/"),
        rest("GET", lambda sc: f"merged/{sc.k_missing}/"), code=20022)),
    "GET api/v1/conversations/unread-count/": Row(NONE, own_only(
        rest("GET", "conversations/unread-count/"))),
    "GET api/v1/conversations/<path:conversation_id>/messages/": Row(CONVERSATION, both(
        _msg_page_probe(lambda sc, d: sc.rest(
            "GET", _conv_path(d["conversationID"], "messages"),
            query={"nextReqMessageID": d["nextReqMessageID"]})),
        own_only(rest("GET", _conv_path("C2Ccarol", "messages")),
                 rest("GET", _conv_path("C2Calice", "messages"))))),
    "POST api/v1/conversations/<path:conversation_id>/read/": Row(CONVERSATION, own_only(
        rest("POST", _conv_path("C2Ccarol", "read")),
        rest("POST", _conv_path("C2Calice", "read")))),
    "POST api/v1/conversations/<path:conversation_id>/delete/": Row(CONVERSATION, own_only(
        rest("POST", _conv_path("C2Ccarol", "delete"), {"clearHistoryMessage": True}))),
    "POST api/v1/conversations/<path:conversation_id>/clear-history/": Row(
        CONVERSATION, own_only(rest("POST", _conv_path("C2Ccarol", "clear-history")))),
    "POST api/v1/conversations/<path:conversation_id>/pin/": Row(CONVERSATION, alike(
        rest("POST", _conv_path("C2Ccarol", "pin"), {"isPinned": True}),
        rest("POST", _conv_path("C2Cdave", "pin"), {"isPinned": True}))),
    "POST api/v1/conversations/<path:conversation_id>/draft/": Row(CONVERSATION, alike(
        rest("POST", _conv_path("C2Ccarol", "draft"), {"draftText": "x"}),
        rest("POST", _conv_path("C2Cdave", "draft"), {"draftText": "x"}))),
    "POST api/v1/messages/delete/": Row(MESSAGE, alike(
        rest("POST", "messages/delete/", _MESSAGE_LIST[0]),
        rest("POST", "messages/delete/", _MESSAGE_LIST[1]), code=20022)),
    "POST api/v1/messages/read-receipts/": Row(MESSAGE, alike(
        rest("POST", "messages/read-receipts/", _MESSAGE_LIST[0]),
        rest("POST", "messages/read-receipts/", _MESSAGE_LIST[1]), code=20022)),
    "POST api/v1/messages/<str:message_id>/revoke/": Row(MESSAGE, both(
        alike(rest("POST", lambda sc: f"messages/{sc.m_ac}/revoke/"),
              rest("POST", lambda sc: f"messages/{sc.m_missing}/revoke/"), code=20022),
        # the receiver cannot recall what she was sent
        alike(rest("POST", lambda sc: f"messages/{sc.m_ac}/revoke/", as_="carol"),
              rest("POST", lambda sc: f"messages/{sc.m_missing}/revoke/", as_="carol"),
              code=20022))),
    "GET api/v1/messages/<str:message_id>/extensions/": Row(MESSAGE, alike(
        rest("GET", lambda sc: f"messages/{sc.m_ac}/extensions/"),
        rest("GET", lambda sc: f"messages/{sc.m_missing}/extensions/"), code=23004)),
    "POST api/v1/messages/<str:message_id>/extensions/": Row(MESSAGE, alike(
        rest("POST", lambda sc: f"messages/{sc.m_ac}/extensions/",
             {"extensions": [{"key": "bob", "value": "pwned"}]}),
        rest("POST", lambda sc: f"messages/{sc.m_missing}/extensions/",
             {"extensions": [{"key": "bob", "value": "pwned"}]}), code=23004)),
    "POST api/v1/messages/<str:message_id>/extensions/delete/": Row(MESSAGE, alike(
        rest("POST", lambda sc: f"messages/{sc.m_ac}/extensions/delete/", {}),
        rest("POST", lambda sc: f"messages/{sc.m_missing}/extensions/delete/", {}),
        code=23004)),
    "GET api/v1/messages/<str:message_id>/reactions/": Row(MESSAGE, alike(
        rest("GET", lambda sc: f"messages/{sc.m_ac}/reactions/"),
        rest("GET", lambda sc: f"messages/{sc.m_missing}/reactions/"), code=23004)),
    "POST api/v1/messages/<str:message_id>/reactions/": Row(MESSAGE, alike(
        rest("POST", lambda sc: f"messages/{sc.m_ac}/reactions/", {"reactionID": "👍"}),
        rest("POST", lambda sc: f"messages/{sc.m_missing}/reactions/", {"reactionID": "👍"}),
        code=23004)),
    "POST api/v1/messages/<str:message_id>/reactions/delete/": Row(MESSAGE, alike(
        rest("POST", lambda sc: f"messages/{sc.m_ac}/reactions/delete/", {"reactionID": "👍"}),
        rest("POST", lambda sc: f"messages/{sc.m_missing}/reactions/delete/",
             {"reactionID": "👍"}), code=23004)),
    "GET api/v1/messages/<str:message_id>/reactions/users/": Row(MESSAGE, alike(
        rest("GET", lambda sc: f"messages/{sc.m_ac}/reactions/users/?reactionID=x"),
        rest("GET", lambda sc: f"messages/{sc.m_missing}/reactions/users/?reactionID=x"),
        code=23004)),
    "POST api/v1/messages/<str:message_id>/modify/": Row(MESSAGE, both(
        alike(rest("POST", lambda sc: f"messages/{sc.m_ac}/modify/",
                   {"elements": _text("pwned")}),
              rest("POST", lambda sc: f"messages/{sc.m_missing}/modify/",
                   {"elements": _text("pwned")}), code=20022),
        alike(rest("POST", lambda sc: f"messages/{sc.m_ac}/modify/",
                   {"elements": _text("pwned")}, as_="carol"),
              rest("POST", lambda sc: f"messages/{sc.m_missing}/modify/",
                   {"elements": _text("pwned")}, as_="carol"), code=20022))),
    "POST api/v1/files/": Row(NONE, reason="stores the caller's own upload under a new "
                                           "random name; names nobody else's"),
    # friends
    "GET api/v1/friends/": Row(NONE, own_only(rest("GET", "friends/"))),
    "POST api/v1/friends/": Row(USER, refused(30525, rest(
        "POST", "friends/", {"to": "carol", "source": "AddSource_Type_Web"}))),
    "PATCH api/v1/friends/": Row(USER, alike(
        rest("PATCH", "friends/", {"userID": "carol", "remark": "x"}),
        rest("PATCH", "friends/", {"userID": "dave", "remark": "x"}),
        echo=("carol", "dave"))),
    "POST api/v1/friends/delete/": Row(USER, own_only(
        rest("POST", "friends/delete/", {"userIDList": ["alice", "carol"],
                                         "type": "Delete_Type_Both"}))),
    "POST api/v1/friends/delete-all/": Row(NONE, own_only(
        rest("POST", "friends/delete-all/", {"type": "Delete_Type_Both"}))),
    "POST api/v1/friends/check/": Row(USER, own_only(
        rest("POST", "friends/check/", {"userIDList": ["alice", "carol"],
                                        "type": "CheckResult_Type_Both"})),
        reason="tells the caller's own relation with each, nothing more"),
    "POST api/v1/friends/profiles/": Row(USER, own_only(
        rest("POST", "friends/profiles/", {"userIDList": ["alice", "carol"]}))),
    "GET api/v1/friend-requests/": Row(NONE, own_only(rest("GET", "friend-requests/"))),
    "POST api/v1/friend-requests/accept/": Row(USER, alike(
        rest("POST", "friend-requests/accept/", {"userID": "dave",
                                                 "type": "Response_Action_AgreeAndAdd"}),
        rest("POST", "friend-requests/accept/", {"userID": "carol",
                                                 "type": "Response_Action_AgreeAndAdd"}),
        code=30614)),
    "POST api/v1/friend-requests/refuse/": Row(USER, alike(
        rest("POST", "friend-requests/refuse/", {"userID": "dave"}),
        rest("POST", "friend-requests/refuse/", {"userID": "carol"}), code=30614)),
    "POST api/v1/friend-requests/delete/": Row(USER, alike(
        rest("POST", "friend-requests/delete/", {"userID": "dave",
                                                 "type": "Pendency_Type_ComeIn"}),
        rest("POST", "friend-requests/delete/", {"userID": "carol",
                                                 "type": "Pendency_Type_ComeIn"}),
        code=30614)),
    "POST api/v1/friend-requests/read/": Row(NONE, own_only(
        rest("POST", "friend-requests/read/", {}))),
    "GET api/v1/friend-groups/": Row(NONE, own_only(rest("GET", "friend-groups/"))),
    "POST api/v1/friend-groups/": Row(USER, own_only(
        rest("POST", "friend-groups/", {"name": "bobs2", "userIDList": ["carol"]}))),
    "POST api/v1/friend-groups/delete/": Row(USER, alike(
        rest("POST", "friend-groups/delete/", {"name": _GROUP}),
        rest("POST", "friend-groups/delete/", {"name": "no-such"}), echo=(_GROUP, "no-such"))),
    "POST api/v1/friend-groups/rename/": Row(USER, alike(
        rest("POST", "friend-groups/rename/", {"oldName": _GROUP, "newName": "m"}),
        rest("POST", "friend-groups/rename/", {"oldName": "no-such", "newName": "m"}),
        echo=(_GROUP, "no-such"))),
    "POST api/v1/friend-groups/add-members/": Row(USER, alike(
        rest("POST", "friend-groups/add-members/", {"name": _GROUP, "userIDList": ["carol"]}),
        rest("POST", "friend-groups/add-members/", {"name": "no-such",
                                                    "userIDList": ["carol"]}), echo=(_GROUP, "no-such"))),
    "POST api/v1/friend-groups/remove-members/": Row(USER, alike(
        rest("POST", "friend-groups/remove-members/", {"name": _GROUP,
                                                       "userIDList": ["carol"]}),
        rest("POST", "friend-groups/remove-members/", {"name": "no-such",
                                                       "userIDList": ["carol"]}), echo=(_GROUP, "no-such"))),
    # blocklist
    "GET api/v1/blocklist/": Row(NONE, own_only(rest("GET", "blocklist/"))),
    "POST api/v1/blocklist/check/": Row(USER, own_only(
        rest("POST", "blocklist/check/", {"userIDList": ["alice", "carol"]})),
        reason="the caller's own list (and whether the other blocked the caller, as "
               "Tencent's black_list_check)"),
    "POST api/v1/blocklist/": Row(USER, own_only(
        rest("POST", "blocklist/", {"userIDList": ["dave"]}))),
    "POST api/v1/blocklist/remove/": Row(USER, own_only(
        rest("POST", "blocklist/remove/", {"userIDList": ["dave", "carol"]}))),
    # profiles
    "GET api/v1/me/": Row(NONE, own_only(rest("GET", "me/"))),
    "PATCH api/v1/me/": Row(USER, both(
        refused(910003, rest("PATCH", "me/", {"userID": "alice", "nick": "pwned"})),
        own_only(rest("PATCH", "me/", {"nick": "Bob C"})))),
    "GET api/v1/users/": Row(USER, own_only(rest("GET", "users/", query={"keyword": "a"})),
                             reason="finds public profiles by UserID or nick"),
    "GET api/v1/users/profiles/": Row(USER, own_only(
        rest("GET", "users/profiles/", query={"userIDList": "alice,carol"})),
        reason="profiles are public, as Tencent's portrait_get"),
    # push tokens: a device ID names one of the caller's own devices
    "DELETE api/v1/push/tokens/": Row(USER, alike(
        rest("DELETE", "push/tokens/", query={"deviceID": "alice-phone"}),
        rest("DELETE", "push/tokens/", query={"deviceID": "no-such-phone"}),
        refused=False)),
    "DELETE api/v1/push/tokens": Row(USER, alike(
        rest("DELETE", "push/tokens", query={"deviceID": "alice-phone"}),
        rest("DELETE", "push/tokens", query={"deviceID": "no-such-phone"}),
        refused=False)),
    "POST api/v1/push/tokens/": Row(NONE, own_only(rest(
        "POST", "push/tokens/", {"deviceID": "alice-phone", "vendor": "fcm",
                                 "token": "bob-fcm-token-" + "y" * 40})),
        reason="registers a token for the caller's own device; a token another account "
               "registered moves (the device changed hands), so the bearer of a token "
               "owns it"),
    "POST api/v1/push/tokens": Row(NONE, reason="the same view as push/tokens/ (no slash)"),
    "GET api/v1/push/receive-option/": Row(NONE, own_only(rest("GET", "push/receive-option/"))),
    "PUT api/v1/push/receive-option/": Row(NONE, own_only(
        rest("PUT", "push/receive-option/", {"opt": 2, "startHour": 1, "duration": 60}))),
    "POST api/v1/conversations/remind-type/": Row(USER, own_only(
        rest("POST", "conversations/remind-type/", {"userIDList": ["alice", "carol"],
                                                    "messageRemindType": "Discard"})),
        reason="sets the caller's own option on the caller's own conversations; UserIDs "
               "are public (profiles are)"),
    "GET api/v1/push/vapid-key/": Row(NONE, own_only(rest("GET", "push/vapid-key/")),
                                      reason="the server's VAPID public key: no user data"),
    # the API's description
    "GET api/schema/": Row(NONE, reason="the public OpenAPI description: no user data"),
    "GET api/docs/": Row(NONE, reason="the public API documentation page"),
}

# REST doors anyone may call without credentials (all others: 401/403).
PUBLIC_REST = {"GET api/schema/", "GET api/docs/"}

# --- the web UI and other plain pages ------------------------------------------------------

SIGNED_IN = "needs a sign-in (anonymous: a redirect to the sign-in page)"
PAGE_ROWS: dict[str, Row] = {
    "": Row(NONE, reason="redirects to chat/"),
    "chat/": Row(NONE, reason=SIGNED_IN),
    "contacts/": Row(NONE, reason=SIGNED_IN),
    "requests/": Row(NONE, reason=SIGNED_IN),
    "blocklist/": Row(NONE, reason=SIGNED_IN),
    "profile/": Row(NONE, reason=SIGNED_IN),
    "accounts/signin/": Row(USER, reason="the sign-in form: open by design"),
    "accounts/signout/": Row(NONE, reason="ends the caller's own session"),
    "accounts/signup/": Row(USER, reason="open sign-up (its policy: issue 9 item 1)"),
    "static/<path:path>": Row(NONE, reason="the site's own static files"),
    "sw.js": Row(NONE, reason="the Web Push service worker script: public, no user data"),
    "media/<path:path>": Row(NONE, reason="uploads under unguessable random names "
                                          "(capability URLs, as Tencent's file URLs); "
                                          "no directory listing (probed)"),
    "v4/<str:service>/<str:name>": Row(NONE, reason="the /v4 door: its commands are rows "
                                                    "of V4_ROWS"),
    "^v4/(?P<rest>.*)$": Row(NONE, reason="any other URL under /v4/: the 60009 envelope, "
                                         "the same for everyone (no command runs)"),
}
NEEDS_SIGN_IN = ("chat/", "contacts/", "requests/", "blocklist/", "profile/")

# --- Django admin: one row per admin page set -----------------------------------------------

STAFF = "staff only (a non-staff user is sent to the admin sign-in)"
ADMIN_ROWS: dict[str, Row] = {
    "admin:login": Row(USER, reason="the admin sign-in form; a non-staff user's "
                                    "password does not sign in (probed)"),
    "admin:logout": Row(NONE, reason="ends the caller's own session"),
    **{f"admin:{name}": Row(NONE, reason=STAFF) for name in (
        "index", "password_change", "password_change_done", "autocomplete", "jsi18n",
        "view_on_site", "app_list", "catch_all")},
    **{f"admin:{model}": Row(USER if model in ("accounts.user",) else MESSAGE
                             if model.startswith("messaging.") else NONE, reason=STAFF)
       for model in (
        "auth.group", "django_celery_beat.periodictask", "django_celery_beat.clockedschedule",
        "django_celery_beat.crontabschedule", "django_celery_beat.solarschedule",
        "django_celery_beat.intervalschedule", "accounts.loginpolicy", "accounts.syncentry",
        "accounts.webhookconfig", "accounts.webhookattempt", "accounts.webhookunqueued",
        "accounts.auditentry",
        "relationships.block",
        "relationships.friendship", "relationships.friendrequest", "relationships.friendgroup",
        "relationships.sendpolicy", "accounts.user", "messaging.message",
        "messaging.conversation", "push.pushtoken", "push.attrname", "push.userattr",
        "push.usertag", "push.broadcasttask", "push.pushdelivery", "push.pushattempt",
        "push.receiveoption", "push.pushunqueued", "axes.accessattempt", "axes.accessfailurelog",
        "axes.accesslog", "messaging.sendpage")},
    "admin:console-dashboard": Row(NONE, reason="staff with accounts.view_dashboard (other "
                                                "staff: 403); counts, no user's data"),
}

# --- /v4: every command is the app admin's (tencent-rest.md §1) ---------------------------------

V4_ROWS: dict[str, str] = {
    "all_member_push/im_add_tag": USER,
    "all_member_push/im_get_attr": USER,
    "all_member_push/im_get_attr_name": NONE,
    "all_member_push/im_get_tag": USER,
    "all_member_push/im_push": MESSAGE,
    "all_member_push/im_remove_all_tags": USER,
    "all_member_push/im_remove_attr": USER,
    "all_member_push/im_remove_tag": USER,
    "all_member_push/im_set_attr": USER,
    "all_member_push/im_set_attr_name": NONE,
    "im_open_login_svc/account_check": USER,
    "im_open_login_svc/account_delete": USER,
    "im_open_login_svc/account_import": USER,
    "im_open_login_svc/kick": USER,
    "im_open_login_svc/multiaccount_import": USER,
    "openconfigsvr/getnospeaking": USER,
    "openconfigsvr/setnospeaking": USER,
    "openim/admin_getroammsg": CONVERSATION,
    "openim/admin_msgwithdraw": MESSAGE,
    "openim/admin_set_msg_read": CONVERSATION,
    "openim/batchsendmsg": MESSAGE,
    "openim/c2c_msg_read_receipt": MESSAGE,
    "openim/get_c2c_unread_msg_num": CONVERSATION,
    "openim/importmsg": MESSAGE,
    "openim/modify_c2c_msg": MESSAGE,
    "openim/query_online_status": USER,
    "openim/querystate": USER,
    "openim/sendmsg": MESSAGE,
    "openim_msg_ext_http_svc/get_key_values": MESSAGE,
    "openim_msg_ext_http_svc/set_key_values": MESSAGE,
    "profile/portrait_get": USER,
    "profile/portrait_set": USER,
    "recentcontact/delete": CONVERSATION,
    "recentcontact/get_list": CONVERSATION,
    "sns/black_list_add": USER,
    "sns/black_list_check": USER,
    "sns/black_list_delete": USER,
    "sns/black_list_get": USER,
    "sns/friend_add": USER,
    "sns/friend_check": USER,
    "sns/friend_delete": USER,
    "sns/friend_delete_all": USER,
    "sns/friend_get": USER,
    "sns/friend_get_list": USER,
    "sns/friend_import": USER,
    "sns/friend_update": USER,
    "sns/group_add": USER,
    "sns/group_delete": USER,
    "sns/group_get": USER,
}


# --- the live doors ----------------------------------------------------------------------------

_METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def _admin_key(route: str, pattern: URLPattern) -> str:
    """The row an admin URL belongs to: its model's (app.model) or the site view's."""
    rest_of = route[len("admin/"):]
    for model in admin.site._registry:
        base = f"{model._meta.app_label}/{model._meta.model_name}/"
        if rest_of.startswith(base):
            return f"admin:{model._meta.label_lower}"
    if pattern.name:
        return f"admin:{pattern.name}"
    return "admin:catch_all" if "(?P<url>" in route else f"admin:{route}"


def live_doors() -> dict[str, set[str]]:
    doors = {"ws": set(OPS), "rest": set(), "page": set(), "admin": set(),
             "v4": {f"{s}/{c}" for s, c in load_commands()}}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("admin/"):
            doors["admin"].add(_admin_key(route, pattern))
            continue
        view_class = getattr(pattern.callback, "cls", None)  # DRF's APIView
        if view_class is not None:
            for method in _METHODS:
                if hasattr(view_class, method):
                    doors["rest"].add(f"{method.upper()} {route}")
        else:
            doors["page"].add(route)
    return doors


ROWS = {"ws": WS_ROWS, "rest": REST_ROWS, "page": PAGE_ROWS, "admin": ADMIN_ROWS,
        "v4": V4_ROWS}


@pytest.mark.django_db(transaction=False)
def test_every_door_has_a_row():
    live = live_doors()
    problems = []
    for family, doors in live.items():
        rows = ROWS[family]
        for door in sorted(doors - set(rows)):
            problems.append(f"{family} door {door!r} has no row: {ROW_HINT}")
        for door in sorted(set(rows) - doors):
            problems.append(f"{family} row {door!r} names no door any more: remove it")
    for family in ("ws", "rest", "page", "admin"):
        for door, row in ROWS[family].items():
            if row.probe is None and not row.reason:
                problems.append(f"{family} row {door!r}: give a probe or a reason")
            if row.takes not in (MESSAGE, CONVERSATION, USER, NONE):
                problems.append(f"{family} row {door!r}: takes {row.takes!r}?")
    for door, takes in V4_ROWS.items():
        if takes not in (MESSAGE, CONVERSATION, USER, NONE):
            problems.append(f"v4 row {door!r}: takes {takes!r}?")
    assert not problems, "\n".join(problems)
    # Sanity: the walk finds the doors it should (a broken walk would find none).
    assert "revokeMessage" in live["ws"] and "openim/sendmsg" in live["v4"]
    assert "POST api/v1/messages/<str:message_id>/revoke/" in live["rest"]
    assert "admin:messaging.message" in live["admin"]


# --- running the rows -----------------------------------------------------------------------

def run_rows(sc: Scenario, rows: dict[str, Row], family: str) -> None:
    """Each row's probe with the snapshot and SECRET checks around it; every failure is
    collected and named; a row marked xfail must fail (strict)."""
    failures, expected = [], []
    bob = sc.socket("bob")
    for door, row in rows.items():
        if row.probe is None:
            continue
        before = snapshot()
        sc.answers.clear()
        problem = None
        try:
            row.probe(sc)
        except AssertionError as exc:
            problem = str(exc)
        if problem is None:
            after = snapshot()
            changed = [k for k in before if before[k] != after[k]]
            leaked = [a.raw for a in sc.answers if SECRET in a.raw]
            leaked += [json.dumps(f) for f in bob.drain(quiet=0.01) if SECRET in json.dumps(f)]
            if changed:
                problem = f"changed the victims' {changed}: " + "; ".join(
                    f"{k}: {before[k]} -> {after[k]}" for k in changed)
            elif leaked:
                problem = f"bob learnt a secret: {leaked[:3]}"
        if row.xfail:
            if problem is None:
                failures.append(f"{family} {door}: XPASS(strict) - the hole "
                                f"({row.xfail}) is closed: drop the xfail mark")
            else:
                expected.append(f"{family} {door}: {problem}")
        elif problem is not None:
            failures.append(f"{family} {door}: {problem}")
    late = [f for f in bob.drain(quiet=0.5) if SECRET in json.dumps(f)]
    if late:
        failures.append(f"{family}: an event bob got after the probes carried a secret: "
                        f"{late[:3]}")
    assert not failures, "\n".join(failures)
    if expected:
        pytest.xfail("known holes: " + "; ".join(expected))


def test_websocket_ops_refuse_and_reveal_nothing(scenario):
    run_rows(scenario, WS_ROWS, "ws")


def test_online_only_send_obeys_the_blocklist(scenario):
    """carol blocked bob: his onlineUserOnly message is refused (20007) as a stored one
    is, and reaches none of her devices."""
    sc = scenario
    carol = sc.socket("carol")
    carol.drain(quiet=0.05)
    answer = sc.ws("sendMessage", {"to": "carol", "elements": _text("psst"), "random": 7,
                                   "onlineUserOnly": True})
    got = [f for f in carol.drain(quiet=0.5) if f.get("event") == "MESSAGE_RECEIVED"]
    assert not got, f"carol, who blocked bob, got his online-only message: {got}"
    assert not answer.ok and answer.code == 20007, answer.raw


def test_websocket_ops_need_a_login(live_server_url):
    anon = WsClient(live_server_url)
    try:
        wrong = []
        for op in sorted(OPS):
            if op in ("login", "ping"):
                continue
            reply = anon.request(op, {})
            if reply.get("ok") or reply.get("code") != 70002:
                wrong.append((op, reply))
        assert not wrong, f"ops answered before login: {wrong}"
        assert anon.request("ping")["ok"]
    finally:
        anon.close()


def test_rest_endpoints_refuse_and_reveal_nothing(scenario):
    run_rows(scenario, REST_ROWS, "rest")


def _fill(route: str, sc: Scenario, *, missing: bool = False) -> str:
    path = route.replace("<path:conversation_id>", "C2Cdave" if missing else "C2Calice")
    path = path.replace("<str:download_key>", sc.k_missing if missing else sc.k_ac)
    return path.replace("<str:message_id>", sc.m_missing if missing else sc.m_ac)


CROSS_SITE = "bob's session cookie, no CSRF token"
_BOUNDARY = "parleyauthz"
_FORM = (f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nfile\r\n"
         f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
         f"filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
         f"--{_BOUNDARY}--\r\n").encode()


def test_rest_endpoints_refuse_wrong_credentials(scenario):
    """No credentials, another app's UserSig (70014), another user's (70013), a
    malformed one (70002), a disabled account's (70051), or a browser session without
    its CSRF token on a write (910009, a cross-site page acting as the user): every
    endpoint refuses, and as it refuses an existing target it refuses a missing one."""
    sc = scenario
    User.objects.filter(user_id="erin").update(is_active=False)
    bad = {
        None: (910008,),
        f"UserSig bob:{gen_usersig('bob', sdkappid=OTHER_APP)}": (70014,),
        f"UserSig alice:{gen_usersig('bob')}": (70013,),
        "UserSig alice:": (70002,),
        f"UserSig erin:{gen_usersig('erin')}": (70051,),
    }
    bob = Browser(sc.url)
    status, _, _ = bob.sign_in("/accounts/signin/", "bob", "pw-123456")
    assert status == 302 and "sessionid" in {c.name for c in bob.jar}
    before = snapshot()
    wrong = []
    for door in sorted(REST_ROWS):
        method, route = door.split(" ", 1)
        if door in PUBLIC_REST:
            status, _, _ = http(f"{sc.url}/{route}", method)
            if status != 200:
                wrong.append(f"{door}: the public page answered {status}")
            continue
        tries = [(a, codes, (401, 403)) for a, codes in bad.items()]
        if method != "GET":
            # What a cross-site page can send without a preflight: a form. Refused by
            # the CSRF check, or (a JSON-only view) before it, as a body it cannot read.
            tries.append((CROSS_SITE, (910009, 20001), (403, 415)))
        for authorization, codes, statuses in tries:
            answers = []
            for missing in (False, True):
                url = f"{sc.url}/{_fill(route, sc, missing=missing)}"
                headers = {"Content-Type": "application/json"}
                body = b"{}" if method in ("POST", "PATCH", "PUT") else None
                opener = None
                if authorization == CROSS_SITE:
                    opener = bob.opener
                    headers["Content-Type"] = f"multipart/form-data; boundary={_BOUNDARY}"
                    body = _FORM
                elif authorization:
                    headers["Authorization"] = authorization
                answers.append(rest_answer(*http(url, method, body, headers,
                                                 opener=opener)[::2]))
            a, b = answers
            if a.ok or a.status not in statuses or a.code not in codes:
                wrong.append(f"{door} with {authorization!r}: {a.status} {a.raw}")
            elif a.shape() != b.shape():
                wrong.append(f"{door}: tells an existing target from a missing one: "
                             f"{a.raw} vs {b.raw}")
    assert not wrong, "\n".join(wrong)
    assert snapshot() == before
    # The upload takes a form, so there the CSRF check itself is what refuses; with the
    # token, the same form goes through (the cookie alone was the only thing missing).
    form = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}
    status, _, text = http(f"{sc.url}/api/v1/files/", "POST", _FORM, form, opener=bob.opener)
    assert (status, json.loads(text)["code"]) == (403, 910009), text
    status, _, text = http(f"{sc.url}/api/v1/files/", "POST", _FORM,
                           {**form, "X-CSRFToken": bob.csrf(), "Referer": sc.url + "/chat/"},
                           opener=bob.opener)
    assert status == 201, text


def test_v4_commands_are_the_app_admins_only(scenario):
    """A user's UserSig (as themselves: 60010; as the admin: 60004), another app's
    UserSig (60004, naming 70014) or none: every command refuses, with the answer a
    command that does not exist gets (the door checks the caller first)."""
    sc = scenario
    callers = {
        "bob as himself": V4Client(sc.url, "bob"),
        "bob's UserSig as administrator": _SigAs(sc.url, "administrator", "bob"),
        "another app's admin UserSig": _SigAs(sc.url, "administrator", "administrator",
                                              sdkappid=OTHER_APP),
        "no UserSig": _SigAs(sc.url, "administrator", None),
    }
    codes = {"bob as himself": 60010, "bob's UserSig as administrator": 60004,
             "another app's admin UserSig": 60004, "no UserSig": 60004}
    before = snapshot()
    wrong = []
    body = json.dumps({"From_Account": "alice", "To_Account": "carol", "MsgRandom": 1,
                       "MsgBody": [{"MsgType": "TIMTextElem",
                                    "MsgContent": {"Text": "pwned"}}]}).encode()
    for name, client in callers.items():
        baseline = json.loads(client.raw("nosuch/command", body)[1])
        if baseline.get("ErrorCode") != codes[name]:
            wrong.append(f"{name}: {baseline}")
        for door in sorted(V4_ROWS):
            status, raw = client.raw(door, body)
            answer = json.loads(raw)
            answer.pop("ErrorDisplay", None)
            if status != 200 or answer != baseline:
                wrong.append(f"v4 {door} {name}: {status} {answer} (a missing command: "
                             f"{baseline})")
    assert "70014" in json.loads(callers["another app's admin UserSig"]
                                 .raw("openim/sendmsg", body)[1])["ErrorInfo"]
    assert not wrong, "\n".join(wrong[:20])
    assert snapshot() == before
    # The admin itself gets through (the same body sends): the refusals above are the gate.
    assert V4Client(sc.url)("openim/sendmsg", json.loads(body))["ErrorCode"] == 0


class _SigAs(V4Client):
    """A /v4 caller naming `identifier` but holding `signer_id`'s UserSig (or none)."""

    def __init__(self, base_url, identifier, signer_id, *, sdkappid=None):
        super().__init__(base_url, identifier)
        self.signer_id = signer_id
        self.sig_app = sdkappid

    def url(self, path: str, **query) -> str:
        sig = "" if self.signer_id is None else gen_usersig(
            self.signer_id, sdkappid=self.sig_app)
        return super().url(path, usersig=sig, **query)


# --- admin and pages ----------------------------------------------------------------------------

class Browser:
    """A browser with cookies (session, CSRF), never following redirects."""

    def __init__(self, base: str):
        self.base = base
        self.jar = cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _KeepRedirects)

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def get(self, path: str) -> tuple[int, dict, str]:
        return http(self.base + path, opener=self.opener)

    def post(self, path: str, form: dict) -> tuple[int, dict, str]:
        data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": self.csrf()}).encode()
        return http(self.base + path, "POST", data,
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "Referer": self.base + path}, opener=self.opener)

    def sign_in(self, path: str, user_id: str, password: str) -> tuple[int, dict, str]:
        self.get(path)
        return self.post(path, {"username": user_id, "password": password})


def _an_object_of(key: str) -> str:
    """The pk of an object the admin row's model has (or of none, if it has none)."""
    models = {f"admin:{m._meta.label_lower}": m for m in admin.site._registry}
    model = models.get(key)
    pk = model.objects.order_by("pk").values_list("pk", flat=True).first() if model else None
    return str(pk) if pk is not None else "987654321"


def _admin_urls(sc: Scenario) -> list[tuple[str, str, str]]:
    """(row, url of an existing object, url of a missing one) for every admin pattern;
    the two are the same URL where the pattern names no object or the model has none."""
    out = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("admin/"):
            continue
        key = _admin_key(route, pattern)
        if isinstance(pattern.pattern, RegexPattern):
            if "(?P<url>" in route:
                out.append((key, "/admin/no/such/page/", "/admin/no/such/page/"))
            else:
                out.append((key, "/admin/accounts/", "/admin/nosuchapp/"))
            continue
        real = _an_object_of(key)
        exists = re.sub(r"<[^>]+>", real, route)
        missing = re.sub(r"<[^>]+>", "987654321", route)
        if key == "admin:view_on_site":
            exists = missing = "admin/r/1/1/"
        out.append((key, "/" + exists, "/" + missing))
    return out


def _to_admin_sign_in(status: int, headers: dict) -> bool:
    return status == 302 and headers.get("location", "").startswith("/admin/login/")


def test_admin_refuses_non_staff(scenario):
    sc = scenario
    bob = Browser(sc.url)
    status, headers, _ = bob.sign_in("/accounts/signin/", "bob", "pw-123456")
    assert status == 302 and "sessionid" in {c.name for c in bob.jar}, (status, headers)
    anonymous = Browser(sc.url)
    anonymous.get("/accounts/signin/")  # a CSRF cookie, so its POSTs reach the view
    before = snapshot()
    wrong = []
    urls = _admin_urls(sc)
    assert {key for key, _, _ in urls} == live_doors()["admin"]
    for key, exists, missing in urls:
        if key in ("admin:login", "admin:logout"):
            continue
        for who, browser in (("anonymous", anonymous), ("bob (not staff)", bob)):
            got = []
            tries = [("GET", exists), ("POST", exists)]
            if missing != exists:
                tries += [("GET", missing), ("POST", missing)]
            for method, url in tries:
                status, headers, _ = (browser.get(url) if method == "GET"
                                      else browser.post(url, {"is_staff": "on"}))
                if not _to_admin_sign_in(status, headers):
                    wrong.append(f"{key} {method} {url} as {who}: {status} "
                                 f"{headers.get('location')}")
                got.append((status, headers.get("location", "").split("?")[0]))
            if len(got) == 4 and got[:2] != got[2:]:
                wrong.append(f"{key} as {who}: an existing object is told from a missing "
                             f"one: {got}")
    assert not wrong, "\n".join(wrong[:30])
    assert snapshot() == before
    # The admin sign-in refuses a non-staff user's right password.
    fresh = Browser(sc.url)
    status, headers, page = fresh.sign_in("/admin/login/", "bob", "pw-123456")
    assert status == 200 and "sessionid" not in {c.name for c in fresh.jar}, status
    assert not User.objects.get(user_id="bob").is_staff


def test_admin_model_pages_refuse_staff_without_permissions(scenario):
    """An operator (staff) granted nothing gets 403 on every model's pages and actions,
    alike for an object that exists and one that does not. One exception, Django's own:
    its history page looks the object up before it checks the permission, so a missing
    object there is a redirect (an operator learns whether an ID exists, nothing of it)."""
    sc = scenario
    sam = user_create(user_id="sam", password="pw-123456")
    User.objects.filter(pk=sam.pk).update(is_staff=True)
    browser = Browser(sc.url)
    status, headers, _ = browser.sign_in("/admin/login/?next=/admin/", "sam", "pw-123456")
    assert status == 302 and headers["location"] == "/admin/", (status, headers)
    before = snapshot()
    wrong = []
    for key, exists, missing in _admin_urls(sc):
        if "." not in key:  # the site's own pages: index, password change, ...
            continue
        got = []
        for url in dict.fromkeys((exists, missing)):
            for method in ("GET", "POST"):
                status, headers, _ = (browser.get(url) if method == "GET" else browser.post(
                    url, {"action": "delete_selected", "_selected_action": sc.users["alice"].pk,
                          "is_staff": "on", "post": "yes"}))
                if status == 302 and headers["location"].startswith("/admin/") \
                        and headers["location"] != "/admin/":
                    # a page that forwards to another (the one-row policies' lists to
                    # their form, a bare object URL to its change page): judge that one
                    status, headers, _ = browser.get(headers["location"])
                got.append(status)
                no_object = exists == missing and "987654321" in url
                if url == exists and status != 403 and not (
                        no_object and url.endswith("/history/")):
                    wrong.append(f"{key} {method} {url}: {status} {headers.get('location')}")
        if len(got) == 4 and got[:2] != got[2:] and not exists.endswith("/history/"):
            wrong.append(f"{key}: an existing object is told from a missing one: "
                         f"{exists} {got}")
    assert not wrong, "\n".join(wrong[:30])
    assert snapshot() == before


def test_pages_need_a_sign_in(live_server_url):
    anonymous = Browser(live_server_url)
    for route in NEEDS_SIGN_IN:
        status, headers, _ = anonymous.get("/" + route)
        assert status == 302 and headers["location"].startswith("/accounts/signin/"), \
            (route, status, headers)
    # Uploads are not listed: a directory answers 404 like a missing file.
    media = settings.MEDIA_URL.strip("/")
    listing = http(f"{live_server_url}/{media}/uploads/")[0]
    absent = http(f"{live_server_url}/{media}/uploads/no-such-file.png")[0]
    assert listing == absent == 404, (listing, absent)
