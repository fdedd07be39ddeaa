"""Sign-up in a real browser, on a server started with CHAT_OPEN_SIGNUP=1 (as `make run`
has it; the shared test server runs as production does, with sign-up closed)."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.conftest import start_server, stop_server
from tests.web.helpers import wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker):
    """This module's own server, with open sign-up (new_page browses it)."""
    proc, url = start_server(CHAT_OPEN_SIGNUP="1")
    try:
        yield url
    finally:
        stop_server(proc)


def test_sign_up_creates_an_account_and_lands_on_chat(new_page, transactional_db):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/signin/"))  # / -> /chat/ -> sign in
    page.get_by_test_id("signup-link").click()
    page.get_by_label("UserID").fill("carol")
    page.get_by_label("Nickname").fill("Carol C")
    page.get_by_label("Password", exact=True).fill("secret-77")
    page.get_by_label("Password again").fill("secret-77")
    page.get_by_test_id("signup-submit").click()

    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(page.get_by_test_id("me")).to_contain_text("Carol C")
    wait_ready(page)  # the socket logged in with the session cookie
    expect(page.get_by_test_id("total-unread")).to_have_text("0")
    user = User.objects.get(user_id="carol")
    assert user.nick == "Carol C"
    assert user.check_password("secret-77")


def test_sign_up_shows_field_errors(new_page, make_user, transactional_db):
    make_user("taken")
    page = new_page()
    page.goto("/accounts/signup/")
    page.get_by_label("UserID").fill("taken")
    page.get_by_label("Password", exact=True).fill("secret-77")
    page.get_by_label("Password again").fill("secret-78")
    page.get_by_test_id("signup-submit").click()

    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    expect(page.get_by_test_id("field-error-user_id")).to_have_text("This UserID is taken.")
    expect(page.get_by_test_id("field-error-password2")).to_have_text("The passwords differ.")
    assert User.objects.count() == 1
