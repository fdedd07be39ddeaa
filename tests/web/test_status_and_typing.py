"""The peer's online status and typing in the chat page (a real browser, a real server):
bob sees alice come online and go offline, and sees her typing."""

import pytest
from playwright.sync_api import expect

from tests.web.helpers import TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_peer_status_and_typing_live(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    bob = new_page()
    sign_in(bob, "bob")
    bob.get_by_test_id("new-chat-input").fill("alice")
    bob.get_by_test_id("new-chat-input").press("Enter")
    status = bob.get_by_test_id("chat-peer-status")
    expect(status).to_have_text("never signed in")

    alice = new_page()
    sign_in(alice, "alice")
    expect(status).to_have_text("online", timeout=TIMEOUT_MS)

    alice.get_by_test_id("new-chat-input").fill("bob")
    alice.get_by_test_id("new-chat-input").press("Enter")
    alice.get_by_test_id("message-input").press_sequentially("hel")
    expect(bob.get_by_test_id("chat-typing")).to_be_visible()
    alice.get_by_test_id("message-input").press_sequentially("lo")
    alice.get_by_test_id("message-input").press("Enter")
    expect(bob.get_by_test_id("message").last.locator(".msg-bubble")).to_have_text("hello")
    expect(bob.get_by_test_id("chat-typing")).to_be_hidden()

    alice.close()  # the page goes: its socket closes cleanly
    expect(status).to_have_text("offline", timeout=TIMEOUT_MS)
