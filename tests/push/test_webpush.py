"""Web Push on the wire (push/providers/webpush.py, push/vapid.py,
push/webpush_subscription.py).

A push service of the test's own (a real HTTP server on 127.0.0.1) receives what the
provider sends and checks it as a browser's push service and the browser would: the
VAPID JWT (ES256, aud = the endpoint's origin, exp within 24 h, sub) verified against
the key in `Authorization: vapid t=..., k=...`, that key being the server's; then the
body DECRYPTED (RFC 8291 aes128gcm, http_ece) with the subscription's private key and
auth secret, which the test made as a browser would. The VAPID check is written here
with cryptography alone, not with the library the provider signs with.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from django.core.checks import Error

from chat_project.errors import ChatError
from push import checks, vapid
from push.models import PushToken, VapidKeyPair
from push.providers.base import Notification, Outcome, provider
from push.providers.webpush import MAX_PAYLOAD, topic
from push.services import push_token_register
from push.webpush_subscription import check_subscription, resolve_endpoint
from tests.push.test_tokens import rest

pytestmark = pytest.mark.django_db(transaction=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def new_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return b64(key.private_numbers().private_value.to_bytes(32, "big")), b64(point(key))


class Browser:
    """The browser's side of one subscription: its P-256 key pair and auth secret."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.subscription = {"endpoint": endpoint, "expirationTime": None,
                             "keys": {"p256dh": b64(point(self.key)), "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")
        return json.loads(plain)


class PushService:
    """A push service: answers each POST from a script, records what came."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict, float]] = []  # (status, headers, delay)
        self.answer_bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body})
                status, headers, delay = (outer.replies.pop(0) if outer.replies
                                          else (201, {}, 0.0))
                answer = outer.answer_bodies.pop(0) if outer.answer_bodies else b""
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    if len(answer) > 8192:  # a long answer, and slow after its start
                        self.wfile.write(answer[:8192])
                        self.wfile.flush()
                        time.sleep(3)
                    self.wfile.write(answer[8192:] if len(answer) > 8192 else answer)
                except OSError:
                    pass  # the client gave up (a timeout test, a long answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def endpoint(self, name: str = "sub-1") -> str:
        return f"{self.origin}/push/{name}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


@pytest.fixture
def keys(settings):
    """A VAPID pair in settings, as `web-push generate-vapid-keys` prints one."""
    private, public = new_pair()
    settings.CHAT_VAPID_PRIVATE_KEY, settings.CHAT_VAPID_PUBLIC_KEY = private, public
    settings.CHAT_VAPID_SUBJECT = "mailto:ops@example.com"
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    settings.CHAT_PUSH_HTTP_TIMEOUT = 2.0
    vapid.reset()
    yield public
    vapid.reset()


def check_vapid(headers: dict, origin: str, expected_key: str) -> dict:
    """What a push service checks of the Authorization header; the JWT's claims."""
    scheme, _, rest_ = headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    params = dict(part.strip().split("=", 1) for part in rest_.split(","))
    assert params["k"] == expected_key  # the server's configured public key
    header_b64, claims_b64, sig_b64 = params["t"].split(".")
    assert json.loads(unb64(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    sig = unb64(sig_b64)
    assert len(sig) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(params["k"]))
    public.verify(utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                             int.from_bytes(sig[32:], "big")),
                  f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64(claims_b64))
    assert claims["aud"] == origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https:"))
    return claims


def register(user, browser: Browser, device_id: str = "browser-1") -> PushToken:
    return push_token_register(user=user, device_id=device_id, vendor="webpush",
                               token=browser.subscription)


NOTE = Notification(title="Alice", body="Dinner at 8? ünïcödé 🍝", extension='{"k":1}',
                    badge=3, collapse_id="144115188075855872-1733300000-42",
                    conversation_id="C2Calice", message_id="144115188075855872-1733300000-42")


def test_a_push_arrives_signed_and_encrypted_for_the_browser(make_user, keys, push_service):
    bob = make_user("bob")
    browser = Browser(push_service.endpoint())
    row = register(bob, browser)

    result = provider("webpush").send(row.token, NOTE)

    assert result.outcome == Outcome.DELIVERED, result
    assert result.http_status == 201
    [got] = push_service.requests
    assert got["path"] == "/push/sub-1"
    headers = got["headers"]
    claims = check_vapid(headers, push_service.origin, keys)
    assert claims["sub"] == "mailto:ops@example.com"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Urgency"] == "high"
    assert headers["TTL"] == str(7 * 24 * 3600)
    assert headers["Topic"] == topic(NOTE.collapse_id)
    assert len(headers["Topic"]) <= 32
    assert browser.decrypt(got["body"]) == {
        "title": "Alice", "body": "Dinner at 8? ünïcödé 🍝", "conversationID": "C2Calice",
        "messageID": NOTE.message_id, "extension": '{"k":1}', "badge": 3}
    # Another browser's keys cannot read it.
    with pytest.raises(Exception):  # noqa: B017 (http_ece raises its own or InvalidTag)
        Browser(push_service.endpoint()).decrypt(got["body"])


