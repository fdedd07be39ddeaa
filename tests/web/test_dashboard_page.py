"""The console's dashboard in Chromium, under the site's Content-Security-Policy: an
operator signs in to admin, follows the index's link, sees the numbers and the chart;
the page logs no error (a CSP refusal of an inline style or script would be one)."""

import os

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.models import User
from messaging.commands import Origin
from messaging.services import message_send
from tests.web.helpers import in_worker

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_an_operator_opens_the_dashboard(new_page, make_user, transactional_db):
    alice = make_user("alice")
    make_user("bob")
    for i in range(3):
        in_worker(message_send, origin=Origin.USER, sender=alice, to="bob", random=i,
                  elements=[{"type": "TIMTextElem", "payload": {"text": f"m{i}"}}])
    ops = User.objects.create_user("ops", password="staff-pass-1", is_staff=True)
    ops.groups.add(Group.objects.get(name="operator"))
    page = new_page()
    # Admin's pages name no icon: Chromium's own request for one would log a 404.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto("/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "staff-pass-1")
    page.click("input[type=submit]")
    page.get_by_test_id("dashboard-link").click()
    tiles = page.get_by_test_id("tile")
    expect(tiles.filter(has_text="messages today").locator(".dash-value")).to_have_text("3")
    bars = page.get_by_test_id("hour-chart").locator("rect")
    expect(bars).to_have_count(24)
    assert float(bars.last.get_attribute("height")) > 0  # this hour's three messages
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"], full_page=True)
    tiles.filter(has_text="messages today").locator("a").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
