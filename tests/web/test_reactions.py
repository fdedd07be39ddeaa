"""Reactions on the chat page in a real browser (static/parley/reactions.js): alice
reacts with the keyboard-reachable picker, bob sees the chip appear live and adds his
own by clicking it, each sees their own highlighted, a reload shows them again. A
screenshot goes to $PARLEY_SCREENSHOT_DIR (else pytest's temporary directory)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from messaging.commands import Origin
from messaging.models import Reaction
from messaging.services import message_send
from tests.web.helpers import in_worker, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def send_text(sender, to, text, random):
    return in_worker(message_send, origin=Origin.USER, sender=sender, to=to, random=random,
                     elements=[{"type": "TIMTextElem", "payload": {"text": text}}])


def open_conversation(page, conversation_id):
    page.locator(f'[data-testid="conversation"][data-conversation-id="{conversation_id}"]').click()


def chip(message, reaction_id):
    return message.locator(f'[data-testid="reaction-chip"][data-reaction-id="{reaction_id}"]')


def test_alice_reacts_and_bob_sees_it_live_and_adds_his(new_page, make_user, tmp_path,
                                                         transactional_db):
    alice_user = make_user("alice", nick="Alice")
    bob_user = make_user("bob", nick="Bob")
    send_text(alice_user, "bob", "Lunch at noon?", 1)
    send_text(bob_user, "alice", "Sounds good, the usual place?", 2)
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    open_conversation(alice, "C2Cbob")
    open_conversation(bob, "C2Calice")
    a_msg = alice.get_by_test_id("message").last  # bob's question, on alice's page
    b_msg = bob.get_by_test_id("message").last
    expect(a_msg.locator(".msg-bubble")).to_have_text("Sounds good, the usual place?")
    expect(b_msg.get_by_test_id("reaction-chip")).to_have_count(0)

    # Alice opens the picker from the keyboard: focus lands on the first choice, and
    # Escape closes it, back on the button.
    add = a_msg.get_by_role("button", name="Add a reaction")
    add.focus()
    alice.keyboard.press("Enter")
    expect(add).to_have_attribute("aria-expanded", "true")
    expect(a_msg.get_by_role("button", name="React with thumbs up")).to_be_focused()
    alice.keyboard.press("Escape")
    expect(a_msg.get_by_test_id("reaction-picker")).to_be_hidden()
    expect(add).to_be_focused()
    alice.keyboard.press("Enter")
    alice.keyboard.press("Enter")  # the first choice: thumbs up
    mine = chip(a_msg, "👍")
    expect(mine).to_have_text("👍1")
    expect(mine).to_have_attribute("aria-pressed", "true")
    expect(mine).to_have_attribute("aria-label", "thumbs up: 1 person, including you; "
                                                 "press to take yours back")

    # Bob sees it live, not his; he clicks it and it becomes both of theirs.
    theirs = chip(b_msg, "👍")
    expect(theirs).to_have_text("👍1")
    expect(theirs).to_have_attribute("aria-pressed", "false")
    expect(theirs).to_have_attribute("title", "Alice")
    theirs.click()
    expect(theirs).to_have_text("👍2")
    expect(theirs).to_have_attribute("aria-pressed", "true")
    expect(mine).to_have_text("👍2")
    expect(mine).to_have_attribute("aria-pressed", "true")
    expect(mine).to_have_attribute("title", "Alice, Bob")

    # Bob adds a second one from the picker; alice sees it, not pressed for her.
    b_msg.hover()
    b_msg.get_by_role("button", name="Add a reaction").click()
    b_msg.get_by_role("button", name="React with party").click()
    expect(chip(b_msg, "🎉")).to_have_attribute("aria-pressed", "true")
    expect(chip(a_msg, "🎉")).to_have_text("🎉1")
    expect(chip(a_msg, "🎉")).to_have_attribute("aria-pressed", "false")

    # Alice takes hers back: bob's chip counts 1, still his.
    mine.click()
    expect(theirs).to_have_text("👍1")
    expect(theirs).to_have_attribute("aria-pressed", "true")
    expect(mine).to_have_attribute("aria-pressed", "false")
    assert sorted(Reaction.objects.values_list("reaction_id", "user__user_id")) == [
        ("🎉", "bob"), ("👍", "bob")]

    # A reload asks them afresh (getMessageReactions).
    bob.reload()
    wait_ready(bob)
    b_msg = bob.get_by_test_id("message").last
    expect(b_msg.get_by_test_id("reaction-chip")).to_have_text(["👍1", "🎉1"])
    expect(chip(b_msg, "👍")).to_have_attribute("aria-pressed", "true")
    # Alice reacts to her own message too, so the picture shows both sides.
    first = alice.get_by_test_id("message").first
    first.hover()
    first.get_by_role("button", name="Add a reaction").click()
    first.get_by_role("button", name="React with heart").click()
    expect(chip(bob.get_by_test_id("message").first, "❤️")).to_have_text("❤️1")

    shots = Path(os.environ.get("PARLEY_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    bob.mouse.move(0, 0)
    bob.screenshot(path=str(shots / "chat-reactions.png"))
