"""Operator console for push: devices' tokens (masked), attribute names, users' tags
and attributes, and pushes to all with their progress. Read-only: changes go through
the services (the REST and /v4 doors), which keep presence and limits right."""

from django.contrib import admin
from django.db.models import OuterRef, Subquery

from .models import AttrName, BroadcastTask, PushToken, UserAttr, UserTag


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PushToken)
class PushTokenAdmin(ReadOnlyAdmin):
    list_display = ("user", "device_id", "vendor", "masked_token", "updated_at")
    list_filter = ("vendor",)
    search_fields = ("user__user_id", "device_id")
    list_select_related = ("user",)
    date_hierarchy = "updated_at"
    # The token itself is a credential for pushing to the device: never shown whole.
    fields = readonly_fields = ("user", "device_id", "vendor", "masked_token", "created_at",
                                "updated_at")

    @admin.display(description="token")
    def masked_token(self, obj):
        return obj.masked_token


@admin.register(AttrName)
class AttrNameAdmin(ReadOnlyAdmin):
    list_display = ("slot", "name")


@admin.register(UserAttr)
class UserAttrAdmin(ReadOnlyAdmin):
    list_display = ("user", "attribute", "value")
    search_fields = ("user__user_id", "value")
    list_select_related = ("user",)
    readonly_fields = ("user", "slot", "value")

    def get_queryset(self, request):
        names = AttrName.objects.filter(slot=OuterRef("slot")).values("name")[:1]
        return super().get_queryset(request).annotate(attr_name=Subquery(names))

    @admin.display(description="attribute", ordering="slot")
    def attribute(self, obj):
        return obj.attr_name or f"#{obj.slot}"


@admin.register(UserTag)
class UserTagAdmin(ReadOnlyAdmin):
    list_display = ("user", "tag", "created_at")
    search_fields = ("user__user_id", "tag")
    list_select_related = ("user",)
    readonly_fields = ("user", "tag", "created_at")


@admin.register(BroadcastTask)
class BroadcastTaskAdmin(ReadOnlyAdmin):
    list_display = ("task_id", "sender", "state", "condition", "lifetime", "matched",
                    "delivered", "failed", "created", "finished")
    list_filter = ("state",)
    search_fields = ("task_id", "sender__user_id")
    list_select_related = ("sender",)
    date_hierarchy = "created"
    readonly_fields = [f.name for f in BroadcastTask._meta.fields]
