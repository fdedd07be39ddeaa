"""Operator console for push: devices' tokens (masked), attribute names, users' tags
and attributes, pushes to all with their progress, offline push deliveries and every
attempt (filters by vendor, outcome, failures only; above the lists, the vendor
channels enabled or disabled and the attempts of the last day per vendor), and users'
global receive options. Read-only: changes go through
the services (the REST and /v4 doors), which keep presence and limits right.

"Kept push tasks" lists the outbox (PushUnqueued): the push tasks whose task has not
started, those the broker would not take marked "refused", read-only, with their count;
"Queue now" (permission push.queue_pushunqueued) runs the 30-second sweep's code
(tasks.queue_unqueued_pushes) on the selected rows. A row goes when its task has done
its work: a push's when it has made its deliveries, a withdrawal's when it has marked
its withdrawals owed (pipeline._withdraw_deliveries).

Deletes (accounts/admin_deletes.py): a push token, a user's tag and a user's attribute
value are deleted through push.services (push_token_remove, user_tags_remove,
user_attrs_remove, as /v4 and the REST door do); attribute names, pushes to all,
deliveries, attempts and receive options are records or a user's own settings and are
not deleted here."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from accounts.admin_deletes import AlreadyGone, NoDeletes, ServiceDeletes
from accounts.admin_lists import BigList, CheckedLookups
from accounts.admin_outbox import OutboxAdmin
from chat_project.errors import ChatError

from . import services
from .models import (
    AttrName,
    BroadcastTask,
    PushAttempt,
    PushDelivery,
    PushToken,
    PushUnqueued,
    ReceiveOption,
    UserAttr,
    UserTag,
)
from .tasks import queue_unqueued_pushes


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PushToken)
class PushTokenAdmin(BigList, ServiceDeletes, ReadOnlyAdmin):
    list_display = ("user", "device_id", "vendor", "masked_token", "updated_at")
    list_filter = ("vendor",)
    search_fields = ("user__user_id", "device_id")
    list_select_related = ("user",)
    date_hierarchy = "updated_at"
    # The token itself is a credential for pushing to the device: never shown whole.
    fields = readonly_fields = ("user", "device_id", "vendor", "masked_token", "created_at",
                                "updated_at")

    delete_effect = "the device gets no more offline pushes (push_token_remove)"

    def delete_through_service(self, request, obj):
        if not services.push_token_remove(user=obj.user, device_id=obj.device_id):
            raise AlreadyGone

    @admin.display(description="token")
    def masked_token(self, obj):
        return obj.masked_token


@admin.register(AttrName)
class AttrNameAdmin(CheckedLookups, NoDeletes, ReadOnlyAdmin):
    list_display = ("slot", "name")


@admin.register(UserAttr)
class UserAttrAdmin(BigList, ServiceDeletes, ReadOnlyAdmin):
    list_display = ("user", "attribute", "value")
    search_fields = ("user__user_id", "value")
    list_select_related = ("user",)
    readonly_fields = ("user", "slot", "value")

    def get_queryset(self, request):
        names = AttrName.objects.filter(slot=OuterRef("slot")).values("name")[:1]
        return super().get_queryset(request).annotate(attr_name=Subquery(names))

    delete_effect = "the user's value is removed (user_attrs_remove)"

    def delete_through_service(self, request, obj):
        name = AttrName.objects.filter(slot=obj.slot).values_list("name", flat=True).first()
        if not name:  # a value in a slot with no name: nothing can name it
            raise ChatError(90033, f"attribute slot {obj.slot} has no name")
        services.user_attrs_remove(entries=[{"To_Account": obj.user.user_id,
                                             "Attrs": [name]}])

    @admin.display(description="attribute", ordering="slot")
    def attribute(self, obj):
        return obj.attr_name or f"#{obj.slot}"


@admin.register(UserTag)
class UserTagAdmin(BigList, ServiceDeletes, ReadOnlyAdmin):
    list_display = ("user", "tag", "created_at")
    search_fields = ("user__user_id", "tag")
    list_select_related = ("user",)
    readonly_fields = ("user", "tag", "created_at")
    delete_effect = "the user loses the tag (user_tags_remove)"

    def delete_through_service(self, request, obj):
        services.user_tags_remove(entries=[{"To_Account": obj.user.user_id,
                                            "Tags": [obj.tag]}])


@admin.register(BroadcastTask)
class BroadcastTaskAdmin(CheckedLookups, NoDeletes, ReadOnlyAdmin):
    list_display = ("task_id", "sender", "state", "condition", "lifetime", "matched",
                    "delivered", "failed", "created", "finished")
    list_filter = ("state",)
    search_fields = ("task_id", "sender__user_id")
    list_select_related = ("sender",)
    date_hierarchy = "created"
    readonly_fields = [f.name for f in BroadcastTask._meta.fields]


# --- offline push: deliveries and attempts (push/pipeline.py) ------------------------------

def vendor_channels() -> list[dict]:
    """Every vendor Parley knows, with its client's state: enabled (credentials set),
    disabled (no credentials: its pushes are recorded FAILED "not configured") or no
    client in this build."""
    from .providers.base import provider

    out = []
    for vendor, label in PushToken.Vendor.choices:
        try:
            client = provider(vendor)
            state = "no client" if client is None else \
                "enabled" if client.configured() else "disabled"
        except Exception as exc:  # a broken client module shows, never breaks the page
            state = f"error: {exc!r}"[:100]
        out.append({"vendor": vendor, "label": label, "state": state})
    return out


def counts_by_vendor(since_days: int = 1) -> list[dict]:
    """Attempts per vendor and outcome over the last `since_days` days (one grouped
    query on the created_at index)."""
    since = timezone.now() - timedelta(days=since_days)
    rows = (PushAttempt.objects.filter(created_at__gte=since)
            .values("vendor", "outcome").annotate(n=Count("pk")).order_by("vendor"))
    table: dict[str, dict] = {}
    for row in rows:
        entry = table.setdefault(row["vendor"], {"vendor": row["vendor"], "total": 0})
        entry[row["outcome"]] = row["n"]
        entry["total"] += row["n"]
    return list(table.values())


def _with_vendor_tables(modeladmin, request, extra_context) -> dict:
    """The tables above the delivery and attempt lists, read for who may see the list
    only (a refused caller costs no grouped query over the day's attempts)."""
    extra = dict(extra_context or {})
    if modeladmin.has_view_or_change_permission(request):
        extra.update(push_channels=vendor_channels(), push_counts=counts_by_vendor())
    return extra


class FailuresOnly(admin.SimpleListFilter):
    title = "result"
    parameter_name = "failures"

    def lookups(self, request, model_admin):
        return [("1", "failures only")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.exclude(outcome="delivered") if queryset.model is PushAttempt \
                else queryset.exclude(state__in=("delivered", "pending", "sending", "withdrawn"))
        return queryset


class PushAttemptInline(admin.TabularInline):
    model = PushAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "withdraw", "outcome", "vendor_code",
                                "http_status", "latency_ms", "detail")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PushDelivery)
