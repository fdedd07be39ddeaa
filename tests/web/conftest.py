"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, pages in
fresh contexts (one per person) against the live server (tests/conftest.py)."""

import os

# Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to
# run next to it. The tests only touch the database between browser steps.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, OFFLINE_ERROR, TIMEOUT_MS  # noqa: E402

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, live_server_url):
    """Pages in fresh browser contexts (own cookies and storage, like two people);
    `new_page(390, 844)` for a phone-sized one.

    Uncaught script errors on any page fail the test at teardown.
    """
    contexts, errors = [], []

    def make(width=1100, height=720):
        context = browser.new_context(base_url=live_server_url,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: errors.append(f"{page.url}: console: {msg.text}")
                if msg.type == "error" and OFFLINE_ERROR not in msg.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, "script errors in the page:\n" + "\n".join(errors)
