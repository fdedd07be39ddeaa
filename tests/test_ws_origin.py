"""The WebSocket Origin check compares scheme, host and port, as Django's CSRF check does
(issue 9, item 11): a page of another port or scheme cannot ride on the session cookie."""

from __future__ import annotations

import pytest
from django.test import Client
from websockets.exceptions import InvalidStatus

from chat_project.origin import origin_allowed
from tests.accounts.test_signup import _setting
from tests.wsclient import WsClient


def scope(origin: str | None, host: str = "127.0.0.1:8000", *, scheme: str = "ws",
          **headers: str) -> dict:
    items = [(b"host", host.encode())]
    if origin is not None:
        items.append((b"origin", origin.encode()))
    items += [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": items}


@pytest.mark.parametrize("origin, allowed", [
    ("http://127.0.0.1:8000", True),
    (None, True),  # not a browser: logs in by UserSig, has no cookie to abuse
    ("http://127.0.0.1:9999", False),  # another port of the same host
    ("https://127.0.0.1:8000", False),  # another scheme
    ("http://127.0.0.1", False),
    ("http://evil.example:8000", False),
    ("null", False),
    ("", False),
])
def test_origin_must_be_the_sockets_own(origin, allowed):
    assert origin_allowed(scope(origin)) is allowed


def test_the_host_must_be_allowed(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    assert origin_allowed(scope("http://evil.example", host="evil.example")) is False
    assert origin_allowed(scope("http://chat.example.com", host="chat.example.com"))


def test_behind_tls_the_origin_is_https(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    host = "chat.example.com"
    assert origin_allowed(scope("https://chat.example.com", host=host, scheme="wss"))
    assert not origin_allowed(scope("http://chat.example.com", host=host, scheme="wss"))
    # A proxy that terminates TLS and says so, when SECURE_PROXY_SSL_HEADER trusts it.
    proxied = scope("https://chat.example.com", host=host, x_forwarded_proto="https")
    assert not origin_allowed(proxied)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(proxied)
    assert not origin_allowed(scope("http://chat.example.com", host=host,
                                    x_forwarded_proto="https"))


def test_csrf_trusted_origins_are_trusted(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    assert origin_allowed(scope("https://app.example.com"))
    assert origin_allowed(scope("https://web.example.org"))
    assert not origin_allowed(scope("http://web.example.org"))
    assert not origin_allowed(scope("https://app.example.com:8443"))


@pytest.mark.e2e
def test_a_page_on_another_port_cannot_use_the_cookie(live_server_url, make_user,
                                                      transactional_db):
    make_user("alice", password="secret-pw")
    http = Client()
    assert http.login(user_id="alice", password="secret-pw")
    cookie = f"sessionid={http.cookies['sessionid'].value}"
    ws = WsClient(live_server_url, headers={"Cookie": cookie, "Origin": live_server_url})
    assert ws.ok("login", {})["userID"] == "alice"
    ws.close()
    for origin in ("http://127.0.0.1:9999", live_server_url.replace("http:", "https:")):
        with pytest.raises(InvalidStatus) as err:
            WsClient(live_server_url, headers={"Cookie": cookie, "Origin": origin})
        assert err.value.response.status_code == 403


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent():
    assert _setting("SECURE_PROXY_SSL_HEADER") is None
    assert _setting("SESSION_COOKIE_SECURE") is False
    on = {"CHAT_BEHIND_TLS_PROXY": "1"}
    assert _setting("SECURE_PROXY_SSL_HEADER", **on) == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert _setting("SESSION_COOKIE_SECURE", **on) is True
    assert _setting("CSRF_COOKIE_SECURE", **on) is True
    assert _setting("SECURE_HSTS_SECONDS", **on) == 31536000
