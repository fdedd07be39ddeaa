"""Password guessing is throttled (issue 9, item 11): django-axes locks a UserID out for
an address after CHAT_SIGNIN_FAILURE_LIMIT wrong passwords, on the web sign-in and on
/admin/ alike, with the embedded default too."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client

from tests.embedded import run_embedded

pytestmark = pytest.mark.django_db

SIGNIN = "/accounts/signin/"
ADMIN = "/admin/login/"


def _sign_in(client: Client, user_id: str, password: str, *, url: str = SIGNIN, **extra):
    return client.post(url, {"username": user_id, "password": password, "next": "/admin/"}
                       if url == ADMIN else {"username": user_id, "password": password},
                       **extra)


def test_ten_wrong_passwords_lock_the_userid_out_from_that_address(make_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 10  # the default
    make_user("dave", password="right-pw-1")
    client = Client()
    for _ in range(9):
        page = _sign_in(client, "dave", "wrong")
        assert page.status_code == 200 and b"Please enter a correct UserID" in page.content
    assert _sign_in(client, "dave", "wrong").status_code == 429  # the 10th locks
    # Then the password is not even checked: the right one is refused too.
    page = _sign_in(client, "dave", "right-pw-1")
    assert page.status_code == 429 and b"Too many attempts" in page.content
    assert "_auth_user_id" not in client.session
    # Another address, or another UserID from this one, is not locked.
    assert _sign_in(Client(), "dave", "right-pw-1", REMOTE_ADDR="10.0.0.2").status_code == 302
    make_user("erin", password="right-pw-2")
    assert _sign_in(client, "erin", "right-pw-2").status_code == 302


def test_a_header_the_client_sets_does_not_change_its_address(make_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("dave", password="right-pw-1")
    for n in range(3):
        _sign_in(Client(), "dave", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.0.{n}")
    page = _sign_in(Client(), "dave", "right-pw-1", HTTP_X_FORWARDED_FOR="10.9.0.99")
    assert page.status_code == 429


def test_admin_login_is_throttled_too(make_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    ops = make_user("ops", password="right-pw-1")
    ops.is_staff = ops.is_superuser = True
    ops.save()
    client = Client()
    assert [_sign_in(client, "ops", "wrong", url=ADMIN).status_code for _ in range(3)] \
        == [200, 200, 429]
    assert _sign_in(client, "ops", "right-pw-1", url=ADMIN).status_code == 429


def test_a_success_resets_the_count_and_the_lockout_ends(make_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    make_user("dave", password="right-pw-1")
    for _ in range(2):
        for _ in range(2):
            _sign_in(Client(), "dave", "wrong")
        assert _sign_in(Client(), "dave", "right-pw-1").status_code == 302
    for _ in range(3):
        _sign_in(Client(), "dave", "wrong")
    assert _sign_in(Client(), "dave", "right-pw-1").status_code == 429
    time.sleep(2.2)
    assert _sign_in(Client(), "dave", "right-pw-1").status_code == 302


EMBEDDED = r"""
import django; django.setup()
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
codes = [client.post("/accounts/signin/", {"username": "alice", "password": "wrong"}).status_code
         for _ in range(10)]
codes.append(client.post("/accounts/signin/",
                         {"username": "alice", "password": "parley-demo"}).status_code)
print("codes", codes)
"""


def test_the_embedded_default_locks_out_too(tmp_path):
    out = run_embedded(tmp_path, EMBEDDED)
    assert f"codes {[200] * 9 + [429, 429]}" in out
