"""The Content-Security-Policy header (chat_project/csp.py): on every page, strict for
scripts and styles, with the file storage's host let in for pictures and media."""

import pytest
from django.test import Client, override_settings

from accounts.models import User
from chat_project.csp import policy

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_page_has_the_policy(make_user):
    make_user("alice")
    client = Client()
    for path in ["/accounts/signin/", "/accounts/signup/"]:
        assert "Content-Security-Policy" in client.get(path)
    assert client.login(user_id="alice", password="pw-123456")
    for path in ["/chat/", "/contacts/", "/requests/", "/blocklist/", "/profile/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = directives(response["Content-Security-Policy"])
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
        assert csp["style-src"] == ["'self'"]
        assert csp["img-src"] == ["'self'", "data:", "blob:", "https:"]  # avatars
        assert csp["media-src"] == ["'self'", "data:", "blob:"]
        assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"]
        # No inline script or style in the page itself (json_script data is not run).
        html = response.content.decode()
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert html.count("<script") == html.count("<script src=") + html.count(
            '<script id="parley-config" type="application/json">')


def test_admin_pages_work_under_the_policy(make_user):
    """Django admin's templates carry no inline script or style: it keeps the policy."""
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    for path in ["/admin/", "/admin/accounts/user/", "/admin/messaging/message/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert "script-src 'self'" in response["Content-Security-Policy"]
        html = response.content.decode()
        assert "<script>" not in html and "<style" not in html and " onclick=" not in html


def test_the_api_docs_page_is_exempt():
    # drf-spectacular's Swagger page inlines its start-up script.
    assert "Content-Security-Policy" not in Client().get("/api/docs/")


@override_settings(MEDIA_URL="https://files.example.net/media/",
                   CSP_MEDIA_ORIGINS=["https://cdn.example.org/x/", "https://files.example.net"],
                   CSP_IMG_ORIGINS=["https://avatars.example.com"])
def test_files_on_another_host_are_let_in_for_pictures_and_media():
    csp = directives(policy("chat.example.com"))
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://files.example.net",
                              "https://cdn.example.org", "https://avatars.example.com"]
    assert csp["media-src"] == ["'self'", "data:", "blob:", "https://files.example.net",
                                "https://cdn.example.org"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'", "ws://chat.example.com", "wss://chat.example.com"]


@override_settings(CSP_IMG_ORIGINS=["'self'"])
def test_pictures_can_be_kept_to_this_server():
    assert directives(policy("chat.example.com"))["img-src"] == ["'self'", "data:", "blob:"]
