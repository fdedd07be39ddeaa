"""Sends waiting for the app's before-send answer in this process, so that a retry of
one is not shown to the app a second time.

A client that hears nothing for a while sends again with the same random; while the
original still waits for C2C.CallbackBeforeSendMsg, `_stored_repeats`
(messaging/services.py) finds nothing stored, and the retry used to be asked about
too: the app saw one message twice, under two MsgKeys. Now the first send to be
checked (the lead) registers here, under what makes two sends the same message
(persist.py's rule: the same sender, receiver and random; for Dedupe.SAME_SECOND, the
same second as well), and a retry checked while it is registered follows it: it is
not asked about, waits for the lead's outcome and gets the same answer (the stored
message, the dropped one's view, or the same refusal). The lead leaves when its send
is decided (`settle`, called by the pipeline after its commit, and on every way out).

Only while the before-send callback is on (the pipeline comes here only then), only
stored sends (an online-only send is never a repeat). Within one process: another
server process that gets the retry asks the app again (the store still keeps one
message: persist.py's retry lookup under the dialog's lock). An entry outlives its
lead by no more than `_LEAD_SECONDS` past the callback's timeout, should a lead never
be settled (a bug): a later retry then leads instead of waiting on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from chat_project.errors import ChatError

from .commands import Dedupe, SendCommand

# How long past the callback's timeout a lead may take to commit before its entry is
# ignored, and a follower gives up waiting (answering "busy, retry").
_LEAD_SECONDS = 30


@dataclass(eq=False)
class Lead:
    """A send being asked about, and its outcome once decided."""

    key: tuple[int, int, int]   # (sender pk, receiver pk, random)
    time: int                   # the message's time (Unix seconds)
    expires: float              # time.monotonic()
    outcome: Future = field(default_factory=Future)

    def result(self, timeout: float) -> dict | ChatError:
        """The lead's outcome, a copy of it for the follower (waits in this thread)."""
        return _copy(self.outcome.result(timeout))

    async def wait(self, timeout: float) -> dict | ChatError:
        """The same, awaited (the socket door's batcher). The shield keeps a timeout
        from cancelling the outcome, which the lead still sets."""
        return _copy(await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(self.outcome)), timeout))


_leads: dict[tuple[int, int, int], Lead] = {}
_lock = threading.Lock()


def _repeats(cmd: SendCommand) -> bool:
    return not cmd.online_user_only and cmd.rules.dedupe in (Dedupe.RETRY_WINDOW,
                                                              Dedupe.SAME_SECOND)


def lead_or_follow(commands: list[SendCommand], *, now: int, timeout_s: float) -> None:
    """For each checked send that could be a retry: register it as a lead (`cmd.lead`),
    or, when a lead of the same message is registered, make it follow that one
    (`cmd.follows`). A SAME_SECOND send without a time gets `now` (the time it will
    have), as the pipeline would give it."""
    mono = time.monotonic()
    with _lock:
        for cmd in commands:
            if not _repeats(cmd):
                continue
            key = (cmd.sender.pk, cmd.receiver.pk, cmd.random)
            msg_time = cmd.time if cmd.time is not None else now
            found = _leads.get(key)
            if found is not None and found.expires > mono and not found.outcome.done() and (
                    cmd.rules.dedupe is Dedupe.RETRY_WINDOW or found.time == msg_time):
                cmd.follows = found
                continue
            if cmd.rules.dedupe is Dedupe.SAME_SECOND:
                cmd.time = msg_time
            cmd.lead = _leads[key] = Lead(key, msg_time, mono + timeout_s + _LEAD_SECONDS)


def settle(commands: list[SendCommand], results: list) -> None:
    """The outcomes of these sends (a result, or a ChatError, each): their followers
    get them, and the leads leave the register."""
    for cmd, result in zip(commands, results, strict=True):
        lead = cmd.lead
        if lead is None:
            continue
        cmd.lead = None
        with _lock:
            if _leads.get(lead.key) is lead:
                del _leads[lead.key]
        if not lead.outcome.done():
            lead.outcome.set_result(result if result is not None else ChatError(20005))


def follow_timeout(timeout_ms: int) -> float:
    """How long a follower waits for its lead (seconds)."""
    return timeout_ms / 1000 + _LEAD_SECONDS


def _copy(result):
    """The follower's own copy: a door may add to its reply, or raise its error."""
    if isinstance(result, ChatError):
        error = result.__class__.__new__(result.__class__)
        error.__dict__.update(result.__dict__)
        error.args = result.args
        return error
    if isinstance(result, dict):
        import copy

        return copy.deepcopy(result)
    return result
