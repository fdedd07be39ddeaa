"""FCM HTTP v1 client (push/providers/fcm.py) against a local fake FCM that verifies
the OAuth assertion and the message (tests/push/fake_fcm.py)."""

from __future__ import annotations

import email.utils
import json
import socket
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from push.providers.base import Notification, Outcome, provider
from push.providers.fcm import FcmProvider

from .fake_fcm import SCOPE, fcm_error
from .fake_server import Answer

NOTE = Notification(
    title="alice", body="see you at 8", extension='{"k": 1}', badge=3,
    collapse_id="144115_1_1700000000", conversation_id="C2Calice",
    message_id="144115_1_1700000000",
    options={"android_channel_id": "chat", "image": "https://img.example/a.png"})


def send(token: str = "device-token-1", note: Notification = NOTE):
    client = provider("fcm")
    assert isinstance(client, FcmProvider)
    return client.send(token, note)


def test_delivers_the_mapped_message_with_a_verified_oauth_token(fake_fcm):
    result = send()

    assert result.outcome == Outcome.DELIVERED, result
    assert result.http_status == 200
    assert not fake_fcm.problems
    # One OAuth exchange with a correct assertion (verified by the fake with the
    # service account's public key).
    [token_request] = fake_fcm.token_requests
    claims = token_request.extra["claims"]
    assert claims["iss"] == fake_fcm.client_email
    assert claims["aud"] == fake_fcm.token_url
    assert claims["scope"] == SCOPE
    assert claims["exp"] - claims["iat"] <= 3600
    assert token_request.extra["kid"] == "test-key-1"
    [request] = fake_fcm.send_requests
    assert request.path == "/v1/projects/parley-test/messages:send"
    assert request.extra["access_token"] in fake_fcm.issued
    message = request.json()["message"]
    assert message["token"] == "device-token-1"
    assert message["notification"] == {"title": "alice", "body": "see you at 8",
                                       "image": "https://img.example/a.png"}
    assert message["data"] == {"extension": '{"k": 1}', "conversationID": "C2Calice",
                               "messageID": "144115_1_1700000000"}
    android = message["android"]
    assert "collapse_key" not in android  # FCM keeps only 4 collapse keys offline
    assert android["priority"] == "HIGH"
    assert android["notification"] == {
        "channel_id": "chat", "image": "https://img.example/a.png",
        "notification_count": 3, "tag": "144115_1_1700000000", "sound": "default"}
    assert "apns" not in message and "webpush" not in message
    assert result.detail.startswith("projects/parley-test/messages/")


def test_no_badge_leaves_notification_count_out(fake_fcm):
    note = Notification(title="t", body="b", badge=None, sound="ping.mp3")
    assert send(note=note).outcome == Outcome.DELIVERED
    android_note = fake_fcm.send_requests[0].json()["message"]["android"]["notification"]
    assert "notification_count" not in android_note
    assert "channel_id" not in android_note
    assert android_note["sound"] == "ping.mp3"


def test_the_access_token_is_cached_across_sends(fake_fcm):
    for n in range(3):
        assert send(f"tok-{n}").outcome == Outcome.DELIVERED
    assert len(fake_fcm.token_requests) == 1
    assert len({r.extra["access_token"] for r in fake_fcm.send_requests}) == 1


def test_the_access_token_is_renewed_before_it_expires(fake_fcm):
    fake_fcm.expires_in = 2  # renewed after half its life when shorter than the margin
    assert send().outcome == Outcome.DELIVERED
    assert send().outcome == Outcome.DELIVERED
    assert len(fake_fcm.token_requests) == 1
    time.sleep(1.2)
    assert send().outcome == Outcome.DELIVERED
    assert len(fake_fcm.token_requests) == 2
    first, _, third = (r.extra["access_token"] for r in fake_fcm.send_requests)
    assert first != third


def test_401_fails_and_drops_the_cached_token_so_the_next_send_reauthenticates(fake_fcm):
    assert send().outcome == Outcome.DELIVERED
    fake_fcm.expire_tokens()  # Google no longer accepts the cached token

    refused = send()
    assert refused.outcome == Outcome.FAILED
    assert refused.http_status == 401
    assert refused.vendor_code == "UNAUTHENTICATED"

    assert send().outcome == Outcome.DELIVERED
    assert len(fake_fcm.token_requests) == 2


