"""A fake FCM: Google's OAuth token endpoint and the FCM HTTP v1 send endpoint, as a
real local HTTP server (fake_server.py).

- `POST /token` (the service account's token_uri) verifies the RS256 JWT assertion
  with the test service account's public key (iss, aud, scope, iat/exp) and hands out
  a fresh access token living `expires_in` seconds.
- `POST /v1/projects/{project}/messages:send` checks the project, the Bearer token
  (one it handed out and has not expired), and the message's shape (a token, string
  data values), then answers the next scripted answer, else 200 with a message name.

Use the `fake_fcm` fixture (it also points Parley's FCM settings at the fake):

    from tests.push.fake_fcm import fake_fcm, fcm_error  # noqa: F401
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .fake_server import Answer, FakeServer, Recorded

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def fcm_error(http_status: int, status: str, message: str = "", error_code: str = "",
              token_field: bool = False, headers: dict[str, str] | None = None) -> Answer:
    """An error answer in Google's format: {"error": {code, message, status, details}}."""
    details = []
    if error_code:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": error_code})
    if token_field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.token",
                                             "description": "Invalid registration token"}]})
    return Answer.of_json(http_status, {"error": {
        "code": http_status, "message": message or status, "status": status,
        "details": details}}, headers)


class FakeFcm:
    def __init__(self, project_id: str = "parley-test"):
        self.project_id = project_id
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = key.public_key()
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        self.client_email = f"push-{uuid.uuid4().hex[:8]}@{project_id}.iam.gserviceaccount.com"
        self.expires_in = 3600            # lifetime of the access tokens handed out
        self.send_answers: list[Answer] = []   # scripted answers to messages:send, in order
        self.token_answers: list[Answer] = []  # scripted answers to the token endpoint
        self.issued: dict[str, float] = {}     # access token -> expiry (time.time)
        self.token_requests: list[Recorded] = []
        self.send_requests: list[Recorded] = []
        self.problems: list[str] = []          # what the fake found wrong in a request
        # Called (in the fake's thread) with each well-formed send before it is answered.
        self.during_send: Callable[[Recorded], None] | None = None
        self._counter = itertools.count(1)
        self.server = FakeServer(self._handle)

    # --- wiring -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.server.url}/token"

    def service_account_json(self) -> str:
        return json.dumps({
            "type": "service_account", "project_id": self.project_id,
            "private_key_id": "test-key-1", "private_key": self.private_pem,
            "client_email": self.client_email, "client_id": "1",
            "token_uri": self.token_url})

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (Google revoked or expired it)."""
        for token in self.issued:
            self.issued[token] = 0.0

    # --- the endpoints ----------------------------------------------------------------
    def _handle(self, request: Recorded) -> Answer:
        if request.method == "POST" and request.path == "/token":
            self.token_requests.append(request)
            return self._token(request)
        prefix, suffix = "/v1/projects/", "/messages:send"
        if request.method == "POST" and request.path.startswith(prefix) \
                and request.path.endswith(suffix):
            self.send_requests.append(request)
            return self._send(request, request.path[len(prefix):-len(suffix)])
        return fcm_error(404, "NOT_FOUND", f"no route {request.path}")

    def _token(self, request: Recorded) -> Answer:
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Answer.of_json(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(form.get("assertion", ""), self.public_key,
                                algorithms=["RS256"], audience=self.token_url,
                                issuer=self.client_email,
                                options={"require": ["iat", "exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            self.problems.append(f"assertion: {exc}")
            return Answer.of_json(400, {"error": "invalid_grant",
                                        "error_description": f"Invalid JWT: {exc}"})
        request.extra["claims"] = claims
        request.extra["kid"] = jwt.get_unverified_header(form["assertion"]).get("kid")
        if SCOPE not in str(claims.get("scope", "")).split():
            self.problems.append("assertion without the firebase.messaging scope")
            return Answer.of_json(400, {"error": "invalid_scope"})
        if self.token_answers:
            return self.token_answers.pop(0)
        token = f"ya29.fake-{next(self._counter)}-{uuid.uuid4().hex[:6]}"
        self.issued[token] = time.time() + self.expires_in
        return Answer.of_json(200, {"access_token": token, "expires_in": self.expires_in,
                                    "token_type": "Bearer"})

    def _send(self, request: Recorded, project: str) -> Answer:
        if project != self.project_id:
            return fcm_error(404, "NOT_FOUND", f"project {project} not found")
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.issued.get(token, 0) < time.time():
            return fcm_error(401, "UNAUTHENTICATED",
                             "Request had invalid authentication credentials.")
        request.extra["access_token"] = token
        try:
            message = request.json()["message"]
        except (ValueError, KeyError, TypeError):
            self.problems.append("body without a message")
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        problems = []
        if not message.get("token"):
            problems.append("message without a token")
        for key, value in (message.get("data") or {}).items():
            if not isinstance(value, str):
                problems.append(f"data[{key}] is not a string")
        count = ((message.get("android") or {}).get("notification") or {}).get(
            "notification_count")
        if count is not None and not isinstance(count, int):
            problems.append("notification_count is not an integer")
        # FCM takes 4096 bytes of payload (notification and data); counted here as the
        # message's JSON without its token, which is at least what FCM counts.
        size = len(json.dumps({k: v for k, v in message.items() if k != "token"},
                              ensure_ascii=False, separators=(",", ":")).encode())
        if size > 4096:
            problems.append(f"message of {size} bytes")
            self.problems.extend(problems)
            return fcm_error(400, "INVALID_ARGUMENT", "Android message is too big",
                             error_code="INVALID_ARGUMENT")
        if problems:
            self.problems.extend(problems)
            return fcm_error(400, "INVALID_ARGUMENT", "; ".join(problems),
                             error_code="INVALID_ARGUMENT")
        if self.during_send is not None:
            self.during_send(request)
        if self.send_answers:
            return self.send_answers.pop(0)
        return Answer.of_json(200, {
            "name": f"projects/{self.project_id}/messages/{next(self._counter)}"})


@pytest.fixture
def fake_fcm(settings):
    """A running fake FCM, with CHAT_PUSH_FCM_* pointing at it (the token URL comes
    from the service account's token_uri, as in production)."""
    from push.providers import transport

    fake = FakeFcm()
    fake.server.start()
    settings.CHAT_PUSH_FCM_CREDENTIALS = fake.service_account_json()
    settings.CHAT_PUSH_FCM_PROJECT_ID = ""
    settings.CHAT_PUSH_FCM_BASE_URL = fake.server.url
    settings.CHAT_PUSH_FCM_TOKEN_URL = ""
    try:
        yield fake
    finally:
        transport.close_all()
        fake.server.stop()
