"""What using the chat page as people do found broken (2026-12-06), each kept fixed."""

import os

import pytest
from playwright.sync_api import expect

from messaging.changes import message_modify, message_pk
from messaging.commands import Origin, SendCommand
from messaging.imports import message_import
from messaging.reactions import reaction_add
from messaging.services import message_send_many
from relationships.blocklist import block_add, block_remove
from relationships.selectors import block_user_ids
from relationships.services import friend_add
from tests.web.helpers import in_worker, sign_in, wait_past_midnight, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def texts(page):
    return page.get_by_test_id("message").locator(".msg-bubble")


def send_texts(sender, to, words, first_random):
    return in_worker(message_send_many, [
        SendCommand(origin=Origin.USER, sender=sender, to=to, random=first_random + i,
                    elements=[{"type": "TIMTextElem", "payload": {"text": word}}])
        for i, word in enumerate(words)])


def miss_while_offline(new_page, make_user, count: int):
    """alice has carol's chat open ("before" in it) when her page goes offline; carol
    sends `count` messages meanwhile; the page comes back. Returns (page, missed)."""
    carol = make_user("carol", nick="Carol")
    make_user("alice", nick="Alice")
    send_texts(carol, "alice", ["before"], 1)
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Ccarol"]').click()
    expect(texts(page)).to_have_text(["before"])

    page.context.set_offline(True)
    expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "connecting")
    missed = [f"m{i:03d}" for i in range(count)]
    send_texts(carol, "alice", missed, 100)
    page.context.set_offline(False)
    wait_ready(page)
    return page, missed


def test_an_open_chat_shows_every_message_missed_past_the_offline_cache_cut(
        new_page, make_user, transactional_db):
    """The replay at reconnect gives the newest 100 messages per peer; the open chat
    used to show those right after what it held, the older missed ones gone from it
    (no gap to scroll into) until a reload."""
    page, missed = miss_while_offline(new_page, make_user, 110)
    expect(texts(page)).to_have_count(111)
    expect(texts(page)).to_have_text(["before", *missed])


def test_an_open_chat_missing_more_than_a_few_pages_opens_again_at_its_newest(
        new_page, make_user, transactional_db):
    """Back after a long time offline with a busy peer, the open chat does not read and
    draw the whole gap (5 pages of 100 at most): it opens again at its newest page, and
    "Load older" goes on from there, with nothing twice."""
    page, missed = miss_while_offline(new_page, make_user, 620)
    expect(page.get_by_text("before", exact=True)).to_have_count(0)  # opened again
    expect(texts(page).last).to_have_text("m619")
    load_older = page.get_by_test_id("load-older")
    expect(load_older).to_be_visible()
    shown = texts(page).all_inner_texts()
    assert len(shown) < 150, len(shown)
    assert shown == missed[-len(shown):]  # the newest, in order, each once

    load_older.evaluate("b => b.focus({preventScroll: true})")  # a click scrolls, loading by itself
    page.keyboard.press("Enter")
    expect(texts(page)).not_to_have_count(len(shown))
    more = texts(page).all_inner_texts()
    assert len(more) > len(shown) and more == missed[-len(more):]


def test_tab_from_the_new_chat_box_reaches_the_conversations(new_page, make_user,
                                                             transactional_db):
    """Focusing the box opens the contact picker in the list's place; Tab used to move
    past the hidden list to the page's end, so a keyboard never reached a chat."""
    carol = make_user("carol", nick="Carol")
    make_user("alice", nick="Alice")
    send_texts(carol, "alice", ["hello"], 1)
    page = new_page()
    sign_in(page, "alice")
    first = page.locator('[data-testid="conversation"][data-conversation-id="C2Ccarol"] button')
    expect(first).to_be_visible()  # the list is drawn (on a busy machine, after sign-in)
    page.get_by_test_id("new-chat-input").focus()
    expect(page.get_by_test_id("contact-picker")).to_be_visible()
    page.keyboard.press("Tab")
    expect(first).to_be_focused()
    expect(page.get_by_test_id("contact-picker")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("chat-title")).to_have_text("Carol")
    expect(texts(page)).to_have_text(["hello"])


