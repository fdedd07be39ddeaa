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


SDK_SCRIPT = """async () => {
  // A second SDK instance in the signed-in page (its session cookie logs it in).
  const chat = ParleyChat.create({});
  const E = ParleyChat.EVENT;
  const seen = {modified: [], revoked: [], convs: null};
  chat.on(E.MESSAGE_MODIFIED, (e) => seen.modified.push(...e.data));
  chat.on(E.MESSAGE_REVOKED, (e) => seen.revoked.push(...e.data));
  chat.on(E.CONVERSATION_LIST_UPDATED, (e) => { seen.convs = e.data; });
  const ready = new Promise((resolve) => chat.on(E.SDK_READY, resolve));
  await chat.login({userID: 'alice'});
  await ready;
  const msg = chat.createTextMessage({to: 'bob', conversationType: 'C2C',
                                      payload: {text: 'draft one'}});
  const sent = (await chat.sendMessage(msg)).data.message;
  sent.payload = {text: 'final'};
  const modified = (await chat.modifyMessage(sent)).data.message;
  const modifiedText = modified.payload.text;
  const version = modified.version;
  let stale = null;
  try {
    await chat.modifyMessage(Object.assign({}, modified, {version: 'old', payload: {text: 'x'}}));
  } catch (err) { stale = err.code; }
  await chat.pinConversation({conversationID: 'C2Cbob', isPinned: true});
  const pinned = (await chat.getConversationList()).data.conversationList
    .find((c) => c.conversationID === 'C2Cbob').isPinned;
  const revoked = (await chat.revokeMessage(modified)).data.message;
  const again = (await chat.revokeMessage(modified)).data.message;  // 20023: done
  await new Promise((r) => setTimeout(r, 300));
  const last = (await chat.getConversationList()).data.conversationList[0].lastMessage;
  await chat.deleteConversation('C2Cbob');
  const after = (await chat.getConversationList()).data.conversationList.length;
  return {modifiedText, version, stale, pinned,
          revoked: revoked.isRevoked, again: again.isRevoked, lastRevoked: last.isRevoked,
          events: [seen.modified.length, seen.revoked.length], after};
}"""


def test_sdk_change_methods(new_page, make_user, transactional_db):
    make_user("alice")
    make_user("bob")
    page = new_page()
    sign_in(page, "alice")
    result = page.evaluate(SDK_SCRIPT)
    assert result["modifiedText"] == "final" and result["version"]
    assert result["stale"] == 20028
    assert result["pinned"] is True
    assert result["revoked"] and result["again"] and result["lastRevoked"]
    assert result["events"][0] >= 1 and result["events"][1] >= 1
    assert result["after"] == 0
    assert Message.objects.get().is_revoked
