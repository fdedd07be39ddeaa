"""The chat page's conversations in a real browser: the contact picker, pin, delete,
drafts, avatars, date separators, history loaded on scroll-up, and the signed-out
state after a kick.

Debian's Chromium, driven by Playwright, against a real uvicorn process on the test
database (what a test writes must be committed: `transactional_db`).
"""

import re
import time

import pytest
from playwright.sync_api import expect

from messaging.commands import Origin
from messaging.imports import message_import
from messaging.models import Conversation
from messaging.services import message_send
from relationships.services import friend_import
from tests.web.helpers import in_worker, sign_in, wait_past_midnight

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DAY = 86400


def conversation(page, conversation_id):
    return page.locator(f'[data-testid="conversation"][data-conversation-id="{conversation_id}"]')


def texts(page):
    return page.get_by_test_id("message").locator(".msg-bubble")


def text(body):
    return [{"type": "TIMTextElem", "payload": {"text": body}}]


def send_text(sender, to, body, random):
    return in_worker(message_send, origin=Origin.USER, sender=sender, to=to, random=random,
                     elements=text(body))


def import_text(sender, to, body, random, at):
    """A message stored as sent at `at` (Unix seconds), as a history import does."""
    return in_worker(message_import, sender=sender, to=to, elements=text(body), random=random,
                     time=at, realtime=False)


