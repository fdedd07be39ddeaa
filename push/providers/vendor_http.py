"""What the Android vendor clients (huawei, honor, xiaomi, oppo, vivo, meizu) share on
top of transport.py: one POST that turns network trouble into a Result, the
per-process cache of their auth tokens (and the client-credentials grant of Huawei and
Honor), the app data every vendor carries, and the bound on what a request carries
(`fitted`).

Nothing here raises for what a vendor or the network does: `post` answers either the
response or the `Result` of no answer, and `with_auth_token` runs the usual "cached token, the
vendor says it expired, fetch a new one, try once more" dance.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx

from chat_project.weburl import web_url

from . import transport
from .base import Notification, Outcome, Result
from .fit import cut_to_fit
from .transport import client, network_result, retry_after

logger = logging.getLogger("push.providers")


def post(url: str, *, headers: dict | None = None, data: dict | None = None,
         json_body: dict | None = None) -> httpx.Response | Result:
    """POST on the process's pooled client (transport.py), bounded by
    CHAT_PUSH_HTTP_TIMEOUT; no answer at all is transport's Result (a timeout or a
    network failure RETRY, an untrusted certificate FAILED)."""
    try:
        return transport.post(client(), url, headers=headers, data=data, json=json_body)
    except httpx.HTTPError as exc:
        return network_result(exc)


def http_trouble(response: httpx.Response) -> Result | None:
    """RETRY for 429 and 5xx (with Retry-After); None for anything the caller reads."""
    status = response.status_code
    if status == 429 or status >= 500:
        return Result(Outcome.RETRY, vendor_code=str(status), http_status=status,
                      retry_after=retry_after(response),
                      detail=f"HTTP {status} {response.text[:200]}".strip())
    return None


def refused(response: httpx.Response, code: str, detail: str, *,
            dead: frozenset | set | tuple = (), transient: frozenset | set | tuple = (),
            daily_quota: frozenset | set | tuple = ()) -> Result:
    """The Result of an answer that was not a success, by the vendor's own code: a dead
    token, a retry (the vendor's throttling or trouble), a spent daily quota (FAILED:
    the vendors ask not to call again that day), or any other refusal (FAILED)."""
    status = response.status_code
    if code in dead:
        return Result(Outcome.DEAD_TOKEN, vendor_code=code, http_status=status, detail=detail)
    if code in transient:
        return Result(Outcome.RETRY, vendor_code=code, http_status=status, detail=detail)
    if code in daily_quota:
        return Result(Outcome.FAILED, vendor_code=code, http_status=status,
                      detail=f"daily quota spent: {detail}")
    return Result(Outcome.FAILED, vendor_code=code or str(status), http_status=status,
                  detail=detail or response.text[:200])


def json_of(response: httpx.Response) -> dict:
    """The response's JSON object, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def app_data(note: Notification) -> dict[str, str]:
    """What the app reads when the notification is tapped: Tencent's Ext and where to go."""
    data = {"ext": note.extension, "conversationID": note.conversation_id,
            "messageID": note.message_id}
    return {k: v for k, v in data.items() if v}


def app_data_json(note: Notification) -> str:
    return json.dumps(app_data(note), ensure_ascii=False, separators=(",", ":"))


def option(note: Notification, key: str, allowed: tuple[str, ...] = (), limit: int = 64) -> str:
    """A vendor knob from offlinePushInfo as a clean string: the sender chose it, so a
    value the vendor would refuse (the whole push with it) is left out instead."""
    value = note.options.get(key)
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    text = str(value).strip()
    if allowed:
        text = text.upper()
        return text if text in allowed else ""
    return text if 0 < len(text) <= limit and text.isprintable() else ""


def image_url(note: Notification) -> str:
    """The big-picture URL, only https (the vendors fetch it themselves)."""
    url = web_url(option(note, "image", limit=1024)) or ""
    return url if url.startswith("https://") else ""


# Bytes of a request's notification (its JSON, or a form's fields as JSON), escapes
# counted. No Android vendor's per-field byte limit is written down here (push/README.md
# "Payload size"), so the whole is bounded as APNs and FCM bound theirs.
MAX_PAYLOAD = 4096


