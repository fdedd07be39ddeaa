"""Sends waiting for the app's before-send answer, so that a retry of one is not shown
to the app a second time.

A client that hears nothing for a while sends again with the same random; while the
original still waits for C2C.CallbackBeforeSendMsg, `_stored_repeats`
(messaging/services.py) finds nothing stored, and the retry used to be asked about
too: the app saw one message twice, under two MsgKeys. Now the first send to be
checked (the lead) registers, under what makes two sends the same message (persist.py's
rule: the same sender, receiver and random; for Dedupe.SAME_SECOND, the same second as
well), and a retry checked while it is registered follows it: it is not asked about,
waits for the lead's outcome and gets the same answer (the stored message, the dropped
one's view, or the same refusal). The lead leaves when its send is decided (`settle`,
called by the pipeline after its commit, and on every way out).

Two registers. In the process (`_leads`): a follower waits on the lead's future. In
Redis (the Django cache), for a retry that reaches another server process (a client
that reconnects to another server): a lead claims `asking:<sender>:<receiver>:<random>`
(add, so only one claims it; it expires `_LEAD_SECONDS` past the callback's timeout),
and when decided leaves its outcome under `asked:<token>` for a minute and drops its
claim; a follower on another process reads the outcome every `_POLL_SECONDS`. Redis
costs two or three calls per send asked about, none when the callback is off. Nothing
waits on Redis to send: when it cannot be reached, a send claims nothing and is asked
about (as before the register), and a follower whose lead's claim is gone without an
outcome (the lead's process died, Redis lost it or cannot be read) is sent afresh: it
finds the message if the lead stored it, else it is asked about itself.

Only while the before-send callback is on (the pipeline comes here only then), only
stored sends (an online-only send is never a repeat). A follower that waits longer than
the callback's timeout plus `_LEAD_SECONDS` answers 910503 (busy, retry); an entry in
the process outlives its lead by no more than that, should a lead never be settled.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.core.cache import cache

from chat_project.errors import ChatError

from .commands import Dedupe, SendCommand

log = logging.getLogger(__name__)

# How long past the callback's timeout a lead may take to commit before its entry is
# ignored, and a follower gives up waiting (answering "busy, retry").
_LEAD_SECONDS = 30
# How often a follower on another process reads the lead's outcome; how long it is kept.
_POLL_SECONDS = 0.05
_OUTCOME_SECONDS = 60


class LeadLost(Exception):
    """Another process's lead is gone without an outcome: send the follower afresh."""


@dataclass(eq=False)
class Lead:
    """A send being asked about, and its outcome once decided. `token`: its claim in
    Redis (None: not claimed there); `remote`: the send is another process's, its
    outcome is read from Redis."""

    key: tuple[int, int, int]   # (sender pk, receiver pk, random)
    time: int                   # the message's time (Unix seconds)
    expires: float              # time.monotonic()
    token: str | None = None
    remote: bool = False
    outcome: Future = field(default_factory=Future)

    def result(self) -> dict | ChatError:
        """The lead's outcome, a copy of it for the follower (waits in this thread until
        the lead's entry expires). Raises TimeoutError, or LeadLost for a remote lead
        gone without one."""
        if not self.remote:
            return _copy(self.outcome.result(max(0.0, self.expires - time.monotonic())))
        deadline = self.expires
        while (found := self._poll()) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError
            time.sleep(_POLL_SECONDS)
        return found

    async def wait(self) -> dict | ChatError:
        """The same, awaited (the socket door's batcher). The shield keeps a timeout
        from cancelling the outcome, which the lead still sets; a remote lead's is read
        on the webhook calls' threads, a short call at a time."""
        if not self.remote:
            return _copy(await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self.outcome)),
                max(0.0, self.expires - time.monotonic())))
        from accounts.webhooks import calls_pool

        loop = asyncio.get_running_loop()
        deadline = self.expires
        while (found := await loop.run_in_executor(calls_pool(), self._poll)) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError
            await asyncio.sleep(_POLL_SECONDS)
        return found

    def _poll(self) -> dict | ChatError | None:
        """A remote lead's outcome, or None while it is still being asked about."""
        try:
            found = cache.get(_outcome_key(self.token))
            if found is None:
                claim = cache.get(_claim_key(self.key))
                if isinstance(claim, dict) and claim.get("token") == self.token:
                    return None
                found = cache.get(_outcome_key(self.token))  # decided meanwhile?
        except Exception as exc:  # Redis cannot be read: do not wait on it
            self._forget()
            raise LeadLost from exc
        self._forget()
        if found is None:
            raise LeadLost
        return _decode(found)

    def _forget(self) -> None:
        with _lock:
            if _leads.get(self.key) is self:
                del _leads[self.key]


