"""The audit log of the operator console: every operator action, who, what, when, on
whom and from which page (AuditEntry, read-only in admin).

- `record(request, action, target=..., detail=...)`: one entry. Console code calls it
  where an action is done (a send, a kick, a recall).
- `audited(name)`: wraps an admin action function (modeladmin, request, queryset) so
  each selected object gets an entry once the action has run.
- Saves and deletes made through admin forms are logged by Django as LogEntry rows;
  each is copied here (with the page the request came from), so a form the console
  adds later is audited without code of its own.
"""

from __future__ import annotations

import contextvars
import functools

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditEntry

MAX_TARGETS = 1000  # entries one bulk action writes (the rest are counted in the last)

_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


class RequestMiddleware:
    """Keeps the current request at hand for entries written where no request is passed
    (LogEntry copies)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_request():
    """The request being answered in this context, or None (a task, a shell)."""
    return _request.get()


def _page(request) -> str:
    if request is None:
        return ""
    return request.get_full_path()[:500]


def record(request, action: str, *, target: str = "", detail: dict | None = None,
           operator=None) -> AuditEntry:
    """Write one entry. `operator` defaults to the request's user."""
    user = operator if operator is not None else getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEntry.objects.create(
        operator=user, operator_name=(user.get_username() if user else "")[:32],
        action=action[:64], target=str(target)[:200], page=_page(request),
        detail=detail or {})


def audited(name: str, *, selected: int | None = None):
    """Decorate an admin action: after it ran, one entry per selected object (up to
    MAX_TARGETS; the count of all is in each entry's detail, or `selected` when the
    action is given a part of what the operator selected)."""

    def wrap(action):
        @functools.wraps(action)
        def run(modeladmin, request, queryset):
            objects = list(queryset[:MAX_TARGETS])
            count = selected if selected is not None else \
                queryset.count() if len(objects) == MAX_TARGETS else len(objects)
            result = action(modeladmin, request, queryset)
            model = queryset.model._meta.label_lower
            AuditEntry.objects.bulk_create([
                AuditEntry(operator=request.user,
                           operator_name=request.user.get_username()[:32],
                           action=name[:64], target=str(obj)[:200], page=_page(request),
                           detail={"model": model, "pk": obj.pk, "selected": count})
                for obj in objects])
            return result
        return run
    return wrap


_FLAGS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


def copy_log_entry(entry: LogEntry) -> AuditEntry:
    """One audit entry for one LogEntry (admin's own record of a form save or delete)."""
    model = entry.content_type.model if entry.content_type_id else ""
    return record(_request.get(), f"{_FLAGS.get(entry.action_flag, 'change')} {model}",
                  target=entry.object_repr, operator=entry.user,
                  detail={"model": model, "pk": entry.object_id,
                          "change": entry.get_change_message()})


@receiver(post_save, sender=LogEntry, dispatch_uid="accounts.audit.copy_log_entry")
def _copy_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    # LogEntry rows made by bulk_create (Django's bulk delete) send no post_save:
    # accounts/admin_deletes.py copies those.
    if created:
        copy_log_entry(instance)