def test_403_sender_id_mismatch_fails_without_killing_the_token(fake_fcm):
    fake_fcm.send_answers.append(fcm_error(
        403, "PERMISSION_DENIED", "SenderId mismatch", error_code="SENDER_ID_MISMATCH"))
    result = send()
    assert (result.outcome, result.vendor_code, result.http_status) == (
        Outcome.FAILED, "SENDER_ID_MISMATCH", 403)
    assert send().outcome == Outcome.DELIVERED
    assert len(fake_fcm.token_requests) == 2  # the access token was dropped


@pytest.mark.parametrize("answer, code", [
    (fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
               error_code="UNREGISTERED"), "UNREGISTERED"),
    (fcm_error(404, "NOT_FOUND", "Requested entity was not found."), "NOT_FOUND"),
    (fcm_error(400, "INVALID_ARGUMENT",
               "The registration token is not a valid FCM registration token",
               error_code="INVALID_ARGUMENT"), "INVALID_ARGUMENT"),
    (fcm_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
               error_code="INVALID_ARGUMENT", token_field=True), "INVALID_ARGUMENT"),
])
def test_a_token_fcm_no_longer_knows_is_dead(fake_fcm, answer, code):
    fake_fcm.send_answers.append(answer)
    result = send()
    assert result.outcome == Outcome.DEAD_TOKEN
    assert result.vendor_code == code
    assert result.http_status == answer.status


def test_an_invalid_payload_is_a_failure_not_a_dead_token(fake_fcm):
    fake_fcm.send_answers.append(fcm_error(
        400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'",
        error_code="INVALID_ARGUMENT"))
    result = send()
    assert result.outcome == Outcome.FAILED
    assert "message.android.ttl" in result.detail


def test_a_message_is_kept_within_fcms_4096_bytes(fake_fcm):
    """The settings' limits (title 256 bytes, description and extension 3 KB together,
    image, channel and sound 512 each) add up past FCM's 4 KB: such a message was
    refused (INVALID_ARGUMENT, FAILED) every time. The body, then the extension, then
    the title are cut (as for APNs and Web Push)."""
    note = Notification(
        title='"' * 256, body="d" * 1500, extension='{"k":"\\"}' * 150, badge=1,
        collapse_id="m1", conversation_id="C2Calice", message_id="m1", sound="s" * 512,
        options={"android_channel_id": "c" * 512, "image": "https://i.example/" + "x" * 490})
    result = send(note=note)
    assert result.outcome == Outcome.DELIVERED, result
    assert not fake_fcm.problems
    message = fake_fcm.send_requests[-1].json()["message"]
    assert message["notification"]["body"] == "…"  # cut first, as a long text's
    assert message["data"]["extension"].startswith('{"k":')
    assert message["notification"]["title"] == '"' * 256


def test_retryable_answers_carry_retry_after(fake_fcm):
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake_fcm.send_answers += [
        fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", error_code="QUOTA_EXCEEDED",
                  headers={"retry-after": "30"}),
        fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.",
                  error_code="UNAVAILABLE", headers={"retry-after": later}),
        fcm_error(500, "INTERNAL", "Internal error encountered.", error_code="INTERNAL"),
        Answer(502, b"<html>Bad Gateway</html>", {"content-type": "text/html"}),
    ]
    quota, unavailable, internal, gateway = (send() for _ in range(4))
    assert (quota.outcome, quota.vendor_code, quota.retry_after) == (
        Outcome.RETRY, "QUOTA_EXCEEDED", 30.0)
    assert unavailable.outcome == Outcome.RETRY and unavailable.vendor_code == "UNAVAILABLE"
    assert 100 < unavailable.retry_after <= 121
    assert (internal.outcome, internal.vendor_code, internal.retry_after) == (
        Outcome.RETRY, "INTERNAL", None)
    assert (gateway.outcome, gateway.http_status) == (Outcome.RETRY, 502)


def test_a_timeout_is_retried(fake_fcm, settings):
    settings.CHAT_PUSH_HTTP_TIMEOUT = 0.3
    assert send().outcome == Outcome.DELIVERED  # the token is cached
    fake_fcm.send_answers.append(Answer.of_json(200, {"name": "late"}))
    fake_fcm.send_answers[-1].delay = 1.5
    started = time.monotonic()
    result = send()
    assert result.outcome == Outcome.RETRY
    assert "Timeout" in result.vendor_code
    assert time.monotonic() - started < 1.4


