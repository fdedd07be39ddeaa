"""Screenshots of the main screens for the README, made by the test run.

They go to $PARLEY_SCREENSHOT_DIR (`make screenshots` sets docs/screenshots), else to
pytest's temporary directory, so `make test` leaves the tree clean. The test also checks
what it shows: the screens fit, and each picture stays small.
"""

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from messaging.imports import message_import
from relationships.services import friend_import
from tests.web.helpers import in_worker, sign_in

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
    now = int(time.time())
    yesterday = now - now % 86400 - 86400 + 15 * 3600
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
        say(sender, to.user_id, body, now - 900 + n * 60, 20 + n)
    say(carol, "alice", "Photos from Saturday are up", now - 3000, 30)
    say(dan, "alice", "Thanks for the help yesterday", now - 7200, 31)

    desk = new_page(1100, 680)
    sign_in(desk, "alice")
    rows = desk.get_by_test_id("conversation")
    expect(rows).to_have_count(3)
    desk.locator('[data-conversation-id="C2Cbob"]').click()
    expect(desk.get_by_test_id("message")).to_have_count(6)
    expect(desk.get_by_test_id("day-separator")).to_have_text(["Yesterday", "Today"])
    snap(desk, shots, "chat-desktop")

    phone = new_page(390, 844)
    sign_in(phone, "alice")
    expect(phone.get_by_test_id("conversation")).to_have_count(3)
    phone.wait_for_timeout(200)
    snap(phone, shots, "phone-conversations")
    phone.locator('[data-conversation-id="C2Cbob"]').click()
    expect(phone.get_by_test_id("message")).to_have_count(6)
    expect(phone.get_by_test_id("chat-back")).to_be_visible()
    snap(phone, shots, "phone-chat")
    phone.get_by_test_id("chat-back").click()
    phone.get_by_test_id("new-chat-input").click()
    phone.get_by_test_id("new-chat-input").fill("ro")
    results = phone.get_by_test_id("picker-result")
    expect(results).to_have_count(2)  # carol, a friend, first; then robin
    expect(results.nth(1)).to_have_attribute("data-user-id", "robin")
    snap(phone, shots, "phone-contact-picker")
