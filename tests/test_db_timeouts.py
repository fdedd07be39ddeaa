"""A statement PostgreSQL cancels because it waited or ran too long (lock_timeout:
55P03 lock_not_available; statement_timeout: 57014 query_canceled) answers "busy,
retry" at every door, as a deadlock does (chat_project/unavailable.py): REST 503
910503 with Retry-After, /v4 60008, the socket an error reply 910503, the console a
503 page. Its transaction is rolled back: nothing of the send, recall or modify is
written, and the same request goes through once the lock is free.

An operator sets these timeouts for the server's connections (here the `options` of
DATABASE_URL, as libpq takes them); a second real connection holds the row the write
needs, so the door's statement waits until its timeout cancels it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from django.test import Client

from accounts.usersig import gen_usersig
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send
from tests.conftest import start_server, stop_server
from tests.console import staff_client
from tests.v4client import V4Client
from tests.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 400
TIMEOUTS = ["lock_timeout", "statement_timeout"]
TEXT = [{"type": "TIMTextElem", "payload": {"text": "old"}}]
NEW_TEXT = [{"type": "TIMTextElem", "payload": {"text": "new"}}]


@pytest.fixture(scope="module", params=TIMEOUTS)
def timed_server(request, django_db_setup, django_db_blocker):
    """A server whose every statement gives up after TIMEOUT_MS of `request.param`."""
    db = connection.settings_dict
    url = (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
           f"?options=-c%20{request.param}%3D{TIMEOUT_MS}ms")
    proc, base = start_server(DATABASE_URL=url)
    try:
        yield base
    finally:
        stop_server(proc)


@contextmanager
def row_locked(table: str, where: str, params: list):
    """Another connection holds the row FOR UPDATE until the block ends."""
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                         dbname=db["NAME"]) as other:
        row = other.execute(f"SELECT 1 FROM {table} WHERE {where} FOR UPDATE", params).fetchone()
        assert row is not None, f"no {table} row to hold"
        yield
        other.rollback()


def http(base: str, method: str, path: str, body: dict | None, user: str):
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"UserSig {user}:{gen_usersig(user)}",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    return status, raw, headers.get("Retry-After")


# Each door's answer, reduced to (succeeded, code); the busy answer is checked in full.
def rest(base, method, path, body):
    status, raw, retry_after = http(base, method, path, body, "alice")
    if status < 300:
        return True, None
    answer = json.loads(raw) if raw.startswith(b"{") else {"code": None,
                                                          "message": raw.decode()}
    assert (status, answer["code"], retry_after) == (503, 910503, "1"), (status, raw)
    assert "retry" in answer["message"]
    return False, answer["code"]


def v4(base, path, body):
    answer = V4Client(base)(path, body)
    if answer["ErrorCode"] == 0:
        return True, None
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 60008), answer
    assert "retry" in answer["ErrorInfo"]
    return False, answer["ErrorCode"]


def socket(base, op, data):
    ws = WsClient(base)
    try:
        ws.login("alice", gen_usersig("alice"))
        reply = ws.request(op, data)
    finally:
        ws.close()
    if reply["ok"]:
        return True, None
    assert reply["code"] == 910503, reply
    return False, reply["code"]


def msg_key(msg: Message) -> str:
    return f"{msg.pk}_{msg.random}_{msg.time}"


SENDS = {
    "rest": lambda base, r: rest(base, "POST", "/api/v1/messages/",
                                 {"to": "bob", "elements": NEW_TEXT, "random": r}),
    "v4": lambda base, r: v4(base, "openim/sendmsg", {
        "From_Account": "alice", "To_Account": "bob", "MsgRandom": r,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "new"}}]}),
    "socket": lambda base, r: socket(base, "sendMessage",
                                     {"to": "bob", "elements": NEW_TEXT, "random": r}),
}

CHANGES = {
    ("recall", "rest"): lambda base, msg: rest(
        base, "POST", f"/api/v1/messages/{msg.public_id}/revoke/", None),
    ("recall", "v4"): lambda base, msg: v4(base, "openim/admin_msgwithdraw", {
        "From_Account": "alice", "To_Account": "bob", "MsgKey": msg_key(msg)}),
    ("recall", "socket"): lambda base, msg: socket(base, "revokeMessage",
                                                   {"messageID": msg.public_id}),
    ("modify", "rest"): lambda base, msg: rest(
        base, "POST", f"/api/v1/messages/{msg.public_id}/modify/", {"elements": NEW_TEXT}),
    ("modify", "v4"): lambda base, msg: v4(base, "openim/modify_c2c_msg", {
        "From_Account": "alice", "To_Account": "bob", "MsgKey": msg_key(msg),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "new"}}]}),
    ("modify", "socket"): lambda base, msg: socket(
        base, "modifyMessage", {"messageID": msg.public_id, "elements": NEW_TEXT}),
}


def first_message(alice, bob) -> Message:
    view = message_send(origin=Origin.USER, sender=alice, to=bob.user_id, elements=TEXT,
                        random=7)
    return Message.objects.get(pk=int(view["ID"].split("-")[0]))


@pytest.mark.parametrize("door", list(SENDS))
def test_a_send_whose_statement_times_out_answers_busy_and_writes_nothing(
        timed_server, make_user, door):
    """Before: REST HTTP 500, /v4 91000 "internal error", the socket 20005."""
    alice, bob = make_user("alice"), make_user("bob")
    first_message(alice, bob)  # bob's sync head and conversation exist
    with row_locked("accounts_synchead", "user_id = %s", [bob.pk]):
        assert SENDS[door](timed_server, 99) == (False, _busy(door))
        assert not Message.objects.filter(random=99).exists()
    assert SENDS[door](timed_server, 99) == (True, None)  # the retry goes through, once
    assert Message.objects.filter(random=99).count() == 1


@pytest.mark.parametrize(("change", "door"), list(CHANGES))
def test_a_change_whose_statement_times_out_answers_busy_and_writes_nothing(
        timed_server, make_user, change, door):
    alice, bob = make_user("alice"), make_user("bob")
    msg = first_message(alice, bob)
    with row_locked("messaging_message", "id = %s", [msg.pk]):
        assert CHANGES[change, door](timed_server, msg) == (False, _busy(door))
        msg.refresh_from_db()
        assert not msg.is_revoked and not msg.is_modified and msg.elements == TEXT
    assert CHANGES[change, door](timed_server, msg) == (True, None)
    msg.refresh_from_db()
    assert msg.is_revoked if change == "recall" else msg.elements == NEW_TEXT


def _busy(door: str) -> int:
    return 60008 if door == "v4" else 910503


@contextmanager
def session_timeout(setting: str):
    """This thread's connection (the test client's requests run on it) gives up after
    TIMEOUT_MS, then is reset before it goes back to the pool."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET {setting} = '{TIMEOUT_MS}ms'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"RESET {setting}")


@pytest.mark.parametrize("setting", TIMEOUTS)
def test_a_console_recall_whose_statement_times_out_answers_busy(make_user, setting):
    alice, bob = make_user("alice"), make_user("bob")
    msg = first_message(alice, bob)
    support: Client = staff_client("helpdesk", "support")
    support.raise_request_exception = False
    recall = f"/admin/messaging/message/{msg.pk}/recall/"
    with row_locked("messaging_message", "id = %s", [msg.pk]), session_timeout(setting):
        response = support.post(recall, {})
    assert (response.status_code, response["Retry-After"]) == (503, "1"), response
    assert b"retry" in response.content
    msg.refresh_from_db()
    assert not msg.is_revoked
    assert support.post(recall, {}).status_code == 302
    msg.refresh_from_db()
    assert msg.is_revoked
