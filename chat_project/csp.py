"""The Content-Security-Policy header of every page (Django 5.2 has no CSP support of
its own; 6.0 does).

Scripts and styles come only from this server's static files: an injected inline
`<script>` or `style=` attribute does not run. `json_script` data blocks are fine
(type application/json is never executed). Pictures and media may also come from the
file storage's host when it is not this one (MEDIA_URL absolute, or
CSP_MEDIA_ORIGINS), and pictures from CSP_IMG_ORIGINS (avatar hosts: a profile's avatar
is a URL anywhere, so any https: host unless narrowed; an avatar that is refused shows
its initial instead). The socket is this host's (ws: or wss:).

Django admin's pages need no exception (its templates carry no inline script or
style); the Swagger page at /api/docs/ does (drf-spectacular inlines its start-up
script and style), so it goes without the header.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost

EXEMPT_PREFIXES = ("/api/docs/",)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def media_origins() -> list[str]:
    """Where uploaded files are fetched from when it is not this server."""
    origins = [_origin(settings.MEDIA_URL)]
    origins += [_origin(o) or o for o in getattr(settings, "CSP_MEDIA_ORIGINS", [])]
    return [o for o in dict.fromkeys(origins) if o]


def policy(host: str) -> str:
    media = " ".join(media_origins())
    images = " ".join(o for o in getattr(settings, "CSP_IMG_ORIGINS", []) if o != "'self'")
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(filter(None, ["img-src 'self' data: blob:", media, images])),
        " ".join(filter(None, ["media-src 'self' data: blob:", media])),
        f"connect-src 'self' ws://{host} wss://{host}" if host else "connect-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every response that has none yet (except EXEMPT_PREFIXES)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" in response or request.path.startswith(EXEMPT_PREFIXES):
            return response
        try:
            host = request.get_host()
        except DisallowedHost:  # answered already (400); 'self' still covers the socket
            host = ""
        response["Content-Security-Policy"] = policy(host)
        return response
