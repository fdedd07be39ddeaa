"""Webhooks: Parley calls the app's own server, as Tencent's third-party callbacks do
(tencent-rest.md §14).

Operators configure one `WebhookConfig` row in Django admin (URL, token, which
callbacks are on, timeout, the before-send timeout policy, retries). Services call:

    verdict = webhooks.before_send(body, platform="Web")   # may rewrite or refuse a send
    webhook_tasks.after(webhooks.AFTER_SEND, body)          # fire and forget, after commit
    webhooks.is_enabled(webhooks.STATE_CHANGE)

Transport (§14.1): an HTTP POST of a JSON body (the caller's fields plus
`CallbackCommand`) to the configured URL with the query `SdkAppid`, `CallbackCommand`,
`contenttype=json`, `ClientIP`, `OptPlatform`, and, when a token is set,
`Sign=hex(sha256(token + RequestTime))` and `RequestTime` (Unix seconds; the attempt
record keeps the URL without the Sign). The app
answers HTTP 200 with `{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}`; a
non-200, a body that is not a JSON object, or no answer within `timeout_ms` is a
failure. Every call is recorded as a `WebhookAttempt` (admin: "Webhook attempts").

Before-send (`C2C.CallbackBeforeSendMsg`) is synchronous and never retried. The reply's
ErrorCode decides: 0 allow (with the reply's `MsgBody`/`CloudCustomData` replacing the
message's when present and well formed), 1 reject with 20006, 2 drop silently (the
sender sees success), 120001..130000 reject with that code and the reply's ErrorInfo.
A failure, or any other ErrorCode, follows `before_send_on_timeout`: "deliver" (allow,
Tencent's default) or "block" (reject with 80003). Call it outside the send
transaction: it waits on the network, and its attempt row must survive a rollback.
The send pipeline uses its parts, so that a door can wait where it likes:
`before_send_asks` (build the calls; no network), `ask` (one call; network only, no
database: any thread may wait on it), `verdict` (record the attempt, decide).

After-callbacks are queued with `transaction.on_commit` as a Celery task
(accounts/webhook_tasks.py) that retries a failed call `retries` times, waiting
`retry_backoff_seconds * 2**n` before retry n+1. Where tasks run in process (the
embedded default, CELERY_TASK_ALWAYS_EAGER) the call and its retries happen right after
the commit, in the caller's thread, without the waits; a timeout ends them there.

The configuration is read on every send, so it is cached twice: in the Django cache
(Redis in production; invalidated when the row is saved) and for
`CHAT_WEBHOOK_CONFIG_TTL` seconds (default 1) in the process. An admin change reaches
every server within about a second; when webhooks are off, `before_send` costs a
clock read and a dict lookup, no query and no network.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import io
import logging
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from chat_project.errors import CODES

from .models import WebhookAttempt, WebhookConfig

log = logging.getLogger(__name__)

# CallbackCommand names (tencent-rest.md §14.2).
BEFORE_SEND = "C2C.CallbackBeforeSendMsg"
AFTER_SEND = "C2C.CallbackAfterSendMsg"
AFTER_MSG_REPORT = "C2C.CallbackAfterMsgReport"
AFTER_MSG_WITHDRAW = "C2C.CallbackAfterMsgWithDraw"
STATE_CHANGE = "State.StateChange"
PREV_FRIEND_ADD = "Sns.CallbackPrevFriendAdd"
PREV_FRIEND_RESPONSE = "Sns.CallbackPrevFriendResponse"
FRIEND_ADD = "Sns.CallbackFriendAdd"
FRIEND_DELETE = "Sns.CallbackFriendDelete"
BLACKLIST_ADD = "Sns.CallbackBlackListAdd"
BLACKLIST_DELETE = "Sns.CallbackBlackListDelete"
PORTRAIT_SET = "Profile.CallbackPortraitSet"

# (name, what it is) for the admin's checkbox list, in the catalogue's order: the
# callbacks Parley makes.
CALLBACKS: tuple[tuple[str, str], ...] = (
    (BEFORE_SEND, "before a one-to-one message is sent (may rewrite or refuse it)"),
    (AFTER_SEND, "after a one-to-one message is sent"),
    (AFTER_MSG_REPORT, "after a conversation is marked read"),
    (AFTER_MSG_WITHDRAW, "after a message is recalled"),
    (STATE_CHANGE, "login, logout, disconnect"),
    (PREV_FRIEND_ADD, "before a user's friend request (may refuse it)"),
    (PREV_FRIEND_RESPONSE, "before a user answers a friend request (may refuse it)"),
    (FRIEND_ADD, "after friends are added"),
    (FRIEND_DELETE, "after friends are deleted"),
    (BLACKLIST_ADD, "after users are blocked"),
    (BLACKLIST_DELETE, "after users are unblocked"),
    (PORTRAIT_SET, "after a profile is updated"),
)
CALLBACK_NAMES = frozenset(name for name, _ in CALLBACKS)

# OptPlatform values (§14.1).
PLATFORMS = frozenset({"RESTAPI", "Web", "Android", "iOS", "Windows", "macOS", "iPad",
                       "Unknown"})

BEFORE_SEND_REJECTED = 20006       # the app answered ErrorCode 1
BEFORE_SEND_FAILED = 80003         # no usable answer, and the policy is "block"
APP_CODES = range(120001, 130001)  # the app's own refusals, passed to the sender
FRIEND_APP_CODES = range(38000, 39001)  # the app's refusals of a friend request or answer

MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    """What a before-send callback decided about one message."""

    action: str                     # "allow" | "drop" | "reject"
    code: int = 0                   # the error for "reject" (20006, 80003, 120001..130000)
    info: str = ""
    msg_body: list | None = None    # replacement MsgBody ("allow" only)
    cloud_custom_data: str | None = None  # replacement CloudCustomData ("allow" only)

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Verdict("allow")


# --- configuration ----------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """A snapshot of the WebhookConfig row, cheap to keep and to check."""

    enabled: bool = False
    url: str = ""
    token: str = ""
    callbacks: frozenset = frozenset()
    timeout_ms: int = 2000
    before_send_on_timeout: str = "deliver"
    retries: int = 0
    retry_backoff_seconds: int = 5

    def on(self, command: str) -> bool:
        return self.enabled and bool(self.url) and command in self.callbacks


_CACHE_KEY = "webhooks:config:1"
_CACHE_SECONDS = 60  # a backstop: saves invalidate it at once
_local: tuple[float, Config] | None = None
_local_lock = threading.Lock()


def _load() -> Config:
    row = WebhookConfig.objects.order_by("pk").first()
    if row is None:
        return Config()
    return Config(enabled=row.enabled, url=row.url.strip(), token=row.token,
                  callbacks=frozenset(c for c in (row.callbacks or []) if isinstance(c, str)),
                  timeout_ms=max(1, row.timeout_ms),
                  before_send_on_timeout=str(row.before_send_on_timeout),
                  retries=row.retries, retry_backoff_seconds=row.retry_backoff_seconds)


def config() -> Config:
    """The current configuration: from this process's memo (≤ CHAT_WEBHOOK_CONFIG_TTL s
    old), else the Django cache, else the database."""
    global _local
    memo = _local
    now = time.monotonic()
    if memo is not None and memo[0] > now:
        return memo[1]
    with _local_lock:
        try:
            snapshot = cache.get(_CACHE_KEY)
        except Exception:  # the shared cache is down: the database still knows
            log.warning("webhook config: the cache is unreachable", exc_info=True)
            snapshot = None
        if not isinstance(snapshot, dict):
            loaded = _load()
            snapshot = {**loaded.__dict__, "callbacks": sorted(loaded.callbacks),
                        "before_send_on_timeout": str(loaded.before_send_on_timeout)}
            try:
                cache.set(_CACHE_KEY, snapshot, _CACHE_SECONDS)
            except Exception:
                pass
        current = Config(**{**snapshot, "callbacks": frozenset(snapshot["callbacks"])})
        _local = (now + config_ttl(), current)
        return current


def config_ttl() -> float:
    """Seconds a process keeps the configuration before asking the shared cache again."""
    return float(settings.CHAT_WEBHOOK_CONFIG_TTL)


def invalidate() -> None:
    """Forget the cached configuration here and in the shared cache (saves call it)."""
    global _local
    _local = None
    try:
        cache.delete(_CACHE_KEY)
    except Exception:  # its entry expires within _CACHE_SECONDS anyway
        log.warning("webhook config: could not clear the cached copy", exc_info=True)


def _on_config_saved(**kwargs) -> None:
    invalidate()
    # Again after commit: another process may have re-cached the old row meanwhile.
    transaction.on_commit(invalidate)


post_save.connect(_on_config_saved, sender=WebhookConfig, dispatch_uid="webhooks-config-saved")
post_delete.connect(_on_config_saved, sender=WebhookConfig,
                    dispatch_uid="webhooks-config-deleted")


def config_set(**fields) -> WebhookConfig:
    """Create or change the one WebhookConfig row (fields as on the model)."""
    unknown = set(fields) - {f.name for f in WebhookConfig._meta.fields} - {"id"}
    if unknown:
        raise TypeError(f"unknown WebhookConfig fields: {sorted(unknown)}")
    row = WebhookConfig.objects.order_by("pk").first() or WebhookConfig()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


def is_enabled(command: str) -> bool:
    """Is this callback on (webhooks enabled, a URL set, and the command ticked)?"""
    return config().on(command)


# --- one HTTP call ----------------------------------------------------------------------

@dataclass
class Call:
    """The outcome of one POST: `reply` is the decoded JSON object when `ok`."""

    url: str
    outcome: str          # WebhookAttempt.Outcome
    http_status: int | None = None
    response: str = ""
    error: str = ""
    duration_ms: int = 0
    reply: dict | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == WebhookAttempt.Outcome.OK


def callback_url(cfg: Config, command: str, *, platform: str, client_ip: str = "",
                 now: float | None = None) -> str:
    """The configured URL with the §14.1 query appended."""
    query = {"SdkAppid": settings.CHAT_SDKAPPID, "CallbackCommand": command,
             "contenttype": "json", "ClientIP": client_ip,
             "OptPlatform": opt_platform(command, platform)}
    if cfg.token:
        request_time = str(int(time.time() if now is None else now))
        query["Sign"] = sign(cfg.token, request_time)
        query["RequestTime"] = request_time
    return f"{cfg.url}{'&' if '?' in cfg.url else '?'}{urlencode(query)}"


def without_sign(url: str) -> str:
    """The URL without its Sign: attempt records (read by support staff in the admin)
    keep the command, the RequestTime and the outcome, but a URL that could be sent to
    the app again while its RequestTime is accepted is not kept."""
    parts = urlsplit(url)
    if "Sign=" not in parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "Sign"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def opt_platform(command: str, platform: str) -> str:
    """A known OptPlatform, else "Unknown"; State.StateChange spells iOS "IOS" (§14.1)."""
    # Device platform names (accounts.models.Device.Platform) that Tencent spells
    # otherwise in OptPlatform.
    platform = {"IOS": "iOS", "Mac": "macOS"}.get(platform, platform)
    if platform not in PLATFORMS:
        return "Unknown"
    return "IOS" if platform == "iOS" and command == STATE_CHANGE else platform


def sign(token: str, request_time: str) -> str:
    return hashlib.sha256((token + request_time).encode()).hexdigest()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # loading the CA store takes milliseconds


class _DeadlineSocket:
    """What http.client.HTTPResponse reads from: the socket, each read bounded by the
    time left (`left()` raises TimeoutError once there is none)."""

    def __init__(self, sock, left):
        self._sock, self._left = sock, left

    def makefile(self, mode):
        return io.BufferedReader(_DeadlineReader(self._sock, self._left))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock, left):
        self._sock, self._left = sock, left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._left())
        return self._sock.recv_into(buffer)


def post(url: str, payload: dict, *, timeout_ms: int) -> Call:
    """POST `payload` as JSON; the whole exchange, not each read, is bounded by
    `timeout_ms` (all but the DNS lookup). One connection per call: simple, and a
    callback is rarely the bottleneck next to the send's own transaction."""
    started = time.monotonic()
    deadline = started + timeout_ms / 1000

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer in time")
        return remaining

    shown = without_sign(url)  # what the attempt record and its error may show
    signature = dict(parse_qsl(urlsplit(url).query)).get("Sign") if shown != url else None

    def done(outcome, **kw) -> Call:
        if signature and signature in kw.get("error", ""):  # an exception that quotes it
            kw["error"] = kw["error"].replace(signature, "…")
        return Call(url=shown, outcome=outcome,
                    duration_ms=int((time.monotonic() - started) * 1000), **kw)

    parts = urlsplit(url)
    conn = None
    try:
        if not parts.hostname:
            return done(WebhookAttempt.Outcome.FAILED, error=f"no host in URL {shown[:200]!r}")
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=left(),
                                               context=_tls_context())
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=left())
        else:
            return done(WebhookAttempt.Outcome.FAILED, error=f"unsupported URL {shown[:200]!r}")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.connect()
        sock = conn.sock  # kept: getresponse() may drop conn.sock, the response reads it
        sock.settimeout(left())
        conn.request("POST", target, body=orjson.dumps(payload),
                     headers={"Content-Type": "application/json; charset=utf-8"})
        # Every read of the answer (status line and headers included) waits only what
        # is left: a receiver that sends a few bytes at a time cannot stretch the call.
        response = http.client.HTTPResponse(_DeadlineSocket(sock, left), method="POST")
        response.begin()
        chunks, size = [], 0
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                return done(WebhookAttempt.Outcome.FAILED, http_status=response.status,
                            error="the answer is over 1 MB")
        raw = b"".join(chunks)
    except TimeoutError:
        return done(WebhookAttempt.Outcome.TIMEOUT, error=f"no answer within {timeout_ms} ms")
    except (OSError, http.client.HTTPException, ValueError, TypeError) as exc:
        return done(WebhookAttempt.Outcome.FAILED,
                    error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if conn is not None:
            conn.close()
    text = raw[:4000].decode("utf-8", "replace")
    if response.status != 200:
        return done(WebhookAttempt.Outcome.FAILED, http_status=response.status, response=text,
                    error=f"HTTP {response.status}")
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict):
        return done(WebhookAttempt.Outcome.FAILED, http_status=200, response=text,
                    error="the answer is not a JSON object")
    return done(WebhookAttempt.Outcome.OK, http_status=200, response=text, reply=reply)


