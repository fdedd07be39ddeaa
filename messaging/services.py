"""The one send pipeline, and the other writes on messages and conversations.

Every door (WebSocket, native REST, /v4, admin, tasks) sends through `message_send`
or, for a batch gathered by a door, `message_send_many`: validation, permission,
the before-send webhook, persistence, fan-out and the after-send webhook are decided
here and nowhere else.

Which rules a send obeys is decided by where it comes from: each command names its
`origin` (messaging/commands.py; required), and `SEND_RULES` below, the one table of
them, says for each origin whether the blocklist and the friends-only rule, global
mute and the C2C webhooks apply, and what makes a repeat the same message. A door
cannot turn a rule off; a new door picks an origin, a new origin gets a row.

Order of one send:
1. `check_send_command` (element schemas, 12 KB, options) and `check_may_send`
   (receiver exists, sender active, not forbidden, not globally muted: 20012, when
   the origin's rules hold it to mute).
2. The before-send webhook (C2C.CallbackBeforeSendMsg), outside the transaction, only
   for origins with webhooks, only for sends that passed the checks (relationship
   rules included), only when the callback is on, never for muted senders or a send
   with ForbidBeforeSendMsgCallback, never for a retry of a message stored already
   (`_stored_repeats`: it gets that message, as in 3), nor for a retry of a send
   being asked about now, here or on another server process (messaging/asking.py: it
   waits for that send's outcome and gets the same answer); online-only sends too
   (OnlineOnlyFlag 1). In
   three parts, in this order for every door: `message_send_before` decides whom to
   ask and what (no call); the calls (accounts.webhooks.ask, network only, made where
   the door can wait: `message_send_many` in the caller's thread, the socket's batcher
   off the thread its database work shares, messaging/batching.py); `SendBatch.answer`
   records the attempts and applies the verdicts. Then `message_send_commit` does 3
   and 4. The verdict: allow (a replacement MsgBody/CloudCustomData replaces the
   message's and is validated again), reject (the sender gets 20006, the app's
   120001-130000 with its text, or 80003 when the call failed and the policy blocks),
   or drop (the sender sees a message as if sent; nothing is stored or delivered).
3. One transaction: the users read afresh, the checks of 1, then the relationship
   rules (`send_refusals`: 20007 blocked, 20009-20011 friends-only) under the pairs'
   locks, for every send whose origin obeys them, online-only or stored, before
   anything is published or written. Then an online-only send is published to the
   devices online now, and the others are written (messaging/persist.py), their
   events sent after commit.
4. The after-send webhook (C2C.CallbackAfterSendMsg, with UnreadMsgNum, the
   receiver's total unread) is queued for after commit, unless
   ForbidAfterSendMsgCallback. With both callbacks off the send costs what it cost
   before: a look at the cached webhook configuration, no query.

Per-message options beyond the WebSocket's (the /v4 door sets them):
`life_time` (MsgLifeTime: 0 = online only; N > 0 = the receiver's offline-cache entry
expires after N seconds, history keeps the message), `msg_seq` (Tencent's MsgSeq, kept
on the message), `sync_other_machine` (SYNC_ALL: the sender's other devices get it;
SYNC_NOT_SENDER: nothing on the sender's side, no sync entry, no conversation change,
and the sender's history does not show it; SYNC_ROAMING_ONLY, Tencent's "omitted": the
sender's sync entry and conversation are written, so history and a device that logs
in later have it, but nothing is published to the sender's devices online now).
"""

from __future__ import annotations

import logging
import time as _time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import webhook_tasks, webhooks
from accounts.events import publish_now, publish_on_commit
from accounts.locks import lock_user_pairs
from accounts.models import AdminForbidType, User
from accounts.mute import is_c2c_muted
from chat_project import wire
from chat_project.errors import ChatError
from chat_project.unavailable import BUSY_CODE, error_for, is_unavailable
from push import offline_info
from relationships.selectors import send_refusals

from . import asking
from .commands import (
    OFFLINE_LIFE_MAX,
    SYNC_ALL,
    UINT32_MAX,
    Dedupe,
    Origin,
    SendCommand,
    SendRules,
)
from .elements import check_elements
from .merged import check_merged_access, merged_release
from .models import Conversation, Extension, ExtensionHead, Message, Priority, Reaction
from .persist import _unread_totals, claim_batch_receipts, store_batch
from .upload_refs import uploads_release
from .views import message_dict

log = logging.getLogger(__name__)

