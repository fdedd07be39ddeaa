"""Recall in the web UI (a real browser, a real server): the sender recalls a message
from the chat, and both people see "[Message recalled]" in place of it, live."""

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from tests.web.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_sender_recalls_and_both_see_it_recalled(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")

    alice.get_by_test_id("new-chat-input").fill("bob")
    alice.get_by_test_id("new-chat-input").press("Enter")
    alice.get_by_test_id("message-input").fill("sent by mistake")
    alice.get_by_test_id("message-input").press("Enter")
    sent = alice.get_by_test_id("message").last
    expect(sent).to_have_attribute("data-status", "success")

    bob.locator('[data-testid="conversation"][data-conversation-id="C2Calice"]').click()
    got = bob.get_by_test_id("message").last
    expect(got.locator(".msg-bubble")).to_have_text("sent by mistake")
    # Only one's own messages offer the action.
    expect(got.get_by_test_id("recall-message")).to_have_count(0)

    sent.get_by_test_id("recall-message").click()
    expect(alice.get_by_test_id("message").last.locator(".msg-bubble")) \
        .to_have_text("[Message recalled]")
    expect(alice.get_by_test_id("message").last.get_by_test_id("recall-message")) \
        .to_have_count(0)
    expect(bob.get_by_test_id("message").last.locator(".msg-bubble")) \
        .to_have_text("[Message recalled]")
    expect(bob.locator('[data-testid="conversation"][data-conversation-id="C2Calice"]')
           .get_by_test_id("conversation-preview")).to_have_text("[Message recalled]")
    assert Message.objects.get().is_revoked
    # After a reload, history shows it recalled too.
    bob.reload()
    expect(bob.get_by_test_id("message").last.locator(".msg-bubble")) \
        .to_have_text("[Message recalled]")
