"""The operator console's dashboard (/admin/dashboard/, permission
accounts.view_dashboard): users, online now, messages today and per hour over the last
24 hours, offline pushes delivered and failed, webhook failures and the Celery queue,
each number a link to the admin list behind it (for who may read that list).

Cost is bounded: every count reads an index on `created_at` (or the user table's size),
the hourly chart is one grouped query, and the whole set is cached for CACHE_SECONDS,
so a page open on several screens costs the database once per interval. The queue
length is one LLEN per queue with the Redis call timeout (REDIS_TIMEOUT); a Redis that
does not answer shows the queue as unknown instead of failing the page.

It spans the apps (accounts, messaging, push), so it lives with the glue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts import presence
from accounts.models import User, WebhookAttempt
from messaging.models import Message
from push.models import PushDelivery

log = logging.getLogger(__name__)

PERMISSION = "accounts.view_dashboard"
CACHE_SECONDS = 10
CACHE_KEY = "console:dashboard"
HOURS = 24
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 480, 120, 2


@dataclass
class Numbers:
    at: datetime
    users: int
    sockets_online: int
    users_online: list[int]
    messages_today: int
    today_from: datetime
    hours: list[tuple[datetime, int]]
    pushes: dict[str, int]
    webhook_failures: int
    queues: dict[str, int | None] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    # With its offset: admin reads a naive time with a warning.
    return timezone.localtime(moment).replace(microsecond=0).isoformat()


def _changelist(model, **query) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def _link(request, model, **query) -> str | None:
    """The list behind a number, for who may read that list (else none: no link that
    answers 403; the dashboard's own permission does not grant the lists)."""
    perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
    return _changelist(model, **query) if request.user.has_perm(perm) else None


def queue_lengths() -> dict[str, int | None]:
    """Tasks waiting per Celery queue; {} where tasks run in process; None for a queue
    whose length Redis did not give within REDIS_TIMEOUT."""
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False) or not broker.startswith("redis"):
        return {}
    import redis

    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    if settings.CHAT_PUSH_QUEUE and settings.CHAT_PUSH_QUEUE not in names:
        names.append(settings.CHAT_PUSH_QUEUE)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    client = redis.Redis.from_url(broker, socket_timeout=settings.REDIS_TIMEOUT,
                                  socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(f"{prefix}{name}")
        return dict(zip(names, pipe.execute(), strict=True))
    except redis.RedisError as exc:
        log.warning("queue length unknown: %s", exc)
        return dict.fromkeys(names)
    finally:
        client.close()


def numbers(now: datetime | None = None) -> Numbers:
    """Count everything once (the queries the page costs; see README)."""
    now = now or timezone.now()
    today_from = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    per_hour = dict(Message.objects.filter(created_at__gte=first_hour)
                    .annotate(hour=TruncHour("created_at")).values("hour")
                    .annotate(n=Count("id")).values_list("hour", "n"))
    hours = [(first_hour + timedelta(hours=i), per_hour.get(first_hour + timedelta(hours=i), 0))
             for i in range(HOURS)]
    day_ago = now - timedelta(days=1)
    pushes = dict(PushDelivery.objects.filter(created_at__gte=day_ago)
                  .values("state").annotate(n=Count("id")).values_list("state", "n"))
    try:
        sockets, online = presence.online_now()
    except Exception as exc:  # presence is Redis: the page still shows the rest
        log.warning("online count unknown: %s", exc)
        sockets, online = -1, set()
    return Numbers(
        at=now,
        users=User.objects.count(),
        sockets_online=sockets,
        users_online=sorted(online),
        messages_today=Message.objects.filter(created_at__gte=today_from).count(),
        today_from=today_from,
        hours=hours,
        pushes=pushes,
        webhook_failures=WebhookAttempt.objects.filter(
            created_at__gte=day_ago, outcome__in=[WebhookAttempt.Outcome.FAILED,
                                                  WebhookAttempt.Outcome.TIMEOUT]).count(),
        queues=queue_lengths(),
    )


def cached_numbers() -> Numbers:
    try:
        found = cache.get(CACHE_KEY)
    except Exception:  # a cache that does not answer: count afresh
        found = None
    if found is not None:
        return found
    fresh = numbers()
    try:
        cache.set(CACHE_KEY, fresh, CACHE_SECONDS)
    except Exception:
        pass
    return fresh


def _chart(hours: list[tuple[datetime, int]], linked: bool = True) -> dict:
    """Bars as SVG geometry (attributes, no style: the CSP allows no inline style)."""
    top = max((n for _, n in hours), default=0) or 1
    width = CHART_WIDTH / len(hours)
    bars = []
    for i, (start, n) in enumerate(hours):
        height = round(n / top * (CHART_HEIGHT - 14), 1)
        bars.append({
            "x": round(i * width + BAR_GAP / 2, 1), "width": round(width - BAR_GAP, 1),
            "y": round(CHART_HEIGHT - 14 - height, 1), "height": height, "count": n,
            "label": timezone.localtime(start).strftime("%H:00"),
            "show_label": i % 3 == 0, "label_x": round(i * width + BAR_GAP / 2, 1),
            "url": _changelist(Message, created_at__gte=_iso(start),
                               created_at__lt=_iso(start + timedelta(hours=1)))
            if linked else None,
        })
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "top": top,
            "label_y": CHART_HEIGHT - 2}


def dashboard_view(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    n = cached_numbers()
    day_ago = _iso(n.at - timedelta(days=1))
    failed = sum(v for k, v in n.pushes.items()
                 if k in (PushDelivery.State.FAILED, PushDelivery.State.DEAD_TOKEN))
    online_link = _link(request, User, online="yes")  # the user list's "online now" filter
    tiles = [
        {"label": "users", "value": n.users, "url": _link(request, User)},
        {"label": "online now", "value": len(n.users_online) if n.sockets_online >= 0 else None,
         "note": f"{n.sockets_online} sockets" if n.sockets_online >= 0 else "presence unknown",
         "url": online_link},
        {"label": "messages today", "value": n.messages_today,
         "note": f"since {timezone.localtime(n.today_from):%H:%M %Z}",
         "url": _link(request, Message, created_at__gte=_iso(n.today_from))},
        {"label": "pushes delivered (24 h)",
         "value": n.pushes.get(PushDelivery.State.DELIVERED, 0),
         "url": _link(request, PushDelivery, state__exact=PushDelivery.State.DELIVERED,
                      created_at__gte=day_ago)},
        {"label": "pushes failed (24 h)", "value": failed,
         "note": f"{n.pushes.get(PushDelivery.State.PENDING, 0)} pending",
         "url": _link(request, PushDelivery, failures="1", created_at__gte=day_ago)},
        {"label": "webhook failures (24 h)", "value": n.webhook_failures,
         "url": _link(request, WebhookAttempt, outcome__in="failed,timeout",
                      created_at__gte=day_ago)},
    ]
    if n.queues:
        for name, length in n.queues.items():
            tiles.append({"label": f"Celery queue “{name}”", "value": length,
                          "note": None if length is not None else "Redis did not answer"})
    else:
        tiles.append({"label": "Celery queue", "value": None,
                      "note": "tasks run in process (embedded)"})
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "tiles": tiles,
        "chart": _chart(n.hours, linked=request.user.has_perm("messaging.view_message")),
        "counted_at": timezone.localtime(n.at),
        "cache_seconds": CACHE_SECONDS,
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
