"""Global mute (tencent-rest.md §9): an operator stops a user from sending for a while.

Stored on the user as Unix seconds: `c2c_mute_until` (one-to-one messages) and
`group_mute_until` (kept for the /v4 round trip only; Parley has no groups). 0 means
not muted, FOREVER (4294967295) means muted until unmuted. The send pipeline refuses
a C2C-muted sender with 20012 before the before-send webhook runs; this module only
stores and reads the times.

Doors: /v4 `openconfigsvr/setnospeaking` and `getnospeaking` (accounts/v4_config.py).
"""

from __future__ import annotations

import time

from .models import User

FOREVER = 4294967295  # Tencent's "permanent", in seconds and as an until-time


def mute_until(seconds: int, *, now: int) -> int:
    """The until-time for a mute of `seconds` from `now` (0 unmutes; FOREVER stays)."""
    if seconds <= 0:
        return 0
    if seconds >= FOREVER:
        return FOREVER
    return min(now + seconds, FOREVER)


def mute_set(user: User, c2c_seconds: int | None = None, group_seconds: int | None = None,
             *, now: int | None = None) -> User:
    """Mute (or unmute, with 0) `user` for these many seconds from now; None leaves a
    time as it is. FOREVER mutes until unmuted."""
    now = int(time.time()) if now is None else now
    changed = []
    if c2c_seconds is not None:
        user.c2c_mute_until = mute_until(c2c_seconds, now=now)
        changed.append("c2c_mute_until")
    if group_seconds is not None:
        user.group_mute_until = mute_until(group_seconds, now=now)
        changed.append("group_mute_until")
    if changed:
        user.save(update_fields=changed)
    return user


def _remaining(until: int, now: int) -> int:
    if until == FOREVER:
        return FOREVER
    return max(0, until - now)


def mute_remaining(user: User, *, now: int | None = None) -> tuple[int, int]:
    """(C2C, group) seconds of mute left: 0 none, FOREVER for ever."""
    now = int(time.time()) if now is None else now
    return _remaining(user.c2c_mute_until, now), _remaining(user.group_mute_until, now)


def is_c2c_muted(user: User, now: float | None = None) -> bool:
    """May `user` not send one-to-one messages at `now` (Unix seconds)?"""
    until = user.c2c_mute_until
    if not until:
        return False
    return until == FOREVER or until > (time.time() if now is None else now)
