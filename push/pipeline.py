"""Offline push delivery: which devices get a message's push, and the records of each
request to a vendor.

The send pipeline (messaging.persist.store_batch) decides what depends on the message
and the conversation, in the send transaction, at no extra statement: the message is
stored, not historical, not sent to oneself, not `disablePush`, has something to say
(push/content.py), and the receiver's option for the conversation is AcceptAndNotify.
For each such message it builds a `PushJob` (the notification included: push never
reads messaging's tables) and push/tasks.py `queue_on_commit` keeps those whose receiver
has a push token (known from the send's conversation statement on PostgreSQL, one
indexed query elsewhere) in the outbox (PushUnqueued, one INSERT in the send's
transaction) and queues a Celery task (`push.tasks.push_deliver`) after the commit, so a
send to users without tokens writes nothing and makes no broker call.

The task decides per device, at the time it runs (`deliver_jobs`):
- the receiver's global receive option: inside its quiet window, nothing is pushed
  (and a retry that comes inside it is not sent: the delivery ends "quiet");
- a token registered before the user's last kick (User.kicked_at) is dead: deleted;
- a device with a live socket gets the message over it, not by push. A socket's
  login names its deviceID (PROTOCOL.md), the token its device_id: equal IDs are the
  same device. A live socket whose deviceID matches none of the user's tokens (a client
  that logs in without a deviceID gets a generated one) may be any device of its
  platform: the tokens of that platform are skipped too;
- one `PushDelivery` per (message, user, device), created once (unique), so a task
  run twice sends each once. A run claims a delivery ("sending", committed) before
  it calls the vendor, with no transaction open during the call: two runs at the
  same time never both send it; a worker killed mid-request leaves the claim, and the
  run that redoes the task takes it again once the claim has run out (at least once:
  APNs and FCM show one notification per collapse id).

Each request is a `PushAttempt` (outcome, the vendor's code, HTTP status, latency).
DELIVERED ends the delivery; DEAD_TOKEN deletes the token; FAILED ends it (a vendor
without credentials: FAILED "not configured"); RETRY is tried again by
`push.tasks.push_retry` after the vendor's Retry-After or an exponential backoff
(capped at CHAT_TASK_RETRY_MAX_COUNTDOWN, under the broker's visibility timeout), with
a bounded jitter (retry_countdown), at most CHAT_PUSH_MAX_ATTEMPTS times.

A read (messaging.changes.conversation_mark_read) calls `withdraw_on_commit`: the
deliveries of the conversation up to the read seq that went out get a withdrawal
(`Notification(withdraw=True, collapse_id=...)`), those still pending are not sent. A
recall, or the receiver's deletion, does the same for one message; a modify gives the
deliveries still to be sent the message's new text (`message_renote`). A push task
that runs after such a change makes its deliveries from the message as it is then
(`deliver_jobs` reads it, `read_messages_with`), not from the job's copy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Func, JSONField, Q
from django.utils import timezone

from accounts import presence
from accounts.models import User

from . import services
from .models import PushAttempt, PushDelivery, PushToken, ReceiveOption
from .providers.base import Notification, Outcome, Result, provider

log = logging.getLogger(__name__)


def max_attempts() -> int:
    return int(getattr(settings, "CHAT_PUSH_MAX_ATTEMPTS", 5))


def enabled() -> bool:
    return bool(getattr(settings, "CHAT_PUSH_ENABLED", True))


@dataclass
class PushJob:
    """One message's push to one receiver, as the send pipeline hands it over."""

    message_id: int
    message_key: str
    receiver_pk: int
    sender_pk: int
    conversation_id: str  # as the receiver sees it: "C2C" + the sender's UserID
    dialog_seq: int
    note: dict  # a Notification's fields
    queued_at: float = 0.0  # time.time() at the commit (bench/push_latency.py)

    def as_json(self) -> dict:
        return asdict(self)


# --- the task's work ------------------------------------------------------------------------

def _now_seconds_of_day(now) -> int:
    return now.hour * 3600 + now.minute * 60 + now.second