# Which rules each origin's sends obey (tencent-rest.md §3.1-§3.3, §9, §10, §14.2), the
# only place this is decided: every row states every rule (SendRules has no defaults)
# and the pipeline reads nothing else. tests/messaging/test_send_rules.py checks that
# each Origin has a row and that the pipeline does what its row says.
SEND_RULES: dict[Origin, SendRules] = {
    # A user's own client: every rule, stored or online-only.
    Origin.USER: SendRules(relationships=True, mute=True, webhooks=True,
                           dedupe=Dedupe.RETRY_WINDOW, backdated=False, merged_access=True,
                           system_notice=False),
    # sendmsg: Tencent checks no friendship or blocklist for the app admin, as itself
    # or as a user, stored or online-only; its webhooks run. A muted account stays
    # muted here too (20012).
    Origin.APP_ADMIN: SendRules(relationships=False, mute=True, webhooks=True,
                                dedupe=Dedupe.SAME_SECOND, backdated=False, merged_access=False,
                                system_notice=False),
    # The app admin (as itself, or naming a From_Account) reads every merged list, and
    # an import may carry another server's JsonMsgKey: no downloadKey check for them
    # (a key that is not stored here is kept, and read as not found).
    # batchsendmsg: no webhook, no friend, blocklist or mute check (Tencent's).
    Origin.BATCH: SendRules(relationships=False, mute=False, webhooks=False,
                            dedupe=Dedupe.SAME_SECOND, backdated=False, merged_access=False,
                            system_notice=False),
    # importmsg: as batchsendmsg; the import key makes a repeat, at the given time.
    Origin.IMPORT: SendRules(relationships=False, mute=False, webhooks=False,
                             dedupe=Dedupe.IMPORT_KEY, backdated=True, merged_access=False,
                             system_notice=False),
    # Push to all: as batchsendmsg.
    Origin.BROADCAST: SendRules(relationships=False, mute=False, webhooks=False,
                                dedupe=Dedupe.SAME_SECOND, backdated=False, merged_access=False,
                                system_notice=False),
    # System notices (the console's Send page; to one user, or fanned out by the batch
    # task or push to all in this origin's name) reach everyone, blocked, not a friend or
    # muted, call no webhook, and are marked as notices (isSystemMessage).
    Origin.SYSTEM: SendRules(relationships=False, mute=False, webhooks=False,
                             dedupe=Dedupe.RETRY_WINDOW, backdated=False, merged_access=False,
                             system_notice=True),
}


class UnknownReceiver(ChatError):
    """20003 because the receiver does not exist (the /v4 door answers 90012)."""

    def __init__(self, to):
        super().__init__(20003, f"the receiver {to!r} does not exist")


# --- checks ---------------------------------------------------------------------------

_PRIORITIES = frozenset(Priority.values)  # (the enum's .values builds a list each time)


def check_send_command(cmd: SendCommand) -> SendCommand:
    """Validate a send; normalise its fields in place. Raises ChatError."""
    if isinstance(cmd.random, bool) or not isinstance(cmd.random, int) \
            or not 0 <= cmd.random <= UINT32_MAX:
        raise ChatError(90005, "random must be an integer from 0 to 4294967295")
    if not isinstance(cmd.priority, str) or cmd.priority not in _PRIORITIES:
        raise ChatError(910003, f"priority must be one of {Priority.values}")
    if not isinstance(cmd.cloud_custom_data, str):
        raise ChatError(910003, "cloudCustomData must be a string")
    for name, wire_name in (("need_read_receipt", "needReadReceipt"),
                            ("support_extension", "isSupportExtension"),
                            ("online_user_only", "onlineUserOnly"),
                            ("excluded_from_unread", "excludedFromUnreadCount"),
                            ("excluded_from_last_message", "excludedFromLastMessage")):
        if not isinstance(getattr(cmd, name), bool):
            raise ChatError(910003, f"{wire_name} must be true or false")
    if cmd.offline_push_info is not None and not isinstance(cmd.offline_push_info, dict):
        raise ChatError(910003, "offlinePushInfo must be an object")
    if cmd.offline_push_info and (why := wire.junk_in(cmd.offline_push_info)):
        raise ChatError(90043, f"offlinePushInfo: {why}")
    # The doors translate to the one stored shape (push/offline_info.py); checked here.
    cmd.offline_push_info = offline_info.check_stored(cmd.offline_push_info)
    if cmd.life_time is not None:
        if isinstance(cmd.life_time, bool) or not isinstance(cmd.life_time, int) \
                or cmd.life_time < 0:
            raise ChatError(90044, "MsgLifeTime must be a non-negative integer")
        cmd.life_time = min(cmd.life_time, OFFLINE_LIFE_MAX)
        if cmd.life_time == 0:
            cmd.online_user_only = True
    if not isinstance(cmd.to, str) or not cmd.to:
        raise ChatError(20003, "to must be a UserID")
    cmd.elements = check_elements(cmd.elements, cmd.cloud_custom_data)
    return cmd


