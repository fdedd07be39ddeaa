"""Nobody takes an account that is not theirs by signing up (issue 9, item 1): open
sign-up is a setting, off in production; an app admin's UserID is never signed up and
never signs in to the chat with a password; an import never adopts an account someone
signed up with a password."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from tests.conftest import ROOT

SIGNUP = {"user_id": "future_user_42", "nick": "Mallory", "password": "secret-77",
          "password2": "secret-77"}


def _setting(name: str, **env) -> object:
    """A setting's value in a fresh process with `env` (and no DEBUG unless given)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "CHAT_OPEN_SIGNUP")}
    base.update(env, DJANGO_SETTINGS_MODULE="chat_project.settings")
    done = subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup(); from django.conf import"
         f" settings; print(json.dumps(settings.{name}))"],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_open_signup_follows_debug_unless_set():
    assert _setting("CHAT_OPEN_SIGNUP") is False  # production
    assert _setting("CHAT_OPEN_SIGNUP", DEBUG="1") is True  # make run
    assert _setting("CHAT_OPEN_SIGNUP", CHAT_OPEN_SIGNUP="1") is True
    assert _setting("CHAT_OPEN_SIGNUP", DEBUG="1", CHAT_OPEN_SIGNUP="0") is False


@pytest.mark.django_db
def test_closed_signup_is_a_404_page_and_creates_nothing(settings):
    settings.CHAT_OPEN_SIGNUP = False
    client = Client()
    page = client.get("/accounts/signin/")
    assert page.status_code == 200 and b'data-testid="signup-link"' not in page.content
    page = client.get("/accounts/signup/")
    assert page.status_code == 404 and b"Sign-up is closed" in page.content
    assert client.post("/accounts/signup/", SIGNUP).status_code == 404
    assert not User.objects.exists()


@pytest.mark.django_db
def test_open_signup_shows_the_link_and_creates_the_account(settings):
    settings.CHAT_OPEN_SIGNUP = True
    client = Client()
    assert b'data-testid="signup-link"' in client.get("/accounts/signin/").content
    assert client.post("/accounts/signup/", SIGNUP).url == "/chat/"
    user = User.objects.get(user_id="future_user_42")
    assert user.check_password("secret-77") and user.nick == "Mallory"


@pytest.mark.django_db
@pytest.mark.parametrize("admin_id", ["administrator", "ops2"])
def test_an_app_admin_userid_is_never_signed_up(settings, admin_id):
    settings.CHAT_OPEN_SIGNUP = True
    settings.CHAT_ADMIN_USERS = ["administrator", "ops2"]
    page = Client().post("/accounts/signup/", dict(SIGNUP, user_id=admin_id))
    assert page.status_code == 200 and b"This UserID is reserved." in page.content
    assert not User.objects.filter(user_id=admin_id).exists()


@pytest.mark.django_db
def test_an_app_admin_does_not_sign_in_to_the_chat_with_a_password(settings):
    call_command("seed_demo", quiet=True)  # administrator / parley-demo, as make run has
    admin_id = settings.CHAT_ADMIN_USERS[0]
    client = Client()
    page = client.post("/accounts/signin/", {"username": admin_id, "password": "parley-demo"})
    assert page.status_code == 200
    assert b"does not sign in here" in page.content
    assert "_auth_user_id" not in client.session
    # The operators' door is /admin/, where the same account signs in.
    page = client.post("/admin/login/", {"username": admin_id, "password": "parley-demo",
                                         "next": "/admin/"})
    assert page.status_code == 302 and page.url == "/admin/"
    # A demo user still signs in to the chat.
    page = Client().post("/accounts/signin/", {"username": "alice", "password": "parley-demo"})
    assert page.status_code == 302 and page.url == "/chat/"


# --- the /v4 import of a UserID that exists -------------------------------------------

@pytest.mark.e2e
def test_import_refuses_an_account_signed_up_with_a_password(v4, live_server_url,
                                                             transactional_db, settings):
    settings.CHAT_OPEN_SIGNUP = True
    assert Client().post("/accounts/signup/", SIGNUP).status_code == 302
    before = User.objects.get(user_id="future_user_42")

    answer = v4("im_open_login_svc/account_import",
                {"UserID": "future_user_42", "Nick": "The real one"})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 910010)
    assert "signed up with a password" in answer["ErrorInfo"]
    answer = v4("im_open_login_svc/multiaccount_import",
                {"Accounts": ["future_user_42", "fresh_user"]})
    assert answer["ErrorCode"] == 0 and answer["FailAccounts"] == ["future_user_42"]

    after = User.objects.get(user_id="future_user_42")  # nothing changed
    assert (after.pk, after.nick, after.password) == (before.pk, "Mallory", before.password)
    assert User.objects.get(user_id="fresh_user").has_usable_password() is False


@pytest.mark.e2e
def test_import_of_a_passwordless_account_stays_idempotent(v4, live_server_url, usersig,
                                                           connect, transactional_db):
    assert v4("im_open_login_svc/account_import", {"UserID": "imp1", "Nick": "Imp"}) \
        ["ErrorCode"] == 0
    connect("imp2")  # a UserSig login registers imp2, without a password
    for user_id in ("imp1", "imp2"):
        assert v4("im_open_login_svc/account_import", {"UserID": user_id})["ErrorCode"] == 0
    assert v4("im_open_login_svc/multiaccount_import", {"Accounts": ["imp1", "imp2"]}) \
        ["FailAccounts"] == []
    assert User.objects.get(user_id="imp1").nick == "Imp"


@pytest.mark.e2e
def test_the_app_admin_sends_when_its_account_has_a_password(v4, live_server_url,
                                                             transactional_db, make_user):
    """make run's seeded administrator has a password (for /admin/): /v4 sends as it."""
    call_command("seed_demo", quiet=True)
    answer = v4("openim/sendmsg", {"To_Account": "bob", "MsgRandom": 7, "MsgBody": [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]})
    assert answer["ErrorCode"] == 0, answer