def quiet_now(user_pk: int, now=None) -> bool:
    option = ReceiveOption.objects.filter(user_id=user_pk).first()
    now = now or timezone.now()
    return option is not None and option.quiet_at(_now_seconds_of_day(now))


# The token platform a socket's device may hold (PushToken.platform): an iPad's tokens
# are APNs ones; a desktop app (Windows, Mac, Linux) holds none, so its socket stands
# for no phone; an undeclared platform ("Unknown") may be a phone: Android, as before.
SOCKET_TOKEN_PLATFORM = {"iOS": "iOS", "iPad": "iOS", "Web": "Web", "Android": "Android",
                         "Windows": None, "Mac": None, "Linux": None}


def devices_to_push(tokens: list[PushToken], conns: list) -> list[PushToken]:
    """The tokens whose device has no live socket among `conns` (the user's live
    presence.Conn entries; see the module's text)."""
    token_devices = {t.device_id for t in tokens}
    online_devices = {c.device_id for c in conns}
    unmatched_platforms = {SOCKET_TOKEN_PLATFORM.get(c.platform, "Android")
                           for c in conns if c.device_id not in token_devices}
    return [t for t in tokens if t.device_id not in online_devices
            and t.platform not in unmatched_platforms]


def _online(user_pks: set[int]) -> dict[int, list]:
    try:
        return {pk: p.online for pk, p in presence.presence_of(user_pks).items()}
    except Exception:  # presence unknown: better a push too many than a push lost
        log.exception("offline push: presence lookup failed")
        return {}


def deliver_jobs(jobs: list[dict], *, on_retry: Callable[[int, float], None],
                 on_busy: Callable[[int, float], None] | None = None,
                 on_made: Callable[[], None] | None = None) -> dict[str, int]:
    """The delivery task's work: decide each job's devices, make their deliveries, send
    each pending one (`on_retry`, `on_busy` as for send_delivery; a run of the task
    again after a killed one finds its deliveries "sending" and looks after them). What
    the receivers need is read once for the batch (users, receive options, tokens,
    presence). Returns counts by outcome (for logs and tests).

    `on_made()` is called first in the transaction that makes the deliveries (also when
    it makes none): the task deletes its outbox row there, so the row goes exactly when
    the deliveries are committed. A run killed before that commit leaves the row for
    the outbox's sweep; one killed after leaves pending deliveries for the stale sweep.

    The deliveries show the messages as they are when they are made, not as they were
    sent (`_messages_now`: one statement for the batch, in the transaction that makes
    them all, one INSERT): a message modified since shows its new text, one recalled,
    deleted by its receiver or modified into nothing to push gets none."""
    counts: dict[str, int] = {}

    def count(what: str) -> None:
        counts[what] = counts.get(what, 0) + 1

    pks = {j["receiver_pk"] for j in jobs}
    receivers = {u.pk: u for u in User.objects.filter(pk__in=pks, is_active=True)}
    now = timezone.now()
    quiet = {o.user_id for o in ReceiveOption.objects.filter(user_id__in=pks)
             if o.quiet_at(_now_seconds_of_day(now))}
    tokens: dict[int, list[PushToken]] = {}
    for token in PushToken.objects.filter(user_id__in=pks).order_by("pk"):
        tokens.setdefault(token.user_id, []).append(token)
    for pk, user in receivers.items():
        tokens[pk] = _live_tokens(user, tokens.get(pk, []))
    online = _online({pk for pk in receivers if tokens.get(pk) and pk not in quiet})
    planned: list[tuple[dict, list[PushToken]]] = []
    for job in jobs:
        pk = job["receiver_pk"]
        if pk not in receivers:
            continue
        if pk in quiet:
            count("quiet")
            continue
        devices = devices_to_push(tokens.get(pk, []), online.get(pk, []))
        if not devices:
            count("online")
            continue
        planned.append((job, devices))
    made: list[tuple[dict, list[PushToken]]] = []
    with transaction.atomic():
        if on_made is not None:
            on_made()
        # Held until the deliveries are committed: a modify (or recall, or deletion)
        # of these messages waits for them, then finds them (message_renote), and so
        # does a read of their conversations (the reader's withdrawal sees them).
        changed = _messages_now([job["message_id"] for job, _ in planned]) if planned else {}
        rows = []
        for job, devices in planned:
            note = job["note"]
            if job["message_id"] in changed:
                now_note = changed[job["message_id"]]
                if now_note is None:  # recalled, deleted, or nothing to push now
                    count("not_pushed")
                    continue
                note = {**note, "title": now_note.title, "body": now_note.body,
                        "extension": now_note.extension}
            made.append((job, devices))
            rows += [PushDelivery(message_id=job["message_id"], message_key=job["message_key"],
                                  user_id=job["receiver_pk"], device_id=t.device_id,
                                  vendor=t.vendor, conversation_id=job["conversation_id"],
                                  dialog_seq=job["dialog_seq"], note=note, created_at=now,
                                  updated_at=now)
                     for t in devices]
        if rows:
            PushDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    for job, devices in made:
        pending = list(PushDelivery.objects.filter(
            message_id=job["message_id"], user_id=job["receiver_pk"],
            device_id__in=[t.device_id for t in devices],
            state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING))
            .order_by("pk").values_list("pk", flat=True))
        for delivery_pk in pending:
            count(send_delivery(delivery_pk, on_retry=on_retry, on_busy=on_busy))
    return counts


