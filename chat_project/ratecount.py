"""Counting calls in a window, for rate limits that hold across server processes.

`count(key, seconds)` adds one to `key`'s count in the shared cache (Redis in
production) and returns it; the window opens with the key's first count and lasts
`seconds`. While the cache is unreachable it fails open to a count in this process:
the caller still runs (what it stores is in PostgreSQL, and devices catch up from the
sync log) and each process holds the limit on its own. The cache fails at once for a
while after a failure (chat_project/redis_bounds.py), so an outage costs one Redis
timeout now and then, not one per call. Used by the /v4 door's per-command limit
(chat_project/v4.py) and the extension writes on one message (messaging/extensions.py).
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache import cache

log = logging.getLogger(__name__)

# key -> (when its window opened, time.monotonic(); count), while the cache fails.
_local: dict[str, tuple[float, int]] = {}
_local_lock = threading.Lock()
_pruned = 0.0


def count(key: str, seconds: int) -> int:
    """One more call under `key`; how many in its window, this one included."""
    try:
        cache.add(key, 0, timeout=seconds)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=seconds)
            return 1
    except Exception as exc:  # the cache is unreachable: count in this process
        log.debug("%s counted in this process: the cache failed (%r)", key, exc)
    return _count_here(key, seconds)


def _count_here(key: str, seconds: int) -> int:
    global _pruned
    now = time.monotonic()
    with _local_lock:
        if now - _pruned > 10:  # drop the windows that are over, now and then
            _pruned = now
            for old in [k for k, (at, _) in _local.items() if now - at >= 60]:
                del _local[old]
        opened, n = _local.get(key, (now, 0))
        if now - opened >= seconds:
            opened, n = now, 0
        _local[key] = (opened, n + 1)
        return n + 1