def test_a_withdrawal_replaces_by_topic_and_names_the_message(make_user, keys, push_service):
    bob = make_user("bob")
    browser = Browser(push_service.endpoint())
    row = register(bob, browser)
    web = provider("webpush")
    assert web.send(row.token, NOTE).outcome == Outcome.DELIVERED
    withdraw = Notification(title="", body="", collapse_id=NOTE.collapse_id, withdraw=True,
                            conversation_id="C2Calice", message_id=NOTE.message_id)
    assert web.send(row.token, withdraw).outcome == Outcome.DELIVERED
    first, second = push_service.requests
    assert second["headers"]["Topic"] == first["headers"]["Topic"]
    assert second["headers"]["Urgency"] == "normal"
    assert browser.decrypt(second["body"]) == {
        "withdraw": True, "conversationID": "C2Calice", "messageID": NOTE.message_id}


def test_a_long_body_is_cut_to_fit_4_kb(make_user, keys, push_service):
    bob = make_user("bob")
    browser = Browser(push_service.endpoint())
    row = register(bob, browser)
    long = Notification(title="Alice", body='é"\\' * 5000, conversation_id="C2Calice",
                        message_id="1-2-3", collapse_id="1-2-3")
    assert provider("webpush").send(row.token, long).outcome == Outcome.DELIVERED
    [got] = push_service.requests
    assert len(got["body"]) <= 4096
    data = browser.decrypt(got["body"])
    assert len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()) \
        <= MAX_PAYLOAD
    assert data["body"].endswith("…") and data["body"].startswith('é"\\é')
    assert len(data["body"]) > 1000
    assert data["title"] == "Alice" and data["messageID"] == "1-2-3"


@pytest.mark.parametrize("status, headers, outcome, after", [
    (201, {}, Outcome.DELIVERED, None),
    (202, {}, Outcome.DELIVERED, None),
    (404, {}, Outcome.DEAD_TOKEN, None),
    (410, {}, Outcome.DEAD_TOKEN, None),
    (429, {"Retry-After": "7"}, Outcome.RETRY, 7.0),
    (503, {"Retry-After": "120"}, Outcome.RETRY, 120.0),
    (500, {}, Outcome.RETRY, None),
    (400, {}, Outcome.FAILED, None),
    (403, {}, Outcome.FAILED, None),
    (413, {}, Outcome.FAILED, None),
])
def test_answers_map_to_outcomes(make_user, keys, push_service, status, headers, outcome,
                                 after):
    row = register(make_user("bob"), Browser(push_service.endpoint()))
    push_service.replies.append((status, headers, 0.0))
    result = provider("webpush").send(row.token, NOTE)
    assert (result.outcome, result.http_status, result.retry_after) == (outcome, status, after)
    assert len(push_service.requests) == 1


def test_the_services_reason_is_kept_and_a_long_answer_not_read(make_user, keys,
                                                                  push_service):
    row = register(make_user("bob"), Browser(push_service.endpoint()))
    push_service.replies.append((403, {"Content-Type": "application/json"}, 0.0))
    push_service.answer_bodies.append(b'{"reason": "BadJwtToken"}')
    result = provider("webpush").send(row.token, NOTE)
    assert (result.outcome, result.vendor_code) == (Outcome.FAILED, "BadJwtToken")
    assert "BadJwtToken" in result.detail
    # An endpoint answering 50 MB, slowly after the first 8 KB: 4 KB of it is read, then
    # the connection is dropped (reading on would take 3 s, past the 2 s timeout).
    push_service.answer_bodies.append(b"x" * 50_000_000)
    started = time.monotonic()
    result = provider("webpush").send(row.token, NOTE)
    assert result.outcome == Outcome.DELIVERED and len(result.detail) < 400
    assert time.monotonic() - started < 2


def test_the_audience_is_the_origin_as_browsers_write_it():
    assert vapid.origin("https://fcm.googleapis.com:443/fcm/send/abc?x=1") == \
        "https://fcm.googleapis.com"
    assert vapid.origin("https://Push.Example.com:8443/x") == "https://push.example.com:8443"
    assert vapid.origin("http://127.0.0.1:8080/p") == "http://127.0.0.1:8080"
    assert vapid.origin("https://[2001:db8::1]/p") == "https://[2001:db8::1]"