# How the delivery task reads its messages as they are now (messaging registers it:
# push does not import messaging). Given message ids, it answers those that changed
# since their send: the notification of a modified one (push/content.py, as
# message_renote's), None for one not to push any more (recalled, deleted by its
# receiver, gone, or modified into nothing a push may say); those it leaves out are
# pushed as sent. It locks the messages' dialogs against reads, then the messages
# against their changes (PostgreSQL: FOR KEY SHARE, dialogs by user pair, messages in id
# order) until the caller's transaction ends.
MessagesNow = Callable[[list[int]], "dict[int, Notification | None]"]
_messages_reader: list[MessagesNow] = []


def read_messages_with(reader: MessagesNow) -> MessagesNow:
    """Register how the delivery task reads its messages as they are now (above)."""
    _messages_reader[:] = [reader]
    return reader


def _messages_now(message_ids: list[int]) -> dict[int, Notification | None]:
    if not _messages_reader:  # nothing registered: push as sent
        return {}
    return _messages_reader[0](message_ids)


def _live_tokens(receiver: User, tokens: list[PushToken]) -> list[PushToken]:
    """The receiver's tokens; those registered before the user's last kick are deleted
    (a kick signs every device out: Tencent sends it no push after)."""
    if receiver.kicked_at:
        stale = [t for t in tokens if t.updated_at.timestamp() < receiver.kicked_at]
        if stale:
            services.push_tokens_forget(user=receiver, device_ids=[t.device_id for t in stale])
            tokens = [t for t in tokens if t not in stale]
    return tokens


def claim_lease() -> float:
    """Seconds a "sending" claim holds: the longest a vendor call can take (a token
    fetch, the request, and its one resend on a dead pooled connection, each within
    CHAT_PUSH_HTTP_TIMEOUT), and 5 s more. Past it, the run that claimed is dead."""
    return 3 * float(settings.CHAT_PUSH_HTTP_TIMEOUT) + 5.0


