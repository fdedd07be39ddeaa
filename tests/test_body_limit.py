"""A request's body is bounded before the server reads it (chat_project/body_limit.py).

Django's ASGI handler spools a whole body to disk before authentication runs: an
anonymous client could send gigabytes to any URL and the server wrote them all to its
temporary directory before answering 401. Driven against a live uvicorn, as clients
that face it without nginx (`make run`, embedded mode) would."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = settings.CHAT_MAX_VIDEO_BYTES + settings.CHAT_MAX_IMAGE_BYTES + 1024 * 1024


def connect(live_server_url) -> socket.socket:
    url = urlparse(live_server_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    return sock


def read_response(sock) -> tuple[int, bytes]:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_a_body_declared_too_large_is_refused_before_it_is_sent(live_server_url):
    sock = connect(live_server_url)
    sock.sendall(b"POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\n"
                 b"Content-Length: %d\r\n\r\n" % (LIMIT + 1))
    started = time.monotonic()
    status, body = read_response(sock)  # the server waited for 130 MB: timed out
    assert status == 413 and json.loads(body)["code"] == 910006
    assert time.monotonic() - started < 5
    sock.close()


def test_the_largest_upload_still_fits():
    # A 100 MB video with its 28 MB cover, and the form around them.
    assert LIMIT >= settings.CHAT_MAX_VIDEO_BYTES + settings.CHAT_MAX_IMAGE_BYTES + 4096


def test_a_chunked_body_is_cut_off_past_the_bound(live_server_url):
    """No length declared: the server reads up to the bound, then answers 413 (or closes)
    instead of spooling the rest; before, it read all of it and answered 401."""
    sock = connect(live_server_url)
    sock.sendall(b"POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/octet-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    block = b"\x00" * (1024 * 1024)
    chunk = b"%x\r\n" % len(block) + block + b"\r\n"
    sent = 0
    refused = False
    try:
        while sent < LIMIT + 64 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(block)
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        refused = True
    assert refused, f"the server read all {sent} bytes"
    # Socket buffers hold a few MB the server never read.
    assert sent < LIMIT + 32 * 1024 * 1024
    sock.close()