def _sender_now(cmd: SendCommand, fresh: User | None) -> User:
    """The sender as the send transaction reads it. A socket's send (`session_epoch`)
    needs the account it logged in with, not signed out since: a kick's layer message
    can be lost, this check cannot (and a UserID deleted and registered again is
    another account)."""
    if cmd.session_epoch is not None and (
            fresh is None or fresh.pk != cmd.sender.pk
            or fresh.session_epoch != cmd.session_epoch):
        raise ChatError(70002, "this device was signed out (kicked); log in again")
    return fresh or cmd.sender


def check_may_send(cmd: SendCommand) -> None:
    """May the command's sender send to its receiver now, leaving the relationship
    rules aside (`_relationship_refusals`)? Raises ChatError with Tencent's code."""
    sender, receiver = cmd.sender, cmd.receiver
    if receiver is None or not receiver.is_active:
        raise UnknownReceiver(cmd.to or getattr(receiver, "user_id", ""))
    if not sender.is_active:
        raise ChatError(20003, "the sender's account is disabled")
    if sender.admin_forbid_type == AdminForbidType.SEND_OUT:
        raise ChatError(20012, "the sender is forbidden to send messages")
    if cmd.rules.mute and sender.c2c_mute_until and is_c2c_muted(sender):
        raise ChatError(20012, "the sender is muted")


def _relationship_refusals(commands: list[SendCommand], *,
                           locked_with: dict[str, User] | None = None) -> list[ChatError | None]:
    """The relationship rules (blocklist, friends-only) for checked commands, in the
    send transaction: the pairs' locks first (accounts.locks), so a block or an
    unfriending that commits before is seen and one that commits after waits for this
    send. Only sends whose origin obeys the rules lock and ask. `locked_with`: the users
    an earlier statement of the transaction read while it locked their pairs
    (users_for_send's `lock_pairs`); a command whose sender and receiver are those very
    users is locked already."""
    held = [c for c in commands if c.rules.relationships]
    pairs = [(c.sender.pk, c.receiver.pk) for c in held]
    lock_user_pairs([(c.sender.pk, c.receiver.pk) for c in held
                     if locked_with is None or c.sender is not locked_with.get(c.sender.user_id)
                     or c.receiver is not locked_with.get(c.to)])
    refused = send_refusals(pairs)
    return [refused.get((c.sender.pk, c.receiver.pk)) if c.rules.relationships else None
            for c in commands]


# --- the pipeline ---------------------------------------------------------------------

def message_send(*, origin: Origin, **kwargs) -> dict:
    """Send one message (SendCommand's fields); return it as the sender sees it.
    Raises ChatError."""
    result = message_send_many([SendCommand(origin=origin, **kwargs)])[0]
    if isinstance(result, ChatError):
        raise result
    return result


def message_send_many(commands: list[SendCommand], *,
                      contain_errors: bool = True) -> list[dict | ChatError]:
    """Send several independent messages, committed together (one transaction).

    Each command gets its stored message or its own ChatError; one command's failure
    never touches the others. Doors that gather concurrent sends (the WebSocket
    consumer) pass them here in one call, so many messages share one commit.

    An unexpected error (a lost connection, a statement timeout, a bug) answers 20005
    for the sends it hit, the others are written one by one; with `contain_errors`
    False (Celery tasks, which have nobody to answer) it rolls everything back and
    propagates, so the task's retry redoes the whole batch.

    The phases in order, in the caller's thread: `message_send_before`, the app's
    answers (`SendBatch.answer`), `message_send_commit`. A door whose thread is shared
    (the socket's, messaging/batching.py) calls them itself, to wait for the app
    elsewhere.
    """
    batch = message_send_before(commands)
    try:
        if batch.asks:
            batch.answer(webhooks.ask_all([ask for _, ask in batch.asks]))
        following = batch.take_following()
        results = iter(message_send_commit(batch, contain_errors=contain_errors))
    except Exception as exc:  # no retry waits for a send that will not be decided
        asking.settle(commands, [_failure(exc)] * len(commands))
        raise
    # The retries of sends another thread (or this batch) was asking the app about
    # get their outcome, after this batch's own commit (a lead may be in it).
    return [wait_for_lead(following[k]) if k in following else next(results)
            for k in range(len(commands))]


def wait_for_lead(cmd: SendCommand) -> dict | ChatError:
    """The outcome of the send `cmd` repeats, which the app is being asked about
    (messaging/asking.py), waited for in this thread; 910503 (retry) if it takes too
    long. When that send was another process's and is gone without an outcome, `cmd`
    is sent afresh."""
    try:
        return cmd.follows.result()
    except TimeoutError:
        return ChatError(BUSY_CODE, http_status=503)
    except asking.LeadLost:
        cmd.follows = None
        return message_send_many([cmd])[0]


