"""One device per browser (static/parley/sdk.js keeps the deviceID in localStorage):
reloading the chat page does not add Device rows, and two tabs of one browser are both
connected, neither pushing the other out (Chromium, a real server)."""

import time

import pytest
from playwright.sync_api import expect

from accounts import presence
from accounts.models import Device
from tests.web.helpers import sign_in, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_reloads_keep_one_device_and_two_tabs_coexist(new_page, make_user, transactional_db):
    alice = make_user("alice")
    page = new_page()
    sign_in(page, "alice")
    for _ in range(5):
        page.reload()
        wait_ready(page)
    rows = list(Device.objects.filter(user=alice).values_list("device_id", "platform"))
    assert len(rows) == 1 and rows[0][1] == "Web", rows
    device_id = rows[0][0]
    assert device_id == page.evaluate("localStorage.getItem('parley.deviceID')")

    tab2 = page.context.new_page()
    tab2.goto("/chat/")
    wait_ready(tab2)
    page.wait_for_timeout(1000)  # a kick would have arrived by now
    for tab in (page, tab2):
        expect(tab.get_by_test_id("net-state")).to_have_attribute("data-state", "ready")
    # Presence holds the two tabs' sockets, one device with two instances (the sockets
    # of the reloaded pages go as their close is handled: waited for, not raced; up to
    # 30 s on a loaded machine, where 10 s once saw a reloaded page's socket still there).
    deadline = time.monotonic() + 30
    while True:
        conns = presence.presence_of([alice.pk])[alice.pk].online
        if len(conns) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {c.device_id for c in conns} == {device_id}
    assert len({c.instance for c in conns}) == 2
    assert Device.objects.filter(user=alice).count() == 1