def test_contact_picker_finds_people_by_part_of_a_nick_friends_first(
        new_page, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("zed", nick="Roberta")             # a friend of alice
    make_user("bob", nick="Robert <b>Stranger</b>")  # not a friend; markup stays text
    make_user("carol", nick="Carol")
    in_worker(friend_import, user=alice, items=[{"to": "zed", "source": "AddSource_Type_Test"}])
    page = new_page()
    sign_in(page, "alice")

    box = page.get_by_test_id("new-chat-input")
    box.click()
    # Focused and empty: the friends.
    results = page.get_by_test_id("picker-result")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-user-id", "zed")

    box.fill("BER")  # any case, any part of the nick
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_have_attribute("data-user-id", "zed")  # the friend first
    expect(results.nth(0)).to_contain_text("Friend")
    expect(results.nth(1)).to_have_attribute("data-user-id", "bob")
    expect(results.nth(1).locator(".pick-name")).to_have_text("Robert <b>Stranger</b>")
    assert page.locator(".pick-name b").count() == 0

    box.fill("car")  # part of a UserID
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-user-id", "carol")

    box.fill("stranger")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-user-id", "bob")
    results.first.click()
    expect(page.get_by_test_id("chat-peer-id")).to_have_text("UserID: bob")
    expect(page.get_by_test_id("chat-title")).to_have_text("Robert <b>Stranger</b>")
    expect(page.get_by_test_id("contact-picker")).to_be_hidden()
    assert page.evaluate("window.pwned") is None

    # Arrow keys and Enter pick too; an unknown name finds no one.
    box.fill("rob")
    expect(results).to_have_count(2)
    expect(page.get_by_test_id("picker-status")).to_be_hidden()  # the search answered
    box.press("ArrowDown")
    box.press("Enter")
    expect(page.get_by_test_id("chat-peer-id")).to_have_text("UserID: bob")
    box.fill("nobody-here")
    expect(page.get_by_test_id("picker-status")).to_contain_text("No one found")


def test_pin_moves_a_chat_to_the_top_and_delete_removes_it(new_page, make_user,
                                                           transactional_db):
    alice = make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    carol = make_user("carol", nick="Carol")
    send_text(bob, "alice", "from bob", 1)
    send_text(carol, "alice", "from carol", 2)  # newer: first
    page = new_page()
    sign_in(page, "alice")
    rows = page.get_by_test_id("conversation")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-conversation-id", "C2Ccarol")

    conversation(page, "C2Cbob").click()
    pin = page.get_by_test_id("chat-pin")
    expect(pin).to_have_attribute("aria-pressed", "false")
    pin.click()
    expect(pin).to_have_attribute("aria-pressed", "true")
    expect(rows.nth(0)).to_have_attribute("data-conversation-id", "C2Cbob")
    expect(conversation(page, "C2Cbob").get_by_test_id("conversation-pinned")).to_be_visible()
    assert Conversation.objects.get(owner=alice, peer=bob).is_pinned

    # Still first after a reload and a newer message from carol.
    send_text(carol, "alice", "carol again", 3)
    page.reload()
    expect(rows.nth(0)).to_have_attribute("data-conversation-id", "C2Cbob")
    expect(conversation(page, "C2Ccarol").get_by_test_id("conversation-preview")) \
        .to_have_text("carol again")
    page.get_by_test_id("chat-pin").click()  # the hash reopened bob's chat: unpin
    expect(rows.nth(0)).to_have_attribute("data-conversation-id", "C2Ccarol")

    # Delete asks first; Cancel keeps it.
    page.get_by_test_id("chat-delete").click()
    expect(page.get_by_test_id("chat-confirm")).to_be_visible()
    page.get_by_test_id("chat-confirm-no").click()
    expect(page.get_by_test_id("chat-confirm")).to_be_hidden()
    expect(rows).to_have_count(2)
    page.get_by_test_id("chat-delete").click()
    page.get_by_test_id("chat-confirm-yes").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#chat-view")).to_be_hidden()
    expect(page.locator("#chat-placeholder")).to_be_visible()
    assert Conversation.objects.get(owner=alice, peer=bob).is_hidden
    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-conversation-id", "C2Ccarol")
    # A new message brings it back, with only the new message in it.
    send_text(bob, "alice", "bob is back", 4)
    expect(rows).to_have_count(2)
    conversation(page, "C2Cbob").click()
    expect(texts(page)).to_have_text(["bob is back"])


def _alice_with_bob_and_carol(new_page, make_user):
    """alice signed in, with a message from bob and one from carol."""
    alice = make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    carol = make_user("carol", nick="Carol")
    send_text(bob, "alice", "hi from bob", 1)
    send_text(carol, "alice", "hi from carol", 2)
    page = new_page()
    sign_in(page, "alice")
    return page, alice, bob, carol


def test_muted_chats_are_marked_in_the_list(new_page, make_user, transactional_db):
    """A chat whose messages arrive without notifications (AcceptNotNotify, or Discard)
    looked like any other in the list."""
    page, *_ = _alice_with_bob_and_carol(new_page, make_user)
    expect(page.get_by_test_id("conversation")).to_have_count(2)
    expect(page.get_by_test_id("conversation-muted")).to_have_count(0)

    conversation(page, "C2Cbob").click()
    page.get_by_test_id("mute-toggle").click()
    mark = conversation(page, "C2Cbob").get_by_test_id("conversation-muted")
    expect(mark).to_have_text("Muted")
    expect(mark).to_have_attribute("aria-label", "Muted: messages arrive without notifications")
    expect(conversation(page, "C2Ccarol").get_by_test_id("conversation-muted")).to_have_count(0)

    # Set on another device: Discard (kept in history only) is marked too.
    other = new_page()
    sign_in(other, "alice")
    other.evaluate("parleyChat.setMessageRemindType("
                   "{userIDList: ['carol'], messageRemindType: 'Discard'})")
    expect(conversation(page, "C2Ccarol").get_by_test_id("conversation-muted")) \
        .to_have_attribute("aria-label", re.compile("history only"))
    expect(conversation(other, "C2Cbob").get_by_test_id("conversation-muted")).to_have_count(1)

    page.get_by_test_id("mute-toggle").click()  # Unmute
    expect(conversation(page, "C2Cbob").get_by_test_id("conversation-muted")).to_have_count(0)
    expect(conversation(other, "C2Cbob").get_by_test_id("conversation-muted")).to_have_count(0)


def test_drafts_are_kept_per_conversation(new_page, make_user, transactional_db):
    page, alice, bob, carol = _alice_with_bob_and_carol(new_page, make_user)

    conversation(page, "C2Cbob").click()
    page.get_by_test_id("message-input").fill("half a thought for bob")
    conversation(page, "C2Ccarol").click()
    expect(page.get_by_test_id("message-input")).to_have_value("")
    expect(conversation(page, "C2Cbob").get_by_test_id("conversation-preview")) \
        .to_have_text("Draft: half a thought for bob")
    page.get_by_test_id("message-input").fill("for carol")

    conversation(page, "C2Cbob").click()
    expect(page.get_by_test_id("message-input")).to_have_value("half a thought for bob")
    expect(conversation(page, "C2Ccarol").get_by_test_id("conversation-preview")) \
        .to_have_text("Draft: for carol")

    # Kept on the server: another device (here, a new page) sees them.
    for _ in range(50):
        if Conversation.objects.get(owner=alice, peer=carol).draft_text == "for carol":
            break
        time.sleep(0.1)
    assert Conversation.objects.get(owner=alice, peer=carol).draft_text == "for carol"
    other = new_page()
    sign_in(other, "alice")
    expect(conversation(other, "C2Ccarol").get_by_test_id("conversation-preview")) \
        .to_have_text("Draft: for carol")
    conversation(other, "C2Ccarol").click()
    expect(other.get_by_test_id("message-input")).to_have_value("for carol")

    # Sending clears the draft.
    other.get_by_test_id("message-input").press("Enter")
    expect(other.get_by_test_id("message").last).to_have_attribute("data-status", "success")
    for _ in range(50):
        if Conversation.objects.get(owner=alice, peer=carol).draft_text == "":
            break
        time.sleep(0.1)
    assert Conversation.objects.get(owner=alice, peer=carol).draft_text == ""
    expect(conversation(page, "C2Ccarol").get_by_test_id("conversation-preview")) \
        .to_have_text("You: for carol")

    # A draft over 12 KB is kept in the tab only; the page says once that it is too
    # long to send (not a second time that the server would not keep it).
    conversation(page, "C2Cbob").click()
    page.get_by_test_id("message-input").fill("x" * 12289)
    conversation(page, "C2Ccarol").click()
    conversation(page, "C2Cbob").click()
    expect(page.get_by_test_id("message-input")).to_have_value("x" * 12289)
    expect(page.get_by_test_id("send-error")).to_have_text(
        "The message is too long (at most 12 KB). Shorten it or send it as a file.")
    page.wait_for_timeout(1500)  # past the draft's save
    expect(page.get_by_test_id("banner")).to_be_hidden()
    assert Conversation.objects.get(owner=alice, peer=bob).draft_text == "half a thought for bob"


def test_avatars_in_the_list_and_header_with_an_initial_fallback(new_page, make_user,
                                                                 live_server_url,
                                                                 transactional_db):
    picture = f"{live_server_url}/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png"
    make_user("alice", nick="Alice")
    bob = make_user("bob", nick="bob the builder", avatar=picture)
    eve = make_user("eve", nick="Eve", avatar="javascript:window.pwned=1")
    send_text(bob, "alice", "hi", 1)
    send_text(eve, "alice", "hello", 2)
    page = new_page()
    sign_in(page, "alice")

    bob_avatar = conversation(page, "C2Cbob").locator(".avatar img")
    expect(bob_avatar).to_have_attribute("src", picture)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-conversation-id=\"C2Cbob\"] .avatar img');"
        " return i && i.complete && i.naturalWidth > 0; }")
    # Not http(s): no picture, the initial.
    expect(conversation(page, "C2Ceve").locator(".avatar img")).to_have_count(0)
    expect(conversation(page, "C2Ceve").locator(".avatar")).to_have_text("E")

    conversation(page, "C2Cbob").click()
    expect(page.get_by_test_id("chat-avatar").locator("img")).to_have_attribute("src", picture)
    conversation(page, "C2Ceve").click()
    expect(page.get_by_test_id("chat-avatar")).to_have_text("E")
    assert page.evaluate("window.pwned") is None