@dataclass
class SendBatch:
    """Sends between the pipeline's phases. `results`, one per command: None (still to
    decide) or decided already (by the before-send webhook). `asks`: (index, what to
    ask the app) for each send that waits for its answer."""

    commands: list[SendCommand]
    results: list
    asks: list[tuple[int, webhooks.Ask]]
    after: bool  # the after-send callback is on for some of them

    def answer(self, calls: list[webhooks.Call]) -> None:
        """The app's answers to `asks` (their calls, in order): record the attempts
        (outside any transaction) and apply each verdict."""
        for (i, ask), call in zip(self.asks, calls, strict=True):
            _apply_verdict(self.commands[i], webhooks.verdict(ask, call), self.results, i,
                           ask)
        self.asks = []

    def take_waiting(self) -> list[SendBatch]:
        """Take out the sends that wait for the app, each as a batch of its own (to be
        answered and committed when its own answer comes)."""
        if not self.asks:
            return []
        waiting = {i for i, _ in self.asks}
        out = [SendBatch([self.commands[i]], [None], [(0, ask)], self.after)
               for i, ask in self.asks]
        self.commands = [c for i, c in enumerate(self.commands) if i not in waiting]
        self.results = [r for i, r in enumerate(self.results) if i not in waiting]
        self.asks = []
        return out

    def take_following(self) -> dict[int, SendCommand]:
        """Take out the retries of sends being asked about (asking.py: `follows`), by
        their place in the batch: they wait for that send's outcome, not for a commit."""
        assert not self.asks, "answer them first (or take_waiting)"
        following = {k: c for k, c in enumerate(self.commands) if c.follows is not None}
        if following:
            self.results = [r for k, r in enumerate(self.results) if k not in following]
            self.commands = [c for k, c in enumerate(self.commands) if k not in following]
        return following

    @classmethod
    def joined(cls, batches: list[SendBatch]) -> SendBatch:
        """Answered batches as one, for one commit."""
        if len(batches) == 1:
            return batches[0]
        assert not any(b.asks for b in batches), "answer them first"
        return cls([c for b in batches for c in b.commands],
                   [r for b in batches for r in b.results], [],
                   any(b.after for b in batches))


def message_send_before(commands: list[SendCommand]) -> SendBatch:
    """The before-send phase (the module docstring's step 2): the origin's rules, and
    for each send the app must be asked about, the call to make (made by the caller,
    where it can wait: it makes no call). With both callbacks off: no query."""
    for cmd in commands:  # the rules are the origin's, whatever a caller set
        cmd.rules = SEND_RULES[cmd.origin]
    results: list[dict | ChatError | None] = [None] * len(commands)
    before, after = _before_send_wanted(commands), _after_send_wanted(commands)
    if before or after:
        _fill_platforms(commands)
    try:
        asks = _run_before_send(commands) if before else []
    except Exception as exc:  # no retry waits for a send that will not be decided
        asking.settle(commands, [_failure(exc)] * len(commands))
        raise
    return SendBatch(commands, results, asks, after)


