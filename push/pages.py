"""The service worker script (static/parley/sw.js), served from the site's root.

A worker controls only pages under the folder its script is served from, so the script
that must see /chat/ is served at /sw.js (scope "/"), not under /static/. It is public
(it holds no data), never cached by the browser's HTTP cache (`no-cache`: the browser
checks for a new worker at each registration), and read from the static files once.
"""

from __future__ import annotations

from functools import cache

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe


@cache
def _script() -> bytes | None:
    found = finders.find("parley/sw.js")
    if not found:
        return None
    with open(found, "rb") as f:
        return f.read()


@require_safe
def service_worker(request):
    script = _script()
    if script is None:
        raise Http404("no service worker")
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    response["X-Content-Type-Options"] = "nosniff"
    return response
