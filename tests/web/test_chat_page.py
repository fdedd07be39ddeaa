"""The web UI in a real browser: sign-in, and live chat between two people (sign-up is in
test_signup_page.py).

Debian's Chromium, driven by Playwright, talks to a real uvicorn process
(`live_server_url`) on the test database, so what a test writes must be committed
(`transactional_db`).
"""

import json
import re

import pytest
from playwright.sync_api import expect

from messaging.commands import Origin
from messaging.models import Conversation
from messaging.services import message_send
from tests.web.helpers import in_worker, sign_in, wait_ready
from tests.wsclient import WsClient

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOT = "/tmp/parley-chat.png"


def open_chat(page, user_id):
    page.get_by_test_id("new-chat-input").fill(user_id)
    page.get_by_test_id("new-chat-input").press("Enter")


def conversation(page, conversation_id):
    return page.locator(f'[data-testid="conversation"][data-conversation-id="{conversation_id}"]')


def texts(page):
    return page.get_by_test_id("message").locator(".msg-bubble")


def record_frames(page):
    """Every WebSocket frame of the page: a list of (socket number, "in"/"out", frame),
    the socket numbered from 1 in the order the page opens them."""
    sockets, frames = [], []

    def watch(ws):
        sockets.append(ws)
        n = len(sockets)
        ws.on("framesent", lambda payload: frames.append((n, "out", json.loads(payload))))
        ws.on("framereceived", lambda payload: frames.append((n, "in", json.loads(payload))))

    page.on("websocket", watch)
    return sockets, frames


def sent_ops(frames, op):
    return [f[2] for f in frames if f[1] == "out" and f[2].get("op") == op]


def send_text(sender, to, text, random):
    return in_worker(message_send, origin=Origin.USER, sender=sender, to=to, random=random,
                     elements=[{"type": "TIMTextElem", "payload": {"text": text}}])


def test_sign_in_with_a_bad_password_shows_an_error(new_page, make_user, transactional_db):
    make_user("dave", nick="Dave")
    page = new_page()
    page.goto("/accounts/signin/")
    page.get_by_label("UserID").fill("dave")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_test_id("signin-submit").click()

    expect(page).to_have_url(re.compile(r"/accounts/signin/$"))
    expect(page.get_by_test_id("form-errors")).to_contain_text(
        "Please enter a correct UserID and password")

    # The right password gets in; signing out (a POST with CSRF) gets out again.
    sign_in(page, "dave")
    page.get_by_test_id("signout").click()
    expect(page).to_have_url(re.compile(r"/accounts/signin/$"))
    page.goto("/chat/")
    expect(page).to_have_url(re.compile(r"/accounts/signin/\?next=/chat/$"))


