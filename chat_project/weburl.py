"""The one check of "is this an http(s) URL" for what clients send and what we render."""

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
