"""The Tencent-compatible REST door: `POST /v4/<service>/<command>` (tencent-rest.md §1).

An integrator whose backend speaks Tencent Cloud Chat's server REST API points its base
URL here and keeps working. This module is the transport every command shares: the
admin UserSig in the query string, the JSON body (parsed whatever the Content-Type
says), per-command rate limits, and the envelope (`ActionStatus`, `ErrorCode`,
`ErrorInfo`, plus `ErrorDisplay` for the services that have it). Commands live in each
app's `v4*.py` and only translate: they read Tencent's fields, call the same services
as every other door, and return Tencent's fields.

    from chat_project.v4 import V4Error, command, fields

    @command("openim", "sendmsg")
    def sendmsg(req, body):
        to = fields.string(body, "To_Account", code=90003)
        ...
        return {"MsgTime": ..., "MsgKey": ...}

A handler raises `V4Error(code, info, **extra)` (or lets a `ChatError` through: its
code and message become `ErrorCode`/`ErrorInfo`). Returning a dict with its own
`ActionStatus` (e.g. "SomeError" with an `ErrorList`) keeps that status.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from chat_project import ratecount
from chat_project.errors import ChatError
from chat_project.unavailable import BUSY_CODE, V4_BUSY_CODE, is_unavailable

log = logging.getLogger(__name__)

# The modules that register commands (imported once, on the first request).
COMMAND_MODULES = (
    "accounts.v4",          # account check and delete, kick, online status
    "accounts.v4_config",   # global mute
    "messaging.v4_send",    # sendmsg, batchsendmsg, importmsg, admin_getroammsg
    "messaging.v4_changes",  # recall, modify, read, unread, recentcontact
    "messaging.v4_extensions",  # message extensions (set_key_values, get_key_values)
    "relationships.v4",     # account import, profiles, friends, blocklist
    "push.v4",              # push to all, tags and attributes
    "messaging.v4_push",    # push to all (im_push)
)

# Services whose answers carry `ErrorDisplay` (tencent-rest.md §1).
_WITH_ERROR_DISPLAY = {"sns", "profile", "recentcontact"}

# The code for an unparsable body, per service (each section lists its own).
_JSON_ERROR = {"openim": 90001, "openconfigsvr": 130001, "sns": 30001, "profile": 40001,
               "recentcontact": 50002, "im_open_login_svc": 70402, "all_member_push": 90001,
               "openim_msg_ext_http_svc": 10004}

# Transport errors (tencent-rest.md §1). Each failure of the door has its own code.
BAD_HTTP = 60002          # not a POST
BAD_JSON = 60003          # body is not a JSON object (when the service has no own code)
BAD_SIGNATURE = 60004     # usersig missing, malformed, expired or not for this identifier
BAD_SDKAPPID = 60006      # sdkappid is not this server's
RATE_LIMITED = 60007      # this command's per-second limit is reached
UNKNOWN_COMMAND = 60009   # no such service/command
NOT_ADMIN = 60010         # identifier is not an app admin
NO_SDKAPPID = 60012       # sdkappid missing
NO_IDENTIFIER = 60015     # identifier missing
BUSY_INFO = "the server is busy (database or Redis unavailable); retry shortly"  # 60008


class V4Error(Exception):
    """A failed command: `ErrorCode`, `ErrorInfo`, and any extra answer fields."""

    def __init__(self, code: int, info: str = "", **extra):
        super().__init__(f"{code}: {info}")
        self.code, self.info, self.extra = code, info, extra


@dataclass(frozen=True)
class V4Request:
    """Who is calling: the app admin's UserID, and the raw query for the curious."""

    identifier: str
    service: str
    command: str
    client_ip: str
    random: str


@dataclass(frozen=True)
class Command:
    handler: Callable[[V4Request, dict], dict | None]
    service: str
    name: str
    limit: int | None  # requests per second; None: CHAT_V4_RATE_LIMIT


COMMANDS: dict[tuple[str, str], Command] = {}


def command(service: str, name: str, *, limit: int | None = None):
    """Register `handler(req, body) -> dict` as `/v4/<service>/<name>`."""
    def register(handler):
        key = (service, name)
        if key in COMMANDS:
            raise RuntimeError(f"/v4/{service}/{name} registered twice")
        COMMANDS[key] = Command(handler, service, name, limit)
        return handler
    return register


_loaded = False


def load_commands() -> dict[tuple[str, str], Command]:
    global _loaded
    if not _loaded:
        for module in COMMAND_MODULES:
            importlib.import_module(module)
        _loaded = True
    return COMMANDS


# --- the door -------------------------------------------------------------------------

def _answer(service: str, body: dict, status: int = 200) -> HttpResponse:
    if service in _WITH_ERROR_DISPLAY:
        body.setdefault("ErrorDisplay", "")
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


def _fail(service: str, code: int, info: str, **extra) -> HttpResponse:
    return _answer(service, {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info,
                             **extra})


def _rate_limited(cmd: Command) -> bool:
    """A one-second window per command, counted across processes (ratecount: in the
    shared cache, failing open to a per-process count while Redis is down or silent)."""
    overrides = getattr(settings, "CHAT_V4_RATE_LIMITS", {}) or {}
    limit = overrides.get(f"{cmd.service}/{cmd.name}", cmd.limit or settings.CHAT_V4_RATE_LIMIT)
    if not limit or limit <= 0:
        return False
    return ratecount.count(f"v4rate:{cmd.service}/{cmd.name}:{int(time.time())}", 2) > limit


