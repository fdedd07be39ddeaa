"""Logging glue (settings.LOGGING): each server error once with its traceback, each
client error once as one line.

Django logs a refused request on `django.request` with the exception it raised: a 403
(PermissionDenied), or a 400 (BadRequest, a broken multipart body), comes with a
traceback, as a 500 does. A client error is the client's, not a fault of the server:
`ClientErrorsOneLine` keeps its line ("Forbidden (Permission denied): /admin/...", at
WARNING) and drops the traceback. 5xx records keep theirs.
"""

from __future__ import annotations

import logging


class ClientErrorsOneLine(logging.Filter):
    """A `django.request` record of a 4xx response loses its exception (no traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
