"""System checks of the realtime setup (`manage.py check --deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility, deploy=True)
def check_channel_layer(app_configs=None, **kwargs):
    """Without REDIS_URL the channel layer, the cache and the rate limits live in one
    process: a message sent on one server process never reaches a socket held by
    another (it waits in the receiver's sync log for a `sync` or the next login)."""
    if settings.REDIS_URL:
        return []
    return [Warning(
        "REDIS_URL is not set: the channel layer, presence, cache and rate limits are "
        "in-process, so sockets on different server processes do not hear each other's "
        "messages live.", id="messaging.W001",
        hint="Set REDIS_URL, or run exactly one server process (uvicorn --workers 1) and "
             "no other host.")]
