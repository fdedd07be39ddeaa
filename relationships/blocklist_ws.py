"""WebSocket ops for blocklist (filled in by issue 3)."""

OPS: dict = {}
