"""Serving uploaded files from local disk when no web server does it (SERVE_FILES)."""

import mimetypes
import re

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.views.static import serve

# Shown inline: media a chat shows in place. Everything else is a download, so a
# file a user uploaded can never run as a page of this site.
INLINE_TYPES = ("image/", "audio/", "video/")

# One range of bytes (RFC 9110 14.1.2): first-last, first- or -suffix. Safari plays
# audio and video only from a server that answers these (206), and players seek by them.
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_BLOCK = 64 * 1024
# Positions past this are past the end of any file: a longer number (the regex takes
# any count of digits) is read as this one, never parsed (int() refuses a 4,301-digit
# string with ValueError: a 500 from a crafted header).
_FAR = 10 ** 18


def serve_media(request, path):
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    header = request.headers.get("Range", "")
    if response.status_code == 200 and header:
        response = _ranged(response, header)
    content_type = mimetypes.guess_type(path)[0] or ""
    if not content_type.startswith(INLINE_TYPES) or content_type == "image/svg+xml":
        response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Accept-Ranges"] = "bytes"
    return response


def _ranged(response, header: str):
    """The part of a whole-file response that `header` asks for: 206, or 416 when it
    starts past the end; the whole response when it is not one range of bytes."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return response
    size = int(response["Content-Length"])
    first, last = (_position(g) for g in match.groups())
    if first is not None:
        start, end = first, min(last, size - 1) if last is not None else size - 1
    else:  # the last `suffix` bytes
        start, end = max(0, size - last), size - 1
    if start >= size or start > end or (first is None and not last):
        response.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    part = StreamingHttpResponse(_read(response.file_to_stream, start, end - start + 1),
                                 status=206, content_type=response["Content-Type"])
    part["Content-Range"] = f"bytes {start}-{end}/{size}"
    part["Content-Length"] = str(end - start + 1)
    for name in ("Last-Modified", "Content-Disposition"):
        if name in response:
            part[name] = response[name]
    return part


def _position(digits: str) -> int | None:
    if not digits:
        return None
    return int(digits) if len(digits) < 19 else _FAR


def _read(file, start: int, length: int):
    try:
        file.seek(start)
        while length > 0:
            block = file.read(min(_BLOCK, length))
            if not block:
                return
            length -= len(block)
            yield block
    finally:
        file.close()
