"""The chat page across a server restart: the ASGI server is killed (SIGKILL, no close
frames) while a person has the page open, a message arrives while it is down, and the
server comes back on the same address. The page says it is reconnecting, reconnects by
itself, shows the missed message once, and sends again."""

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from tests.conftest import start_server, stop_server
from tests.web.helpers import TIMEOUT_MS, sign_in
from tests.web.test_chat_page import conversation, send_text, texts

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# The SDK's reconnect backoff doubles from 1 s; a restart of a few seconds is back
# within the attempt after next.
RECONNECT_MS = 40_000


def test_the_page_reconnects_after_the_server_restarts(browser, make_user, transactional_db):
    alice = make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    send_text(alice, "bob", "before the restart", 1)

    proc, url = start_server()
    port = int(url.rsplit(":", 1)[1])
    context = browser.new_context(base_url=url, viewport={"width": 1100, "height": 720})
    context.set_default_timeout(TIMEOUT_MS)
    errors = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, "bob")
        conversation(page, "C2Calice").click()
        expect(texts(page)).to_have_text(["before the restart"])

        proc.kill()  # SIGKILL: the socket just dies
        proc.wait(timeout=10)
        expect(page.get_by_test_id("banner")).to_contain_text("Reconnecting",
                                                              timeout=RECONNECT_MS)
        send_text(alice, "bob", "while the server was down", 2)

        proc, _ = start_server(port=port)
        expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "ready",
                                                                   timeout=RECONNECT_MS)
        expect(page.get_by_test_id("banner")).to_be_hidden(timeout=RECONNECT_MS)
        expect(texts(page)).to_have_text(["before the restart", "while the server was down"],
                                         timeout=RECONNECT_MS)

        page.get_by_test_id("message-input").fill("back again")
        page.get_by_test_id("send-button").click()
        expect(texts(page)).to_have_text(
            ["before the restart", "while the server was down", "back again"])
        expect(page.get_by_test_id("message").last).to_have_attribute("data-status", "success")
        expect(page.locator('[data-testid="message"][data-status="fail"]')).to_have_count(0)
        assert Message.objects.filter(elements__0__payload__text="back again").count() == 1
        assert not errors, errors
    finally:
        context.close()
        stop_server(proc)