def send_delivery(delivery_pk: int, *, on_retry: Callable[[int, float], None],
                  on_busy: Callable[[int, float], None] | None = None,
                  check_quiet: bool = False) -> str:
    """Send one pending delivery and record the attempt. Returns what happened: an
    Outcome value, "busy" (another run is sending it), "done" (not pending),
    "retry_queued", "withdrawn", "no_token" or "quiet". A RETRY within the attempts
    calls `on_retry(delivery_pk, countdown)` after the commit (push/tasks.py queues it).

    `check_quiet` (a retry, or a run the stale sweep queued again; deliver_jobs has
    checked the first run's window for its whole batch): inside the receiver's quiet
    window the delivery ends "quiet", not sent, as a first attempt inside it is not
    (the window drops pushes, it does not delay them).

    No transaction is open, and no row locked, while the vendor is called (up to
    CHAT_PUSH_HTTP_TIMEOUT): the delivery is claimed ("sending" for claim_lease()
    seconds, one committed UPDATE), the vendor called, and the answer recorded in a
    second short transaction. A run killed in between leaves the claim; the next run
    of its task finds it "busy" and calls `on_busy(delivery_pk, seconds)` to look again
    when the claim has run out, and takes it then (so a push may go out twice, never
    zero times; the stale sweep is the net under that). A read meanwhile marks it
    `withdraw_wanted`, and the withdrawal follows the delivery."""
    now = timezone.now()
    lease = timedelta(seconds=claim_lease())
    claimed = PushDelivery.objects.filter(pk=delivery_pk).filter(
        Q(state=PushDelivery.State.PENDING)
        | Q(state=PushDelivery.State.SENDING, updated_at__lt=now - lease)) \
        .update(state=PushDelivery.State.SENDING, updated_at=now)
    if not claimed:
        row = PushDelivery.objects.filter(pk=delivery_pk).values_list(
            "state", "updated_at", "withdraw_wanted", "withdrawn").first()
        if row is not None and row[0] == PushDelivery.State.DELIVERED and row[2] \
                and not row[3]:  # a withdrawal owed by a run killed (the stale sweep)
            _send_withdrawal(PushDelivery.objects.get(pk=delivery_pk), on_retry=on_retry)
            return "withdrawn"
        if row is None or row[0] != PushDelivery.State.SENDING:
            return "done"
        if on_busy is not None:
            on_busy(delivery_pk, max(1.0, (row[1] + lease - now).total_seconds() + 0.5))
        return "busy"
    delivery = PushDelivery.objects.get(pk=delivery_pk)
    token = PushToken.objects.filter(user_id=delivery.user_id,
                                     device_id=delivery.device_id).first()
    if token is None or token.vendor != delivery.vendor:
        with transaction.atomic():
            _end(delivery, PushDelivery.State.FAILED)
            _record(delivery, Result(Outcome.FAILED, detail="the device has no token now"), 0)
        return "no_token"
    if check_quiet and quiet_now(delivery.user_id) and not delivery.withdraw_wanted:
        _end(delivery, PushDelivery.State.QUIET)
        return "quiet"
    if delivery.withdraw_wanted:
        # Read or recalled while a run now dead was sending it (a live run's sending
        # ends with the withdrawal): that run's request may have shown it, so the
        # withdrawal goes, and the notification does not go again.
        _end(delivery, PushDelivery.State.DELIVERED)  # owed: withdraw_wanted stays
        _send_withdrawal(delivery, on_retry=on_retry)
        return "withdrawn"
    result, latency = _call_vendor(token, Notification(**delivery.note))
    with transaction.atomic():
        wanted = PushDelivery.objects.select_for_update().filter(pk=delivery_pk) \
            .values_list("withdraw_wanted", flat=True).first()
        delivery.attempts += 1
        _record(delivery, result, latency)
        if result.outcome == Outcome.DELIVERED:
            _end(delivery, PushDelivery.State.DELIVERED)
        elif result.outcome == Outcome.DEAD_TOKEN:
            _end(delivery, PushDelivery.State.DEAD_TOKEN)
            services.push_token_drop_dead(token=token)
        elif result.outcome == Outcome.RETRY and wanted:
            _end(delivery, PushDelivery.State.WITHDRAWN)
            return "withdrawn"
        elif result.outcome == Outcome.RETRY and delivery.attempts < max_attempts():
            _end(delivery, PushDelivery.State.PENDING)
            countdown = retry_countdown(delivery.attempts, result.retry_after,
                                        key=delivery.pk)
            transaction.on_commit(lambda: on_retry(delivery.pk, countdown))
            return "retry_queued"
        else:  # FAILED, or RETRY with the attempts used up
            _end(delivery, PushDelivery.State.FAILED)
    if wanted and result.outcome == Outcome.DELIVERED:  # read or recalled meanwhile: owed
        _send_withdrawal(delivery, on_retry=on_retry)
    return result.outcome.value