def test_a_new_send_from_the_tools_clears_the_last_refusal(new_page, make_user,
                                                           transactional_db):
    """An empty file is refused under the text box; the file sent next went, yet the
    line kept saying "Could not send", as if that one had failed too."""
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    page = new_page()
    sign_in(page, "alice")
    page.get_by_test_id("new-chat-input").fill("bob")
    page.get_by_test_id("new-chat-input").press("Enter")
    expect(page.get_by_test_id("chat-title")).to_have_text("Bob")
    attach = page.get_by_test_id("attach-input")
    error = page.get_by_test_id("send-error")

    attach.set_input_files(files=[{"name": "empty.txt", "mimeType": "text/plain",
                                   "buffer": b""}])
    expect(error).to_have_text("Could not send: The file is empty.")
    attach.set_input_files(files=[{"name": "note.txt", "mimeType": "text/plain",
                                   "buffer": b"hello"}])
    expect(page.get_by_test_id("msg-file-name")).to_have_text("note.txt")
    expect(error).to_be_hidden()

    attach.set_input_files(files=[{"name": "empty.txt", "mimeType": "text/plain",
                                   "buffer": b""}])
    expect(error).to_be_visible()
    page.get_by_test_id("face-button").click()
    page.get_by_test_id("face-smile").click()
    expect(page.get_by_test_id("msg-face")).to_have_count(1)
    expect(error).to_be_hidden()


def test_right_to_left_text_reads_right_to_left(new_page, make_user, transactional_db):
    """A message, a preview or a draft in Arabic or Hebrew took the page's left-to-right
    direction: its end punctuation landed on the wrong side and its lines on the left."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    send_texts(bob, "alice", ["مرحبا بالعالم!", "hello, world!"], 1)
    page = new_page()
    sign_in(page, "alice")
    preview = page.locator('[data-conversation-id="C2Cbob"]').get_by_test_id(
        "conversation-preview")
    expect(preview).to_have_text("hello, world!")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(page)).to_have_text(["مرحبا بالعالم!", "hello, world!"])
    direction = "e => getComputedStyle(e).direction"
    assert page.locator(".msg-text").nth(0).evaluate(direction) == "rtl"
    assert page.locator(".msg-text").nth(1).evaluate(direction) == "ltr"
    box = page.get_by_test_id("message-input")
    box.fill("שלום עולם!")
    assert box.evaluate("e => e.matches(':dir(rtl)')")
    box.press("Enter")
    expect(preview).to_have_text("You: שלום עולם!")
    assert preview.evaluate("e => e.querySelector('[dir=auto]') !== null || "
                            "e.getAttribute('dir') === 'auto'")


def test_the_peer_is_not_shown_online_while_the_page_is_offline(new_page, make_user,
                                                                 transactional_db):
    """While the page's own connection was down it kept the peer's last status, so the
    header said "online" of someone it could not know about."""
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    bob = new_page()
    sign_in(bob, "bob")
    alice = new_page()
    sign_in(alice, "alice")
    alice.get_by_test_id("new-chat-input").fill("bob")
    alice.get_by_test_id("new-chat-input").press("Enter")
    status = alice.get_by_test_id("chat-peer-status")
    expect(status).to_have_text("online")

    alice.context.set_offline(True)
    expect(alice.get_by_test_id("net-state")).to_have_attribute("data-state", "connecting")
    expect(status).not_to_have_text("online")
    alice.context.set_offline(False)
    wait_ready(alice)
    expect(status).to_have_text("online")


def test_an_edit_in_progress_survives_the_message_being_drawn_again(new_page, make_user,
                                                                     transactional_db):
    """A message is drawn again when the peer reads it (or it changes elsewhere); an
    edit open on it vanished then, with what had been typed."""
    alice_user = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_texts(alice_user, "bob", ["first draft"], 1)
    alice = new_page()
    sign_in(alice, "alice")
    alice.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(alice)).to_have_text(["first draft"])
    message = alice.get_by_test_id("message").first
    message.hover()
    message.get_by_test_id("edit-message").click()
    alice.get_by_test_id("edit-input").fill("second thoughts")

    bob = new_page()
    sign_in(bob, "bob")
    bob.locator('[data-testid="conversation"][data-conversation-id="C2Calice"]').click()
    expect(message.locator(".msg-meta")).to_contain_text("Read")  # drawn again
    expect(alice.get_by_test_id("edit-input")).to_have_value("second thoughts")
    expect(alice.get_by_test_id("edit-input")).to_be_focused()
    alice.get_by_test_id("edit-input").press("Enter")
    expect(texts(alice)).to_have_text(["second thoughts"])
    expect(texts(bob)).to_have_text(["second thoughts"])
    expect(alice.get_by_test_id("edit-input")).to_have_count(0)


def test_an_edit_refused_as_changed_meanwhile_goes_through_when_saved_again(
        new_page, make_user, transactional_db):
    """Two devices edit one message: the later save is told it changed meanwhile, "try
    again"; saving again failed the same way for ever (it kept the old version)."""
    alice_user = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_texts(alice_user, "bob", ["v1"], 1)
    desk, laptop = new_page(), new_page()
    for page in (desk, laptop):
        sign_in(page, "alice")
        page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
        expect(texts(page)).to_have_text(["v1"])
    message = laptop.get_by_test_id("message").first
    message.hover()
    message.get_by_test_id("edit-message").click()
    laptop.get_by_test_id("edit-input").fill("v2 from the laptop")

    message = desk.get_by_test_id("message").first
    message.hover()
    message.get_by_test_id("edit-message").click()
    desk.get_by_test_id("edit-input").fill("v2 from the desk")
    desk.get_by_test_id("edit-input").press("Enter")
    expect(texts(desk)).to_have_text(["v2 from the desk"])

    laptop.get_by_test_id("edit-input").press("Enter")
    expect(laptop.get_by_test_id("edit-status")).to_have_text(
        "The message was changed meanwhile; try again.")
    laptop.get_by_test_id("edit-save").click()
    expect(texts(laptop)).to_have_text(["v2 from the laptop"])
    expect(texts(desk)).to_have_text(["v2 from the laptop"])