def test_two_people_chat_live(new_page, make_user, transactional_db):
    alice_user = make_user("alice", nick="Alice")
    bob_user = make_user("bob", nick="Bob")
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")

    # Alice opens a chat with bob and sends text that looks like markup.
    open_chat(alice, "bob")
    # No conversation yet: the header learns the nick from bob's profile.
    expect(alice.get_by_test_id("chat-title")).to_have_text("Bob")
    expect(alice.get_by_test_id("chat-peer-id")).to_have_text("UserID: bob")
    expect(alice.get_by_test_id("history-status")).to_have_text("No messages yet. Say hello!")
    hello = 'Hi Bob <b>bold?</b> & <img src=x onerror="window.pwned=1">'
    alice.get_by_test_id("message-input").fill(hello)
    alice.get_by_test_id("message-input").press("Enter")
    sent = alice.get_by_test_id("message").last
    expect(sent).to_have_attribute("data-status", "success")
    expect(sent).to_have_attribute("data-flow", "out")
    expect(sent.locator(".msg-bubble")).to_have_text(hello)
    expect(alice.get_by_test_id("message-input")).to_have_value("")
    assert alice.locator("#message-list b, #message-list img").count() == 0
    assert alice.evaluate("window.pwned") is None

    # Bob sees it live: the conversation, its preview, an unread badge, the total.
    bob_conv = conversation(bob, "C2Calice")
    expect(bob_conv.get_by_test_id("conversation-preview")).to_have_text(hello)
    expect(bob_conv.get_by_test_id("conversation-name")).to_contain_text("Alice")
    expect(bob_conv.get_by_test_id("unread-badge")).to_have_text("1")
    expect(bob_conv.get_by_test_id("unread-badge")).to_be_visible()
    expect(bob.get_by_test_id("total-unread")).to_have_text("1")
    assert bob.locator("#conversation-list b, #conversation-list img").count() == 0

    # Bob opens it: he sees the message, and the badge and the total go to 0.
    bob_conv.click()
    expect(bob.get_by_test_id("chat-title")).to_have_text("Alice")
    expect(texts(bob)).to_have_text([hello])
    expect(bob.get_by_test_id("message").first).to_have_attribute("data-flow", "in")
    expect(bob_conv.get_by_test_id("unread-badge")).to_have_text("0")
    expect(bob_conv.get_by_test_id("unread-badge")).to_be_hidden()
    expect(bob.get_by_test_id("total-unread")).to_have_text("0")
    assert Conversation.objects.get(owner=bob_user, peer=alice_user).unread_count == 0

    # Bob replies with the Send button; Alice, who has the chat open, sees it live.
    bob.get_by_test_id("message-input").fill("Hi Alice\nsecond line")
    bob.get_by_test_id("send-button").click()
    expect(bob.get_by_test_id("message").last).to_have_attribute("data-status", "success")
    expect(texts(alice)).to_have_text([hello, "Hi Alice\nsecond line"])
    expect(alice.get_by_test_id("message").last).to_have_attribute("data-flow", "in")
    expect(conversation(alice, "C2Cbob").get_by_test_id("conversation-preview")) \
        .to_have_text("Hi Alice\nsecond line")
    expect(conversation(bob, "C2Calice").get_by_test_id("conversation-preview")) \
        .to_have_text("You: Hi Alice\nsecond line")
    # Alice had the conversation open, so she read the reply at once: Bob gets the
    # read receipt, and Alice's counters stay at 0.
    expect(bob.get_by_test_id("message").last.locator(".msg-meta")).to_contain_text("Read")
    expect(conversation(alice, "C2Cbob").get_by_test_id("unread-badge")).to_have_text("0")
    expect(alice.get_by_test_id("total-unread")).to_have_text("0")
    assert Conversation.objects.get(owner=alice_user, peer=bob_user).unread_count == 0

    # A reload shows the history of the conversation that was open.
    alice.reload()
    wait_ready(alice)
    expect(alice.get_by_test_id("chat-title")).to_have_text("Bob")
    expect(texts(alice)).to_have_text([hello, "Hi Alice\nsecond line"])
    expect(alice.get_by_test_id("message").first).to_have_attribute("data-flow", "out")
    expect(alice.get_by_test_id("message").last).to_have_attribute("data-flow", "in")
    expect(conversation(alice, "C2Cbob")).to_have_class("active")
    alice.screenshot(path=SCREENSHOT)


def test_conversation_list_is_newest_first(new_page, make_user, transactional_db):
    dan = make_user("dan", nick="Dan")
    erin = make_user("erin", nick="Erin")
    make_user("frank", nick="Frank")
    send_text(dan, "frank", "from dan", 1)
    send_text(erin, "frank", "from erin", 2)
    frank = new_page()
    sign_in(frank, "frank")
    rows = frank.get_by_test_id("conversation")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-conversation-id", "C2Cerin")
    expect(rows.last).to_have_attribute("data-conversation-id", "C2Cdan")
    expect(frank.get_by_test_id("total-unread")).to_have_text("2")

    # A new message from dan moves his conversation to the top, live.
    send_text(dan, "frank", "dan again", 3)
    expect(rows.first).to_have_attribute("data-conversation-id", "C2Cdan")
    expect(rows.first.get_by_test_id("conversation-preview")).to_have_text("dan again")
    expect(rows).to_have_count(2)
    expect(conversation(frank, "C2Cdan").get_by_test_id("unread-badge")).to_have_text("2")
    expect(frank.get_by_test_id("total-unread")).to_have_text("3")


