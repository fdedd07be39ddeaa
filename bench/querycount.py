"""SQL statements and channel-layer publishes per message, counted in the send pipeline.

Run by run.py as a subprocess with the bench server's environment (so against the
`parley_bench` database): it calls `messaging.services.message_send_many` directly,
as the WebSocket door's batcher does, once with a single message and once with a
batch, under Django's CaptureQueriesContext and `capture_events`, and prints JSON.
It measures the pipeline as it is; it changes nothing in it.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")


def _shape(sql: str) -> str:
    """A statement's kind and table, e.g. 'INSERT messaging_message'."""
    words = sql.replace('"', "").split()
    verb = words[0].upper() if words else "?"
    table = "?"
    for key in ("INTO", "FROM", "UPDATE"):
        if key in (w.upper() for w in words):
            idx = [w.upper() for w in words].index(key)
            if idx + 1 < len(words):
                table = words[idx + 1].split("(")[0]
                break
    return f"{verb} {table}"


def measure(prefix: str, batch_sizes: list[int]) -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.events import capture_events
    from accounts.services import user_get_or_register
    from messaging.commands import Origin, SendCommand
    from messaging.services import message_send_many

    out = {}
    for size in batch_sizes:
        senders = [user_get_or_register(user_id=f"{prefix}{size}a{i}") for i in range(size)]
        receivers = [user_get_or_register(user_id=f"{prefix}{size}b{i}") for i in range(size)]
        for rnd in (1, 2):  # the first send of a dialog creates rows; count the second
            cmds = [SendCommand(origin=Origin.USER, sender=s, to=r.user_id, random=rnd,
                                elements=[{"type": "TIMTextElem", "payload": {"text": "q"}}])
                    for s, r in zip(senders, receivers, strict=True)]
            with CaptureQueriesContext(connection) as queries, capture_events() as events:
                results = message_send_many(cmds)
        failed = [r for r in results if not isinstance(r, dict)]
        shapes = Counter(_shape(q["sql"]) for q in queries.captured_queries)
        out[str(size)] = {
            "messages": size,
            "failed": len(failed),
            "failures": sorted({str(r) for r in failed})[:3],
            "statements": len(queries.captured_queries),
            "statements_per_message": len(queries.captured_queries) / size,
            "publishes_per_message": len(events) / size,
            "by_kind": dict(shapes.most_common()),
        }
    return out


if __name__ == "__main__":
    prefix = sys.argv[1] if len(sys.argv) > 1 else "qc"
    sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "1,16").split(",")]
    print(json.dumps(measure(prefix, sizes)))
