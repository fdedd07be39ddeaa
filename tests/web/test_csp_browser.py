"""The Content-Security-Policy in Chromium: the pages run under it with no violation,
and script or style injected into a page does not run."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.web.helpers import TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WATCH = """() => { window.violations = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


@pytest.fixture
def page(browser, live_server_url):
    """A page that records CSP violations (and whose console errors are expected)."""
    context = browser.new_context(base_url=live_server_url)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(f"({WATCH})()")
    yield context.new_page()
    context.close()


def test_pages_run_under_the_policy_without_a_violation(page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    response = page.goto("/accounts/signin/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    sign_in(page, "alice")
    for path in ["/chat/", "/contacts/", "/requests/", "/blocklist/", "/profile/"]:
        page.goto(path)
        expect(page.get_by_test_id("net-state")).to_have_attribute("data-state", "ready")
        assert page.evaluate("window.violations") == [], path


def test_admin_pages_run_under_the_policy(page, transactional_db):
    User.objects.create_superuser("ops", password="ops-pass-1")
    page.goto("/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-pass-1")
    page.click("input[type=submit]")
    for path in ["/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/",
                 "/admin/messaging/message/"]:
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.violations") == [], path


def test_injected_script_and_style_do_not_run(page, make_user, transactional_db):
    make_user("alice", nick="Alice")
    sign_in(page, "alice")
    page.evaluate("""() => {
      const s = document.createElement('script');
      s.textContent = 'window.pwned = 1';
      document.body.append(s);
      const box = document.createElement('div');
      box.innerHTML = '<img src="data:," onload="window.pwned = 2">'
        + '<p id="styled" style="color: rgb(255, 0, 0)">x</p>';
      document.body.append(box);
      const st = document.createElement('style');
      st.textContent = 'body { background: rgb(255, 0, 0) !important; }';
      document.head.append(st);
    }""")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") \
        != "rgb(255, 0, 0)"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    blocked = page.evaluate("window.violations")
    assert any(v.startswith("script-src") for v in blocked), blocked
    assert any(v.startswith("style-src") for v in blocked), blocked
