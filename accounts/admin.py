"""Operator console for accounts: users and their profiles, devices, sync logs, and
the login policy.

- "Kick out" (`kick_action`, on the user list) signs the chosen users out everywhere
  through devices.user_kick: every socket gets KICKED_OUT REST_API_Kick and closes, and
  web sessions signed in before it no longer log a socket in.
- "Mute for 24 hours", "Mute until unmuted", "Unmute": the global mute of
  /v4 openconfigsvr/setnospeaking (accounts/mute.py); a muted user's sends fail with
  20012 on every door.
- "Delete account" (the action, Django's "Delete selected users" and the user's delete
  page alike) goes through devices.user_delete, as /v4 account_delete does: the
  user's sockets are kicked (REST_API_Kick), presence is forgotten, and the account's
  rows go with it; never a raw delete of the row from here.
- "Online now" is a column and a filter, read from presence once per page (one round
  trip for the page's users, never one per row).
- The login policy is one row: the list opens its form; saving calls
  devices.login_policy_set, and every server obeys it within a second.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from chat_project.errors import ChatError
from chat_project.redis_bounds import RealtimeUnavailable

from . import audit, devices, mute, presence
from .admin_deletes import NoDeletes, ServiceDeletes
from .admin_lists import BigList
from .audit import audited
from .console_roles import beyond_role, within_role
from .models import AuditEntry, Device, LoginPolicy, SyncEntry, User


def user_link(user) -> str:
    """A user's UserID linking to their page in the console (for other lists); the
    UserID alone for a console user who may not open user pages (no link that 403s)."""
    if user is None:
        return "-"
    request = audit.current_request()
    if request is not None and not request.user.has_perm("accounts.view_user"):
        return user.user_id
    return format_html('<a href="{}">{}</a>',
                       reverse("admin:accounts_user_change", args=[user.pk]), user.user_id)


def list_link(url_name: str, label: str, **filters) -> str:
    """A link to an admin list filtered by `filters` (e.g. owner__id__exact=7)."""
    query = urlencode(filters)
    return format_html('<a href="{}?{}">{}</a>', reverse(url_name), query, label)


def without_fields(fieldsets, *names) -> list:
    """`fieldsets` less the fields `names` (and any section left empty): for sections a
    console user may not read."""
    out = []
    for title, options in fieldsets:
        fields = [f for f in options.get("fields", ()) if f not in names]
        if fields:
            out.append((title, {**options, "fields": fields}))
    return out


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    readonly_fields = ("device_id", "platform", "first_seen", "last_seen", "acked_seq")
    can_delete = False


@admin.action(description="Kick out (close every session of the selected users)",
              permissions=["change"])
@within_role
@audited("kick")
def kick_action(modeladmin, request, queryset):
    users = list(queryset)
    untold = []
    for user in users:
        try:
            devices.user_kick(user=user, reason=devices.KICK_REST_API)
        except RealtimeUnavailable:  # committed: no new login with an older UserSig
            untold.append(user.user_id)
    modeladmin.message_user(request, f"Kicked out {len(users)} user(s).", messages.SUCCESS)
    if untold:
        modeladmin.message_user(
            request, f"Redis could not be reached: the open sockets of {', '.join(untold)} "
            "were not told to close (their sends are refused from now on). Kick them again "
            "to close them.", messages.WARNING)


def _mute(request, modeladmin, queryset, seconds: int, done: str) -> None:
    users = list(queryset)
    for user in users:
        mute.mute_set(user, c2c_seconds=seconds)
    modeladmin.message_user(request, f"{done} {len(users)} user(s).", messages.SUCCESS)


@admin.action(description="Mute for 24 hours (their sends fail with 20012)",
              permissions=["change"])
@within_role
@audited("mute 24 hours")
def mute_day_action(modeladmin, request, queryset):
    _mute(request, modeladmin, queryset, 86400, "Muted for 24 hours:")


@admin.action(description="Mute until unmuted", permissions=["change"])
@within_role
@audited("mute until unmuted")
def mute_forever_action(modeladmin, request, queryset):
    _mute(request, modeladmin, queryset, mute.FOREVER, "Muted until unmuted:")


@admin.action(description="Unmute", permissions=["change"])
@within_role
@audited("unmute")
def unmute_action(modeladmin, request, queryset):
    _mute(request, modeladmin, queryset, 0, "Unmuted")


@admin.action(description="Delete account (kicks its devices; as /v4 account_delete)",
              permissions=["delete"])
@within_role
def delete_account_action(modeladmin, request, queryset):
    # Each account through the service; the answer counts only those deleted and names
    # the others with why, and only those deleted are audited (accounts/admin_deletes.py).
    modeladmin.delete_through_service_reporting(request, queryset, noun="account(s)",
                                                audit_action="delete account")


class OnlineFilter(admin.SimpleListFilter):
    """Users with a live socket now (presence.online_user_pks: one round trip)."""

    title = "online now"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return (("yes", "Online"), ("no", "Not online"))

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        pks = presence.online_user_pks()
        if self.value() == "yes":
            return queryset.filter(pk__in=pks)
        return queryset.exclude(pk__in=pks)


@admin.register(User)
class UserAdmin(BigList, ServiceDeletes, BaseUserAdmin):
    actions = [kick_action, mute_day_action, mute_forever_action, unmute_action,
               delete_account_action]
    ordering = ("user_id",)
    list_display = ("user_id", "nick", "online", "is_active", "admin_forbid_type",
                    "date_joined")
    list_filter = (OnlineFilter, "is_active", "is_staff", "admin_forbid_type", "allow_type")
    search_fields = ("user_id", "nick")
    readonly_fields = ("date_joined", "last_login", "profile_updated_at", "online_now",
                       "session_epoch", "muted")
    inlines = [DeviceInline]
    fieldsets = (
        (None, {"fields": ("user_id", "password")}),
        ("Profile", {"fields": ("nick", "avatar", "gender", "birthday", "location",
                                "self_signature", "allow_type", "language", "level", "role",
                                "profile_custom")}),
        ("Moderation", {"fields": ("is_active", "admin_forbid_type", "muted")}),
        ("Sessions", {"fields": ("online_now", "session_epoch")}),
        ("Console access", {"fields": ("is_staff", "is_superuser", "groups",
                                       "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login", "profile_updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("user_id", "nick", "password1", "password2")}),)

    # --- the list: presence of the page's users in one read -----------------------------

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        users = list(changelist.result_list)
        now = presence.presence_of([u.pk for u in users])
        for user in users:
            user.presence_now = now.get(user.pk)
        changelist.result_list = users
        return changelist

    @admin.display(description="online now")
    def online(self, obj):
        now = getattr(obj, "presence_now", None)
        if now is None:
            return "-"
        platforms = sorted({c.platform for c in now.online})
        return f"{now.status} ({', '.join(platforms)})" if platforms else now.status

    # --- roles: console access and the accounts above one's role ---------------------------

    CONSOLE_ACCESS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("user_id")  # the account's identity (Tencent's never changes)
        if not request.user.is_superuser:
            fields.extend(self.CONSOLE_ACCESS)
        return fields

    def has_change_permission(self, request, obj=None):
        # Also the password page (BaseUserAdmin asks this for the user whose it is).
        if obj is not None and beyond_role(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and beyond_role(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    # --- deletes go through the account-deletion service (ServiceDeletes: audited) ----

    delete_effect = "deleted with its profile, devices, sync log, friends, blocks, " \
        "conversations and messages with it"

    def delete_through_service(self, request, obj) -> None:
        devices.user_delete(user=obj)

    def delete_refusal(self, request, obj):
        if obj.pk == request.user.pk:  # the audit entry would name an account gone
            return "your own account (another superuser may delete it)"
        return None

    def get_deleted_objects(self, objs, request):
        """What the confirmation page lists: the accounts, and what goes with each (the
        service deletes it; no per-model delete permission is needed for what
        cascades, and a user with a long history is not walked row by row). Accounts
        beyond the operator's role are named as not permitted, which refuses the
        delete."""
        users = list(objs)
        listed = [format_html("{} (profile, devices, sync log, friends, blocks, "
                              "conversations and messages with it)", u.user_id)
                  for u in users]
        refused = {f"{u.user_id} (a console account beyond your role)"
                   for u in users if beyond_role(request, u)}
        for user in users:
            try:
                devices.check_deletable(user)
            except ChatError as exc:
                refused.add(exc.message)
        return listed, {User._meta.verbose_name_plural: len(users)}, refused, []

    @admin.display(description="muted (global mute, /v4 setnospeaking)")
    def muted(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        left = mute.mute_remaining(obj)[0]
        if left == mute.FOREVER:
            return "until unmuted"
        return f"{left} s more" if left else "no"

    @admin.display(description="online now")
    def online_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        now = presence.presence_of([obj.pk])[obj.pk]
        detail = ", ".join(f"{d['Platform']} {d['Status']}" for d in now.detail())
        return f"{now.status} ({detail})" if detail else now.status


@admin.register(LoginPolicy)
class LoginPolicyAdmin(admin.ModelAdmin):
    """One row: the list goes straight to its form; until it is first saved, the form
    shows the default (one device per platform, 10 browser tabs)."""

    fields = ("mode", "web_sessions", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("admin:accounts_loginpolicy_change", args=[1]))

    def get_object(self, request, object_id, from_field=None):
        # Whatever the id in the URL: there is one policy.
        return LoginPolicy.objects.order_by("pk").first() or LoginPolicy(pk=1)

    def history_view(self, request, object_id, extra_context=None):
        # The one policy's history, at its own id: the id in the URL went to the log's
        # query as it was (a NUL in it: a 500).
        pk = str(self.get_object(request, object_id).pk)
        if object_id != pk:
            return HttpResponseRedirect(
                reverse("admin:accounts_loginpolicy_history", args=[pk]))
        return super().history_view(request, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        saved = devices.login_policy_set(mode=obj.mode, web_sessions=obj.web_sessions)
        obj.pk, obj.updated_at = saved.pk, saved.updated_at


@admin.register(SyncEntry)
class SyncEntryAdmin(BigList, NoDeletes, admin.ModelAdmin):
    """Read-only, no deletes: a device replays the log by seq, and a hole in it would
    read as a lost event (the hourly purge drops old entries)."""

    list_display = ("user", "seq", "kind", "peer", "message_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("user__user_id", "peer")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in SyncEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(BigList, admin.ModelAdmin):
    """Read-only for everyone, superusers included: entries are written by the console's
    actions (accounts/audit.py), never by hand."""

    list_display = ("at", "operator_name", "action", "target", "summary", "page")
    list_filter = ("action", "operator_name")
    search_fields = ("operator_name", "action", "target", "page")
    date_hierarchy = "at"
    readonly_fields = ("at", "operator", "operator_name", "action", "target", "page", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="detail")
    def summary(self, obj):
        """The detail's first fields, short (the entry's page has all of it)."""
        text = ", ".join(f"{k}: {v}" for k, v in list(obj.detail.items())[:4])
        return text if len(text) <= 120 else text[:119] + "…"


# The webhook configuration and attempt records (accounts/admin_webhooks.py), and
# django-axes' sign-in lockouts (accounts/admin_axes.py).
from . import admin_axes, admin_webhooks  # noqa: E402,F401
