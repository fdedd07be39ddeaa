"""Push tokens: a device registers and removes its token over the native REST API
(real HTTP to a live server), which makes its user PushOnline while no socket is
online (accounts.presence, read back through /v4 query_online_status); operators see
the tokens masked; the endpoints are in the OpenAPI schema and answer as it says."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.core.management import call_command
from django.test import Client
from drf_spectacular.drainage import reset_generator_stats
from rest_framework.test import APIClient

from accounts.models import User
from accounts.usersig import gen_usersig
from push.models import PushToken
from tests.test_openapi import check, request_schema, response_schema

pytestmark = pytest.mark.django_db(transaction=True)

APNS = "a1b2c3d4" * 8  # 64 hex digits, as APNs issues them
WEBPUSH_SUBSCRIPTION = {  # PushSubscription.toJSON() (checked: tests/push/test_webpush.py)
    "endpoint": "https://push.example/x", "expirationTime": None,
    "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjh"
                       "azAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"}}


def rest(url: str, method: str, user_id: str | None, data: dict | None = None,
         query: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/v1/push/tokens/{query}", method=method,
        data=None if data is None else json.dumps(data).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"UserSig {user_id}:{gen_usersig(user_id)}"}
                    if user_id else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def status(v4, user_id: str) -> str:
    answer = v4("openim/query_online_status", {"To_Account": [user_id]})
    assert answer["ErrorCode"] == 0, answer
    return answer["QueryResult"][0]["Status"]


def test_register_replace_and_remove_a_token(make_user, live_server_url, v4):
    alice = make_user("alice")
    assert status(v4, "alice") == "Offline"
    code, body = rest(live_server_url, "POST", "alice",
                      {"deviceID": "alice-phone", "vendor": "apns", "token": APNS})
    assert code == 201, body
    assert (body["deviceID"], body["vendor"], body["platform"]) == ("alice-phone", "apns", "iOS")
    assert isinstance(body["updatedAt"], int)
    assert status(v4, "alice") == "PushOnline"
    # The same device again replaces its token: one row per device.
    code, _ = rest(live_server_url, "POST", "alice",
                   {"deviceID": "alice-phone", "vendor": "fcm", "token": "fcm-token-1"})
    assert code == 201
    assert list(PushToken.objects.values_list("user", "device_id", "vendor", "token")) == [
        (alice.pk, "alice-phone", "fcm", "fcm-token-1")]
    # Without the trailing slash too (a redirect would lose the POST).
    request = urllib.request.Request(
        f"{live_server_url}/api/v1/push/tokens", method="POST",
        data=json.dumps({"deviceID": "alice-tab", "vendor": "webpush",
                         "token": json.dumps(WEBPUSH_SUBSCRIPTION)}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig alice:{gen_usersig('alice')}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    assert PushToken.objects.count() == 2

    code, body = rest(live_server_url, "DELETE", "alice", query="?deviceID=alice-phone")
    assert (code, body) == (200, {"removed": True})
    assert status(v4, "alice") == "PushOnline"  # the web push subscription is left
    code, body = rest(live_server_url, "DELETE", "alice", {"deviceID": "alice-tab"})
    assert (code, body) == (200, {"removed": True})
    assert status(v4, "alice") == "Offline"
    code, body = rest(live_server_url, "DELETE", "alice", query="?deviceID=alice-tab")
    assert (code, body) == (200, {"removed": False})  # idempotent
    assert not PushToken.objects.exists()


def test_a_token_registered_by_another_account_moves(make_user, live_server_url, v4):
    make_user("alice"), make_user("bob")
    assert rest(live_server_url, "POST", "alice",
                {"deviceID": "phone", "vendor": "huawei", "token": "hw-1"})[0] == 201
    assert status(v4, "alice") == "PushOnline"
    # The phone now signs in as bob: alice must not get bob's pushes.
    assert rest(live_server_url, "POST", "bob",
                {"deviceID": "phone", "vendor": "huawei", "token": "hw-1"})[0] == 201
    assert list(PushToken.objects.values_list("user__user_id", flat=True)) == ["bob"]
    assert status(v4, "alice") == "Offline"
    assert status(v4, "bob") == "PushOnline"


def test_one_token_under_a_new_device_id_of_the_same_user_replaces_the_old(
        make_user, live_server_url):
    """An iPhone keeps its APNs token across a reinstall while the app makes a new
    deviceID: the token was then held twice by the user, and every message went to the
    phone twice."""
    bob = make_user("bob")
    for device in ("install-1", "install-2"):
        assert rest(live_server_url, "POST", "bob",
                    {"deviceID": device, "vendor": "apns", "token": APNS})[0] == 201
    assert list(PushToken.objects.filter(user=bob).values_list("device_id", flat=True)) \
        == ["install-2"]


def test_a_user_holds_a_bounded_number_of_tokens(make_user, live_server_url, v4, settings):
    """Every message to a user is one vendor request per token: without a bound, one
    account registering thousands of device IDs (Web Push endpoints at someone else's
    server, say) made each message to it thousands of requests. The oldest go."""
    bob = make_user("bob")
    for i in range(settings.CHAT_PUSH_MAX_TOKENS + 5):
        code, body = rest(live_server_url, "POST", "bob",
                          {"deviceID": f"phone-{i}", "vendor": "fcm", "token": f"fcm-{i}"})
        assert code == 201, body
    kept = set(PushToken.objects.filter(user=bob).values_list("device_id", flat=True))
    assert kept == {f"phone-{i}" for i in range(5, settings.CHAT_PUSH_MAX_TOKENS + 5)}
    # Registering a device again refreshes it: it is not the oldest any more.
    assert rest(live_server_url, "POST", "bob",
                {"deviceID": "phone-5", "vendor": "fcm", "token": "fcm-5"})[0] == 201
    assert rest(live_server_url, "POST", "bob",
                {"deviceID": "tablet", "vendor": "fcm", "token": "fcm-t"})[0] == 201
    kept = set(PushToken.objects.filter(user=bob).values_list("device_id", flat=True))
    assert "phone-5" in kept and "tablet" in kept and "phone-6" not in kept
    assert len(kept) == settings.CHAT_PUSH_MAX_TOKENS
    assert status(v4, "bob") == "PushOnline"


@pytest.mark.parametrize("data", [
    {"deviceID": "d", "vendor": "nokia", "token": "t"},
    {"deviceID": "", "vendor": "fcm", "token": "t"},
    {"deviceID": "d" * 65, "vendor": "fcm", "token": "t"},
    {"deviceID": "d", "vendor": "fcm", "token": ""},
    {"deviceID": "d", "vendor": "fcm", "token": "t" * 4097},
    {"deviceID": "d", "vendor": "fcm", "token": 5},
    {"vendor": "fcm", "token": "t"},
    {"deviceID": "d", "token": "t"},
])
def test_bad_registrations_are_refused(make_user, live_server_url, data):
    make_user("alice")
    code, body = rest(live_server_url, "POST", "alice", data)
    assert (code, body["code"]) == (400, 910003), body
    assert body["message"]
    assert not PushToken.objects.exists()


def test_only_the_signed_in_user(make_user, live_server_url):
    make_user("alice")
    code, body = rest(live_server_url, "POST", None,
                      {"deviceID": "d", "vendor": "fcm", "token": "t"})
    assert (code, body["code"]) == (401, 910008)
    code, body = rest(live_server_url, "DELETE", None, query="?deviceID=d")
    assert code == 401
    code, body = rest(live_server_url, "DELETE", "alice", query="")  # no deviceID
    assert (code, body["code"]) == (400, 910003)


def test_operators_see_tokens_masked(make_user, live_server_url):
    make_user("alice")
    assert rest(live_server_url, "POST", "alice",
                {"deviceID": "alice-phone", "vendor": "apns", "token": APNS})[0] == 201
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    page = client.get("/admin/push/pushtoken/")
    assert page.status_code == 200
    assert b"alice-phone" in page.content and "a1b2…c3d4".encode() in page.content
    assert APNS.encode() not in page.content
    row = PushToken.objects.get()
    detail = client.get(f"/admin/push/pushtoken/{row.pk}/change/")
    assert detail.status_code == 200 and APNS.encode() not in detail.content


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("openapi") / "schema.json"
    reset_generator_stats()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json",
                 "--file", str(out))
    return json.loads(out.read_text())


def test_the_endpoints_are_documented_and_answer_as_documented(schema, make_user):
    path = "/api/v1/push/tokens/"
    for method in ("post", "delete"):
        operation = schema["paths"][path][method]
        assert {"UserSig": []} in operation["security"]
        for code in ("400", "401", "403"):
            assert operation["responses"][code]["content"]["application/json"]["schema"] \
                == {"$ref": "#/components/schemas/Error"}
    assert "/api/v1/push/tokens" not in schema["paths"]  # the slashless twin is hidden
    make_user("alice")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{gen_usersig('alice')}")
    data = {"deviceID": "d1", "vendor": "xiaomi", "token": "mi-1"}
    check(schema, data, request_schema(schema, path, "post"))
    response = client.post(path, data, format="json")
    assert response.status_code == 201
    check(schema, response.json(), response_schema(schema, path, "post", 201))
    response = client.post(path, {**data, "vendor": "nokia"}, format="json")
    check(schema, response.json(), response_schema(schema, path, "post", 400))
    response = client.delete(f"{path}?deviceID=d1")
    assert response.status_code == 200
    check(schema, response.json(), response_schema(schema, path, "delete", 200))


def test_a_login_signs_out_the_offline_device_the_policy_pushes_out(make_user, live_server_url,
                                                                     connect):
    """One Android device at a time (the default policy): a new Android login pushes out
    the old phone's socket and forgets its token; so it does when the old phone is
    offline at the time, or it would go on getting pushes while signed out. An iPhone,
    another platform, and a browser keep theirs."""
    make_user("alice")
    for device, platform in (("old-phone", "Android"), ("iphone", "iOS"), ("tab", "Web")):
        connect("alice", deviceID=device, platform=platform).close()
    for device, vendor, token in (("old-phone", "fcm", "fcm-old"), ("iphone", "apns", APNS),
                                  ("tab", "webpush", json.dumps(WEBPUSH_SUBSCRIPTION))):
        assert rest(live_server_url, "POST", "alice",
                    {"deviceID": device, "vendor": vendor, "token": token})[0] == 201
    connect("alice", deviceID="new-phone", platform="Android")
    assert sorted(PushToken.objects.values_list("device_id", flat=True)) == ["iphone", "tab"]