def retry_countdown(attempts: int, retry_after: float | None, *, key: int) -> float:
    """Seconds before the next try: the vendor's Retry-After when it said, else 1, 2, 4
    ... seconds; capped under the broker's visibility timeout (CHAT_TASK_RETRY_MAX_COUNTDOWN).

    Plus a jitter, so that a batch a vendor answered 429 with one Retry-After does not
    come back all at the same instant: up to a quarter of the wait (at least 1 s, at
    most a quarter of the cap), after the wait, never before it (below the cap when the
    wait reaches it). It is spread by `key` (the delivery's pk) and the attempt, not
    drawn at random: a delivery's countdown is reproducible, consecutive deliveries
    fall evenly over the range (the fractional parts of multiples of the golden ratio).
    """
    cap = float(settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
    wait = retry_after if retry_after is not None and retry_after >= 0 \
        else float(2 ** (attempts - 1))
    base = min(max(wait, 0.0), cap)
    spread = min(max(0.25 * base, 1.0), 0.25 * cap)
    fraction = ((key * 0x9E3779B1 + attempts * 0x85EBCA6B) & 0xFFFFFFFF) / 2**32
    return min(base, cap - spread) + fraction * spread


def _call_vendor(token: PushToken, note: Notification) -> tuple[Result, int]:
    if transaction.get_connection().in_atomic_block:
        # Its locks (and a pooled connection) would be held while the vendor answers,
        # up to CHAT_PUSH_HTTP_TIMEOUT, and the answer's record lost on a rollback.
        raise RuntimeError("a push vendor called inside a transaction: send after the "
                           "commit (mark the work in it, as _mark_withdrawals does)")
    client = provider(token.vendor)
    if client is None or not client.configured():
        return Result(Outcome.FAILED, vendor_code="not_configured",
                      detail=f"{token.vendor} is not configured"), 0
    started = time.monotonic()
    try:
        result = client.send(token.token, note)
    except Exception as exc:  # a client must not raise; if one does, it is a failure
        log.exception("offline push: the %s client raised", token.vendor)
        result = Result(Outcome.FAILED, vendor_code="client_error", detail=repr(exc)[:500])
    return result, int((time.monotonic() - started) * 1000)


def _end(delivery: PushDelivery, state: str) -> None:
    delivery.state = state
    delivery.updated_at = timezone.now()
    PushDelivery.objects.filter(pk=delivery.pk).update(
        state=state, attempts=delivery.attempts, updated_at=delivery.updated_at)


def _record(delivery: PushDelivery, result: Result, latency_ms: int, *,
            withdraw: bool = False) -> None:
    PushAttempt.objects.create(
        delivery=delivery, message_id=delivery.message_id, message_key=delivery.message_key,
        user_id=delivery.user_id, device_id=delivery.device_id, vendor=delivery.vendor,
        withdraw=withdraw, outcome=str(result.outcome.value), vendor_code=result.vendor_code[:100],
        http_status=result.http_status, latency_ms=latency_ms, detail=result.detail[:500],
        created_at=timezone.now())


def requeue_stale(*, requeue: Callable[[int], None], limit: int = 1000) -> int:
    """Queue again the deliveries pending for longer than the broker's visibility
    timeout: their retry task was lost (kombu's Redis transport can lose a task it has
    taken off the queue), or the broker restarted without its queue; and those left
    "sending" that long, by a run killed while it waited for the vendor whose task was
    lost too (a claim holds claim_lease() seconds, under the visibility timeout). One that is not lost after
    all is sent once (it is pending no more when the second comes). And the delivered
    ones whose withdrawal is owed that long (marked, not sent: the run that marked
    them was killed, _withdraw_deliveries, or whose retry the broker lost,
    _send_withdrawal): their task (send_delivery) sends it.
    `requeue(pk)` queues one (push/tasks.py)."""
    before = timezone.now() - timedelta(seconds=settings.CHAT_TASK_VISIBILITY_TIMEOUT)
    found = list(PushDelivery.objects.filter(
        Q(state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING))
        | Q(state=PushDelivery.State.DELIVERED, withdraw_wanted=True, withdrawn=False),
        updated_at__lt=before).order_by("updated_at").values_list("pk", "state")[:limit])
    stale = [pk for pk, state in found if state != PushDelivery.State.DELIVERED]
    owed = [pk for pk, state in found if state == PushDelivery.State.DELIVERED]
    if stale:
        PushDelivery.objects.filter(pk__in=stale).update(
            state=PushDelivery.State.PENDING, updated_at=timezone.now())
    if owed:
        PushDelivery.objects.filter(pk__in=owed).update(updated_at=timezone.now())
    for pk, _ in found:
        requeue(pk)
    if stale:
        log.warning("offline push: queued again %d deliveries the broker lost", len(stale))
    if owed:
        log.warning("offline push: queued again %d withdrawals owed (a run killed, or "
                    "a retry lost)", len(owed))
    return len(found)


