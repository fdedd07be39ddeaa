"""The HTTP plumbing vendor clients share: one pooled httpx client per process and
kind, Retry-After parsing, and the network failures that mean "try again".

APNs wants one long-lived HTTP/2 connection reused for many notifications (Apple
treats opening a connection per notification as a denial-of-service attempt), so
the clients live for the process, keyed by (HTTP/2, CA file, timeout). A Celery
prefork worker forks after import: a client made in another process is never
reused (the pid is part of the key).

An HTTP/2 client sends one request at a time. All its requests share one TLS
connection, and the synchronous httpcore reads it in one thread while writing it in
another (separate read and write locks): OpenSSL does not allow one connection to be
used by two threads at once. Under 8 threads sending together (the in-process push
threads of `make run`, or a Celery worker on a thread pool) about one run in ten saw
a read come back empty ("Server disconnected") while Apple's answers were on their
way; every stream of the connection failed, and `post` sent them again on a new
connection, so the vendor got those notifications twice. A Celery prefork worker
sends one at a time anyway.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time

import httpx
from django.conf import settings

from .base import Outcome, Result

_clients: dict[tuple, httpx.Client] = {}
_one_at_a_time: dict[httpx.Client, threading.Lock] = {}  # the HTTP/2 clients' locks
_lock = threading.Lock()

# Failures of the network or the peer's connection, not of the request: retried.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def client(*, http2: bool = False, ca_file: str = "") -> httpx.Client:
    """The process's shared client. `ca_file`: the CAs to trust instead of the
    system's store (tests' local TLS servers); empty: the system store, verified."""
    timeout = float(settings.CHAT_PUSH_HTTP_TIMEOUT)
    key = (os.getpid(), http2, ca_file, timeout)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            verify: bool | str = True
            if ca_file:
                import ssl

                verify = ssl.create_default_context(cafile=ca_file)
            found = httpx.Client(http2=http2, verify=verify, timeout=timeout,
                                 follow_redirects=False)
            _clients[key] = found
            if http2:
                _one_at_a_time[found] = threading.Lock()
        return found


def close_all() -> None:
    """Close every client of this process (tests stop their fake servers after)."""
    with _lock:
        for key, found in list(_clients.items()):
            if key[0] == os.getpid():
                found.close()
            del _clients[key]
            _one_at_a_time.pop(found, None)


# The pooled connection died under the request (the vendor closed an idle connection,
# an HTTP/2 GOAWAY, a TLS close_notify racing the request): the request never got an
# answer, and a fresh connection usually works at once. Timeouts are not among them: a
# timed-out request may have been taken, and its retry waits for the backoff.
DEAD_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def post(http: httpx.Client, url: str, **kwargs) -> httpx.Response:
    """POST through a pooled client; once more, on a new connection, when the pooled
    one turned out to be dead. Other errors (and a second dead connection) raise. An
    HTTP/2 client's requests wait for each other (see the module's docstring)."""
    serial = _one_at_a_time.get(http)
    if serial is None:
        return _post_or_again(http, url, **kwargs)
    with serial:
        return _post_or_again(http, url, **kwargs)


def _post_or_again(http: httpx.Client, url: str, **kwargs) -> httpx.Response:
    try:
        return http.post(url, **kwargs)
    except DEAD_CONNECTION_ERRORS:
        return http.post(url, **kwargs)


def network_result(exc: httpx.HTTPError) -> Result:
    """The Result of a request that got no answer: RETRY for a timeout or a network
    failure, FAILED when retrying cannot help (the vendor's TLS certificate is not
    trusted, a malformed URL)."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
        return Result(Outcome.FAILED, "certificate_verify_failed", detail)
    if isinstance(exc, TRANSIENT_ERRORS):
        return Result(Outcome.RETRY, type(exc).__name__, detail)
    return Result(Outcome.FAILED, type(exc).__name__, detail)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def read_secret(value: str) -> str:
    """A credential setting holds either the secret itself or a path to a file with it."""
    value = (value or "").strip()
    if not value:
        return ""
    if value.startswith("{"):
        return value
    if value.startswith("-----BEGIN"):
        # A PEM put in one environment line often carries "\n" for its line breaks.
        return value.replace("\\n", "\n") if "\n" not in value else value
    with open(value, encoding="utf-8") as fh:
        return fh.read()