def message_send_commit(batch: SendBatch, *,
                        contain_errors: bool = True) -> list[dict | ChatError]:
    """The transactional phase (steps 3 and 4) for an answered batch: see
    `message_send_many`."""
    assert not batch.asks, "the app's answers come first (SendBatch.answer)"
    commands, results, after = batch.commands, batch.results, batch.after
    ready: list[tuple[int, SendCommand]] = []
    stored: list = []
    fresh: list = []  # (command, message) of each message written, for the after-send
    online: list[SendCommand] = []
    online_batched: list[tuple[int, SendCommand]] = []
    try:
        # One transaction from the users' lookup to the last write: one commit, and
        # the senders are read afresh, so a mute or a new nick applies to the next send
        # even on a socket that logged in before.
        with transaction.atomic():
            # The pairs' locks (the relationship rules, below) are taken by the same
            # statement: one round trip fewer for every send.
            users = account_selectors.users_for_send(
                {c.to for i, c in enumerate(commands)
                 if results[i] is None and isinstance(c.to, str)}
                | {c.sender.user_id for i, c in enumerate(commands) if results[i] is None},
                lock_pairs=[(c.sender.user_id, c.to) for i, c in enumerate(commands)
                            if results[i] is None and c.rules.relationships
                            and isinstance(c.to, str)])
            checked: list[tuple[int, SendCommand]] = []
            for i, cmd in enumerate(commands):
                if results[i] is not None:  # decided by the before-send webhook
                    continue
                try:
                    cmd.sender = _sender_now(cmd, users.get(cmd.sender.user_id))
                    check_send_command(cmd)
                    cmd.receiver = users.get(cmd.to)
                    check_may_send(cmd)
                    if cmd.rules.merged_access:
                        check_merged_access(user_pk=cmd.sender.pk, elements=cmd.elements)
                except ChatError as exc:
                    results[i] = exc
                    continue
                checked.append((i, cmd))
            # Online-only or stored, nothing leaves before the relationship rules.
            refusals = _relationship_refusals([cmd for _, cmd in checked], locked_with=users)
            for (i, cmd), refusal in zip(checked, refusals, strict=True):
                if refusal is not None:
                    results[i] = refusal
                elif cmd.online_user_only:
                    online.append(cmd)
                    if cmd.batch_id:
                        online_batched.append((i, cmd))
                    else:
                        results[i] = _send_online_only(cmd)
                else:
                    ready.append((i, cmd))
            if online_batched:
                _send_online_only_once(online_batched, results)
            if ready:
                stored = store_batch([cmd for _, cmd in ready], fresh=fresh)
            if after:
                _queue_after_send(fresh, online)
    except Exception as exc:
        if not contain_errors:
            asking.settle(commands, [_failure(exc)] * len(commands))
            raise
        fresh = []
        if len(ready) <= 1:
            stored = [_send_failed(exc)] * len(ready)
        else:  # find the one that fails; the others still go through
            stored = []
            for _, cmd in ready:
                try:
                    with transaction.atomic():  # a new transaction: ask the rules again
                        [refusal] = _relationship_refusals([cmd])
                        if refusal is not None:
                            stored.append(refusal)
                            continue
                        one: list = []
                        stored.extend(store_batch([cmd], fresh=one))
                        if after:
                            _queue_after_send(one, [])
                except Exception as exc:
                    stored.append(_send_failed(exc))
    for (i, _), res in zip(ready, stored, strict=True):
        results[i] = res
    for i, res in enumerate(results):
        if res is None:  # failed before it was checked: an internal error, not a loss
            results[i] = ChatError(20005)
    asking.settle(commands, results)  # their retries, waiting, get the same answers
    return results  # type: ignore[return-value]


def _failure(exc: Exception) -> ChatError:
    """What a retry waiting on a send that raised answers (not logged: the raise is)."""
    return exc if isinstance(exc, ChatError) else error_for(exc)


def _send_failed(exc: Exception) -> ChatError:
    """What a send that raised answers: 910503 ("busy, retry": the database or Redis
    was unavailable; a retry with the same random is answered once) or 20005 (a bug)."""
    if is_unavailable(exc):
        log.warning("message send failed, a backing service is unavailable: %s", exc)
    else:
        log.exception("message send failed")
    return error_for(exc)


def unstored_views(cmd: SendCommand, now: float | None = None) -> tuple[dict, dict]:
    """(receiver's view, sender's view) of a message that is not stored: ID 0-time-random."""
    now = _time.time() if now is None else now
    msg = Message(pk=0, seq=0, sender=cmd.sender, receiver=cmd.receiver, random=cmd.random,
                  time=cmd.time or int(now), elements=cmd.elements,
                  cloud_custom_data=cmd.cloud_custom_data, priority=cmd.priority,
                  need_read_receipt=cmd.need_read_receipt,
                  support_extension=cmd.support_extension,
                  is_system=bool(cmd.rules and cmd.rules.system_notice),
                  nick=cmd.sender.nick, avatar=cmd.sender.avatar)
    sender, receiver = cmd.sender, cmd.receiver
    inbound = message_dict(msg, viewer_pk=receiver.pk, sender_user_id=sender.user_id,
                           receiver_user_id=receiver.user_id)
    outbound = message_dict(msg, viewer_pk=sender.pk, sender_user_id=sender.user_id,
                            receiver_user_id=receiver.user_id)
    for m in (inbound, outbound):
        m["ID"] = f"0-{msg.time}-{msg.random}"
    return inbound, outbound


def _send_online_only(cmd: SendCommand, *, publish=publish_now) -> dict:
    """Deliver to devices online now; store nothing (no history, log, unread, push)."""
    inbound, outbound = unstored_views(cmd)
    for m in (inbound, outbound):
        m["onlineUserOnly"] = True
    sender, receiver = cmd.sender, cmd.receiver
    items = [(receiver.pk, {"event": "MESSAGE_RECEIVED", "data": [inbound]})]
    if sender.pk != receiver.pk and cmd.sync_other_machine == SYNC_ALL:
        items.append((sender.pk, {"event": "MESSAGE_RECEIVED", "data": [outbound]},
                      cmd.origin_channel))
    publish(items)
    return outbound


