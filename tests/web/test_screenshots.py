"""Screenshots of the main screens for the README, made by the test run.

They go to $PARLEY_SCREENSHOT_DIR (`make screenshots` sets docs/screenshots), else to
pytest's temporary directory, so `make test` leaves the tree clean. The test also checks
what it shows: the screens fit, and each picture stays small.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from messaging.imports import message_import
from relationships.services import friend_import
from tests.web.helpers import in_worker, sign_in, wait_past_midnight

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

MAX_BYTES = 150_000


def text(body):
    return [{"type": "TIMTextElem", "payload": {"text": body}}]


def say(sender, to, body, at, random):
    in_worker(message_import, sender=sender, to=to, elements=text(body), random=random,
              time=at, realtime=False)


@pytest.fixture
def shots(tmp_path):
    target = Path(os.environ.get("PARLEY_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def snap(page, shots, name):
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), name
    assert 0 < path.stat().st_size < MAX_BYTES, f"{name}.png is {path.stat().st_size} bytes"
    return path


def test_screenshots_of_the_main_screens(new_page, make_user, shots, transactional_db):
    alice = make_user("alice", nick="Alice Martin")
    bob = make_user("bob", nick="Bob Stone")
    carol = make_user("carol", nick="Carol Diaz")
    dan = make_user("dan", nick="Dan Okafor")
    make_user("robin", nick="Robin Hale")
    in_worker(friend_import, user=alice, items=[
        {"to": uid, "source": "AddSource_Type_Web"} for uid in ("bob", "carol", "dan")])
    desk = new_page(1100, 680)
    now, midnight = wait_past_midnight(desk, 60)
    # Today's messages: spread over the last 15 minutes (less just after midnight).
    span = min(now - midnight - 10, 900)
    yesterday = midnight - 86400 + 15 * 3600
    lines = [
        (bob, alice, "Are we still on for the review tomorrow?"),
        (alice, bob, "Yes, 10:00 in the small room."),
        (bob, alice, "Great. I'll bring the printed drafts."),
    ]
    for n, (sender, to, body) in enumerate(lines):
        say(sender, to.user_id, body, yesterday + n * 60, 10 + n)
    lines = [
        (alice, bob, "Running five minutes late, sorry!"),
        (bob, alice, "No problem, we're just getting coffee."),
        (bob, alice, "Room 2.14, second floor."),
    ]
    for n, (sender, to, body) in enumerate(lines):
        say(sender, to.user_id, body, now - span + n * span // 4, 20 + n)
    say(carol, "alice", "Photos from Saturday are up", now - span - 2, 30)
    say(dan, "alice", "Thanks for the help yesterday", now - span - 4, 31)

    sign_in(desk, "alice")
    rows = desk.get_by_test_id("conversation")
    expect(rows).to_have_count(3)
    desk.locator('[data-conversation-id="C2Cbob"]').click()
    expect(desk.get_by_test_id("message")).to_have_count(6)
    expect(desk.get_by_test_id("day-separator")).to_have_text(["Yesterday", "Today"])
    desk.mouse.move(1000, 30)
    snap(desk, shots, "chat-desktop")

    phone = new_page(390, 844)
    sign_in(phone, "alice")
    expect(phone.get_by_test_id("conversation")).to_have_count(3)
    phone.wait_for_timeout(200)
    snap(phone, shots, "phone-conversations")
    phone.locator('[data-conversation-id="C2Cbob"]').click()
    expect(phone.get_by_test_id("message")).to_have_count(6)
    expect(phone.get_by_test_id("chat-back")).to_be_visible()
    phone.mouse.move(380, 60)  # off the messages: no hover actions in the picture
    snap(phone, shots, "phone-chat")
    phone.get_by_test_id("chat-back").click()
    phone.get_by_test_id("new-chat-input").click()
    phone.get_by_test_id("new-chat-input").fill("ro")
    results = phone.get_by_test_id("picker-result")
    expect(results).to_have_count(2)  # carol, a friend, first; then robin
    expect(results.nth(1)).to_have_attribute("data-user-id", "robin")
    snap(phone, shots, "phone-contact-picker")


def test_screenshot_of_every_message_type(new_page, make_user, shots, transactional_db):
    from tests.web.test_message_types import attach, last, png_bytes, wav_bytes, webm_bytes

    make_user("alice", nick="Alice Martin")
    make_user("bob", nick="Bob Stone")
    alice, bob = new_page(1100, 900), new_page(1100, 900)
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    for page, peer in ((alice, "bob"), (bob, "alice")):
        page.get_by_test_id("new-chat-input").fill(peer)
        page.get_by_test_id("new-chat-input").press("Enter")
        expect(page.get_by_test_id("chat-title")).to_be_visible()
    box = alice.get_by_test_id("message-input")
    box.fill("Here is everything from the trip")
    box.press("Enter")
    for name, mime, data in (("harbour.png", "image/png", png_bytes(360, 220)),
                             ("voice-note.wav", "audio/wav", wav_bytes(3)),
                             ("boat.webm", "video/webm", webm_bytes(alice)),
                             ("itinerary.txt", "text/plain", b"Day 1: harbour\n" * 90)):
        attach(alice, name, mime, data)
        expect(last(alice)).to_have_attribute("data-status", "success")
    alice.get_by_test_id("face-button").click()
    alice.get_by_test_id("face-love").click()
    alice.get_by_test_id("location-button").click()
    alice.get_by_test_id("location-place").fill("Fish market, Old Harbour")
    alice.get_by_test_id("location-coords").fill("43.2951, 5.3740")
    alice.get_by_test_id("location-send").click()
    expect(bob.get_by_test_id("message")).to_have_count(7)
    rows = bob.get_by_test_id("message")
    rows.nth(0).get_by_test_id("select-message").click()
    for n in (1, 4):
        rows.nth(n).get_by_test_id("msg-select").check()
    bob.get_by_test_id("select-forward-merged").click()
    bob.get_by_test_id("forward-user").fill("alice")
    bob.get_by_test_id("forward-send").click()
    expect(alice.get_by_test_id("message")).to_have_count(8)
    expect(last(alice).get_by_test_id("msg-merged")).to_be_visible()
    alice.wait_for_function("[...document.querySelectorAll('.msg-image')]"
                            ".every((i) => i.complete && i.naturalWidth > 0)")
    alice.get_by_test_id("message-scroll").evaluate("s => { s.scrollTop = s.scrollHeight; }")
    alice.mouse.move(0, 0)
    snap(alice, shots, "chat-messages")
