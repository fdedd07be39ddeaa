"""batchsendmsg (/v4 openim/batchsendmsg): one message to many receivers.

The message is checked now and written by Celery tasks (messaging.tasks.send_to_many)
in chunks, each through the one send pipeline (`message_send_many`) as
`Origin.BATCH` sends: no webhook, no relationship or mute check (SEND_RULES, after
Tencent's rules for batchsendmsg). Every message of a batch has its random and time.

This module sits above both the pipeline and the task (it queues the task, which calls
the pipeline), so neither of those imports the other.
"""

from __future__ import annotations

import time as _time
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import User

from .commands import Origin, SendCommand
from .models import BatchChunk
from .services import check_send_command
from .tasks import queue_batch_chunk

# The origins a batch may be sent in (its chunks' task builds its commands with it).
BATCH_ORIGINS = (Origin.BATCH, Origin.SYSTEM)


def message_send_to_many(*, sender: User, to: list[str], batch_size: int | None = None,
                         origin: Origin = Origin.BATCH, batch_id: str | None = None,
                         **options) -> tuple[int, list[str]]:
    """Send one message to many receivers: checked now, written by Celery tasks
    (messaging.tasks.send_to_many) in chunks of `batch_size` (CHAT_BATCH_CHUNK, 100)
    after commit.

    The batch gets an id here, carried in every chunk's task: each receiver gets the
    message exactly once however often, or however late, a chunk runs (a worker killed
    before acknowledging it, a retry after a database error; messaging/tasks.py). The
    chunks are kept (BatchChunk) until done, so one the broker loses is queued again.

    `origin`: BATCH (batchsendmsg, the console's lists) or SYSTEM (the console's system
    notices to a list): the chunks' sends are made in it, so SEND_RULES' row decides.

    `batch_id`: a UUID the caller chose (to follow the batch's progress, BatchChunk);
    a new one by default.

    Returns (the batch's time, the UserIDs that are no active user and get nothing).
    Raises ChatError for a body that no receiver could get (90010, 93000, 90005...).
    """
    if origin not in BATCH_ORIGINS:
        raise ValueError(f"a batch is sent as {BATCH_ORIGINS}, not {origin}")
    receivers = list(dict.fromkeys(to))
    found = account_selectors.users_for_send(receivers)
    unknown = [u for u in receivers if u not in found or not found[u].is_active]
    known = [u for u in receivers if u not in unknown]
    msg_time = int(_time.time())
    batch_id = str(batch_id or uuid.uuid4())
    batch_size = batch_size or settings.CHAT_BATCH_CHUNK
    options = {**options, "time": msg_time}
    probe = check_send_command(SendCommand(origin=origin, sender=sender,
                                           to=known[0] if known else "?", **options))
    options["elements"] = probe.elements
    options["online_user_only"] = probe.online_user_only
    options["life_time"] = probe.life_time
    if origin is not Origin.BATCH:  # kept with the chunk (messaging.tasks.send_to_many)
        options["origin"] = origin.value
    now = timezone.now()
    with transaction.atomic():  # kept, so what the broker loses is queued again
        chunks = BatchChunk.objects.bulk_create(
            BatchChunk(batch_id=batch_id, sender=sender, receivers=known[start:start + batch_size],
                       options=options, created_at=now, queued_at=now)
            for start in range(0, len(known), batch_size))
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: queue_batch_chunk(chunk))
    return msg_time, unknown
