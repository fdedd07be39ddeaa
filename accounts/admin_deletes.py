"""Deletes in the operator console: through a service, or not offered.

Django admin deletes rows itself (the "Delete selected" action and the per-object
delete page): behind the services' back, so devices keep showing what is gone and the
sync log never says so. Every ModelAdmin of Parley therefore either

- mixes in `ServiceDeletes` and says what a delete does (`delete_effect`) and how
  (`delete_through_service(request, obj)`, a service call that tells the devices), or
- mixes in `NoDeletes` (has_delete_permission False: Django then offers neither the
  action nor the page).

tests/test_admin_deletes.py walks every registered ModelAdmin and fails for one that
offers Django's own delete, so a new admin cannot add one silently.

Deletes are audited: Django writes a LogEntry per deleted object, copied into the audit
log (accounts/audit.py); a bulk delete writes them with bulk_create, which sends no
signal, so `log_deletions` copies those itself.
"""

from __future__ import annotations

from django.contrib import messages

from chat_project.errors import ChatError

from . import audit


class ServiceDeletes:
    """Deletes (one, or the bulk action) call `delete_through_service(request, obj)`
    instead of deleting rows; a refusal is shown as a message, not an error page."""

    delete_effect = "deleted through its service"

    def delete_through_service(self, request, obj) -> None:
        raise NotImplementedError

    def _delete_reporting(self, request, obj) -> None:
        try:
            self.delete_through_service(request, obj)
        except ChatError as exc:
            self.message_user(request, f"{obj}: {exc.message} ({exc.code})", messages.ERROR)

    def delete_model(self, request, obj):
        self._delete_reporting(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._delete_reporting(request, obj)

    def get_deleted_objects(self, objs, request):
        # The confirmation page lists what the service does, not Django's cascade
        # (no row is deleted by admin itself).
        objs = list(objs)
        lines = [f"{obj}: {self.delete_effect}" for obj in objs]
        return lines, {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        if len(entries) > 1:  # bulk_create: no post_save, so no copy was made
            for entry in entries:
                audit.copy_log_entry(entry)
        return entries


class NoDeletes:
    """No delete in admin: the rows are records (purged by their schedule) or state only
    a service may change."""

    def has_delete_permission(self, request, obj=None):
        return False