def test_a_refused_connection_is_retried(fake_fcm, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHAT_PUSH_FCM_BASE_URL = f"http://127.0.0.1:{port}"
    result = send()
    assert result.outcome == Outcome.RETRY
    assert result.vendor_code == "ConnectError"


def test_a_service_account_with_the_wrong_key_fails_at_the_token_endpoint(fake_fcm, settings):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = json.loads(fake_fcm.service_account_json())
    account["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    settings.CHAT_PUSH_FCM_CREDENTIALS = json.dumps(account)
    result = send()
    assert (result.outcome, result.vendor_code, result.http_status) == (
        Outcome.FAILED, "invalid_grant", 400)
    assert fake_fcm.send_requests == []


def test_a_token_endpoint_outage_is_retried(fake_fcm):
    fake_fcm.token_answers.append(Answer.of_json(503, {"error": "backend_error"},
                                                 {"retry-after": "7"}))
    result = send()
    assert (result.outcome, result.vendor_code, result.retry_after) == (
        Outcome.RETRY, "backend_error", 7.0)
    assert send().outcome == Outcome.DELIVERED


def test_settings_override_project_and_token_url(fake_fcm, settings):
    account = json.loads(fake_fcm.service_account_json())
    account["project_id"] = "somewhere-else"
    account["token_uri"] = "http://127.0.0.1:9/unreachable"
    settings.CHAT_PUSH_FCM_CREDENTIALS = json.dumps(account)
    settings.CHAT_PUSH_FCM_PROJECT_ID = "parley-test"
    settings.CHAT_PUSH_FCM_TOKEN_URL = fake_fcm.token_url
    assert send().outcome == Outcome.DELIVERED


def test_credentials_from_a_file(fake_fcm, settings, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(fake_fcm.service_account_json())
    settings.CHAT_PUSH_FCM_CREDENTIALS = str(path)
    assert provider("fcm").configured()
    assert send().outcome == Outcome.DELIVERED


def test_withdrawal_is_a_data_only_message_naming_the_collapse_id(fake_fcm):
    note = Notification(title="", body="", collapse_id="144115_1_1700000000",
                        conversation_id="C2Calice", message_id="144115_1_1700000000",
                        withdraw=True)
    assert send(note=note).outcome == Outcome.DELIVERED
    message = fake_fcm.send_requests[0].json()["message"]
    assert "notification" not in message
    assert message["data"] == {"withdraw": "144115_1_1700000000",
                               "conversationID": "C2Calice",
                               "messageID": "144115_1_1700000000"}
    assert message["android"] == {"priority": "HIGH"}


def test_configured_only_with_readable_credentials_and_a_project(settings, tmp_path):
    client = provider("fcm")
    settings.CHAT_PUSH_FCM_CREDENTIALS = ""
    assert not client.configured()
    assert client.send("t", NOTE).outcome == Outcome.FAILED
    settings.CHAT_PUSH_FCM_CREDENTIALS = str(tmp_path / "missing.json")
    assert not client.configured()
    result = client.send("t", NOTE)
    assert (result.outcome, result.vendor_code) == (Outcome.FAILED, "not_configured")
    settings.CHAT_PUSH_FCM_CREDENTIALS = '{"not": "an account"}'
    assert not client.configured()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    settings.CHAT_PUSH_FCM_CREDENTIALS = json.dumps(
        {"client_email": "a@b.c", "private_key": pem})
    settings.CHAT_PUSH_FCM_PROJECT_ID = ""
    assert not client.configured()
    settings.CHAT_PUSH_FCM_PROJECT_ID = "mine"
    assert client.configured()


@pytest.mark.parametrize("token", ["", "a b", "tok\nen", "x" * 5000])
def test_a_malformed_token_is_dead_without_a_request(fake_fcm, token):
    result = send(token)
    assert result.outcome == Outcome.DEAD_TOKEN
    assert fake_fcm.token_requests == [] and fake_fcm.send_requests == []


def test_concurrent_sends_fetch_one_access_token(fake_fcm):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: send(f"tok-{n}"), range(16)))
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert len(fake_fcm.token_requests) == 1
    assert len(fake_fcm.send_requests) == 16
    assert sorted(r.json()["message"]["token"] for r in fake_fcm.send_requests) == sorted(
        f"tok-{n}" for n in range(16))