def encoded_size(value) -> int:
    """UTF-8 bytes of `value` as JSON, every escape counted (a JSON string inside it,
    such as the app data, is escaped again)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def fitted(note: Notification, size: Callable[[Notification], int],
           limit: int = MAX_PAYLOAD) -> Notification:
    """`note` with its body cut (…), then its extension, then its title, until
    `size(note)` (the encoded bytes of the request the vendor gets) is within `limit`,
    as providers/fit.py does for APNs and FCM; an image URL that still does not fit is
    left out. The vendors' own character limits (`clip`) apply on top."""
    if size(note) <= limit:
        return note
    fields = {"title": note.title, "body": note.body, "extension": note.extension}
    cut_to_fit([(fields, "body", "…"), (fields, "extension", ""), (fields, "title", "…")],
               lambda: size(replace(note, **fields)), limit)
    note = replace(note, **fields)
    if size(note) > limit and "image" in (note.options or {}):
        note = replace(note, options={k: v for k, v in note.options.items() if k != "image"})
    return note


def clip(text: str, limit: int) -> str:
    """Vendors refuse over-long titles and bodies outright; cut rather than lose the push."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- auth tokens ------------------------------------------------------------------------


class TokenCache:
    """Auth tokens per process, keyed by the credentials and host they were issued for
    (so a changed secret or base URL never reuses a stale token). A token is used until
    `margin` seconds before the expiry the vendor gave, or until the vendor refuses it."""

    def __init__(self, margin: float = 300.0):
        self.margin = margin
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > time.monotonic():
                return hit[0]
            self._tokens.pop(key, None)
            return None

    def put(self, key: tuple, token: str, expires_in: float) -> str:
        with self._lock:
            lifetime = max(expires_in - self.margin, min(expires_in, 60.0))
            self._tokens[key] = (token, time.monotonic() + lifetime)
        return token

    def drop(self, key: tuple, token: str) -> None:
        with self._lock:
            if self._tokens.get(key, ("",))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


_caches: list[TokenCache] = []


def token_cache(margin: float = 300.0) -> TokenCache:
    cache = TokenCache(margin)
    _caches.append(cache)
    return cache


def forget_tokens() -> None:
    """Drop every cached vendor auth token of this process (credentials rotated)."""
    for cache in _caches:
        cache.clear()


def fetch_client_credentials(url: str, client_id: str,
                             client_secret: str) -> tuple[str, float] | Result:
    """An OAuth 2.0 client-credentials grant (Huawei's and Honor's endpoints): the token
    and its lifetime in seconds, or the Result that ends the send."""
    answer = post(url, data={"grant_type": "client_credentials", "client_id": client_id,
                             "client_secret": client_secret})
    if isinstance(answer, Result):
        return answer
    trouble = http_trouble(answer)
    if trouble:
        return trouble
    body = json_of(answer)
    token = body.get("access_token")
    if answer.status_code != 200 or not token:
        code = str(body.get("error") or body.get("code") or answer.status_code)
        return Result(Outcome.FAILED, vendor_code=code, http_status=answer.status_code,
                      detail=f"OAuth refused the credentials: {answer.text[:200]}")
    try:
        lifetime = float(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    return str(token), lifetime


@dataclass(frozen=True)
class TokenRefused:
    """`deliver`'s answer when the vendor says the auth token is expired or unknown."""

    vendor_code: str
    http_status: int | None = None


def with_auth_token(cache: TokenCache, key: tuple,
                    fetch: Callable[[], tuple[str, float] | Result],
                    deliver: Callable[[str], Result | TokenRefused]) -> Result:
    """Deliver with the cached token (fetching one when there is none); when the vendor
    refuses it, fetch a fresh one and deliver once more. A fresh token refused too is a
    credentials problem, not a transient one: FAILED."""
    refused = None
    for _ in range(2):
        token = cache.get(key)
        if token is None:
            got = fetch()
            if isinstance(got, Result):
                return got
            token = cache.put(key, *got)
        answer = deliver(token)
        if not isinstance(answer, TokenRefused):
            return answer
        refused = answer
        cache.drop(key, token)
    return Result(Outcome.FAILED, vendor_code=refused.vendor_code, http_status=refused.http_status,
                  detail="the vendor refused a freshly issued auth token")


def guarded(vendor: str, send: Callable[[], Result]) -> Result:
    """Run a client's send so that a bug in it is a FAILED attempt, never an exception."""
    try:
        return send()
    except Exception as exc:  # noqa: BLE001 - the interface promises send() never raises
        logger.exception("%s client error", vendor)
        return Result(Outcome.FAILED, vendor_code="client_error",
                      detail=f"{type(exc).__name__}: {exc}"[:300])
