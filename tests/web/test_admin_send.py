"""The operator console's Send page in Chromium against the live server: an operator
signs in to admin, sends a system notice and a message as alice to bob, and bob's open
chat page shows both, the notice drawn as one (centred, no bubble, no sender)."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.models import AuditEntry, User
from tests.web.helpers import TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def open_chat(page, user_id):
    page.get_by_test_id("new-chat-input").fill(user_id)
    page.get_by_test_id("new-chat-input").press("Enter")
    expect(page.get_by_test_id("chat-title")).to_be_visible()


def test_an_operator_sends_a_notice_and_as_alice_and_bob_sees_both(new_page, make_user,
                                                                    tmp_path, transactional_db,
                                                                    browser, live_server_url):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    operator = User.objects.create_user("ops", password="ops-pass-123", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))

    bob = new_page()
    sign_in(bob, "bob")
    open_chat(bob, "alice")

    # The operator's page in a context of its own: Django admin has no favicon, and the
    # browser's 404 for it is no script error of the chat page's.
    context = browser.new_context(base_url=live_server_url,
                                  viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    ops = context.new_page()
    ops.goto("/admin/login/")
    ops.locator("#id_username").fill("ops")
    ops.locator("#id_password").fill("ops-pass-123")
    ops.locator("input[type=submit]").click()
    expect(ops).to_have_url(re.compile(r"/admin/$"))
    # From the admin index to the Send page.
    ops.locator("a[href='/admin/messaging/sendpage/']").first.click()
    expect(ops.get_by_test_id("send-form")).to_be_visible()
    # The fields shown follow the choices (static/parley/admin_send.js).
    expect(ops.locator("#id_sender")).to_be_hidden()
    expect(ops.locator("#id_to_list")).to_be_hidden()
    ops.screenshot(path=str(tmp_path / "send-page.png"), full_page=True)

    # A system notice to bob.
    ops.locator("input[name=mode][value=system]").check()
    ops.locator("#id_to").fill("bob")
    ops.locator("#id_text").fill("Scheduled maintenance tonight at 22:00 UTC")
    ops.get_by_test_id("send-submit").click()
    expect(ops.locator(".messagelist")).to_contain_text("Sent as administrator (system)")

    # A message as alice to bob.
    ops.locator("input[name=mode][value=user]").check()
    expect(ops.locator("#id_sender")).to_be_visible()
    ops.locator("#id_sender").fill("alice")
    ops.locator("#id_to").fill("bob")
    ops.locator("#id_text").fill("Hi Bob, this is Alice")
    ops.get_by_test_id("send-submit").click()
    expect(ops.locator(".messagelist")).to_contain_text("Sent as alice (app_admin)")

    # Alice's message arrives in bob's open chat, as a bubble from her.
    from_alice = bob.get_by_test_id("message").filter(has_text="Hi Bob, this is Alice")
    expect(from_alice).to_have_count(1)
    expect(from_alice).to_have_class(re.compile(r"\bmsg-in\b"))
    expect(from_alice.locator(".msg-bubble")).to_have_count(1)

    # The notice's conversation shows it as a notice; opened, it is drawn as one.
    item = bob.locator("[data-testid=conversation][data-conversation-id=C2Cadministrator]")
    expect(item).to_contain_text("Notice: Scheduled maintenance")
    item.locator("button.conv").click()
    notice = bob.get_by_test_id("message").filter(has_text="Scheduled maintenance")
    expect(notice).to_have_count(1)
    expect(notice).to_have_class(re.compile(r"\bmsg-system\b"))
    expect(notice).to_have_attribute("data-system", "true")
    expect(notice.locator(".msg-bubble")).to_have_count(0)  # not a person's bubble
    expect(notice).not_to_have_attribute("title", re.compile(".+"))  # no sender name
    style = notice.evaluate("""(node) => {
      const s = getComputedStyle(node), list = node.parentElement.getBoundingClientRect();
      const box = node.getBoundingClientRect();
      return {alignSelf: s.alignSelf, textAlign: s.textAlign,
              left: box.left - list.left, right: list.right - box.right};
    }""")
    assert style["alignSelf"] == "center" and style["textAlign"] == "center", style
    assert abs(style["left"] - style["right"]) <= 2, style  # centred in the list
    bob.screenshot(path=str(tmp_path / "system-notice.png"))
    assert (tmp_path / "system-notice.png").stat().st_size > 1000

    # Both sends are in the audit log, with the operator's name.
    sends = AuditEntry.objects.filter(action="send message", operator_name="ops")
    assert sorted(e.detail["mode"] for e in sends) == ["system", "user"]
    context.close()


def test_a_list_of_1000_is_fanned_out_by_a_worker_and_the_page_follows(
        browser, make_user, tmp_path, transactional_db):
    """From the Send page to "Done." on its progress page, with a real Celery worker
    writing the chunks (the time is printed: README, "Operators")."""
    import time
    import uuid

    from messaging.models import Message
    from messaging.tasks import send_to_many
    from tests.celery_worker import celery_worker
    from tests.conftest import start_server, stop_server

    users = [User(user_id=f"r{i:04}", nick=f"R{i}") for i in range(1000)]
    User.objects.bulk_create(users)
    operator = User.objects.create_user("ops", password="ops-pass-123", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    env = {"CELERY_BROKER_KEY_PREFIX": f"parley-test-send-{uuid.uuid4().hex[:8]}."}
    with celery_worker(send_to_many.app, tmp_path, "console-send", **env) as worker:
        proc, url = start_server(CELERY_TASK_ALWAYS_EAGER="0",
                                 CELERY_TASK_DEFAULT_QUEUE=worker.queue, **env)
        context = browser.new_context(base_url=url)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            worker.wait_ready()
            ops = context.new_page()
            ops.goto("/admin/login/")
            ops.locator("#id_username").fill("ops")
            ops.locator("#id_password").fill("ops-pass-123")
            ops.locator("input[type=submit]").click()
            expect(ops).to_have_url(re.compile(r"/admin/$"))
            ops.goto("/admin/messaging/sendpage/")
            ops.locator("input[name=mode][value=system]").check()
            ops.locator("input[name=target][value=list]").check()
            ops.screenshot(path=str(tmp_path / "send-page.png"), full_page=True)
            # A pasted list (fill() types a long one too slowly for its timeout).
            ops.locator("#id_to_list").evaluate(
                "(node, text) => { node.value = text; }",
                "\n".join(u.user_id for u in users))
            ops.locator("#id_text").fill("A notice to a thousand")
            started = time.monotonic()
            ops.get_by_test_id("send-submit").click()
            progress = ops.get_by_test_id("send-progress")
            expect(progress).to_have_attribute("data-total", "1000")
            expect(progress).to_have_attribute("data-finished", "true", timeout=120_000)
            took = time.monotonic() - started
            expect(ops.get_by_test_id("progress-text")).to_have_text(
                "1000 of 1000 receivers done")
            ops.screenshot(path=str(tmp_path / "send-progress.png"))
        finally:
            context.close()
            stop_server(proc)
    print(f"\nconsole send to 1,000 receivers: {took:.1f} s from the click to Done.")
    assert Message.objects.filter(is_system=True, elements__0__payload__text="A notice to a "
                                  "thousand").count() == 1000