def check_admin(identifier: str, usersig: str) -> None:
    """The caller must be an app admin holding a valid UserSig for this SDKAppID."""
    from accounts.usersig import check_usersig

    if identifier not in settings.CHAT_ADMIN_USERS:
        raise V4Error(NOT_ADMIN, f"identifier {identifier!r} is not an app admin")
    try:
        check_usersig(identifier, usersig)
    except ChatError as exc:
        raise V4Error(BAD_SIGNATURE, f"usersig check failed ({exc.code}): {exc.message}") \
            from None


@csrf_exempt
def dispatch(request: HttpRequest, service: str, name: str) -> HttpResponse:
    if request.method != "POST":
        return _fail(service, BAD_HTTP, "only POST is allowed")
    try:
        query = request.GET
    except TooManyFieldsSent:  # over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000)
        return _fail(service, BAD_HTTP, "too many query parameters")
    sdkappid = query.get("sdkappid", "")
    if not sdkappid:
        return _fail(service, NO_SDKAPPID, "sdkappid is missing")
    if sdkappid.strip() != str(settings.CHAT_SDKAPPID):
        return _fail(service, BAD_SDKAPPID, f"sdkappid {sdkappid!r} is not this server's")
    identifier = query.get("identifier", "")
    if not identifier:
        return _fail(service, NO_IDENTIFIER, "identifier is missing")
    try:
        check_admin(identifier, query.get("usersig", ""))
    except V4Error as exc:
        return _fail(service, exc.code, exc.info)
    cmd = load_commands().get((service, name))
    if cmd is None:
        return _fail(service, UNKNOWN_COMMAND, f"unknown command v4/{service}/{name}")
    if _rate_limited(cmd):
        return _fail(service, RATE_LIMITED, f"over the rate limit of v4/{service}/{name}")
    json_code = _JSON_ERROR.get(service, BAD_JSON)
    try:
        body = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError:
        return _fail(service, json_code, "the body is not valid JSON")
    if not isinstance(body, dict):
        return _fail(service, json_code, "the body must be a JSON object")
    req = V4Request(identifier=identifier, service=service, command=name,
                    client_ip=request.META.get("REMOTE_ADDR", ""),
                    random=query.get("random", ""))
    try:
        result = cmd.handler(req, body) or {}
    except V4Error as exc:
        return _fail(service, exc.code, exc.info, **exc.extra)
    except ChatError as exc:
        if exc.code == BUSY_CODE:  # a send's result: "busy, retry", Tencent's number
            return _fail(service, V4_BUSY_CODE, BUSY_INFO)
        return _fail(service, exc.code, exc.message)
    except Exception as exc:  # never a 500: the envelope says what happened
        if is_unavailable(exc):  # the database or Redis is busy or down: retry
            log.warning("v4/%s/%s: a backing service is unavailable: %r", service, name, exc)
            return _fail(service, V4_BUSY_CODE, BUSY_INFO)
        log.exception("v4/%s/%s failed", service, name)
        return _fail(service, 91000 if service == "openim" else 70500, "internal error")
    answer = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    answer.update(result)
    return _answer(service, answer)


@csrf_exempt
def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other URL under /v4/ (a trailing slash, a missing or extra segment): the
    envelope with 60009, as for an unknown command, never an HTML 404 page."""
    return _fail("", UNKNOWN_COMMAND, f"no command at /v4/{rest[:100]}: the URL is "
                 "/v4/<service>/<command> with no trailing slash")


# --- reading Tencent's fields ----------------------------------------------------------

class fields:  # noqa: N801 - a namespace: fields.string(...), fields.integer(...)
    """Typed reads of a body field; a wrong or missing one raises V4Error(code)."""

    _MISSING = object()

    @staticmethod
    def string(body: dict, name: str, *, code: int, required: bool = True,
               default: str | None = None, max_bytes: int | None = None) -> str | None:
        value = body.get(name, fields._MISSING)
        if value is fields._MISSING or value is None:
            if required:
                raise V4Error(code, f"{name} is missing")
            return default
        if not isinstance(value, str):
            raise V4Error(code, f"{name} must be a string")
        if required and not value:
            raise V4Error(code, f"{name} is empty")
        if max_bytes is not None and len(value.encode()) > max_bytes:
            raise V4Error(code, f"{name} is over {max_bytes} bytes")
        return value

    @staticmethod
    def integer(body: dict, name: str, *, code: int, required: bool = True,
                default: int | None = None, minimum: int | None = None,
                maximum: int | None = None, lenient: bool = False) -> int | None:
        """An integer; `lenient` also takes a decimal string (some clients send one)."""
        value = body.get(name, fields._MISSING)
        if value is fields._MISSING or value is None:
            if required:
                raise V4Error(code, f"{name} is missing")
            return default
        if lenient and isinstance(value, str):
            try:  # int() alone, not str.isdigit(): "²" is a digit int() refuses
                value = int(value.strip(), 10)
            except ValueError:
                raise V4Error(code, f"{name} must be an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise V4Error(code, f"{name} must be an integer")
        if not -2**63 <= value < 2**64:  # a decimal string can be any length; JSON cannot
            raise V4Error(code, f"{name} is out of the 64-bit range")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise V4Error(code, f"{name} must be between {minimum} and {maximum}")
        return value

    @staticmethod
    def array(body: dict, name: str, *, code: int, required: bool = True,
              of: type | None = None, max_items: int | None = None,
              max_code: int | None = None) -> list | None:
        value = body.get(name, fields._MISSING)
        if value is fields._MISSING or value is None:
            if required:
                raise V4Error(code, f"{name} is missing")
            return None
        if not isinstance(value, list):
            raise V4Error(code, f"{name} must be an array")
        if of is not None and not all(isinstance(v, of) and not isinstance(v, bool)
                                      for v in value):
            raise V4Error(code, f"every item of {name} must be a {of.__name__}")
        if max_items is not None and len(value) > max_items:
            raise V4Error(max_code or code, f"{name} has more than {max_items} items")
        return value
