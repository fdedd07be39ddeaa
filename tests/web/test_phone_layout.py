"""The web UI on phone-sized screens (390x844 and 360 wide), in Debian's Chromium:
nothing wider than the screen, one pane at a time with a back button, the links in a
menu, touch-sized targets, and unread badges that move while the list is shown.
"""

import re

import pytest
from playwright.sync_api import expect

from messaging.commands import Origin
from messaging.services import message_send
from relationships.services import friend_add
from tests.conftest import start_server, stop_server
from tests.web.helpers import in_worker, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker):
    """This module's own server, with open sign-up (its page is measured too)."""
    proc, url = start_server(CHAT_OPEN_SIGNUP="1")
    try:
        yield url
    finally:
        stop_server(proc)


PHONES = [(390, 844), (360, 740)]
SIGNED_IN_PAGES = ["/chat/", "/contacts/", "/requests/", "/blocklist/", "/profile/"]


def conversation(page, conversation_id):
    return page.locator(f'[data-testid="conversation"][data-conversation-id="{conversation_id}"]')


def send_text(sender, to, body, random):
    return in_worker(message_send, origin=Origin.USER, sender=sender, to=to, random=random,
                     elements=[{"type": "TIMTextElem", "payload": {"text": body}}])


def overflow(page):
    """How far the page reaches past the screen's right edge (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def too_small(page, selector):
    """Visible targets under 44 px in either direction, as 'text (w x h)'."""
    return page.eval_on_selector_all(selector, """nodes => nodes
        .filter((n) => n.offsetParent !== null)
        .map((n) => [n, n.getBoundingClientRect()])
        .filter(([, r]) => r.width < 44 || r.height < 44)
        .map(([n, r]) => `${n.dataset.testid || n.textContent.trim()} (${r.width}x${r.height})`)""")


@pytest.mark.parametrize("width,height", PHONES)
def test_no_page_is_wider_than_a_phone(new_page, make_user, width, height, transactional_db):
    bob = make_user("bob", nick="Bob with a really quite remarkably long nickname indeed")
    make_user("alice", nick="Alice")
    send_text(bob, "alice", "a message with a longwordthatdoesnotbreakanywhereatallreally" * 2, 1)
    page = new_page(width, height)
    for path in ["/accounts/signin/", "/accounts/signup/"]:
        page.goto(path)
        assert overflow(page) <= 0, path
    sign_in(page, "alice")
    for path in SIGNED_IN_PAGES:
        page.goto(path)
        wait_ready(page)
        assert overflow(page) <= 0, path
        # The links fold into the menu button; the bar fits the screen.
        expect(page.get_by_test_id("menu-button")).to_be_visible()
        expect(page.get_by_test_id("nav-contacts")).to_be_hidden()
        assert page.eval_on_selector("#topbar", "b => b.scrollWidth") <= width
    page.goto("/chat/")
    conversation(page, "C2Cbob").click()
    expect(page.get_by_test_id("message")).to_have_count(1)
    assert overflow(page) <= 0
    page.get_by_test_id("chat-delete").click()  # the confirm bar fits too
    assert overflow(page) <= 0


def test_one_pane_at_a_time_with_a_back_button(new_page, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_text(alice, "bob", "hello bob", 1)
    page = new_page(390, 844)
    sign_in(page, "bob")
    sidebar, pane = page.get_by_test_id("sidebar"), page.get_by_test_id("chat-pane")
    expect(sidebar).to_be_visible()
    expect(pane).to_be_hidden()
    expect(page.get_by_test_id("chat-layout")).to_have_attribute("data-pane", "list")
    # The list takes the whole width.
    assert sidebar.bounding_box()["width"] == 390

    conversation(page, "C2Calice").click()
    expect(sidebar).to_be_hidden()
    expect(pane).to_be_visible()
    expect(page.get_by_test_id("message").locator(".msg-bubble")).to_have_text(["hello bob"])
    back = page.get_by_test_id("chat-back")
    expect(back).to_be_visible()
    assert too_small(page, ".chat-header button, .composer button, .composer textarea") == []

    back.click()
    expect(sidebar).to_be_visible()
    expect(pane).to_be_hidden()
    # The browser's back button goes back to the list too.
    conversation(page, "C2Calice").click()
    expect(pane).to_be_visible()
    page.go_back()
    expect(sidebar).to_be_visible()
    expect(pane).to_be_hidden()

    # Desktop width: both panes, no back button.
    page.set_viewport_size({"width": 1100, "height": 720})
    expect(sidebar).to_be_visible()
    expect(pane).to_be_visible()
    conversation(page, "C2Calice").click()
    expect(back).to_be_hidden()
    expect(sidebar).to_be_visible()


def test_the_menu_holds_the_links_and_sign_out(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    page = new_page(360, 740)
    sign_in(page, "alice")
    menu = page.get_by_test_id("menu-button")
    # A friend request: its count shows on the menu button while the links are folded.
    expect(page.get_by_test_id("menu-badge")).to_be_hidden()
    in_worker(friend_add, user=bob, to="alice", source="AddSource_Type_Test")
    expect(page.get_by_test_id("menu-badge")).to_have_text("1")
    expect(page.get_by_test_id("menu-badge")).to_be_visible()
    assert too_small(page, "#menu-button") == []
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in ["chat", "contacts", "requests", "blocklist", "profile"]:
        expect(page.get_by_test_id(f"nav-{name}")).to_be_visible()
    expect(page.get_by_test_id("signout")).to_be_visible()
    assert too_small(page, ".nav a, [data-testid=signout]") == []
    assert overflow(page) <= 0
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("nav-contacts")).to_be_hidden()
    menu.click()
    page.get_by_test_id("nav-contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    wait_ready(page)
    page.get_by_test_id("menu-button").click()
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-form")).to_be_visible()


def test_unread_badges_move_on_a_phone(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    alice, bob = new_page(1100, 720), new_page(390, 844)
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    alice.get_by_test_id("new-chat-input").fill("bob")
    alice.get_by_test_id("new-chat-input").press("Enter")
    expect(alice.get_by_test_id("chat-peer-id")).to_have_text("UserID: bob")

    def say(words):
        alice.get_by_test_id("message-input").fill(words)
        alice.get_by_test_id("message-input").press("Enter")
        expect(alice.get_by_test_id("message").last).to_have_attribute("data-status", "success")

    say("one")
    badge = conversation(bob, "C2Calice").get_by_test_id("unread-badge")
    expect(badge).to_have_text("1")
    say("two")
    expect(badge).to_have_text("2")
    expect(bob.get_by_test_id("total-unread")).to_have_text("2")

    conversation(bob, "C2Calice").click()  # open: read
    expect(bob.get_by_test_id("message").locator(".msg-bubble")).to_have_text(["one", "two"])
    expect(bob.get_by_test_id("total-unread")).to_have_text("0")
    say("three")  # seen at once: the chat is open
    expect(bob.get_by_test_id("message").locator(".msg-bubble")).to_have_text(
        ["one", "two", "three"])
    expect(bob.get_by_test_id("total-unread")).to_have_text("0")

    bob.get_by_test_id("chat-back").click()  # back on the list: no longer read at once
    expect(badge).to_have_text("0")
    say("four")
    expect(badge).to_have_text("1")
    expect(bob.get_by_test_id("total-unread")).to_have_text("1")
    expect(conversation(bob, "C2Calice").get_by_test_id("conversation-preview")) \
        .to_have_text("four")


@pytest.mark.parametrize("width", [861, 1000])
def test_the_one_row_top_bar_fits_just_above_the_menu_width(new_page, make_user, width,
                                                            transactional_db):
    make_user("alice", nick="Alexandra Konstantinopoulou-Smythe of the Long Names")
    page = new_page(width, 600)
    sign_in(page, "alice")
    for path in ["/chat/", "/contacts/"]:
        page.goto(path)
        wait_ready(page)
        expect(page.get_by_test_id("menu-button")).to_be_hidden()
        expect(page.get_by_test_id("nav-blocklist")).to_be_visible()
        expect(page.get_by_test_id("signout")).to_be_visible()
        assert overflow(page) <= 0, path
        assert page.eval_on_selector("#topbar", "b => b.getBoundingClientRect().height") <= 60
        assert page.get_by_test_id("signout").bounding_box()["height"] < 30  # one line


PLACEHOLDER_FITS = """(e) => {
  const typed = e.value;
  e.value = e.placeholder;
  const fits = e.scrollHeight <= e.clientHeight && e.scrollWidth <= e.clientWidth;
  e.value = typed;
  return fits;
}"""


@pytest.mark.parametrize("width,height", PHONES)
def test_the_message_box_hint_shows_whole_on_a_phone(new_page, make_user, width, height,
                                                     transactional_db):
    """The hint "Write a message (Enter to send, Shift+Enter for a new line)" wrapped to
    three lines in the two-line box of a 360 px screen and was cut off."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    send_text(bob, "alice", "hello", 1)
    page = new_page(width, height)
    sign_in(page, "alice")
    conversation(page, "C2Cbob").click()
    box = page.get_by_test_id("message-input")
    expect(box).to_be_visible()
    assert box.evaluate(PLACEHOLDER_FITS), box.get_attribute("placeholder")
    expect(box).to_have_attribute("placeholder", "Write a message")
    # A desktop keeps the keys' hint (and it fits there).
    page.set_viewport_size({"width": 1100, "height": 720})
    expect(box).to_have_attribute(
        "placeholder", "Write a message (Enter to send, Shift+Enter for a new line)")
    assert box.evaluate(PLACEHOLDER_FITS)