def record(call: Call, *, command: str, body: dict, delivery_id: uuid.UUID,
           attempt: int = 1, started_at=None) -> WebhookAttempt:
    return WebhookAttempt.objects.create(
        delivery_id=delivery_id, command=command, url=call.url[:1000], body=body,
        attempt=attempt, outcome=call.outcome, http_status=call.http_status,
        response=call.response, error=call.error[:500], duration_ms=call.duration_ms,
        created_at=started_at or timezone.now())


def call_once(cfg: Config, command: str, body: dict, *, platform: str, client_ip: str = "",
              delivery_id: uuid.UUID | None = None, attempt: int = 1) -> Call:
    """POST one callback to the configured URL and record the attempt."""
    payload = {"CallbackCommand": command, **body}
    started_at = timezone.now()
    call = post(callback_url(cfg, command, platform=platform, client_ip=client_ip),
                payload, timeout_ms=cfg.timeout_ms)
    _record_quietly(call, command=command, body=payload, delivery_id=delivery_id,
                    attempt=attempt, started_at=started_at)
    return call


def _record_quietly(call: Call, *, command: str, body: dict, delivery_id=None, attempt=1,
                    started_at=None) -> None:
    try:
        record(call, command=command, body=body, delivery_id=delivery_id or uuid.uuid4(),
               attempt=attempt, started_at=started_at)
    except Exception:  # the record is for operators; never fail a send for it
        log.exception("could not record a %s webhook attempt", command)