# --- withdrawal on read ---------------------------------------------------------------------

def open_deliveries(user_pk: int, conversation_id: str, upto_seq: int):
    return PushDelivery.objects.filter(
        user_id=user_pk, conversation_id=conversation_id, dialog_seq__lte=upto_seq,
        withdrawn=False, state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING,
                                    PushDelivery.State.DELIVERED))


def withdraw(user_pk: int, conversation_id: str, upto_seq: int, *,
             on_retry: Callable[[int, float], None],
             on_marked: Callable[[], None] | None = None) -> int:
    """The withdrawal task's work: pending deliveries are not sent; delivered ones get
    `Notification(withdraw=True)` (marked owed under their locks, sent after the
    commit: no transaction is open while the vendor is called; marked withdrawn after
    the vendor's answer); one being sent now is withdrawn by its task once delivered.
    `on_marked()`: called in the transaction of the marks, `on_retry` as for
    send_delivery (_withdraw_deliveries). Returns the withdrawals sent."""
    return _withdraw_deliveries(open_deliveries(user_pk, conversation_id, upto_seq),
                                on_retry=on_retry, on_marked=on_marked)


def message_open_deliveries(message_ids: list[int]):
    return PushDelivery.objects.filter(
        message_id__in=message_ids, withdrawn=False,
        state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING,
                   PushDelivery.State.DELIVERED))


def withdraw_message(message_id: int, *, on_retry: Callable[[int, float], None],
                     on_marked: Callable[[], None] | None = None) -> int:
    """The message was recalled (or deleted from both sides): `withdraw_messages`."""
    return withdraw_messages([message_id], on_retry=on_retry, on_marked=on_marked)


def withdraw_messages(message_ids: list[int], *, on_retry: Callable[[int, float], None],
                      on_marked: Callable[[], None] | None = None) -> int:
    """These messages were recalled or deleted by their receiver: their pushes are
    withdrawn as on a read (a retry still pending is not sent, a delivered one is
    withdrawn from the device), and the text kept on their deliveries is blanked (one
    statement for all of them, with the withdrawals' marks, before `on_marked()`: a
    run killed before it leaves the outbox row, and the next run blanks them).
    Returns the withdrawals sent."""
    def blank_then_marked() -> None:
        PushDelivery.objects.filter(message_id__in=message_ids).exclude(note={}).update(
            note=NoteWith({"title": "", "body": "", "extension": ""}))
        if on_marked is not None:
            on_marked()

    return _withdraw_deliveries(message_open_deliveries(message_ids), on_retry=on_retry,
                                on_marked=blank_then_marked)


