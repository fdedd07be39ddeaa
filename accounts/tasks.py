"""Scheduled work of accounts (django-celery-beat rows, editable in admin):

- purge_sync_log (hourly): the offline cache keeps entries CHAT_OFFLINE_CACHE_DAYS (7).
- purge_presence (every minute): sockets whose heartbeat lapsed (a crashed server's,
  a client that went silent) are removed; a user left with none is announced Offline
  to its subscribers (USER_STATUS_UPDATED) and State.StateChange reports
  Disconnect/TimeOut.
- purge_devices (hourly): Device rows not seen for DEVICE_DAYS (30) days, and Web rows
  not seen for WEB_DEVICE_HOURS (24) hours (a browser's row, one per browser since the
  JS SDK keeps its deviceID in localStorage, comes back on its next visit; a client
  that names no deviceID gets one per socket, and those must not pile up).

All are idempotent, so late acknowledgement (chat_project/task_rules.py) needs nothing
more of them: one redone after a lost worker, or handed out again while a long purge
still runs, deletes what is left. Retry waits stay under the broker's visibility
timeout (CHAT_TASK_RETRY_MAX_COUNTDOWN).
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from . import devices, presence
from .models import Device, User
from .selectors import offline_cache_cutoff
from .services import sync_log_purge

log = logging.getLogger(__name__)

DEVICE_DAYS = 30
WEB_DEVICE_HOURS = 24


# Idempotent, so a run cut short by a lost database connection is simply tried again;
# a run that never happens is made up by the next hourly one.
@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_sync_log() -> int:
    cutoff = offline_cache_cutoff()
    deleted = sync_log_purge(before=cutoff)
    log.info("purged %d sync-log entries created before %s", deleted, cutoff.isoformat())
    return deleted


def presence_purge(*, limit: int = 1000) -> int:
    """Reap lapsed connections (at most `limit` per call, repeated until none are left);
    announce the users that went offline. Returns how many connections went."""
    total = 0
    while True:
        reaped = presence.reap_lapsed(limit=limit)
        total += len(reaped)
        if reaped:
            gone = [pk for pk, _, offline in reaped if offline]
            ids = dict(User.objects.filter(pk__in=gone).values_list("pk", "user_id")) \
                if gone else {}
            devices.statuses_announce({pk: ids[pk] for pk in gone if pk in ids},
                                      presence.STATUS_OFFLINE)
            if devices.state_change_enabled():
                names = dict(User.objects.filter(pk__in={pk for pk, _, _ in reaped})
                             .values_list("pk", "user_id"))
                for pk, conn, _ in reaped:
                    if pk in names:
                        devices.state_change(user_id=names[pk], action="Disconnect",
                                             reason="TimeOut", platform=conn.platform)
        if len(reaped) < limit:
            return total


@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=10, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_presence() -> int:
    reaped = presence_purge()
    if reaped:
        log.info("reaped %d lapsed connections", reaped)
    return reaped


def devices_purge(*, batch_size: int = 5000) -> int:
    """Delete Device rows not seen for DEVICE_DAYS, and Web ones not seen for
    WEB_DEVICE_HOURS, in batches (each its own short transaction)."""
    now = timezone.now()
    table = connection.ops.quote_name(Device._meta.db_table)
    sql = (f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE last_seen < %s"
           f" OR (platform = %s AND last_seen < %s) LIMIT %s)")
    params = [connection.ops.adapt_datetimefield_value(now - timedelta(days=DEVICE_DAYS)),
              Device.Platform.WEB,
              connection.ops.adapt_datetimefield_value(now - timedelta(hours=WEB_DEVICE_HOURS)),
              batch_size]
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            return total


@shared_task(ignore_result=True, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=60, retry_backoff_max=settings.CHAT_TASK_RETRY_MAX_COUNTDOWN)
def purge_devices() -> int:
    deleted = devices_purge()
    log.info("purged %d stale device rows", deleted)
    return deleted