def test_a_draft_sent_on_another_device_leaves_this_text_box(new_page, make_user,
                                                             transactional_db):
    """A chat open on two devices shows the draft in both boxes; sent from one, it
    stayed in the other's box, one Enter away from going twice."""
    alice_user = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_texts(alice_user, "bob", ["hi"], 1)
    desk, laptop = new_page(), new_page()
    for page in (desk, laptop):
        sign_in(page, "alice")
    desk.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    desk.get_by_test_id("message-input").fill("see you at noon")
    preview = laptop.locator('[data-conversation-id="C2Cbob"]').get_by_test_id(
        "conversation-preview")
    expect(preview).to_have_text("Draft: see you at noon")
    laptop.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(laptop.get_by_test_id("message-input")).to_have_value("see you at noon")

    desk.get_by_test_id("message-input").press("Enter")
    expect(texts(laptop)).to_have_text(["hi", "see you at noon"])
    expect(laptop.get_by_test_id("message-input")).to_have_value("")

    # What the person typed here is theirs: a draft changed elsewhere does not replace it.
    laptop.get_by_test_id("message-input").fill("my own words")
    desk.get_by_test_id("message-input").fill("another draft")
    desk.wait_for_timeout(2000)  # the desk's draft is saved and announced meanwhile
    expect(laptop.get_by_test_id("message-input")).to_have_value("my own words")