def _send_online_only_once(sends: list[tuple[int, SendCommand]], results: list) -> None:
    """The online-only sends of a batch (`batch_id`): published after commit, and only
    to receivers the batch has not had, so a chunk run again publishes nothing twice."""
    new = claim_batch_receipts({(c.batch_id, c.receiver.pk) for _, c in sends},
                               timezone.now())
    for i, cmd in sends:
        first = (uuid.UUID(str(cmd.batch_id)), cmd.receiver.pk) in new
        results[i] = _send_online_only(
            cmd, publish=publish_on_commit if first else (lambda items: None))


# --- webhooks (accounts/webhooks.py; tencent-rest.md §14.2) ------------------------------

def _before_send_wanted(commands: list[SendCommand]) -> bool:
    return any(c.rules.webhooks and not c.forbid_before_send for c in commands) \
        and webhooks.is_enabled(webhooks.BEFORE_SEND)


def _after_send_wanted(commands: list[SendCommand]) -> bool:
    return any(c.rules.webhooks and not c.forbid_after_send for c in commands) \
        and webhooks.is_enabled(webhooks.AFTER_SEND)


# Device platforms (accounts.models.Device.Platform) as webhooks name them (OptPlatform).
_OPT_PLATFORM = {"Web": "Web", "iOS": "iOS", "Android": "Android", "iPad": "iPad",
                 "Windows": "Windows", "Mac": "macOS"}


def _fill_platforms(commands: list[SendCommand]) -> None:
    """A socket's send carries no platform: find its device's among the sender's
    connections (one presence read, only when a webhook will be called)."""
    from accounts import presence

    need = [c for c in commands if not c.platform and c.origin_channel]
    if not need:
        return
    try:
        found = presence.presence_of({c.sender.pk for c in need})
    except Exception:  # presence is a hint: a webhook still goes, as "Unknown"
        log.exception("presence lookup for OptPlatform failed")
        found = {}
    for cmd in need:
        conns = found.get(cmd.sender.pk)
        platform = next((c.platform for c in conns.online if c.channel == cmd.origin_channel),
                        None) if conns else None
        cmd.platform = _OPT_PLATFORM.get(platform, "Unknown")


def _callback_body(cmd: SendCommand, *, msg_time: int, msg_key: str, seq: int = 0,
                   elements: list | None = None) -> dict:
    """`elements`: as stored, when they differ from the command's (a merged list stored
    apart travels as its JsonMsgKey, messaging/merged.py)."""
    from .tencent_body import msg_body_from_elements

    return {"From_Account": cmd.sender.user_id, "To_Account": cmd.to,
            "MsgSeq": cmd.msg_seq if cmd.msg_seq is not None else seq,
            "MsgRandom": cmd.random, "MsgTime": msg_time, "MsgKey": msg_key,
            "OnlineOnlyFlag": 1 if cmd.online_user_only else 0,
            "MsgBody": msg_body_from_elements(cmd.elements if elements is None else elements),
            "CloudCustomData": cmd.cloud_custom_data}


def _run_before_send(commands: list[SendCommand]) -> list[tuple[int, webhooks.Ask]]:
    """What to ask the app about each send that passes every check (outside any
    transaction: the call waits on the network, and is the caller's to make): (index,
    ask) for each. Fixes the pk and time of the sends it asks about, so the app sees
    the MsgKey they will have."""
    from .tencent_body import key_of

    asked = [(i, c) for i, c in enumerate(commands)
             if c.rules.webhooks and not c.forbid_before_send]
    users = account_selectors.users_for_send(
        {c.to for _, c in asked if isinstance(c.to, str)} | {c.sender.user_id for _, c in asked})
    passed = []
    for i, cmd in asked:
        try:
            cmd.sender = users.get(cmd.sender.user_id, cmd.sender)
            check_send_command(cmd)
            cmd.receiver = users.get(cmd.to)
            check_may_send(cmd)
        except ChatError:
            continue  # the pipeline answers it, without asking the app
        passed.append((i, cmd))
    # A send the relationship rules refuse is not shown to the app (the pipeline asks
    # again under the pairs' locks, for the answer).
    refused = send_refusals([(c.sender.pk, c.receiver.pk) for _, c in passed
                             if c.rules.relationships])
    passed = [(i, c) for i, c in passed if not c.rules.relationships
              or (c.sender.pk, c.receiver.pk) not in refused]
    # A retry of a send being asked about now (another thread's, another batch's, or
    # this one's) waits for that send's answer and is not asked (messaging/asking.py).
    now = _time.time()
    asking.lead_or_follow([c for _, c in passed], now=int(now),
                          timeout_s=webhooks.config().timeout_ms / 1000)
    passed = [(i, c) for i, c in passed if c.follows is None]
    # A retry of a message stored already gets it back: the app was asked about it,
    # under its MsgKey, and is not asked again (nor shown a second MsgKey).
    repeats = _stored_repeats([c for _, c in passed])
    passed = [(i, c) for k, (i, c) in enumerate(passed) if k not in repeats]
    # The message's pk and time are fixed now, so the app sees the MsgKey it will have.
    pks = _reserve_message_pks(len(passed))
    asks = []
    for (_, cmd), pk in zip(passed, pks, strict=True):
        if not cmd.online_user_only:
            cmd.message_pk = pk or None
            if cmd.time is None:
                cmd.time = int(now)
        msg_time = cmd.time or int(now)
        asks.append((_callback_body(cmd, msg_time=msg_time,
                                    msg_key=key_of(cmd.message_pk or 0, cmd.random, msg_time)),
                     cmd.opt_platform, cmd.client_ip))
    built = webhooks.before_send_asks(asks) if asks else []
    if built is None:  # turned off since _before_send_wanted looked
        return []
    return [(i, ask) for (i, _), ask in zip(passed, built, strict=True)]


