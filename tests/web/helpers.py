"""Helpers the browser tests share."""

import re
import threading
import time

from django.db import connections
from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000
PASSWORD = "pw-123456"  # make_user's default
# What Chromium logs when a socket cannot open while a test has the context offline.
OFFLINE_ERROR = "net::ERR_INTERNET_DISCONNECTED"


def sign_in(page, user_id, password=PASSWORD):
    page.goto("/accounts/signin/")
    page.get_by_label("UserID").fill(user_id)
    page.get_by_label("Password").fill(password)
    page.get_by_test_id("signin-submit").click()
    expect(page).to_have_url(re.compile(r"/chat/$"))
    wait_ready(page)


def wait_ready(page):
    expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "ready",
                                                               timeout=TIMEOUT_MS)


def in_worker(fn, *args, **kwargs):
    """Call a service from a worker thread and return its result: this thread runs
    Playwright's event loop, where a service's after-commit publish (async_to_sync)
    cannot run."""
    result = {}

    def run():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test thread
            result["error"] = exc
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    if worker.is_alive():
        raise TimeoutError(f"{fn.__name__} did not return in 30 s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def browser_midnight(page, now: int) -> int:
    """Unix time of the last midnight in the page's time zone (date separators and
    "Today" are the browser's local days)."""
    offset = page.evaluate("new Date().getTimezoneOffset()") * 60  # UTC minus local
    local = now - offset
    return local - local % 86400 + offset


def wait_past_midnight(page, seconds: int = 30) -> tuple[int, int]:
    """(now, today's midnight) with at least `seconds` of today behind us, so a test
    can place messages "today" without any in the future."""
    now = int(time.time())
    midnight = browser_midnight(page, now)
    if now - midnight < seconds:
        time.sleep(seconds - (now - midnight) + 1)
        now = int(time.time())
    return now, midnight