class PushDeliveryAdmin(BigList, NoDeletes, ReadOnlyAdmin):
    list_display = ("message_key", "user", "device_id", "vendor", "state", "attempts",
                    "withdrawn", "created_at", "updated_at")
    list_filter = ("vendor", "state", FailuresOnly, "withdrawn")
    search_fields = ("user__user_id", "device_id", "message_key")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in PushDelivery._meta.fields]
    inlines = [PushAttemptInline]
    change_list_template = "admin/push/pushattempt/change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, _with_vendor_tables(self, request,
                                                                    extra_context))


@admin.register(PushAttempt)
class PushAttemptAdmin(BigList, NoDeletes, ReadOnlyAdmin):
    list_display = ("created_at", "message_key", "user", "device_id", "vendor", "withdraw",
                    "outcome", "vendor_code", "http_status", "latency_ms", "detail")
    list_filter = ("vendor", "outcome", FailuresOnly, "withdraw")
    search_fields = ("user__user_id", "device_id", "message_key", "vendor_code")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in PushAttempt._meta.fields]
    change_list_template = "admin/push/pushattempt/change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, _with_vendor_tables(self, request,
                                                                    extra_context))


@admin.register(ReceiveOption)
class ReceiveOptionAdmin(CheckedLookups, NoDeletes, ReadOnlyAdmin):
    list_display = ("user", "opt", "start", "duration", "updated_at")
    list_filter = ("opt",)
    search_fields = ("user__user_id",)
    list_select_related = ("user",)
    readonly_fields = ("user", "opt", "start", "duration", "updated_at")


# --- the outbox of push tasks (push/tasks.py) ------------------------------------------------

@admin.register(PushUnqueued)
class PushUnqueuedAdmin(OutboxAdmin):
    """Kept until its task has made its deliveries (a push) or marked its withdrawals
    owed (a withdrawal): queued
    after the send's commit, or by the sweep
    ("Queue push tasks the broker would not take", every 30 s) or by "Queue now" here."""

    list_display = ("created_at", "task", "refused", "queued_at", "what")
    list_filter = ("refused", "task")
    search_fields = ("task",)
    readonly_fields = [f.name for f in PushUnqueued._meta.fields]
    queue_permission = "push.queue_pushunqueued"
    noun = ("push task", "push tasks")
    audit_name = "queue push tasks"

    def sweep(self, pks):
        return queue_unqueued_pushes(pks=pks)

    @admin.display(description="arguments")
    def what(self, obj):
        args = obj.args or []
        if obj.task.endswith(".push_deliver") and args and isinstance(args[0], list):
            n = len(args[0])
            return f"{n} offline push{'es' if n != 1 else ''}"
        text = ", ".join(str(a) for a in args)
        return text if len(text) <= 80 else text[:79] + "…"