def test_retry_after_as_an_http_date(make_user, keys, push_service):
    row = register(make_user("bob"), Browser(push_service.endpoint()))
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    push_service.replies.append((429, {"Retry-After": when}, 0.0))
    result = provider("webpush").send(row.token, NOTE)
    assert result.outcome == Outcome.RETRY and 50 <= result.retry_after <= 61


def test_a_slow_or_absent_service_is_retried_within_the_timeout(make_user, keys, settings,
                                                                push_service):
    settings.CHAT_PUSH_HTTP_TIMEOUT = 0.5
    row = register(make_user("bob"), Browser(push_service.endpoint()))
    push_service.replies.append((201, {}, 3.0))
    started = time.monotonic()
    result = provider("webpush").send(row.token, NOTE)
    assert result.outcome == Outcome.RETRY, result
    assert time.monotonic() - started < 2.5
    # Nothing listening: refused, retried later; send never raises.
    port = push_service.server.server_port
    push_service.close()
    dead = Browser(f"http://127.0.0.1:{port}/push/gone")
    token = check_subscription(dead.subscription)
    assert provider("webpush").send(token, NOTE).outcome == Outcome.RETRY


def test_the_server_makes_its_pair_once_and_keeps_it(make_user, settings, push_service):
    settings.CHAT_VAPID_PRIVATE_KEY = settings.CHAT_VAPID_PUBLIC_KEY = ""
    settings.CHAT_VAPID_SUBJECT = ""
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    vapid.reset()
    assert not VapidKeyPair.objects.exists()
    web = provider("webpush")
    assert web.configured()
    row = register(make_user("bob"), Browser(push_service.endpoint()))
    assert web.send(row.token, NOTE).outcome == Outcome.DELIVERED
    stored = VapidKeyPair.objects.get()
    check_vapid(push_service.requests[0]["headers"], push_service.origin, stored.public_key)
    assert vapid.load_pair(stored.private_key, stored.public_key)  # a real pair
    vapid.reset()  # a new process: the same pair
    assert vapid.public_key() == stored.public_key
    assert VapidKeyPair.objects.count() == 1
    vapid.reset()


def test_two_processes_starting_at_once_end_with_one_pair(settings):
    """Each thread has its own database connection, as two processes would."""
    settings.CHAT_VAPID_PRIVATE_KEY = settings.CHAT_VAPID_PUBLIC_KEY = ""
    from django.db import connection

    barrier, got, errors = threading.Barrier(4), [], []

    def start():
        try:
            barrier.wait()
            got.append(vapid.stored_pair())
        except Exception as exc:  # pragma: no cover (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(got)) == 1 and len(got) == 4
    assert VapidKeyPair.objects.count() == 1


def test_startup_check_names_a_broken_pair(settings):
    private, public = new_pair()
    _, other_public = new_pair()
    settings.CHAT_VAPID_SUBJECT = "mailto:ops@example.com"
    settings.CHAT_VAPID_PRIVATE_KEY, settings.CHAT_VAPID_PUBLIC_KEY = private, public
    assert checks.check_vapid_keys() == []
    settings.CHAT_VAPID_PUBLIC_KEY = other_public
    [error] = checks.check_vapid_keys()
    assert isinstance(error, Error) and error.id == "push.E001"
    assert "not the public key of CHAT_VAPID_PRIVATE_KEY" in error.msg
    assert not provider("webpush").configured()
    settings.CHAT_VAPID_PUBLIC_KEY = ""
    [error] = checks.check_vapid_keys()
    assert "set both" in error.msg
    settings.CHAT_VAPID_PUBLIC_KEY = public
    settings.CHAT_VAPID_PRIVATE_KEY = base64.b64encode(b"x" * 48).decode()  # not 32 bytes
    [error] = checks.check_vapid_keys()
    assert "32-byte" in error.msg
    settings.CHAT_VAPID_PRIVATE_KEY = private
    settings.CHAT_VAPID_SUBJECT = "ops@example.com"
    [error] = checks.check_vapid_keys()
    assert error.id == "push.E002"
    settings.CHAT_VAPID_SUBJECT = ""
    assert [w.id for w in checks.check_vapid_subject()] == ["push.W001"]


# --- registration: the subscription's shape and endpoint, over the REST door ----------------

GOOD_KEYS = Browser("https://x.example").subscription["keys"]


def sub(endpoint: str, **keys) -> dict:
    return {"endpoint": endpoint, "expirationTime": None, "keys": {**GOOD_KEYS, **keys}}