def test_reacting_by_keyboard_keeps_the_focus_in_the_reactions(new_page, make_user,
                                                                transactional_db):
    """The row is drawn again when the reaction comes back; the focused button went with
    it, and the keyboard's place fell back to the top of the page."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    [sent] = send_texts(bob, "alice", ["lunch?"], 1)
    in_worker(reaction_add, message_pk=message_pk(sent["ID"]), actor=bob, reaction_id="👍")
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(page)).to_have_text(["lunch?"])
    thumbs = page.locator('[data-testid="reaction-chip"][data-reaction-id="👍"]')
    expect(thumbs).to_have_attribute("aria-pressed", "false")

    thumbs.focus()
    page.keyboard.press("Enter")  # mine too: the chip stays, pressed
    expect(thumbs).to_have_attribute("aria-pressed", "true")
    expect(thumbs).to_be_focused()
    page.keyboard.press("Enter")  # and back
    expect(thumbs).to_have_attribute("aria-pressed", "false")
    expect(thumbs).to_be_focused()

    add = page.get_by_test_id("reaction-add")
    add.focus()
    page.keyboard.press("Enter")
    choices = page.get_by_test_id("reaction-choice")
    expect(choices.first).to_be_focused()
    page.keyboard.press("ArrowLeft")  # the arrows go round the choices
    expect(choices.last).to_be_focused()
    page.keyboard.press("Home")
    expect(choices.first).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")  # ❤️
    heart = page.locator('[data-testid="reaction-chip"][data-reaction-id="❤️"]')
    expect(heart).to_have_attribute("aria-pressed", "true")
    expect(add).to_be_focused()
    heart.focus()
    page.keyboard.press("Enter")  # taken back: the chip goes, the focus to "☺+"
    expect(heart).to_have_count(0)
    expect(add).to_be_focused()


def test_a_link_drawn_as_a_button_centres_its_word_on_a_phone(new_page, make_user,
                                                               transactional_db):
    """On a phone a button is 44 px high; the friend's "Chat" link (a link drawn as a
    button) kept its word at the top while "Remark" and "Delete" beside it were centred."""
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    in_worker(friend_add, user=alice, to="bob", source="AddSource_Type_Test", force=True)
    page = new_page(390, 844)
    sign_in(page, "alice")
    page.goto("/contacts/")
    link = page.get_by_test_id("friend-chat")
    expect(link).to_be_visible()
    box, text = link.evaluate("""e => {
        const range = document.createRange(); range.selectNodeContents(e);
        const t = range.getBoundingClientRect(), b = e.getBoundingClientRect();
        return [[b.top, b.height], [t.top, t.height]];
    }""")
    assert box[1] >= 44
    box_middle, text_middle = box[0] + box[1] / 2, text[0] + text[1] / 2
    assert abs(box_middle - text_middle) <= 2, (box, text)


def test_the_keyboard_focus_stays_on_a_message_drawn_again(new_page, make_user,
                                                            transactional_db):
    """A message drawn again (here: the peer read it) took the focused action with it,
    and the keyboard's place fell back to the top of the page."""
    alice_user = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_texts(alice_user, "bob", ["ping"], 1)
    alice = new_page()
    sign_in(alice, "alice")
    alice.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(alice)).to_have_text(["ping"])
    forward = alice.get_by_test_id("forward-message")
    forward.focus()
    bob = new_page()
    sign_in(bob, "bob")
    bob.locator('[data-testid="conversation"][data-conversation-id="C2Calice"]').click()
    expect(alice.get_by_test_id("message").locator(".msg-meta")).to_contain_text("Read")
    expect(forward).to_be_focused()