def test_sending_to_an_unknown_user_says_so(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    page = new_page()
    _, frames = record_frames(page)
    sign_in(page, "alice")
    open_chat(page, "nobody")
    expect(page.get_by_test_id("history-status")).to_contain_text("(20003)")

    page.get_by_test_id("message-input").fill("anyone there?")
    page.get_by_test_id("send-button").click()
    # Words, with the code kept in the title; no Retry, since it can never succeed.
    error = page.get_by_test_id("send-error")
    expect(error).to_have_text("Could not send: There is no user nobody.")
    assert error.get_attribute("title").startswith("20003: ")
    failed = page.get_by_test_id("message").last
    expect(failed).to_have_attribute("data-status", "fail")
    expect(failed.get_by_test_id("retry-send")).to_have_count(0)
    expect(page.get_by_test_id("conversation")).to_have_count(0)
    sends = sent_ops(frames, "sendMessage")
    assert len(sends) == 1
    assert 0 <= sends[0]["data"]["random"] < 2**32
    assert sends[0]["data"]["elements"] == [
        {"type": "TIMTextElem", "payload": {"text": "anyone there?"}}]
    failed.get_by_test_id("dismiss-failed").click()
    expect(page.get_by_test_id("message")).to_have_count(0)


def test_kicked_out_says_so_once_and_stays_off(new_page, make_user, usersig,
                                                  live_server_url, transactional_db):
    make_user("bob", nick="Bob")
    page = new_page()
    sockets, frames = record_frames(page)
    sign_in(page, "bob")
    login = sent_ops(frames, "login")[0]["data"]

    # Another client logs in as the same client (its deviceID and instanceID): the
    # server pushes the page out.
    other = WsClient(live_server_url)
    try:
        other.login("bob", usersig("bob"), deviceID=login["deviceID"],
                    instanceID=login["instanceID"], platform="Web")
        # One message, the card's (a red bar repeated it under the card).
        expect(page.get_by_test_id("signed-out")).to_contain_text("signed in elsewhere")
        expect(page.get_by_test_id("banner")).to_be_hidden()
        expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "kicked")
        page.wait_for_timeout(3000)  # longer than the first reconnect backoff
        assert len(sockets) == 1, "the page reconnected after KICKED_OUT"
    finally:
        other.close()


def test_load_older_pages_back_through_history(new_page, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    for i in range(20):
        send_text(alice, "bob", f"m{i:02d}", 100 + i)
    page = new_page()
    sign_in(page, "bob")
    conversation(page, "C2Calice").click()
    expect(texts(page)).to_have_text([f"m{i:02d}" for i in range(5, 20)])  # 15 a page
    expect(page.get_by_test_id("load-older")).to_be_visible()

    # A pointer click scrolls the button into view first, and reaching the top loads the
    # older page by itself (test_conversations covers that), racing the click. Focus
    # without scrolling and a key press reach the button alone.
    page.get_by_test_id("load-older").evaluate("b => b.focus({preventScroll: true})")
    page.keyboard.press("Enter")
    expect(texts(page)).to_have_text([f"m{i:02d}" for i in range(20)])
    expect(page.get_by_test_id("load-older")).to_be_hidden()


def test_reconnect_replays_what_was_missed(new_page, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_text(alice, "bob", "before", 1)
    page = new_page()
    sockets, frames = record_frames(page)

    def logged_seqs():
        return [f[2]["seq"] for f in frames if f[1] == "in" and isinstance(f[2].get("seq"), int)]

    sign_in(page, "bob")
    badge = conversation(page, "C2Calice").get_by_test_id("unread-badge")
    expect(badge).to_have_text("1")
    conversation(page, "C2Calice").click()
    expect(texts(page)).to_have_text(["before"])
    expect(badge).to_have_text("0")
    # Opening it marked it read: a sync-log event with a seq, which the SDK stores.
    for _ in range(100):
        if logged_seqs():
            break
        page.wait_for_timeout(50)
    seen = max(logged_seqs())
    stored = page.evaluate(
        "() => Object.entries(localStorage).filter(([k]) => k.startsWith('parley:seq:'))")
    assert [int(v) for _, v in stored] == [seen]

    page.context.set_offline(True)  # drops the socket and refuses new ones
    expect(page.get_by_test_id("banner")).to_contain_text("Reconnecting")
    expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "connecting")
    send_text(alice, "bob", "while away", 2)
    page.context.set_offline(False)

    wait_ready(page)
    expect(page.get_by_test_id("banner")).to_be_hidden()
    expect(texts(page)).to_have_text(["before", "while away"])

    logins = sent_ops(frames, "login")
    assert len(logins) == len(sockets) == 2
    assert "userID" not in logins[1]["data"]  # the session cookie authenticates
    assert logins[1]["data"]["since"] == seen
    assert logins[1]["data"]["deviceID"] == logins[0]["data"]["deviceID"]
    second = [f[2] for f in frames if f[0] == 2 and f[1] == "in"]
    names = [f.get("event") for f in second]
    replayed = [f for f in second if f.get("event") == "MESSAGE_RECEIVED"
                and f["data"][0]["elements"][0]["payload"]["text"] == "while away"]
    assert replayed, "the missed message was not replayed on the new socket"
    assert names.index("MESSAGE_RECEIVED") < names.index("SDK_READY")
