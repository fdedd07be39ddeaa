"""The relationships pages in a real browser: Contacts (friends, finding people, adding
them), Requests, Blocklist and My profile, with two or three people signed in at once.
Every change must reach the other people's open pages live, over their WebSockets.
"""

import base64
import re

import pytest
from playwright.sync_api import expect

from accounts.models import AllowType, User
from relationships.models import Block, FriendRequest, Friendship
from relationships.services import friend_add
from tests.web.helpers import TIMEOUT_MS, in_worker, sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = "/tmp/parley-{}.png"  # screenshots to look at by hand; not committed
T = {"timeout": TIMEOUT_MS}
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def go(page, testid):
    """Follow a top-bar link and wait for the new page's socket."""
    page.get_by_test_id(testid).click()
    wait_ready(page)


def friend(page, user_id):
    return page.locator(f'[data-testid="friend"][data-user-id="{user_id}"]')


def result(page, user_id):
    return page.locator(f'[data-testid="search-result"][data-user-id="{user_id}"]')


def incoming(page, user_id):
    return page.locator(f'[data-testid="incoming-request"][data-user-id="{user_id}"]')


def outgoing(page, user_id):
    return page.locator(f'[data-testid="outgoing-request"][data-user-id="{user_id}"]')


def search(page, text):
    page.get_by_test_id("search-input").fill(text)
    page.get_by_test_id("search-submit").click()


def send_request(page, user_id, wording=None):
    """Search for a UserID on the Contacts page and send them a friend request."""
    search(page, user_id)
    row = result(page, user_id)
    row.get_by_test_id("add-friend").click()
    if wording is not None:
        row.get_by_test_id("add-wording").fill(wording)
    row.get_by_test_id("add-send").click()
    return row.get_by_test_id("add-result")


def send_message(page, user_id, text):
    page.get_by_test_id("new-chat-input").fill(user_id)
    page.get_by_test_id("new-chat-input").press("Enter")
    expect(page.get_by_test_id("chat-peer-id")).to_have_text(f"UserID: {user_id}", **T)
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("send-button").click()
    return page.get_by_test_id("message").last


def no_markup(page, selector):
    assert page.locator(f"{selector} b, {selector} i, {selector} img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_request_accepted_live_and_nick_change_reaches_the_friend(new_page, make_user,
                                                                  transactional_db):
    alice_user = make_user("alice", nick="Alice")
    bob_user = make_user("bob", nick="Bob")  # NeedConfirm, the default
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    badge = bob.get_by_test_id("requests-badge")
    expect(badge).to_be_hidden()

    # Alice finds bob and asks; bob must confirm, so the answer is 30539 (pending): a
    # success in words, with no number that reads like an error's.
    go(alice, "nav-contacts")
    expect(alice.get_by_test_id("friends-empty")).to_be_visible()
    wording = 'Hi <b>Bob</b> <img src=x onerror="window.pwned=1">'
    outcome = send_request(alice, "bob", wording)
    expect(outcome).to_have_attribute("data-code", "30539", **T)
    expect(outcome).to_have_attribute("data-kind", "ok")
    expect(outcome).to_have_text("Friend request sent; waiting for Bob to accept.")
    expect(result(alice, "bob").get_by_test_id("result-relation")).to_have_text("Request sent", **T)
    req = FriendRequest.objects.get(requester=alice_user, target=bob_user)
    assert (req.add_wording, req.is_read) == (wording, False)

    # Bob, on the chat page, gets the badge live.
    expect(badge).to_have_text("1", **T)
    expect(badge).to_be_visible()

    # Opening Requests shows it (text as text) and marks it read: the badge goes.
    go(bob, "nav-requests")
    row = incoming(bob, "alice")
    expect(row.get_by_test_id("request-name")).to_have_text("Alice", **T)
    expect(row.get_by_test_id("request-wording")).to_have_text(f"“{wording}”")
    no_markup(bob, "#incoming-list")
    expect(badge).to_be_hidden(**T)
    expect(badge).to_have_text("0")
    for _ in range(50):
        if FriendRequest.objects.get(pk=req.pk).is_read:
            break
        bob.wait_for_timeout(100)
    assert FriendRequest.objects.get(pk=req.pk).is_read
    bob.screenshot(path=SHOTS.format("requests"))

    # Alice's Requests page lists hers as sent.
    go(alice, "nav-requests")
    expect(outgoing(alice, "bob").get_by_test_id("request-name")).to_have_text("Bob", **T)
    go(alice, "nav-contacts")

    # Bob accepts and adds back: both lists hold each other, live on alice's page.
    row.get_by_test_id("accept-remark").fill("Alice from work")
    row.get_by_test_id("request-accept-add").click()
    expect(bob.get_by_test_id("incoming-empty")).to_be_visible(**T)
    expect(incoming(bob, "alice")).to_have_count(0)
    expect(friend(alice, "bob").get_by_test_id("friend-name")).to_have_text("Bob", **T)
    expect(alice.get_by_test_id("friend-count")).to_have_text("1")
    assert set(Friendship.objects.values_list("owner__user_id", "friend__user_id")) == {
        ("alice", "bob"), ("bob", "alice")}
    assert not FriendRequest.objects.exists()

    go(bob, "nav-contacts")
    expect(friend(bob, "alice").get_by_test_id("friend-name")).to_have_text("Alice", **T)
    expect(friend(bob, "alice").get_by_test_id("friend-remark")).to_have_text(
        "Remark: Alice from work")

    # Bob changes his nick (markup again, as text); alice's open Contacts page follows.
    go(bob, "nav-profile")
    nick = bob.get_by_test_id("profile-nick")
    expect(nick).to_have_value("Bob", **T)
    new_nick = "Bobby <i>B</i>"
    nick.fill(new_nick)
    bob.get_by_test_id("profile-save").click()
    expect(bob.get_by_test_id("profile-status")).to_have_text("Saved.", **T)
    expect(bob.locator("#me-nick")).to_have_text(new_nick)
    assert User.objects.get(pk=bob_user.pk).nick == new_nick
    expect(friend(alice, "bob").get_by_test_id("friend-name")).to_have_text(new_nick, **T)
    no_markup(alice, "#friend-list")
    alice.screenshot(path=SHOTS.format("contacts"))

    # Chat from the contact opens the chat page on that conversation.
    friend(alice, "bob").get_by_test_id("friend-chat").click()
    expect(alice).to_have_url(re.compile(r"/chat/#C2Cbob$"))
    wait_ready(alice)
    expect(alice.get_by_test_id("chat-peer-id")).to_have_text("UserID: bob", **T)