def test_delete_for_me_stays_armed_when_the_message_is_drawn_again(
        new_page, make_user, transactional_db):
    """The first click on Delete asks "Delete for me?"; a message drawn again meanwhile
    (the peer edited theirs, the peer read mine) lost that, so the second click asked
    again instead of deleting."""
    bob = make_user("bob", nick="Bob")
    alice = make_user("alice", nick="Alice")
    [theirs] = send_texts(bob, "alice", ["lunch?"], 1)
    send_texts(alice, "bob", ["ping"], 2)
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(page)).to_have_text(["lunch?", "ping"])

    message = page.get_by_test_id("message").first
    message.hover()
    delete = message.get_by_test_id("delete-message")
    delete.click()
    expect(delete).to_have_text("Delete for me?")
    in_worker(message_modify, message_pk=message_pk(theirs["ID"]), actor=bob,
              elements=[{"type": "TIMTextElem", "payload": {"text": "lunch at 1?"}}])
    expect(message.get_by_test_id("msg-edited")).to_have_count(1)  # drawn again
    expect(delete).to_have_text("Delete for me?")
    delete.click()
    expect(texts(page)).to_have_text(["ping"])

    mine = page.get_by_test_id("message").first
    mine.hover()
    delete = mine.get_by_test_id("delete-message")
    delete.click()
    expect(delete).to_have_text("Delete for me?")
    peer = new_page()
    sign_in(peer, "bob")
    peer.locator('[data-testid="conversation"][data-conversation-id="C2Calice"]').click()
    expect(mine.locator(".msg-meta")).to_contain_text("Read")  # drawn again
    expect(delete).to_have_text("Delete for me?")
    delete.click()
    expect(texts(page)).to_have_count(0)
    page.reload()
    wait_ready(page)
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(page.get_by_test_id("history-status")).to_be_visible()
    expect(texts(page)).to_have_count(0)