def message_renote(*, message_id: int, note: Notification | None) -> list[int]:
    """The message was modified: what its deliveries still to be sent (pending, a retry
    waiting, or being sent now and perhaps retried) will show is the message as it is
    now (`note`, rendered by push/content.py from the stored message and its stored
    offline-push settings; the badge stays the one counted at the send). None: the
    message has nothing to push any more, so they are withdrawn (marked only, as
    _withdraw_deliveries marks). Called in the modify's transaction, so no retry
    claimed after its commit sends the old text (one statement; a retry claimed before
    it sends the text it read). Deliveries not made yet (the message's first push task
    has not run) are made with the new text: the task reads the message when it makes
    them, and a modify that comes while it does waits for them (deliver_jobs).

    Returns the deliveries whose withdrawal is owed: found "sending", then delivered by
    the time their lock was taken (the run that sent them had not seen the mark). They
    are not sent here, in the caller's transaction (its locks would be held across the
    vendor's answer, and an answer recorded in it lost on a rollback): the caller has
    them sent after its commit (push/tasks.py renote_on_commit), or, if it dies first,
    the stale sweep does (`requeue_stale`)."""
    if note is None:
        return [d.pk for d in _mark_withdrawals(PushDelivery.objects.filter(
            message_id=message_id, withdrawn=False,
            state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING)))]
    PushDelivery.objects.filter(
        message_id=message_id, withdrawn=False,
        state__in=(PushDelivery.State.PENDING, PushDelivery.State.SENDING),
    ).exclude(note={}).update(note=NoteWith(
        {"title": note.title, "body": note.body, "extension": note.extension}))
    return []


class NoteWith(Func):
    """A delivery's `note` with these top-level string fields set, in the UPDATE itself
    (PostgreSQL's jsonb `||`, SQLite's json_set for the embedded mode)."""

    output_field = JSONField()

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__(F("note"))

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} || %s::jsonb)", [*params, json.dumps(self.fields)]

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        pairs = ", ".join("%s, %s" for _ in self.fields)
        values = [v for key, text in self.fields.items() for v in (f"$.{key}", text)]
        return f"json_set({sql}, {pairs})", [*params, *values]

    def as_sql(self, compiler, connection, **extra):
        raise NotImplementedError(f"NoteWith has no SQL for {connection.vendor}")


def _withdraw_deliveries(deliveries, *, on_retry: Callable[[int, float], None],
                         on_marked: Callable[[], None] | None = None) -> int:
    """Withdraw the open `deliveries`; return the withdrawals sent.

    One transaction marks them all, under their locks (by pk): a pending one is not
    sent (WITHDRAWN); one being sent gets `withdraw_wanted` (its task withdraws it once
    delivered); a delivered one is marked owed (`withdraw_wanted`, still not
    `withdrawn`). `on_marked()` is called in it (also when there is nothing to mark):
    the withdrawal task deletes its outbox row there. Then each owed one is sent,
    outside any transaction, and marked `withdrawn` with its attempt when the vendor
    has answered (`_send_withdrawal`). A run killed before the marks are committed
    leaves the row for the outbox's sweep; one killed after leaves the deliveries owed,
    and the stale sweep (`requeue_stale`) has them sent. So a withdrawal is sent at
    least once: twice only when a run dies between the vendor's answer and its commit,
    harmless (a withdrawal names the message; the app, or the service worker, closes
    the notification with that id, and a second finds none). One owed already (another
    run's, alive or dead) is left to that run or the stale sweep: sent once."""
    return sum(_send_withdrawal(d, on_retry=on_retry)
               for d in _mark_withdrawals(deliveries, on_marked=on_marked))


