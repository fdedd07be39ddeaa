"""The one check of "is this an http(s) URL, or a path on this server" for what clients
send and what we render (the chat page's safeUrl in static/parley/render.js agrees)."""

import re

# Schemes are case-insensitive (RFC 3986 3.1): HTTPS://, Http:// are web URLs too.
# ASCII only: under a Unicode IGNORECASE, "ſ" (U+017F) would match "s".
_WEB_SCHEME = re.compile(r"(https?)://", re.IGNORECASE | re.ASCII)


def web_url(value) -> str | None:
    """`value` with its scheme in lower case (RFC 3986 6.2.2.1) if it is an http or
    https URL, else None (javascript:, data:, any other scheme, in any case)."""
    if not isinstance(value, str):
        return None
    match = _WEB_SCHEME.match(value)
    if match is None:
        return None
    return match.group(1).lower() + value[match.end(1):]


def site_path(value) -> str | None:
    """`value` if it is a path on this server ("/media/..."), else None.

    Browsers parse a link as WHATWG's URL standard says: tabs and newlines anywhere are
    deleted first, and in an http(s) page a backslash is a slash. So "//host/x",
    "/\\host/x" and "/<tab>/host/x" are protocol-relative: they name another host, with
    the page's scheme, and are neither a path here nor an http(s) URL we could check.
    """
    if not isinstance(value, str) or not value.startswith("/"):
        return None
    if value[1:2] in ("/", "\\") or any(c in value for c in "\t\n\r"):
        return None
    return value


def link_url(value) -> str | None:
    """What may go in a link: an http(s) URL (scheme in lower case) or a path here."""
    return site_path(value) or web_url(value)