# How much sooner than the pipeline's own window a stored message counts as repeated
# here: a send found to repeat one is not asked about, so it must still be a repeat
# when its transaction looks (after the other sends' calls, up to their timeout).
_REPEAT_MARGIN_SECONDS = 60


def _stored_repeats(commands: list[SendCommand]) -> set[int]:
    """The places of the checked sends that repeat a message stored already (an
    online-only send repeats nothing: it is never stored), by their
    origin's `dedupe` (persist.py's rule: the same sender, receiver and random within
    CHAT_DEDUP_SECONDS; for SAME_SECOND, in the same second, which is then fixed on the
    send so that its transaction finds the same message). One query."""
    live = [(k, c) for k, c in enumerate(commands) if not c.online_user_only
            and c.rules.dedupe in (Dedupe.RETRY_WINDOW, Dedupe.SAME_SECOND)]
    if not live:
        return set()
    window = settings.CHAT_DEDUP_SECONDS
    cutoff = timezone.now() - timedelta(
        seconds=max(window - _REPEAT_MARGIN_SECONDS, window / 2))
    wanted = Q()
    for _, c in live:
        wanted |= Q(random=c.random, sender_id=c.sender.pk, receiver_id=c.receiver.pk)
    times: dict[tuple[int, int, int], set[int]] = {}
    for sender_id, receiver_id, random, msg_time in Message.objects.filter(
            wanted, created_at__gte=cutoff).values_list(
                "sender_id", "receiver_id", "random", "time"):
        times.setdefault((sender_id, receiver_id, random), set()).add(msg_time)
    now = int(_time.time())
    found = set()
    for k, cmd in live:
        stored = times.get((cmd.sender.pk, cmd.receiver.pk, cmd.random))
        if not stored:
            continue
        if cmd.rules.dedupe is Dedupe.RETRY_WINDOW:
            found.add(k)
        elif (cmd.time if cmd.time is not None else now) in stored:
            cmd.time = cmd.time if cmd.time is not None else now
            found.add(k)
    return found


def _apply_verdict(cmd: SendCommand, verdict: webhooks.Verdict, results: list, i: int,
                   ask: webhooks.Ask) -> None:
    """The app's verdict on one send: refused or dropped (`results[i]`), or allowed,
    with a new body when the app gave one (checked again by the pipeline)."""
    from .tencent_body import elements_from_msg_body

    if verdict.action == "reject":
        results[i] = ChatError(verdict.code, verdict.info or None)
    elif verdict.action == "drop":
        results[i] = unstored_views(cmd, ask.payload["MsgTime"])[1]
    else:
        try:
            if verdict.msg_body is not None:
                cmd.elements = elements_from_msg_body(verdict.msg_body)
            if verdict.cloud_custom_data is not None:
                cmd.cloud_custom_data = verdict.cloud_custom_data
        except ChatError as exc:
            results[i] = exc


def _reserve_message_pks(n: int) -> list[int]:
    """n primary keys from the messages' sequence (0s where there is none to ask)."""
    if not n or connection.vendor != "postgresql":
        return [0] * n
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('messaging_message', 'id'))"
                       " FROM generate_series(1, %s)", [n])
        return [row[0] for row in cursor.fetchall()]