def test_date_separators_and_older_pages_on_scroll_up(new_page, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    page = new_page(1100, 720)
    now, base = wait_past_midnight(page)
    # Noon two days ago, yesterday's noon, and earlier today: 50 messages in all.
    plan = [(base - 2 * DAY + 12 * 3600 + i, f"old {i:02d}") for i in range(20)]
    plan += [(base - DAY + 12 * 3600 + i, f"yday {i:02d}") for i in range(20)]
    plan += [(base + (now - base) // 2 + i, f"today {i:02d}") for i in range(10)]
    for n, (at, body) in enumerate(plan):
        import_text(alice, "bob", body, 1000 + n, at)
    sign_in(page, "bob")
    conversation(page, "C2Calice").click()
    messages = texts(page)
    expect(messages.last).to_have_text("today 09")
    # The first page (15) and its separators; the viewport is full, so no more yet.
    expect(messages).to_have_count(15)
    separators = page.get_by_test_id("day-separator")
    expect(separators).to_have_text(["Yesterday", "Today"])

    # Scrolling up loads older pages; what was on screen stays where it was.
    scroll = page.get_by_test_id("message-scroll")
    anchor = page.get_by_test_id("message").filter(has_text="yday 15")  # the top one
    # Where the anchor shows once scrolled to the top, just before older ones arrive.
    at_top = scroll.evaluate(
        "(s) => { const a = [...s.querySelectorAll('.msg')].find("
        "  (m) => m.textContent.includes('yday 15'));"
        " return a.getBoundingClientRect().top - s.getBoundingClientRect().top + s.scrollTop; }")
    scroll.evaluate("s => { s.scrollTop = 0; }")
    expect(messages).to_have_count(30)
    shown = anchor.bounding_box()["y"] - scroll.bounding_box()["y"]
    assert abs(shown - at_top) <= 2, "the messages on screen moved"
    assert scroll.evaluate("s => s.scrollTop") > 100
    scroll.evaluate("s => { s.scrollTop = 0; }")
    expect(messages).to_have_count(45)
    scroll.evaluate("s => { s.scrollTop = 0; }")
    expect(messages).to_have_count(50)
    expect(messages.first).to_have_text("old 00")
    expect(page.get_by_test_id("load-older")).to_be_hidden()
    expect(separators).to_have_count(3)
    assert separators.nth(0).inner_text() not in ("Today", "Yesterday")
    expect(separators.nth(1)).to_have_text("Yesterday")
    expect(separators.nth(2)).to_have_text("Today")
    # Each separator comes right before the first message of its day.
    order = page.eval_on_selector_all(
        "#message-list > li", "items => items.map(li => li.classList.contains('day-separator')"
        " ? '|' : li.querySelector('.msg-bubble').textContent)")
    assert order.index("|") == 0
    assert order[order.index("old 19") + 1] == "|" and order[order.index("yday 19") + 1] == "|"
    assert order.count("|") == 3


def test_an_operators_kick_shows_the_signed_out_page(new_page, make_user, v4,
                                                     transactional_db):
    make_user("bob", nick="Bob")
    page = new_page()
    sign_in(page, "bob")
    expect(page.get_by_test_id("signed-out")).to_have_count(0)

    assert v4("im_open_login_svc/kick", {"UserID": "bob"})["ErrorCode"] == 0
    card = page.get_by_test_id("signed-out")
    expect(card).to_be_visible()
    expect(card).to_contain_text("An administrator signed you out")
    expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "kicked")
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(page.get_by_test_id("nav-contacts")).to_be_hidden()

    expect(page.get_by_test_id("banner")).to_be_hidden()  # the card is the one message

    # Sign in again: the old session is ended, the sign-in page comes, and it works.
    page.get_by_test_id("sign-in-again").click()
    expect(page).to_have_url(re.compile(r"/accounts/signin/$"))
    sign_in(page, "bob")
    expect(page.get_by_test_id("signed-out")).to_have_count(0)
    expect(page.get_by_test_id("conversation-list")).to_be_attached()

    # Kicked again, a reload with that session's cookie lands on the sign-in page: the
    # kick ended the session for every HTTP request too, not only for the socket.
    assert v4("im_open_login_svc/kick", {"UserID": "bob"})["ErrorCode"] == 0
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    page.reload()
    expect(page).to_have_url(re.compile(r"/accounts/signin/"))


def test_a_kick_on_the_contacts_page_shows_the_signed_out_page(new_page, make_user, v4,
                                                               transactional_db):
    make_user("bob", nick="Bob")
    page = new_page()
    sign_in(page, "bob")
    page.get_by_test_id("nav-contacts").click()
    expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "ready")
    assert v4("im_open_login_svc/kick", {"UserID": "bob"})["ErrorCode"] == 0
    expect(page.get_by_test_id("signed-out")).to_contain_text("An administrator signed you out")
    expect(page.get_by_test_id("friend-list")).to_be_hidden()


def test_a_chat_deleted_elsewhere_closes_where_it_is_open(new_page, make_user,
                                                          transactional_db):
    """Deleted on another device or by an operator (here: the service the console's
    delete calls), its history goes with it: the open chat closes instead of showing
    what is no longer there."""
    from messaging.changes import conversation_delete

    alice = make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    send_text(alice, "bob", "still on screen", 1)
    page = new_page()
    sign_in(page, "bob")
    conversation(page, "C2Calice").click()
    expect(page.get_by_test_id("chat-title")).to_be_visible()
    on_screen = page.get_by_test_id("message").get_by_text("still on screen")
    expect(on_screen).to_be_visible()
    in_worker(conversation_delete, user=bob, peer=alice)
    expect(page.get_by_test_id("chat-title")).to_be_hidden()
    expect(on_screen).to_have_count(0)
    expect(conversation(page, "C2Calice")).to_have_count(0)


def test_a_history_cleared_elsewhere_empties_the_open_chat(new_page, make_user,
                                                           transactional_db):
    """Cleared on another device of mine (clearHistoryMessage): the conversation stays
    listed with no last message, and the chat open here shows no message of it any
    more (it showed them until a reload); a message sent after it shows as usual."""
    from messaging.changes import conversation_clear_history

    alice = make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    send_text(alice, "bob", "one", 1)
    send_text(alice, "bob", "two", 2)
    page = new_page()
    sign_in(page, "bob")
    conversation(page, "C2Calice").click()
    expect(texts(page)).to_have_text(["one", "two"])
    in_worker(conversation_clear_history, user=bob, peer=alice)
    expect(conversation(page, "C2Calice").get_by_test_id("conversation-preview")) \
        .to_have_text("")
    expect(texts(page)).to_have_count(0)
    expect(page.get_by_test_id("chat-title")).to_be_visible()
    send_text(alice, "bob", "three", 3)
    expect(texts(page)).to_have_text(["three"])
    page.reload()
    conversation(page, "C2Calice").click()
    expect(texts(page)).to_have_text(["three"])