def test_delete_for_me_disarms_by_itself_even_when_drawn_again(
        new_page, make_user, transactional_db):
    """Left armed, "Delete for me?" goes back to "Delete" after 4 s, also when the
    message was drawn again meanwhile; a click after that asks again."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    [theirs] = send_texts(bob, "alice", ["lunch?"], 1)
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    message = page.get_by_test_id("message").first
    message.hover()
    delete = message.get_by_test_id("delete-message")
    delete.click()
    expect(delete).to_have_text("Delete for me?")
    in_worker(message_modify, message_pk=message_pk(theirs["ID"]), actor=bob,
              elements=[{"type": "TIMTextElem", "payload": {"text": "lunch at 1?"}}])
    expect(message.get_by_test_id("msg-edited")).to_have_count(1)
    expect(delete).to_have_text("Delete", timeout=6000)
    delete.click()
    expect(delete).to_have_text("Delete for me?")
    expect(texts(page)).to_have_text(["lunch at 1?"])


def test_the_header_says_when_i_blocked_the_peer_and_unblocks(new_page, make_user,
                                                              transactional_db):
    """The header said nothing of my own block (made on another page or device), so the
    peer's silence looked like theirs. It says so now, follows a block or unblock made
    elsewhere, live, and offers to unblock."""
    bob = make_user("bob", nick="Bob")
    alice = make_user("alice", nick="Alice")
    send_texts(bob, "alice", ["hi"], 1)
    in_worker(block_add, owner=alice, user_ids=["bob"])
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    blocked = page.get_by_test_id("chat-blocked")
    expect(blocked).to_be_visible()
    expect(blocked).to_have_text("You blocked Bob: their messages do not reach you. Unblock")

    in_worker(block_remove, owner=alice, user_ids=["bob"])  # from another device
    expect(blocked).to_be_hidden()
    in_worker(block_add, owner=alice, user_ids=["bob"])
    expect(blocked).to_contain_text("You blocked Bob")

    page.get_by_test_id("chat-unblock").click()
    expect(blocked).to_be_hidden()
    expect(page.get_by_test_id("message-input")).to_be_focused()  # not lost with the bar
    assert in_worker(block_user_ids, owner_pk=alice.pk) == []
    page.get_by_test_id("message-input").fill("sorry")
    page.get_by_test_id("message-input").press("Enter")
    expect(page.get_by_test_id("message").last).to_have_attribute("data-status", "success")

    # Another chat, a peer I have not blocked: nothing said.
    make_user("carol", nick="Carol")
    in_worker(block_add, owner=alice, user_ids=["bob"])
    page.get_by_test_id("new-chat-input").fill("carol")
    page.get_by_test_id("new-chat-input").press("Enter")
    expect(page.get_by_test_id("chat-title")).to_have_text("Carol")
    expect(blocked).to_be_hidden()


OVERLAP = """([a, b]) => {
    const r = (e) => e.getBoundingClientRect();
    const x = r(a), y = r(b);
    return x.left < y.right && y.left < x.right && x.top < y.bottom && y.top < x.bottom;
}"""


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_a_messages_actions_never_cover_the_date_above_it(new_page, make_user, size,
                                                          transactional_db):
    """Pointed at, the first message after a date ("Yesterday", "Today") floated its
    actions over that date; a message at the top edge of the scrolling box had them cut
    off above it. Screenshots in $PARLEY_SHOTS (when set)."""
    alice = make_user("alice", nick="Alice")
    bob = make_user("bob", nick="Bob")
    page = new_page(*size)
    now, midnight = wait_past_midnight(page, 60)
    for n, (sender, to, body, at) in enumerate([
            (bob, "alice", "ok", midnight - 86400 + 12 * 3600),
            (alice, "bob", "and you?", midnight - 86400 + 12 * 3600 + 5),
            (alice, "bob", "hi", now - 30),
            (bob, "alice", "hey there, long time no see", now - 20),
            # enough below for the first ones to scroll to the top
            *[(alice, "bob", f"more {i}", now - 19 + i) for i in range(10)]]):
        in_worker(message_import, sender=sender, to=to, random=100 + n, time=at,
                  realtime=False, elements=[{"type": "TIMTextElem", "payload": {"text": body}}])
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(texts(page)).to_have_count(14)
    separators = page.get_by_test_id("day-separator")
    expect(separators).to_have_text(["Yesterday", "Today"])
    scroll = page.get_by_test_id("message-scroll")
    shots = os.environ.get("PARLEY_SHOTS")
    for sep, message in [(separators.nth(0), page.get_by_test_id("message").nth(0)),
                         (separators.nth(1), page.get_by_test_id("message").nth(2))]:
        message.scroll_into_view_if_needed()
        message.hover()
        actions = message.locator(".msg-actions")
        expect(actions).to_have_css("opacity", "1")
        if shots:
            page.screenshot(path=f"{shots}/actions-{size[0]}-{sep.inner_text()}.png")
        assert not sep.evaluate_handle("(s, a) => [s, a]", actions.element_handle()) \
            .evaluate(OVERLAP), f"the actions cover {sep.inner_text()!r}"
        for other in page.get_by_test_id("day-separator").all():
            assert not other.evaluate_handle("(s, a) => [s, a]", actions.element_handle()) \
                .evaluate(OVERLAP)
    # A message at the top edge of the scrolling box: its actions show whole.
    top = scroll.evaluate("s => s.getBoundingClientRect().top")
    for n in range(4):
        message = page.get_by_test_id("message").nth(n)
        scroll.evaluate("(s, m) => { s.scrollTop += m.getBoundingClientRect().top"
                        " - s.getBoundingClientRect().top - 2; }", message.element_handle())
        page.mouse.move(0, 0)
        message.hover()
        actions = message.locator(".msg-actions")
        expect(actions).to_have_css("opacity", "1")
        if shots:
            page.screenshot(path=f"{shots}/actions-{size[0]}-top-{n}.png")
        assert actions.bounding_box()["y"] >= top, f"message {n}: its actions are cut off"


def test_a_message_arriving_while_scrolled_up_waits_unread_below(new_page, make_user,
                                                                 transactional_db):
    """Reading back in a chat, a new message arrived out of sight below with no word of
    it, and was marked read at once: the peer saw "Read", the badge never showed. It
    stays unread now, a "1 new message" button says so, and reaching the bottom (by
    that button or by scrolling) reads it."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    send_texts(bob, "alice", [f"line {i:02d}" for i in range(40)], 1)
    page = new_page(390, 844)
    sign_in(page, "alice")
    conv = page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]')
    conv.click()
    expect(texts(page).last).to_have_text("line 39")
    expect(page.get_by_test_id("total-unread")).to_have_text("0")
    scroll = page.get_by_test_id("message-scroll")
    scroll.evaluate("s => { s.scrollTop = s.scrollHeight - s.clientHeight - 400; }")
    jump = page.get_by_test_id("jump-new")
    expect(jump).to_be_hidden()

    send_texts(bob, "alice", ["are you there?"], 100)
    expect(texts(page).last).to_have_text("are you there?")
    expect(jump).to_have_text("1 new message")
    expect(jump).to_be_in_viewport()
    send_texts(bob, "alice", ["hello?"], 101)
    expect(jump).to_have_text("2 new messages")
    expect(page.get_by_test_id("total-unread")).to_have_text("2")
    page.wait_for_timeout(500)  # no read receipt goes meanwhile
    expect(page.get_by_test_id("total-unread")).to_have_text("2")

    jump.click()
    expect(jump).to_be_hidden()
    expect(page.get_by_test_id("total-unread")).to_have_text("0")
    expect(texts(page).last).to_be_in_viewport()

    # Scrolling down by hand reads them too.
    scroll.evaluate("s => { s.scrollTop = s.scrollHeight - s.clientHeight - 400; }")
    send_texts(bob, "alice", ["one more"], 102)
    expect(jump).to_have_text("1 new message")
    scroll.evaluate("s => { s.scrollTop = s.scrollHeight; }")
    expect(jump).to_be_hidden()
    expect(page.get_by_test_id("total-unread")).to_have_text("0")


