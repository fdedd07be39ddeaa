"""UserSig issue and check, byte-compatible with Tencent's TLSSigAPIv2.

The format (shared/tencent-rest.md §12): HMAC-SHA256 over a fixed content string,
wrapped in JSON, zlib-compressed, base64 with `+/=` mapped to `*-_`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib

from django.conf import settings

from chat_project.errors import ChatError

DEFAULT_EXPIRE = 180 * 86400
# A real UserSig is about 200 characters and inflates to about 210 bytes (a 32-character
# UserID, a 10-digit expiry). The caps refuse anything far larger before it costs memory
# or CPU: unbounded, a 259 KB UserSig inflated to 200 MB (a zlib bomb), and every door
# (socket login, the REST header, the /v4 query) checks a UserSig before it knows who
# is calling.
MAX_USERSIG_CHARS = 1024
MAX_INFLATED_BYTES = 1024
_TO_URL = str.maketrans({"+": "*", "/": "-", "=": "_"})
_FROM_URL = str.maketrans({"*": "+", "-": "/", "_": "="})


def _hmac(key: str, identifier: str, sdkappid: int, curr_time: int, expire: int,
          userbuf_b64: str | None = None) -> bytes:
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{curr_time}\n"
        f"TLS.expire:{expire}\n"
    )
    if userbuf_b64 is not None:
        content += f"TLS.userbuf:{userbuf_b64}\n"
    return hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()


def gen_usersig(user_id: str, expire: int = DEFAULT_EXPIRE, *, sdkappid: int | None = None,
                key: str | None = None, now: int | None = None) -> str:
    """Issue a UserSig for `user_id`, as TLSSigAPIv2.gen_sig does."""
    sdkappid = settings.CHAT_SDKAPPID if sdkappid is None else sdkappid
    key = settings.CHAT_SECRET_KEY if key is None else key
    curr_time = int(time.time()) if now is None else now
    sig = base64.b64encode(_hmac(key, user_id, sdkappid, curr_time, expire)).decode()
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": str(user_id),
        "TLS.sdkappid": int(sdkappid),
        "TLS.expire": int(expire),
        "TLS.time": int(curr_time),
        "TLS.sig": sig,
    }
    compressed = zlib.compress(json.dumps(doc).encode("utf-8"))
    return base64.b64encode(compressed).decode().translate(_TO_URL)


def _as_int(value) -> int:
    if isinstance(value, bool):
        raise ValueError("bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("not an integer")


def _inflate(raw: bytes) -> bytes:
    """zlib-decompress at most MAX_INFLATED_BYTES; ValueError past that or when the
    stream is incomplete."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(raw, MAX_INFLATED_BYTES + 1)
    if len(out) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
        raise ValueError("inflates past the cap")
    if not inflater.eof:
        raise ValueError("truncated")
    return out


def check_usersig(user_id: str, usersig: str, *, sdkappid: int | None = None,
                  key: str | None = None, now: float | None = None) -> int:
    """Verify `usersig` for `user_id`; return when it was issued (TLS.time, Unix
    seconds); raise ChatError with Tencent's code if it fails.

    70002 empty, 70003 undecodable (or over MAX_USERSIG_CHARS, or inflating past
    MAX_INFLATED_BYTES: refused before any large allocation), 70014 other SDKAppID, 70013 other user,
    70001 expired, 70009 signature mismatch (wrong key or tampered fields).
    """
    sdkappid = settings.CHAT_SDKAPPID if sdkappid is None else sdkappid
    key = settings.CHAT_SECRET_KEY if key is None else key
    if not usersig:
        raise ChatError(70002, "UserSig is empty", http_status=401)
    if len(usersig) > MAX_USERSIG_CHARS:
        raise ChatError(70003, f"UserSig invalid: longer than {MAX_USERSIG_CHARS} characters",
                        http_status=401)
    try:
        raw = base64.b64decode(usersig.strip().translate(_FROM_URL), validate=True)
        doc = json.loads(_inflate(raw))
        sig_identifier = doc["TLS.identifier"]
        sig_sdkappid = _as_int(doc["TLS.sdkappid"])
        sig_time = _as_int(doc["TLS.time"])
        sig_expire = _as_int(doc["TLS.expire"])
        expected = base64.b64decode(doc["TLS.sig"])
        userbuf = doc.get("TLS.userbuf")
        if not isinstance(sig_identifier, str) or (userbuf is not None and not isinstance(userbuf, str)):
            raise ValueError("bad field type")
    except (ValueError, KeyError, TypeError, binascii.Error, zlib.error, UnicodeDecodeError,
            RecursionError):  # RecursionError: JSON nested past Python's limit, e.g. "[" x 1,000
        raise ChatError(70003, "UserSig invalid: cannot be decoded", http_status=401) from None
    if sig_sdkappid != int(sdkappid):
        raise ChatError(70014, http_status=401)
    if sig_identifier != user_id:
        raise ChatError(70013, http_status=401)
    if userbuf is not None:
        # IM signatures carry no userbuf (only TRTC's PrivateMapKey does).
        raise ChatError(70009, "UserSig verification failed: unexpected userbuf", http_status=401)
    actual = _hmac(key, sig_identifier, sig_sdkappid, sig_time, sig_expire)
    if not hmac.compare_digest(actual, expected):
        raise ChatError(70009, http_status=401)
    current = time.time() if now is None else now
    if current > sig_time + sig_expire:
        raise ChatError(70001, http_status=401)
    return sig_time