# Before-send calls are made from a small pool of threads that only wait on the network
# (no database work, so they hold no database connection): the calls of one batch go at
# the same time, and the socket door awaits them there instead of in the thread its
# database work shares (messaging/batching.py).
MAX_PARALLEL_CALLS = 16
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def calls_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_CALLS,
                                       thread_name_prefix="webhook-call")
        return _pool


def reply_code(reply: dict | None) -> int | None:
    """The reply's ErrorCode as an int (a decimal string is taken too), else None."""
    code = (reply or {}).get("ErrorCode")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        return int(code)
    return None


def attempts_purge(*, before, batch_size: int = 5000) -> int:
    """Delete WebhookAttempt rows created before `before`; return how many went.

    With before-send on, every message adds a row, so the table is purged like the
    other logs: in primary-key ranges, each its own short transaction, so no batch
    re-reads the dead rows of the ones before it and no table is loaded into Python.
    """
    table = connection.ops.quote_name(WebhookAttempt._meta.db_table)
    cutoff = connection.ops.adapt_datetimefield_value(before)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id) FROM {table}")
        low = cursor.fetchone()[0]
        # One pass over the old rows (they are about to go anyway); ids follow
        # created_at only roughly (a row is written when its call ends).
        cursor.execute(f"SELECT max(id) FROM {table} WHERE created_at < %s", [cutoff])
        high = cursor.fetchone()[0]
    if low is None or high is None:
        return 0
    total = 0
    while low <= high:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id >= %s AND id < %s"
                           f" AND created_at < %s", [low, low + batch_size, cutoff])
            total += cursor.rowcount
        low += batch_size
    return total