_leads: dict[tuple[int, int, int], Lead] = {}
_lock = threading.Lock()


def _repeats(cmd: SendCommand) -> bool:
    return not cmd.online_user_only and cmd.rules.dedupe in (Dedupe.RETRY_WINDOW,
                                                              Dedupe.SAME_SECOND)


def _same(cmd: SendCommand, lead: Lead, msg_time: int) -> bool:
    return cmd.rules.dedupe is Dedupe.RETRY_WINDOW or lead.time == msg_time


def lead_or_follow(commands: list[SendCommand], *, now: int, timeout_s: float) -> None:
    """For each checked send that could be a retry: register it as a lead (`cmd.lead`),
    or, when a lead of the same message is registered here or in Redis, make it follow
    that one (`cmd.follows`). A SAME_SECOND send without a time gets `now` (the time it
    will have), as the pipeline would give it."""
    mono = time.monotonic()
    ttl = timeout_s + _LEAD_SECONDS
    with _lock:  # (a claim in Redis too: one send of a message claims, here and there)
        for cmd in commands:
            if not _repeats(cmd):
                continue
            key = (cmd.sender.pk, cmd.receiver.pk, cmd.random)
            msg_time = cmd.time if cmd.time is not None else now
            found = _leads.get(key)
            if found is not None and found.expires > mono and not found.outcome.done() \
                    and _same(cmd, found, msg_time):
                cmd.follows = found
                continue
            lead = _claim(cmd, key, msg_time, mono + ttl, math.ceil(ttl))
            _leads[key] = lead
            if lead.remote:
                cmd.follows = lead
                continue
            if cmd.rules.dedupe is Dedupe.SAME_SECOND:
                cmd.time = msg_time
            cmd.lead = lead


def _claim(cmd: SendCommand, key, msg_time: int, expires: float, ttl: int) -> Lead:
    """This send as a lead claimed in Redis, or the other process's lead it follows.
    Redis unreachable: a lead claimed nowhere else (asked about, as without it)."""
    token = uuid.uuid4().hex
    try:
        if cache.add(_claim_key(key), {"token": token, "time": msg_time}, timeout=ttl):
            return Lead(key, msg_time, expires, token=token)
        held = cache.get(_claim_key(key))
    except Exception as exc:
        log.warning("before-send: no claim in Redis for a send (%r); it is asked about", exc)
        return Lead(key, msg_time, expires)
    if isinstance(held, dict) and isinstance(held.get("time"), int) \
            and _same(cmd, Lead(key, held["time"], expires), msg_time):
        return Lead(key, held["time"], expires, token=held.get("token"), remote=True)
    return Lead(key, msg_time, expires)  # another second's message, or the claim just went


def settle(commands: list[SendCommand], results: list) -> None:
    """The outcomes of these sends (a result, or a ChatError, each): their followers
    get them, and the leads leave the registers."""
    for cmd, result in zip(commands, results, strict=True):
        lead = cmd.lead
        if lead is None:
            continue
        cmd.lead = None
        result = result if result is not None else ChatError(20005)
        with _lock:
            if _leads.get(lead.key) is lead:
                del _leads[lead.key]
        if lead.token is not None:
            try:
                cache.set(_outcome_key(lead.token), _encode(result), timeout=_OUTCOME_SECONDS)
                cache.delete(_claim_key(lead.key))
            except Exception as exc:  # its followers elsewhere will be sent afresh
                log.warning("before-send: a send's outcome was not left in Redis (%r)", exc)
        if not lead.outcome.done():
            lead.outcome.set_result(result)


def _claim_key(key: tuple[int, int, int]) -> str:
    return "asking:{}:{}:{}".format(*key)


def _outcome_key(token: str | None) -> str:
    return f"asked:{token}"


def _encode(result) -> dict:
    """An outcome as Redis keeps it (the cache pickles it; an exception would not
    survive: ChatError's arguments are not its constructor's)."""
    if isinstance(result, ChatError):
        return {"error": {"class": f"{type(result).__module__}:{type(result).__qualname__}",
                          "state": dict(result.__dict__), "args": result.args}}
    return {"result": result}


def _decode(found: dict) -> dict | ChatError:
    if "result" in found:
        return found["result"]
    error = found["error"]
    try:
        module, name = error["class"].split(":")
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, ChatError)):
            raise TypeError(error["class"])
    except Exception:
        cls = ChatError
    decoded = cls.__new__(cls)
    decoded.__dict__.update(error["state"])
    decoded.args = tuple(error["args"])
    return decoded


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