def _mark_withdrawals(deliveries, *,
                      on_marked: Callable[[], None] | None = None) -> list[PushDelivery]:
    """_withdraw_deliveries' transaction (a savepoint in the caller's, if one is open):
    mark the open `deliveries` and return those whose withdrawal is now owed, to be
    sent after the commit (_send_withdrawal)."""
    pks = list(deliveries.values_list("pk", flat=True))
    owed: list[PushDelivery] = []
    if not pks:
        if on_marked is not None:
            on_marked()
        return owed
    State = PushDelivery.State
    with transaction.atomic():
        rows = list(PushDelivery.objects.select_for_update().filter(
            pk__in=pks, withdrawn=False).order_by("pk"))
        now = timezone.now()
        pending = [d.pk for d in rows if d.state == State.PENDING]
        sending = [d.pk for d in rows if d.state == State.SENDING and not d.withdraw_wanted]
        owed = [d for d in rows if d.state == State.DELIVERED and not d.withdraw_wanted]
        if pending:
            PushDelivery.objects.filter(pk__in=pending).update(
                state=State.WITHDRAWN, withdrawn=True, updated_at=now)
        if sending:  # its task withdraws it after
            PushDelivery.objects.filter(pk__in=sending).update(withdraw_wanted=True)
        if owed:
            PushDelivery.objects.filter(pk__in=[d.pk for d in owed]).update(
                withdraw_wanted=True, updated_at=now)
        if on_marked is not None:
            on_marked()
    return owed


def _send_withdrawal(d: PushDelivery, *, on_retry: Callable[[int, float], None]) -> int:
    """Send the owed withdrawal of `d` (the caller marked it owed, or found it so) and
    record its attempt, in one transaction after the vendor's answer, with the mark
    `withdrawn`. No device token now: marked, nothing sent. Returns the withdrawals
    sent (0 or 1).

    A RETRY answer (429, 5xx, a timeout) leaves it owed: tried again as a push is,
    `on_retry(d.pk, countdown)` after the commit (push_retry, whose send_delivery
    sends an owed withdrawal; after the vendor's Retry-After or the backoff,
    retry_countdown), up to CHAT_PUSH_MAX_ATTEMPTS withdrawal attempts (its
    PushAttempt rows, counted on a RETRY only); a retry the broker lost stays an owed
    withdrawal, for the stale sweep. The last try, or any other answer, ends it."""
    token = PushToken.objects.filter(user_id=d.user_id, device_id=d.device_id,
                                     vendor=d.vendor).first()
    result = None
    if token is not None:
        note = Notification(title="", body="", withdraw=True, collapse_id=d.message_key,
                            message_id=d.message_key, conversation_id=d.conversation_id)
        result, latency = _call_vendor(token, note)
    with transaction.atomic():
        tries = 0  # with this one
        if result is not None and result.outcome == Outcome.RETRY:
            tries = PushAttempt.objects.filter(delivery_id=d.pk, withdraw=True).count() + 1
        again = 0 < tries < max_attempts()
        PushDelivery.objects.filter(pk=d.pk).update(withdrawn=not again,
                                                    updated_at=timezone.now())
        if result is not None:
            _record(d, result, latency, withdraw=True)
        if again:
            countdown = retry_countdown(tries, result.retry_after, key=d.pk)
            transaction.on_commit(lambda: on_retry(d.pk, countdown))
    if result is None:
        return 0
    if result.outcome == Outcome.DEAD_TOKEN:
        services.push_token_drop_dead(token=token)
    return 1


# --- records ------------------------------------------------------------------------------

def attempts_purge(*, days: int | None = None, batch_size: int = 5000) -> int:
    """Delete attempts and finished deliveries older than CHAT_PUSH_ATTEMPT_DAYS, in
    batches on the created_at index; return how many attempts went."""
    days = days if days is not None else int(getattr(settings, "CHAT_PUSH_ATTEMPT_DAYS", 7))
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        ids = list(PushAttempt.objects.filter(created_at__lt=cutoff)
                   .values_list("pk", flat=True)[:batch_size])
        if ids:
            PushAttempt.objects.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < batch_size:
            break
    while True:
        ids = list(PushDelivery.objects.filter(created_at__lt=cutoff)
                   .values_list("pk", flat=True)[:batch_size])
        if ids:
            PushDelivery.objects.filter(pk__in=ids).delete()
        if len(ids) < batch_size:
            break
    return total
