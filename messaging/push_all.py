"""Push to all (v4 all_member_push/im_push): one message to every account a condition
matches, sent through the one send pipeline by a Celery task.

`broadcast_send` is the service every door calls: it checks the message, records the
task in push (quota, interval, MsgRandom de-duplication: push.services.broadcast_create)
and queues `run_broadcast` after commit. The task walks the matching users in pk
order, CHAT_PUSH_CHUNK (200) at a time, and hands each page to
`messaging.services.message_send_many` as one batch of `Origin.BROADCAST` sends (or
`Origin.SYSTEM` ones, for the console's system notices: BroadcastOrigin): the
sender is the app admin (or the given account); no relationship or mute check and no
C2C webhook (SEND_RULES), as for batchsendmsg; every message of one push has the
push's MsgRandom and time.

    MsgLifeTime 0  -> online_user_only: the devices online now get MESSAGE_RECEIVED;
                      nothing is stored (no history, no sync log, no unread).
    MsgLifeTime N  -> stored: the receiver's sync-log entry lives N seconds (replayed to
                      a device that logs in before then), conversation, unread count.

Tencent's "offline storage yes, roaming no": nothing lands on the sender's side
(SYNC_NOT_SENDER: no sync entry, no conversation, not in the sender's history, no
event to the sender's devices), so the admin's account is not flooded with one
conversation per user. The receiver's side is stored like any message, so it also
stays in the receiver's history (getMessageList) until CHAT_HISTORY_DAYS: Parley's
offline cache is a view of history, not a separate store.

Each page is committed together with the task's progress (cursor, counts), under a
lock on the task's row, so a task run again (a worker lost mid-way, Celery's retry on
a transient error, chat_project/task_rules.py) goes on after the last committed page
and never sends a page twice, even while a run it replaces still goes on (the broker
hands a task out again once it has been held for the visibility timeout). A run stops
after a quarter of that timeout and queues the rest as a task of its own.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.events import capture_events, layer_send_now
from accounts.models import User
from chat_project import broker
from chat_project.errors import ChatError
from chat_project.task_rules import RETRY, TRANSIENT_ERRORS, task_transaction
from push import selectors as push_selectors
from push import services as push_services
from push.conditions import Condition
from push.models import BroadcastTask

from .commands import SYNC_NOT_SENDER, Origin, SendCommand
from .elements import check_elements
from .models import BroadcastOrigin
from .services import message_send_many

log = logging.getLogger(__name__)


# The origins a push to all may be sent in.
PUSH_ORIGINS = (Origin.BROADCAST, Origin.SYSTEM)


def chunk_size() -> int:
    return int(getattr(settings, "CHAT_PUSH_CHUNK", 200))


def broadcast_send(*, sender: User, elements: list, msg_random: int, lifetime: int = 0,
                   condition: dict | None = None, offline_push_info: dict | None = None,
                   cloud_custom_data: str = "",
                   origin: Origin = Origin.BROADCAST) -> BroadcastTask:
    """Push one message to every account `condition` (Tencent's Condition) matches.

    Returns the task at once; the fan-out runs in Celery after commit. A MsgRandom
    used within 7 days returns that push's task and sends nothing again. Raises
    ChatError: 90005, 90026, 90010/93000 (the elements), the condition's codes,
    90024 (1 s apart) and 90047 (daily quota).

    `origin`: BROADCAST (im_push, the console's audiences) or SYSTEM (the console's
    system notices to an audience), kept with the push (BroadcastOrigin) so its pages
    are sent in it and SEND_RULES' row decides.
    """
    if origin not in PUSH_ORIGINS:
        raise ValueError(f"a push to all is sent as {PUSH_ORIGINS}, not {origin}")
    msg_random = push_services.check_msg_random(msg_random)
    lifetime = push_services.check_lifetime(lifetime)
    if not isinstance(cloud_custom_data, str):
        raise ChatError(910003, "cloudCustomData must be a string")
    elements = check_elements(elements, cloud_custom_data)
    checked = push_services.check_condition(condition)
    if not sender.is_active:
        raise ChatError(20003, f"the sender {sender.user_id!r} is disabled")
    with transaction.atomic():
        task, created = push_services.broadcast_create(
            sender=sender, elements=elements, msg_random=msg_random, lifetime=lifetime,
            condition=checked, offline_push_info=offline_push_info,
            cloud_custom_data=cloud_custom_data)
        if created:
            if origin is not Origin.BROADCAST:
                BroadcastOrigin.objects.create(task=task, origin=origin.value)
            pk = task.pk
            transaction.on_commit(lambda: queue_broadcast(pk))
    return task


def queue_broadcast(pk: int) -> None:
    """Queue the push's first run (after its commit). When the broker will not take it
    the push stays queued in the database (BroadcastTask), and the 30-second sweep
    (messaging.tasks.requeue_lost_tasks) queues it a visibility timeout later; the
    request that made it has committed and answers OK."""
    try:
        broker.publish(run_broadcast, (pk,))
    except broker.BROKER_ERRORS as exc:
        log.warning("push %s not queued (%s): the sweep of lost tasks queues it later",
                    pk, exc)


_ENDED = (BroadcastTask.State.DONE, BroadcastTask.State.FAILED)


def broadcast_fan_out(task: BroadcastTask, *, seconds: float | None = None) -> BroadcastTask:
    """Send a recorded push to its recipients, page by page, from its cursor on; stop
    after `seconds` (None: at the end), the task's state still RUNNING."""
    if task.state in _ENDED:
        return task
    push_services.broadcast_mark(task, state=BroadcastTask.State.RUNNING,
                                 started=task.started or timezone.now())
    condition = Condition.from_json(task.condition)
    sender = task.sender
    msg_time = int(task.created.timestamp())  # one time for the whole push
    origin = push_origin(task)
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        with capture_events() as events, task_transaction():
            # The progress as committed, locked: another run of this push waits here.
            task = BroadcastTask.objects.select_for_update().get(pk=task.pk)
            task.sender = sender
            if task.state in _ENDED:
                return task
            page = push_selectors.broadcast_recipients(
                condition, exclude_pk=sender.pk, after_pk=task.cursor, limit=chunk_size())
            if not page:
                push_services.broadcast_mark(task, state=BroadcastTask.State.DONE,
                                             finished=timezone.now())
                log.info("push %s done: %d matched, %d delivered", task.task_id,
                         task.matched, task.delivered)
                return task
            failed, first = _send_page(task, page, msg_time, origin)
        # The page's events (online-only ones at once, stored ones at commit) are
        # gathered and sent in one go: one trip to the channel layer's loop per page,
        # not one per user.
        layer_send_now(events)
        if failed:
            log.warning("push %s: %d of %d sends failed (first: %s)", task.task_id, failed,
                        len(page), first)
    return task


def push_origin(task: BroadcastTask) -> Origin:
    """The origin a push's messages are sent in: BROADCAST unless recorded otherwise."""
    kept = BroadcastOrigin.objects.filter(task_id=task.pk).values_list("origin", flat=True)
    return Origin.SYSTEM if list(kept) == [Origin.SYSTEM.value] else Origin.BROADCAST


def _send_page(task: BroadcastTask, page: list, msg_time: int,
               origin: Origin) -> tuple[int, object]:
    """One page's messages and the task's progress, in the caller's transaction."""
    sender = task.sender
    commands = [SendCommand(origin=origin, sender=sender, to=user_id,
                            elements=list(task.body),
                            random=task.msg_random, time=msg_time,
                            cloud_custom_data=task.cloud_custom_data,
                            offline_push_info=task.offline_push_info,
                            online_user_only=task.lifetime == 0,
                            life_time=task.lifetime,
                            sync_other_machine=SYNC_NOT_SENDER)
                for _, user_id in page]
    # An error rolls the page back with its progress; the task's retry redoes it.
    results = message_send_many(commands, contain_errors=False)
    failed = sum(isinstance(r, ChatError) for r in results)
    push_services.broadcast_mark(
        task, cursor=page[-1][0], matched=task.matched + len(page),
        delivered=task.delivered + len(page) - failed, failed=task.failed + failed)
    return failed, next((r for r in results if isinstance(r, ChatError)), None)


# Retried on a transient error (a lost connection, a statement timeout), resuming after
# the last committed page; any other error ends the push as FAILED.
@shared_task(bind=True, ignore_result=True, **RETRY)
def run_broadcast(self, task_pk: int) -> int:
    task = BroadcastTask.objects.select_related("sender").filter(pk=task_pk).first()
    if task is None:
        log.warning("push task %s is gone", task_pk)
        return 0
    # In process (the embedded default) it runs to the end; in a worker a run stays
    # well under the visibility timeout and the rest is a task of its own.
    seconds = None if self.request.is_eager else settings.CHAT_TASK_VISIBILITY_TIMEOUT / 4
    try:
        task = broadcast_fan_out(task, seconds=seconds)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        log.exception("push %s failed", task.task_id)
        push_services.broadcast_mark(task, state=BroadcastTask.State.FAILED,
                                     finished=timezone.now(), error=repr(exc)[:2000])
        return task.delivered
    if task.state not in _ENDED:
        run_broadcast.delay(task_pk)
    return task.delivered
