"""Operator console for accounts: users and their profiles, devices, sync logs."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Device, SyncEntry, User


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    readonly_fields = ("device_id", "platform", "first_seen", "last_seen", "acked_seq")
    can_delete = False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("user_id",)
    list_display = ("user_id", "nick", "is_active", "admin_forbid_type", "date_joined")
    list_filter = ("is_active", "is_staff", "admin_forbid_type", "allow_type")
    search_fields = ("user_id", "nick")
    readonly_fields = ("date_joined", "last_login", "profile_updated_at")
    inlines = [DeviceInline]
    fieldsets = (
        (None, {"fields": ("user_id", "password")}),
        ("Profile", {"fields": ("nick", "avatar", "gender", "birthday", "location",
                                "self_signature", "allow_type", "language", "level", "role",
                                "profile_custom")}),
        ("Moderation", {"fields": ("is_active", "admin_forbid_type")}),
        ("Console access", {"fields": ("is_staff", "is_superuser", "groups",
                                       "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login", "profile_updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("user_id", "nick", "password1", "password2")}),)


@admin.register(SyncEntry)
class SyncEntryAdmin(admin.ModelAdmin):
    list_display = ("user", "seq", "kind", "peer", "message_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("user__user_id", "peer")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in SyncEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
from . import admin_webhooks  # noqa: E402,F401