def test_while_selecting_a_click_on_a_messages_link_selects_it(new_page, make_user,
                                                               transactional_db):
    """Choosing messages to forward, a click (or a phone's tap, which snaps to a link
    nearby) on a location's "Open map" opened the map in a new tab instead of choosing
    the message."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")
    send_texts(bob, "alice", ["meet here"], 1)
    in_worker(message_send_many, [SendCommand(
        origin=Origin.USER, sender=bob, to="alice", random=2,
        elements=[{"type": "TIMLocationElem", "payload": {
            "description": "Café Central", "latitude": 48.2104, "longitude": 16.3655}}])])
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(page.get_by_test_id("msg-location-link")).to_be_visible()
    first = page.get_by_test_id("message").first
    first.hover()
    first.get_by_test_id("select-message").click()
    count = page.get_by_test_id("select-count")
    expect(count).to_have_text("1 selected")

    page.get_by_test_id("msg-location-link").click()
    expect(count).to_have_text("2 selected")
    page.get_by_test_id("msg-location-link").click()
    expect(count).to_have_text("1 selected")
    page.wait_for_timeout(300)
    assert len(page.context.pages) == 1, "the map opened"

    page.get_by_test_id("select-cancel").click()  # not selecting: the link is a link
    with page.context.expect_page():
        page.get_by_test_id("msg-location-link").click()


def test_a_chat_history_of_one_message_says_one_message(new_page, make_user,
                                                        transactional_db):
    """A forwarded chat history of one message said "1 messages" on its card."""
    bob = make_user("bob", nick="Bob")
    make_user("alice", nick="Alice")

    def relay(count, random):
        items = [{"from": "bob", "time": 1_700_000_000 + i,
                  "elements": [{"type": "TIMTextElem", "payload": {"text": f"item {i}"}}]}
                 for i in range(count)]
        return SendCommand(origin=Origin.USER, sender=bob, to="alice", random=random,
                           elements=[{"type": "TIMRelayElem", "payload": {
                               "title": "Chat history of Bob and Carol", "abstractList": [],
                               "compatibleText": "[Chat history]", "messageList": items}}])

    in_worker(message_send_many, [relay(1, 1), relay(2, 2)])
    page = new_page()
    sign_in(page, "alice")
    page.locator('[data-testid="conversation"][data-conversation-id="C2Cbob"]').click()
    expect(page.locator(".msg-merged-foot")).to_have_text(["Chat history · 1 message",
                                                           "Chat history · 2 messages"])
