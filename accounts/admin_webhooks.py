"""Operator console for webhooks: the one configuration row, and every call made.

"Webhook configuration" is a singleton: the list page opens the one row (or the add
form when there is none yet); callbacks are ticked from the catalogue
(accounts/webhooks.py CALLBACKS). A save is seen by every server within about a
second (the cached configuration is invalidated on save). "Webhook attempts" lists
each HTTP call, read-only, filterable by command and outcome, searchable by command,
URL, error and body (e.g. a UserID). "Kept webhook callbacks" lists the outbox
(WebhookUnqueued): the after-callbacks whose task has not started, those the broker
would not take at their commit marked "refused", read-only, with their count; "Queue
now" (permission accounts.queue_webhookunqueued) runs the 30-second sweep's code on the
selected rows. A row goes when its task starts.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from . import webhooks
from .admin_deletes import NoDeletes
from .admin_lists import BigList
from .admin_outbox import OutboxAdmin
from .models import WebhookAttempt, WebhookConfig, WebhookUnqueued
from .webhook_tasks import queue_unqueued_webhooks


class WebhookConfigForm(forms.ModelForm):
    url = forms.URLField(label="callback URL", max_length=500, required=False,
                         assume_scheme="https")
    callbacks = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {what}") for name, what in webhooks.CALLBACKS],
        widget=forms.CheckboxSelectMultiple, required=False,
        help_text="the callbacks Parley makes (tencent-rest.md §14.2)")
    timeout_ms = forms.IntegerField(min_value=100, max_value=30000, initial=2000,
                                    help_text="per call, in milliseconds (Tencent: 2000)")
    retries = forms.IntegerField(min_value=0, max_value=10, initial=0,
                                 help_text="after-callbacks only; before-send is never retried")
    retry_backoff_seconds = forms.IntegerField(
        min_value=1, max_value=3600, initial=5,
        help_text="retry n+1 waits this many seconds × 2ⁿ")

    class Meta:
        model = WebhookConfig
        fields = ("enabled", "url", "token", "callbacks", "timeout_ms",
                  "before_send_on_timeout", "retries", "retry_backoff_seconds")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Names no longer in the catalogue are dropped on the next save.
        self.initial["callbacks"] = [c for c in (self.instance.callbacks or [])
                                     if c in webhooks.CALLBACK_NAMES]

    def clean(self):
        data = super().clean()
        if data.get("enabled") and not data.get("url"):
            self.add_error("url", "a callback URL is needed to enable webhooks")
        return data


@admin.register(WebhookConfig)
class WebhookConfigAdmin(admin.ModelAdmin):
    form = WebhookConfigForm
    list_display = ("url", "enabled", "updated_at")
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("enabled", "url", "token", "callbacks")}),
        ("Timing", {"fields": ("timeout_ms", "before_send_on_timeout", "retries",
                               "retry_backoff_seconds", "updated_at")}),
    )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not WebhookConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = WebhookConfig.objects.order_by("pk").first()
        meta = WebhookConfig._meta
        if row is None:
            return redirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        return redirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_change",
                                args=[row.pk]))


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(BigList, NoDeletes, admin.ModelAdmin):
    """A record: kept until the daily purge ("Purge old webhook attempt records")."""

    list_display = ("created_at", "command", "attempt", "outcome", "http_status",
                    "duration_ms", "error", "delivery_id")
    list_filter = ("command", "outcome")
    search_fields = ("command", "url", "error", "body", "response")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WebhookAttempt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookUnqueued)
class WebhookUnqueuedAdmin(OutboxAdmin):
    """Kept until its task starts: queued at the commit, or by the sweep ("Queue webhook
    callbacks the broker would not take", every 30 s) or by "Queue now" here."""

    list_display = ("created_at", "command", "refused", "queued_at", "delivery_id",
                    "platform", "client_ip")
    list_filter = ("refused", "command", "platform")
    search_fields = ("delivery_id", "command")
    readonly_fields = [f.name for f in WebhookUnqueued._meta.fields]
    queue_permission = "accounts.queue_webhookunqueued"
    noun = ("after-callback", "after-callbacks")
    audit_name = "queue webhook callbacks"

    def sweep(self, pks):
        return queue_unqueued_webhooks(pks=pks)
