"""The console page of an outbox (chat_project/outbox.py): its rows, read-only, oldest
first, the count waiting for the broker in the title, and "Queue now", which runs the
sweep's code on the selected rows in the request (the broker may be why they are
there: no task), at most CHAT_OUTBOX_QUEUE_NOW_MAX of them a click. Never added, changed or deleted here: a row deleted would be a task
lost. Kept webhook callbacks (accounts/admin_webhooks.py) and Kept push tasks
(push/admin.py) are its two pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import F

from .admin_deletes import NoDeletes
from .admin_lists import CheckedLookups
from .audit import audited


class OutboxAdmin(CheckedLookups, NoDeletes, admin.ModelAdmin):
    """Set `queue_permission` ("app.codename"), `noun` (singular, plural), `audit_name`
    (the audit log's action) and `sweep(pks) -> how many queued`."""

    queue_permission: str
    noun: tuple[str, str]
    audit_name: str
    date_hierarchy = "created_at"
    ordering = ("pk",)  # oldest first, as the sweep queues them
    actions = ["queue_now"]

    def sweep(self, pks: list[int]) -> int:
        raise NotImplementedError

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_queue_permission(self, request):
        return request.user.has_perm(self.queue_permission)

    def changelist_view(self, request, extra_context=None):
        count = self.model.objects.filter(refused=True).count()
        one, many = self.noun
        title = (f"{count} {one if count == 1 else many} wait for the broker (queued as "
                 f"soon as it answers again, and by the sweep every 30 s)" if count
                 else f"No {one} waits for the broker")
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    @admin.action(description="Queue now (as the 30-second sweep does)",
                  permissions=["queue"])
    def queue_now(self, request, queryset):
        # At most CHAT_OUTBOX_QUEUE_NOW_MAX rows a click, so a selection of every row
        # (after an outage, thousands) is not swept in the request: those queued longest
        # ago first (never queued, then by when), so the next click takes the next ones.
        # The audit log names the rows tried, each with the size of the selection.
        selected = queryset.count()
        pks = list(queryset.order_by(F("queued_at").asc(nulls_first=True), "pk")
                   .values_list("pk", flat=True)[:settings.CHAT_OUTBOX_QUEUE_NOW_MAX])

        def tried(modeladmin, request, rows):
            return modeladmin._queue_now(request, pks, selected)

        return audited(self.audit_name, selected=selected)(tried)(
            self, request, self.model.objects.filter(pk__in=pks).order_by("pk"))

    def _queue_now(self, request, pks: list[int], selected: int):
        most = settings.CHAT_OUTBOX_QUEUE_NOW_MAX
        queued = self.sweep(pks)
        left = len(pks) - queued
        one, many = self.noun
        if queued:
            self.message_user(request, f"Queued {queued} {one if queued == 1 else many}.",
                              messages.SUCCESS)
        if left:
            self.message_user(
                request, f"{left} not queued: the broker would not take them (it refused or "
                "did not answer; the server's log has its error), the sweep holds them "
                "right now, or their task is unknown (dropped, in the server's log). The "
                "others are kept, nothing is lost: the sweep tries again every 30 s.",
                messages.WARNING)
        if selected > len(pks):
            rest = selected - len(pks)
            self.message_user(
                request, f"{rest} more selected not tried: Queue now takes at most {most} "
                f"{many} a click, those queued longest ago first. Run it again for the "
                "next ones; those the broker refused are queued by the sweep anyway "
                "(every 30 s, and as soon as the broker answers again).",
                messages.WARNING)
        return False
