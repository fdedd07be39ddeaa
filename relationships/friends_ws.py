"""WebSocket ops for friends (filled in by issue 3)."""

OPS: dict = {}