def test_search_by_nick_and_what_adding_answers(new_page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    make_user("carol", nick="Carol Singer")
    dave = make_user("dave", nick="Dave")
    erin = make_user("erin", nick="Erin")
    User.objects.filter(pk=dave.pk).update(allow_type=AllowType.DENY_ANY)
    User.objects.filter(pk=erin.pk).update(allow_type=AllowType.ALLOW_ANY)
    page = new_page()
    sign_in(page, "alice")
    go(page, "nav-contacts")

    # By a part of the nick, any case.
    search(page, "singer")
    expect(page.get_by_test_id("search-result")).to_have_count(1, **T)
    expect(result(page, "carol").get_by_test_id("result-name")).to_have_text("Carol Singer")
    expect(result(page, "carol").get_by_test_id("result-user-id")).to_have_text("carol")
    expect(page.get_by_test_id("search-status")).to_contain_text("1 found")

    # A blank search clears what the last one found, rather than leaving it shown
    # under a box that no longer says what it was for.
    search(page, "   ")
    expect(page.get_by_test_id("search-result")).to_have_count(0, **T)
    expect(page.get_by_test_id("search-status")).to_have_text("")

    search(page, "no-such-person")
    expect(page.get_by_test_id("search-status")).to_have_text(
        "Nobody found for “no-such-person”.", **T)
    expect(page.get_by_test_id("search-result")).to_have_count(0)

    # Dave takes no requests: 30516, and nothing is stored.
    outcome = send_request(page, "dave")
    expect(outcome).to_have_attribute("data-code", "30516", **T)
    expect(outcome).to_have_text("Dave does not accept friend requests (30516).")
    assert not FriendRequest.objects.exists() and not Friendship.objects.exists()

    # Erin allows anyone: added at once, both ways, and in alice's list live.
    outcome = send_request(page, "erin", "hello")
    expect(outcome).to_have_attribute("data-code", "0", **T)
    expect(outcome).to_have_text("Erin is now in your contacts.")
    expect(friend(page, "erin").get_by_test_id("friend-name")).to_have_text("Erin", **T)
    expect(result(page, "erin").get_by_test_id("result-relation")).to_have_text(
        "In your contacts")
    assert Friendship.objects.count() == 2

    # A friend list: made, given a member, shown on the friend, filtering the list.
    page.get_by_test_id("group-name").fill("Work")
    page.get_by_test_id("group-create").click()
    chip = page.locator('[data-testid="group-chip"][data-group="Work"]')
    expect(chip).to_contain_text("Work (0)", **T)
    friend(page, "erin").get_by_test_id("friend-add-group").select_option("Work")
    expect(friend(page, "erin").get_by_test_id("friend-group")).to_have_text("Work×", **T)
    expect(chip).to_contain_text("Work (1)")

    # Deleting one way leaves alice in erin's list.
    row = friend(page, "erin")
    row.get_by_test_id("friend-delete").click()
    row.get_by_test_id("friend-delete-single").click()
    expect(friend(page, "erin")).to_have_count(0, **T)
    expect(page.get_by_test_id("friends-empty")).to_be_visible()
    assert list(Friendship.objects.values_list("owner__user_id", "friend__user_id")) == [
        ("erin", "alice")]


def test_block_ends_friendship_and_messages_until_removed(new_page, make_user,
                                                         transactional_db):
    alice_user = make_user("alice", nick="Alice")
    bob_user = make_user("bob", nick="Bob")
    in_worker(friend_add, user=alice_user, to="bob", source="AddSource_Type_Test")
    in_worker(friend_add, user=bob_user, to="alice", source="AddSource_Type_Test")
    assert Friendship.objects.count() == 0  # both wait: two requests, no friends
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    # Bob accepts alice's request from the Requests page, agreeing both ways.
    go(bob, "nav-requests")
    incoming(bob, "alice").get_by_test_id("request-accept-add").click()
    expect(bob.get_by_test_id("incoming-empty")).to_be_visible(**T)
    go(alice, "nav-contacts")
    expect(friend(alice, "bob")).to_have_count(1, **T)

    # Bob blocks alice on the Blocklist page.
    go(bob, "nav-blocklist")
    expect(bob.get_by_test_id("block-empty")).to_be_visible(**T)
    bob.get_by_test_id("block-input").fill("alice")
    bob.get_by_test_id("block-submit").click()
    blocked = bob.locator('[data-testid="blocked-user"][data-user-id="alice"]')
    expect(blocked.get_by_test_id("blocked-name")).to_have_text("Alice", **T)
    expect(bob.get_by_test_id("block-status")).to_have_text("alice is blocked.")
    assert Block.objects.filter(owner=bob_user, blocked=alice_user).exists()
    bob.screenshot(path=SHOTS.format("blocklist"))

    # Alice's open Contacts page loses bob live; a request now meets the block (30525).
    expect(friend(alice, "bob")).to_have_count(0, **T)
    expect(alice.get_by_test_id("friends-empty")).to_be_visible()
    outcome = send_request(alice, "bob")
    expect(outcome).to_have_attribute("data-code", "30525", **T)
    expect(outcome).to_have_text("Bob has blocked you (30525).")
    assert not Friendship.objects.exists() and not FriendRequest.objects.exists()

    # Her message fails with 20007 on the chat page.
    go(alice, "nav-chat")
    sent = send_message(alice, "bob", "are you there?")
    expect(sent).to_have_attribute("data-status", "fail", **T)
    expect(alice.get_by_test_id("send-error")).to_contain_text("Bob has blocked you")
    assert alice.get_by_test_id("send-error").get_attribute("title").startswith("20007")

    # Blocking a UserID nobody has: 30003, inline.
    bob.get_by_test_id("block-input").fill("ghost")
    bob.get_by_test_id("block-submit").click()
    expect(bob.get_by_test_id("block-status")).to_contain_text("(30003)", **T)
    expect(bob.get_by_test_id("block-status")).to_have_attribute("data-kind", "error")

    # Bob unblocks: the list empties and alice's retry goes through.
    blocked.get_by_test_id("unblock").click()
    expect(bob.get_by_test_id("block-empty")).to_be_visible(**T)
    expect(blocked).to_have_count(0)
    assert not Block.objects.exists()
    # No Retry while blocked; the failed bubble is dismissed and the kept draft sent.
    expect(sent.get_by_test_id("retry-send")).to_have_count(0)
    sent.get_by_test_id("dismiss-failed").click()
    expect(alice.get_by_test_id("message-input")).to_have_value("are you there?")
    alice.get_by_test_id("message-input").press("Enter")
    expect(alice.get_by_test_id("message").last).to_have_attribute("data-status", "success", **T)
    expect(alice.get_by_test_id("message")).to_have_count(1)


def test_refuse_delete_and_withdraw_requests(new_page, make_user, transactional_db):
    alice_user = make_user("alice", nick="Alice")
    carol_user = make_user("carol", nick="Carol")
    make_user("bob", nick="Bob")
    make_user("dave", nick="Dave")
    in_worker(friend_add, user=carol_user, to="bob", source="AddSource_Type_Test",
              wording="from carol")
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    expect(bob.get_by_test_id("requests-badge")).to_have_text("1", **T)
    go(bob, "nav-requests")
    expect(bob.get_by_test_id("incoming-request")).to_have_count(1, **T)

    # A request arriving while the page is open shows up live, and is read at once.
    go(alice, "nav-contacts")
    expect(send_request(alice, "bob", "from alice")).to_have_attribute("data-code", "30539", **T)
    expect(incoming(bob, "alice").get_by_test_id("request-wording")).to_have_text(
        "“from alice”", **T)
    expect(bob.get_by_test_id("incoming-count")).to_have_text("2")
    expect(bob.get_by_test_id("requests-badge")).to_be_hidden(**T)
    # Newest first.
    expect(bob.get_by_test_id("incoming-request").first).to_have_attribute("data-user-id", "alice")

    go(alice, "nav-requests")
    expect(outgoing(alice, "bob")).to_have_count(1, **T)

    # Bob refuses alice: gone on both pages, live.
    incoming(bob, "alice").get_by_test_id("request-refuse").click()
    expect(incoming(bob, "alice")).to_have_count(0, **T)
    expect(outgoing(alice, "bob")).to_have_count(0, **T)
    expect(alice.get_by_test_id("outgoing-empty")).to_be_visible()

    # Bob deletes carol's: no friends were made.
    incoming(bob, "carol").get_by_test_id("request-delete").click()
    expect(bob.get_by_test_id("incoming-empty")).to_be_visible(**T)
    assert not FriendRequest.objects.exists() and not Friendship.objects.exists()

    # Alice asks dave and withdraws it.
    in_worker(friend_add, user=alice_user, to="dave", source="AddSource_Type_Test")
    row = outgoing(alice, "dave")
    expect(row).to_have_count(1, **T)
    row.get_by_test_id("request-withdraw").click()
    expect(row).to_have_count(0, **T)
    assert not FriendRequest.objects.exists()


def test_profile_page_saves_and_shows_errors_inline(new_page, make_user, transactional_db):
    me = make_user("alice", nick="Alice")
    page = new_page()
    page.context.route("https://example.invalid/**", lambda route: route.fulfill(
        status=200, content_type="image/png", body=PIXEL_PNG))
    sign_in(page, "alice")
    go(page, "nav-profile")
    expect(page.get_by_test_id("profile-nick")).to_have_value("Alice", **T)
    expect(page.get_by_test_id("profile-allow-type")).to_have_value("AllowType_Type_NeedConfirm")
    expect(page.get_by_test_id("profile-gender")).to_have_value("Gender_Type_Unknown")

    # 501 bytes of nick (UTF-8): 40601 under the field; nothing changes.
    page.get_by_test_id("profile-nick").fill("é" * 250 + "x")
    page.get_by_test_id("profile-signature").fill("unsaved")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("field-error-nick")).to_contain_text("(40601)", **T)
    expect(page.get_by_test_id("field-error-nick")).to_be_visible()
    expect(page.get_by_test_id("profile-error")).to_contain_text("Not saved")
    expect(page.get_by_test_id("field-error-selfSignature")).to_be_hidden()
    me.refresh_from_db()
    assert (me.nick, me.self_signature) == ("Alice", "")

    page.get_by_test_id("profile-nick").fill("Alice A")
    page.get_by_test_id("profile-avatar").fill("https://example.invalid/a.png")
    page.get_by_test_id("profile-gender").select_option("Gender_Type_Female")
    page.get_by_test_id("profile-signature").fill("hello <b>world</b>")
    page.get_by_test_id("profile-allow-type").select_option("AllowType_Type_DenyAny")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("profile-status")).to_have_text("Saved.", **T)
    expect(page.get_by_test_id("field-error-nick")).to_be_hidden()
    expect(page.get_by_test_id("profile-error")).to_be_hidden()
    me.refresh_from_db()
    assert (me.nick, me.avatar, me.gender, me.self_signature, me.allow_type) == (
        "Alice A", "https://example.invalid/a.png", "Gender_Type_Female", "hello <b>world</b>",
        "AllowType_Type_DenyAny")
    expect(page.get_by_test_id("profile-avatar-preview").locator("img")).to_have_attribute(
        "src", "https://example.invalid/a.png")
    page.screenshot(path=SHOTS.format("profile"))

    # A reload shows what was stored.
    page.reload()
    wait_ready(page)
    expect(page.get_by_test_id("profile-nick")).to_have_value("Alice A", **T)
    expect(page.get_by_test_id("profile-signature")).to_have_value("hello <b>world</b>")
    expect(page.get_by_test_id("profile-allow-type")).to_have_value("AllowType_Type_DenyAny")
    expect(page.get_by_test_id("me")).to_contain_text("Alice A")