def _queue_after_send(fresh: list, online: list[SendCommand]) -> None:
    """Queue C2C.CallbackAfterSendMsg for each message just written (`fresh`:
    (command, message)) and each online-only one; sent after commit."""
    from .tencent_body import key_of, message_key

    todo = [(c, m) for c, m in fresh if c.rules.webhooks and not c.forbid_after_send]
    todo += [(c, None) for c in online if c.rules.webhooks and not c.forbid_after_send]
    if not todo:
        return
    # Every receiver's total in one grouped query (the send's own, persist.py).
    unread = _unread_totals({c.receiver.pk for c, _ in todo})
    calls = []
    for cmd, msg in todo:
        if msg is None:
            msg_time = cmd.time or int(_time.time())
            body = _callback_body(cmd, msg_time=msg_time,
                                  msg_key=key_of(0, cmd.random, msg_time))
        else:
            body = _callback_body(cmd, msg_time=msg.time, msg_key=message_key(msg),
                                  seq=msg.seq, elements=msg.elements)
        body.update({"SendMsgResult": 0, "ErrorInfo": "send msg succeed",
                     "UnreadMsgNum": unread[cmd.receiver.pk]})
        calls.append((body, cmd.opt_platform, cmd.client_ip))
    webhook_tasks.after_many(webhooks.AFTER_SEND, calls)


def typing_send(*, sender: User, to, typing: bool = True) -> dict:
    """Tell the peer's online devices that `sender` is typing (or stopped): a TYPING
    event, never stored. A peer who may not be messaged (blocked, friends-only) is
    told nothing, and the sender is not told why: typing reveals nothing either way."""
    if not isinstance(to, str) or not to:
        raise ChatError(910003, "to must be a UserID")
    if not isinstance(typing, bool):
        raise ChatError(910003, "typing must be true or false")
    receiver = account_selectors.user_by_user_id(to)
    if receiver is None or not receiver.is_active:
        raise ChatError(20003)
    if receiver.pk == sender.pk or send_refusals([(sender.pk, receiver.pk)]):
        return {}
    publish_now([(receiver.pk, {"event": "TYPING", "data": {
        "from": sender.user_id, "conversationID": f"C2C{sender.user_id}", "typing": typing}})])
    return {}


# --- history --------------------------------------------------------------------------

def history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    On PostgreSQL the set-based purge of messaging/retention.py (measured at 5 million
    rows); elsewhere (the embedded SQLite) a portable loop of the same batches.
    """
    if connection.vendor == "postgresql":
        from .retention import history_purge as purge_on_postgresql

        return purge_on_postgresql(before=before, batch_size=batch_size)
    return history_purge_portable(before=before, batch_size=batch_size)


def history_purge_portable(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete messages created before `before` (history past retention); return how many.

    Batches are picked on the created_at index and each is its own short transaction,
    so sending never waits behind the whole purge. A conversation whose last message
    goes keeps its row with no last message (as the FK's SET_NULL would do); one whose
    counted unread messages go (some or all) counts what is left; dialogs and their
    seq stay.
    """
    qn = connection.ops.quote_name
    messages, conversations = qn(Message._meta.db_table), qn(Conversation._meta.db_table)
    cutoff = connection.ops.adapt_datetimefield_value(before)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {messages} WHERE created_at < %s"
                           f" ORDER BY created_at LIMIT %s", [cutoff, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                marks = ", ".join(["%s"] * len(ids))
                # A raw DELETE skips Django's on_delete: clear the references first;
                # a conversation whose last message or some counted unread messages go
                # keeps only what is left to read (retention.py).
                counted = ("NOT {m}.is_revoked AND NOT {m}.excluded_from_unread"
                           " AND NOT {m}.deleted_by_receiver")
                cursor.execute(
                    f"UPDATE {conversations} SET last_message_id = CASE WHEN"
                    f" last_message_id IN ({marks}) THEN NULL ELSE last_message_id END,"
                    f" unread_count = MIN(unread_count, (SELECT count(*) FROM {messages} m"
                    f" WHERE m.dialog_id = {conversations}.dialog_id"
                    f" AND m.sender_id = {conversations}.peer_id"
                    f" AND m.receiver_id = {conversations}.owner_id"
                    f" AND m.seq > {conversations}.cleared_seq AND {counted.format(m='m')}"
                    f" AND m.id NOT IN ({marks})))"
                    f" WHERE last_message_id IN ({marks}) OR (unread_count > 0 AND EXISTS ("
                    f"SELECT 1 FROM {messages} d WHERE d.id IN ({marks})"
                    f" AND d.receiver_id = {conversations}.owner_id"
                    f" AND d.sender_id = {conversations}.peer_id"
                    f" AND d.seq > {conversations}.cleared_seq AND {counted.format(m='d')}))",
                    ids * 4)
                uploads_release(ids)
                merged_release(ids)
                ExtensionHead.objects.filter(message_id__in=ids).delete()
                Extension.objects.filter(message_id__in=ids).delete()
                Reaction.objects.filter(message_id__in=ids).delete()
                cursor.execute(f"DELETE FROM {messages} WHERE id IN ({marks})", ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total
