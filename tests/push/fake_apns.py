"""A fake APNs: HTTP/2 over TLS (hypercorn with a trustme certificate for 127.0.0.1
and localhost), checking what Apple checks, then answering what the test scripted.

For every `POST /3/device/<token>` it verifies the provider token (ES256 signature
with the public half of the test's key pair, kid = key ID, iss = team ID, iat less
than an hour old), the apns-topic, apns-push-type and the payload (JSON object with an
`aps` dictionary, at most 4096 bytes), answering in Apple's words (403
InvalidProviderToken / ExpiredProviderToken, 400 BadDeviceToken / DeviceTokenNotForTopic
/ BadCollapseId / PayloadEmpty, 413 PayloadTooLarge, 410 Unregistered for a token in
`unregistered`); a correct request gets the next scripted answer, else 200 with an
apns-id.

The `fake_apns` fixture starts it and points CHAT_PUSH_APNS_* (with
CHAT_PUSH_APNS_CA_FILE = the test CA) at it.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .fake_server import Answer, FakeServer, Recorded


def apns_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Answer:
    """An APNs error answer: {"reason": ...} (410 adds the timestamp Apple adds)."""
    body: dict = {"reason": reason}
    if status == 410:
        body["timestamp"] = int(time.time() * 1000)
    return Answer.of_json(status, body, {"apns-id": str(uuid.uuid4()).upper(),
                                         **(headers or {})})


class FakeApns:
    def __init__(self, tmp_dir, *, team_id: str = "TEAM123456", key_id: str = "KEY1234567",
                 bundle_id: str = "com.example.parley"):
        self.team_id, self.key_id, self.bundle_id = team_id, key_id, bundle_id
        key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = key.public_key()
        self.key_pem = key.private_bytes(  # as Apple's .p8 file: PKCS#8 PEM
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = str(tmp_dir / "fake-apns-ca.pem")
        certfile, keyfile = str(tmp_dir / "fake-apns-cert.pem"), str(tmp_dir / "fake-apns-key.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        cert.private_key_pem.write_to_path(keyfile)
        with open(certfile, "wb") as fh:
            for pem in cert.cert_chain_pems:
                fh.write(pem.bytes())
        self.answers: list[Answer] = []   # scripted answers to correct requests, in order
        self.unregistered: set[str] = set()
        self.problems: list[str] = []     # what the fake found wrong in a request
        self.server = FakeServer(self._handle, certfile=certfile, keyfile=keyfile)

    @property
    def requests(self) -> list[Recorded]:
        return self.server.requests

    def _handle(self, request: Recorded) -> Answer:
        prefix = "/3/device/"
        if request.method != "POST" or not request.path.startswith(prefix):
            return apns_error(404, "BadPath")
        token = request.path[len(prefix):]
        request.extra["token"] = token
        if request.http_version != "2":
            self.problems.append(f"HTTP/{request.http_version}, not HTTP/2")
            return apns_error(400, "BadRequest")
        refusal = self._check_provider_token(request) or self._check_request(request)
        if refusal:
            self.problems.append(refusal.body.decode())
            return refusal
        if token in self.unregistered:
            return apns_error(410, "Unregistered")
        if self.answers:
            return self.answers.pop(0)
        return Answer(200, b"", {"apns-id": str(uuid.uuid4()).upper()})

    def _check_provider_token(self, request: Recorded) -> Answer | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return apns_error(403, "MissingProviderToken")
        provider_token = auth.removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(provider_token)
            claims = jwt.decode(provider_token, self.public_key, algorithms=["ES256"],
                                options={"verify_aud": False, "require": ["iss", "iat"]})
        except jwt.PyJWTError:
            return apns_error(403, "InvalidProviderToken")
        request.extra.update(jwt=provider_token, jwt_header=header, claims=claims)
        if header.get("alg") != "ES256" or header.get("kid") != self.key_id \
                or claims.get("iss") != self.team_id:
            return apns_error(403, "InvalidProviderToken")
        if claims["iat"] < time.time() - 3600 or claims["iat"] > time.time() + 60:
            return apns_error(403, "ExpiredProviderToken")
        return None

    def _check_request(self, request: Recorded) -> Answer | None:
        headers = request.headers
        if headers.get("apns-topic") != self.bundle_id:
            return apns_error(400, "DeviceTokenNotForTopic")
        push_type = headers.get("apns-push-type")
        if push_type not in ("alert", "background"):
            return apns_error(400, "InvalidPushType")
        if headers.get("apns-priority") not in (None, "5", "10"):
            return apns_error(400, "BadPriority")
        if push_type == "background" and headers.get("apns-priority") != "5":
            return apns_error(400, "BadPriority")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return apns_error(400, "BadCollapseId")
        if not headers.get("apns-expiration", "0").isdigit():
            return apns_error(400, "BadExpirationDate")
        if len(request.body) > 4096:
            return apns_error(413, "PayloadTooLarge")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return apns_error(400, "PayloadEmpty")
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return apns_error(400, "PayloadEmpty")
        if push_type == "alert" and "alert" not in payload["aps"]:
            return apns_error(400, "PayloadEmpty")
        if len(request.extra["token"]) != 64:
            return apns_error(400, "BadDeviceToken")
        return None


DEVICE = "a" * 64  # a well-formed device token


@pytest.fixture
def fake_apns(settings, tmp_path):
    """A running fake APNs, with CHAT_PUSH_APNS_* pointing at it."""
    from push.providers import transport

    fake = FakeApns(tmp_path)
    fake.server.start()
    settings.CHAT_PUSH_APNS_KEY = fake.key_pem
    settings.CHAT_PUSH_APNS_KEY_ID = fake.key_id
    settings.CHAT_PUSH_APNS_TEAM_ID = fake.team_id
    settings.CHAT_PUSH_APNS_BUNDLE_ID = fake.bundle_id
    settings.CHAT_PUSH_APNS_BASE_URL = fake.server.url
    settings.CHAT_PUSH_APNS_CA_FILE = fake.ca_file
    try:
        yield fake
    finally:
        transport.close_all()
        fake.server.stop()
