"""What the server logs for a failed request (settings.LOGGING, chat_project/logs.py):
a client error (a 403) once, as one line without a traceback; a server error (a 500)
once, with its traceback; with DEBUG on (`make run`) as with it off."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client
from django.urls import include, path

from tests.console import staff_client


def _boom(request):
    raise RuntimeError("boom in a view")


# This module is the URLconf of the 500 test (pytest.mark.urls): a view that fails.
urlpatterns = [path("boom/", _boom), path("", include("chat_project.urls"))]


@pytest.fixture
def console_lines():
    """What the console handlers a `django.request` record passes through print, into
    one buffer (each of them writes there while the test runs; pytest's own capturing
    handlers, subclasses, are left alone)."""
    buffer = io.StringIO()
    swapped = []
    logger = logging.getLogger("django.request")
    while logger is not None:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                swapped.append((handler, handler.setStream(buffer)))
        logger = logger.parent if logger.propagate else None
    yield buffer
    for handler, stream in swapped:
        handler.setStream(stream)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_a_403_is_logged_once_as_one_line(debug, settings, console_lines, caplog):
    settings.DEBUG = debug
    helpdesk = staff_client("helpdesk")  # staff, without the dashboard's permission
    assert helpdesk.get("/admin/dashboard/").status_code == 403
    printed = console_lines.getvalue()
    assert printed.count("Forbidden (Permission denied): /admin/dashboard/") == 1, printed
    assert "Traceback" not in printed and "PermissionDenied" not in printed, printed
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING and record.exc_info is None


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [False, True])
def test_a_500_is_logged_once_with_its_traceback(debug, settings, console_lines):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    assert client.get("/boom/").status_code == 500
    printed = console_lines.getvalue()
    assert printed.count("Internal Server Error: /boom/") == 1, printed
    assert printed.count("Traceback") == 1 and "RuntimeError: boom in a view" in printed