# --- the callbacks --------------------------------------------------------------------

def _well_formed_msg_body(value) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(e, dict) and isinstance(e.get("MsgType"), str)
                    and isinstance(e.get("MsgContent"), dict) for e in value))


@dataclass(frozen=True)
class Ask:
    """One before-send call, built when the send was checked: the configuration then,
    the request, and when it was made (for its attempt record)."""

    config: Config
    payload: dict
    url: str
    started_at: object  # datetime


def before_send(body: dict, *, platform: str, client_ip: str = "") -> Verdict:
    """Ask the app whether this message may go out (C2C.CallbackBeforeSendMsg).

    `body` holds the callback's fields (From_Account, To_Account, MsgSeq, MsgRandom,
    MsgTime, MsgKey, OnlineOnlyFlag, MsgBody, CloudCustomData); CallbackCommand is
    added here. Returns ALLOW at once, with no HTTP call, when the callback is off.
    """
    return before_send_many([(body, platform, client_ip)])[0]


def before_send_many(asks: list[tuple[dict, str, str]]) -> list[Verdict]:
    """`before_send` for several messages, each ask (body, platform, client_ip): the
    calls are made at the same time, so the lot takes about as long as the slowest,
    not as long as all of them one after the other. A verdict per ask, in order."""
    built = before_send_asks(asks)
    if built is None:
        return [ALLOW] * len(asks)
    return [verdict(one, call) for one, call in zip(built, ask_all(built), strict=True)]