@pytest.mark.parametrize("token, code", [
    (sub("http://push.example.com/x"), 910031),           # plain http, not loopback
    (sub("ftp://push.example.com/x"), 910031),
    (sub("http://127.0.0.1:9/x"), 910032),                # loopback: not in production
    (sub("https://localhost/x"), 910032),
    (sub("https://10.1.2.3/x"), 910032),                  # private
    (sub("https://192.168.0.10/x"), 910032),
    (sub("https://169.254.169.254/latest"), 910032),      # link-local (cloud metadata)
    (sub("https://[fd00::1]/x"), 910032),
    (sub("https://[::ffff:10.0.0.1]/x"), 910032),         # IPv4-mapped private
    (sub("https://0.0.0.0/x"), 910032),
    (sub("https://user:pw@push.example.com/x"), 910030),
    (sub("https://push.example.com/" + "x" * 2100), 910030),
    (sub("https://push.example.com/x", p256dh=b64(b"\x04" + b"1" * 30)), 910030),
    (sub("https://push.example.com/x", auth="!!"), 910030),
    (sub("https://push.example.com/x", auth=b64(b"a" * 15)), 910030),
    ({"endpoint": "https://push.example.com/x"}, 910030),
    (sub("https://push.example.com/é"), 910030),
    (sub("https://push.example.com/a b"), 910030),
    (sub("https://push.example.com/a\x00"), 910030),
    ('{"endpoint": "https://push.example.com/x", "expirationTime": Infinity, "keys": '
     + json.dumps(GOOD_KEYS) + "}", 910030),
    ({**sub("https://push.example.com/x"), "expirationTime": True}, 910030),
    ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": ["x"], "auth": {}}}, 910030),
    ("not json", 910030),
    ("[1, 2]", 910030),
    (["https://push.example.com/x"], 910030),
    (None, 910030),
])
def test_registration_refuses_what_is_not_a_safe_subscription(make_user, live_server_url,
                                                              token, code):
    make_user("bob")
    status, body = rest(live_server_url, "POST", "bob",
                        {"deviceID": "bob-browser", "vendor": "webpush", "token": token})
    assert (status, body["code"]) == (400, code), body
    assert not PushToken.objects.exists()


def test_registration_keeps_one_canonical_token_for_object_or_json(make_user, live_server_url):
    make_user("bob")
    make_user("carol")
    subscription = sub("https://push.example.com/send/abc?x=1")
    status, body = rest(live_server_url, "POST", "bob",
                        {"deviceID": "bob-browser", "vendor": "webpush", "token": subscription})
    assert status == 201 and body["platform"] == "Web", body
    stored = PushToken.objects.get(user__user_id="bob")
    assert json.loads(stored.token) == subscription
    # The same subscription as a JSON string (other spacing): the same token, so it moves
    # to carol (the browser signed in as someone else).
    status, _ = rest(live_server_url, "POST", "carol",
                     {"deviceID": "carol-browser", "vendor": "webpush",
                      "token": json.dumps(subscription, indent=2)})
    assert status == 201
    assert list(PushToken.objects.values_list("user__user_id", "token")) == [
        ("carol", stored.token)]


def test_loopback_endpoints_only_when_allowed(make_user, settings):
    bob = make_user("bob")
    browser = Browser("http://127.0.0.1:9/push/x")
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = False
    with pytest.raises(ChatError) as err:
        register(bob, browser)
    assert err.value.code == 910032
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    assert register(bob, browser).vendor == "webpush"
    # Stored while allowed, sent when no longer allowed: never sent, the token is dead.
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = False
    token = PushToken.objects.get().token
    assert provider("webpush").send(token, NOTE).outcome == Outcome.DEAD_TOKEN


def test_the_sender_checks_every_address_it_connects_to(settings):
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = False
    assert resolve_endpoint("127.0.0.1", 443)[1] == "loopback address"
    assert resolve_endpoint("localhost", 443)[1] == "loopback address"
    assert resolve_endpoint("10.0.0.7", 443)[1] == "not a public address"
    assert resolve_endpoint("::ffff:169.254.169.254", 443)[1] == "not a public address"
    assert resolve_endpoint("8.8.8.8", 443) == ("8.8.8.8", "")
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True
    assert resolve_endpoint("localhost", 443) == ("127.0.0.1", "")


def test_the_vapid_key_is_served_to_signed_in_users(make_user, live_server_url):
    import urllib.error
    import urllib.request

    from accounts.usersig import gen_usersig

    make_user("bob")
    request = urllib.request.Request(
        f"{live_server_url}/api/v1/push/vapid-key/",
        headers={"Authorization": f"UserSig bob:{gen_usersig('bob')}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        key = json.loads(response.read())["publicKey"]
    raw = unb64(key)
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # on the curve
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{live_server_url}/api/v1/push/vapid-key/", timeout=10)
    assert err.value.code in (401, 403)


def test_the_service_worker_is_served_from_the_root(live_server_url):
    import urllib.request

    with urllib.request.urlopen(f"{live_server_url}/sw.js", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Service-Worker-Allowed"] == "/"
        assert b"addEventListener('push'" in response.read()
