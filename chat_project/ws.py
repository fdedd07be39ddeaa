"""Glue for the realtime door: how an app declares its WebSocket ops.

Each app keeps its ops in `<app>/ws_ops.py` as `OPS = {"webSdkName": handler}`; the
consumer (messaging/consumers.py) merges them. A handler is `async (consumer, data)`
returning the reply's data; `sync_op` makes one from a plain function `(user, data)`
that calls the app's services or selectors in the database thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from channels.db import database_sync_to_async

from chat_project.errors import ChatError


def sync_op(fn: Callable) -> Callable:
    """Run `fn(user, data)` in a worker thread as an op. When `fn` takes a `platform`
    keyword, it gets the socket's device platform (the OptPlatform of the webhooks the
    op's service fires)."""
    call = database_sync_to_async(fn)
    wants_platform = "platform" in inspect.signature(fn).parameters

    async def handler(consumer, data: dict):
        if wants_platform:
            return await call(consumer.user, data,
                              platform=getattr(consumer, "platform", None) or "Unknown")
        return await call(consumer.user, data)

    handler.__name__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


def field(data: dict, name: str, kind: type | tuple, *, required: bool = True, default=None):
    """One field of an op's data, type-checked (910003 names the field)."""
    if name not in data or data[name] is None:
        if required:
            raise ChatError(910003, f"{name} is required")
        return default
    value = data[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ChatError(910003, f"{name} has the wrong type")
    if not isinstance(value, kind):
        raise ChatError(910003, f"{name} has the wrong type")
    return value