def before_send_asks(asks: list[tuple[dict, str, str]]) -> list[Ask] | None:
    """The calls to make for these (body, platform, client_ip), or None when the
    callback is off. Makes no call: `ask` or `ask_all` does, `verdict` decides."""
    cfg = config()
    if not cfg.on(BEFORE_SEND):
        return None
    started_at = timezone.now()
    return [Ask(cfg, {"CallbackCommand": BEFORE_SEND, **body},
                callback_url(cfg, BEFORE_SEND, platform=platform, client_ip=client_ip),
                started_at)
            for body, platform, client_ip in asks]


def ask(one: Ask) -> Call:
    """Make one before-send call: network only (no database), so any thread may wait
    on it; it never raises."""
    return post(one.url, one.payload, timeout_ms=one.config.timeout_ms)


def ask_all(asks: list[Ask]) -> list[Call]:
    """Make these calls at the same time (the pool); their calls, in order."""
    if len(asks) == 1:
        return [ask(asks[0])]
    return list(calls_pool().map(ask, asks))


def verdict(one: Ask, call: Call) -> Verdict:
    """Record the attempt (in the caller's thread, outside any send transaction) and
    say what the answer decides."""
    _record_quietly(call, command=BEFORE_SEND, body=one.payload, started_at=one.started_at)
    return _verdict(one.config, call)


def _verdict(cfg: Config, call: Call) -> Verdict:
    """What the app's answer to a before-send call (or its failure) decides."""
    code = reply_code(call.reply) if call.ok else None
    info = call.reply.get("ErrorInfo") if call.reply else None
    info = info if isinstance(info, str) else ""
    if code == 0:
        msg_body = call.reply.get("MsgBody")
        custom = call.reply.get("CloudCustomData")
        return Verdict("allow",
                       msg_body=msg_body if _well_formed_msg_body(msg_body) else None,
                       cloud_custom_data=custom if isinstance(custom, str) else None)
    if code == 1:
        return Verdict("reject", BEFORE_SEND_REJECTED, CODES[BEFORE_SEND_REJECTED])
    if code == 2:
        return Verdict("drop")
    if code in APP_CODES:
        return Verdict("reject", code, info or "refused by the app's before-send webhook")
    if code is not None:
        log.warning("before-send webhook answered an unknown ErrorCode %s", code)
    if cfg.before_send_on_timeout == WebhookConfig.OnTimeout.BLOCK:
        return Verdict("reject", BEFORE_SEND_FAILED, CODES[BEFORE_SEND_FAILED])
    return ALLOW


# --- the friend pre-callbacks ------------------------------------------------------------
#
# Sns.CallbackPrevFriendAdd and Sns.CallbackPrevFriendResponse (tencent-rest.md §14.2) ask
# the app before a user's friend request, and before a user's answer to one, goes
# through; only a client's (the WebSocket and native REST doors), never the /v4 REST API's
# or an operator's, as with Tencent. relationships.friends builds the call (`friend_ask`),
# any thread makes it (`ask`: network only), the service reads the answer
# (`friend_refusals`) before its transaction. The reply's `ResultItem` holds one
# `{To_Account, ResultCode, ResultInfo}` per account asked about: ResultCode 0 lets it
# through, any other refuses it, and the user gets that code (38000-39000, which the app
# is told to use; a code outside that range is answered as 38000) with the ResultInfo.
# A call that fails (no answer in time, not HTTP 200, not JSON, ErrorCode not 0) or an
# account the reply does not name lets it through: Tencent then goes on as if the app had
# not been asked. Each call is recorded as a WebhookAttempt, as every other one.

def friend_ask(command: str, body: dict, *, platform: str, client_ip: str = "") -> Ask | None:
    """The friend pre-callback `command` with these fields, or None when it is off.
    Makes no call."""
    cfg = config()
    if not cfg.on(command):
        return None
    return Ask(cfg, {"CallbackCommand": command, **body},
               callback_url(cfg, command, platform=platform, client_ip=client_ip),
               timezone.now())


def friend_refusals(one: Ask, call: Call) -> dict[str, tuple[int, str]]:
    """Record the attempt (outside any transaction: the record must outlive a refusal)
    and return the accounts the app refused: To_Account -> (code, info)."""
    _record_quietly(call, command=one.payload["CallbackCommand"], body=one.payload,
                    started_at=one.started_at)
    if not call.ok or reply_code(call.reply) != 0:
        return {}
    items = call.reply.get("ResultItem")
    refused: dict[str, tuple[int, str]] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("To_Account"), str):
            continue
        code = reply_code({"ErrorCode": item.get("ResultCode")})
        if not code:  # 0 lets it through; a missing or junk code is no answer
            continue
        if code not in FRIEND_APP_CODES:
            log.warning("%s: ResultCode %s is outside 38000-39000; answered as 38000",
                        one.payload["CallbackCommand"], code)
            code = FRIEND_APP_CODES.start
        info = item.get("ResultInfo")
        refused[item["To_Account"]] = (code, info if isinstance(info, str) and info
                                       else "refused by the app")
    return refused

