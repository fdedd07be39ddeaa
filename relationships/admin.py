"""Operator console for relationships: friendships, friend requests, friend lists,
blocks, and the deployment's send policy.

Every write goes through relationships.services, as every other door's does, so the
same checks and locks apply and the events reach the users' devices:
- Blocks: add (the form checks with the service's own rule, then block_add does it;
  the friendship ends both ways and requests are cancelled, as for a user's block) and
  delete (block_remove). A block is never edited in place: delete it and add another.
- Friendships, friend requests and friend lists are read-only here; deleting them
  calls friend_delete (one way, or both ways with the action), friend_request_delete
  and friend_group_delete. Friendships are made by the users (or /v4 imports), since
  adding one follows the target's allow type.
- Users (accounts' admin, extended here): profile edits are checked by the profile
  rules and announced through services.profile_update, to the user's devices and to
  everyone who has the user as a friend (and to the app: Profile.CallbackPortraitSet
  with the operator as Operator_Account). The "Kick out" action (sessions
  invalidated, sockets closed with KICKED_OUT REST_API_Kick through
  accounts.devices.user_kick) comes with accounts' user admin, which this one extends.
- Users also get "Forbid sending" / "Allow sending" (AdminForbidType, as /v4
  portrait_set sets Tag_Profile_IM_AdminForbidType: services.profile_update, so the
  user's devices and friends learn it; a forbidden sender gets 20012 on every door),
  and their page links to their friends, who has them as a friend, their blocklist
  and who blocks them (the lists below, filtered), each list linking back to users.
- After-callbacks of operators' writes go out with OptPlatform "RESTAPI" (the app's
  own side, as Tencent's console), Admin_Account "".
- The send policy is one row: the list opens its form, and saving calls
  send_policy_set; the very next send obeys it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join

from accounts.admin import UserAdmin as AccountUserAdmin
from accounts.admin import list_link, user_link, without_fields
from accounts.admin_deletes import NoDeletes, ServiceDeletes
from accounts.admin_lists import BigList, CheckedLookups
from accounts.audit import audited
from accounts.console_roles import within_role
from accounts.models import AdminForbidType, User
from accounts.services import PROFILE_FIELDS, check_profile_fields
from chat_project.errors import ChatError

from . import services
from .friends import DeleteType, PendencyType
from .models import Block, FriendGroup, FriendRequest, Friendship, SendPolicy

PLATFORM = "RESTAPI"  # OptPlatform of operators' changes


class _ReadOnly:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- blocks ---------------------------------------------------------------------------

class BlockAddForm(forms.ModelForm):
    class Meta:
        model = Block
        fields = ("owner", "blocked")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # A user picker given what is no row id (tampered: "abc", 30 digits) is
            # left empty: its widget looks the value up to draw it, which raised (a 500).
            data = self.data.copy()
            for name in self.Meta.fields:
                value = str(data.get(name, ""))
                if value and not (value.isascii() and value.isdigit() and len(value) <= 18):
                    data[name] = ""
            self.data = data

    def clean(self):
        data = super().clean()
        owner, blocked = data.get("owner"), data.get("blocked")
        if owner and blocked:
            # The service's own rule (it checks again under the locks when it runs).
            try:
                services.check_block_target(
                    owner=owner, user_id=blocked.user_id, target=blocked,
                    blocked_pks=set(Block.objects.filter(owner=owner, blocked=blocked)
                                    .values_list("blocked_id", flat=True)),
                    count=Block.objects.filter(owner=owner).count())
            except ChatError as exc:
                # On the field it is about (the owner's list full, else the user to
                # block): a field with an error is left out of the model's own
                # checks (ModelForm._get_validation_exclusions), so Django's
                # UniqueConstraint check does not say "already blocked" a second time.
                self.add_error("owner" if exc.code == 30013 else "blocked",
                               f"{exc.message} ({exc.code})")
        return data


@admin.register(Block)
class BlockAdmin(BigList, ServiceDeletes, admin.ModelAdmin):
    form = BlockAddForm
    list_display = ("owner_link", "blocked_link", "created_at")
    search_fields = ("owner__user_id", "blocked__user_id")
    list_select_related = ("owner", "blocked")
    autocomplete_fields = ("owner", "blocked")
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="owner", ordering="owner__user_id")
    def owner_link(self, obj):
        return user_link(obj.owner)

    @admin.display(description="blocked", ordering="blocked__user_id")
    def blocked_link(self, obj):
        return user_link(obj.blocked)

    def save_model(self, request, obj, form, change):
        result = services.block_add(owner=obj.owner, user_ids=[obj.blocked.user_id],
                                    platform=PLATFORM)[0]
        if not result.ok:  # lost a race since the form's check
            self.message_user(request, f"{result.message} ({result.code})", messages.ERROR)
            return
        saved = Block.objects.get(owner=obj.owner, blocked=obj.blocked)
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            return HttpResponseRedirect(reverse("admin:relationships_block_changelist"))
        return super().response_add(request, obj, post_url_continue)

    delete_effect = "unblocked (block_remove; the owner's devices are told)"

    def delete_through_service(self, request, obj):
        result = services.block_remove(owner=obj.owner, user_ids=[obj.blocked.user_id],
                                       platform=PLATFORM)[0]
        if not result.ok:
            raise ChatError(result.code, result.message)


# --- friends ----------------------------------------------------------------------------

@admin.register(Friendship)
class FriendshipAdmin(BigList, ServiceDeletes, _ReadOnly, admin.ModelAdmin):
    list_display = ("owner_link", "friend_link", "remark", "add_source", "add_time")
    search_fields = ("owner__user_id", "friend__user_id", "remark")
    list_select_related = ("owner", "friend")
    date_hierarchy = "add_time"
    actions = ["delete_both_ways"]

    delete_effect = "removed from the owner's friend list (friend_delete; devices are told)"

    def delete_through_service(self, request, obj):
        _friend_delete(obj, DeleteType.SINGLE)

    @admin.display(description="owner", ordering="owner__user_id")
    def owner_link(self, obj):
        return user_link(obj.owner)

    @admin.display(description="friend", ordering="friend__user_id")
    def friend_link(self, obj):
        return user_link(obj.friend)

    @admin.action(description="Delete selected friendships both ways (each side's list)",
                  permissions=["delete"])
    @audited("delete friendship both ways")
    def delete_both_ways(self, request, queryset):
        # Only what was deleted is counted; what was not is named, with why (and rows
        # gone since the list was drawn, before: accounts/admin_selection.py).
        done = 0
        for obj in queryset.select_related("owner", "friend"):
            try:
                _friend_delete(obj, DeleteType.BOTH)
                done += 1
            except ChatError as exc:
                self.message_user(request, f"{obj}: {exc.message} ({exc.code})",
                                  messages.ERROR)
        if done:
            self.message_user(request, f"Deleted {done} friendship(s) both ways.",
                              messages.SUCCESS)


def _friend_delete(obj: Friendship, delete_type: str) -> None:
    answer = services.friend_delete(user=obj.owner, user_ids=[obj.friend.user_id],
                                    delete_type=delete_type, platform=PLATFORM)
    for failure in answer["failureUserIDList"]:
        raise ChatError(failure["code"], failure.get("message"))


@admin.register(FriendRequest)
class FriendRequestAdmin(BigList, ServiceDeletes, _ReadOnly, admin.ModelAdmin):
    list_display = ("requester", "target", "add_type", "add_source", "is_read", "created_at")
    list_filter = ("add_type", "is_read")
    search_fields = ("requester__user_id", "target__user_id")
    list_select_related = ("requester", "target")
    date_hierarchy = "created_at"

    delete_effect = "withdrawn (friend_request_delete; both users' devices are told)"

    def delete_through_service(self, request, obj):
        services.friend_request_delete(user=obj.requester, user_id=obj.target.user_id,
                                       pendency_type=PendencyType.SEND_OUT)


@admin.register(FriendGroup)
class FriendGroupAdmin(CheckedLookups, ServiceDeletes, _ReadOnly, admin.ModelAdmin):
    list_display = ("owner", "name", "created_at")
    search_fields = ("owner__user_id", "name")
    list_select_related = ("owner",)

    delete_effect = "the friend list goes (friend_group_delete; the owner's devices are told)"

    def delete_through_service(self, request, obj):
        services.friend_group_delete(user=obj.owner, name=obj.name)


# --- who may send -----------------------------------------------------------------------

@admin.register(SendPolicy)
class SendPolicyAdmin(NoDeletes, admin.ModelAdmin):
    """One row: the list goes straight to its form; until it is first saved, the form
    shows the default (strangers may message each other)."""

    fields = ("rule", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(
            reverse("admin:relationships_sendpolicy_change", args=[1]))

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) != "1":
            return None
        return SendPolicy.objects.filter(pk=1).first() or SendPolicy(pk=1)

    def save_model(self, request, obj, form, change):
        saved = services.send_policy_set(rule=obj.rule)
        obj.updated_at = saved.updated_at


# --- users: profile edits reach the user's devices and friends ------------------------

def _forbid(modeladmin, request, queryset, value: str, done: str) -> None:
    users = list(queryset)
    for user in users:
        # The service /v4 portrait_set uses (AdminForbidType), with the operator named.
        services.profile_update(user=user, operator=request.user.user_id, platform=PLATFORM,
                                admin_forbid_type=value)
    modeladmin.message_user(request, f"{done} {len(users)} user(s).", messages.SUCCESS)


@admin.action(description="Forbid sending (AdminForbidType SendOut: sends fail with 20012)",
              permissions=["change"])
@within_role
@audited("forbid sending")
def forbid_sending_action(modeladmin, request, queryset):
    _forbid(modeladmin, request, queryset, AdminForbidType.SEND_OUT, "Forbade sending for")


@admin.action(description="Allow sending (AdminForbidType None)", permissions=["change"])
@within_role
@audited("allow sending")
def allow_sending_action(modeladmin, request, queryset):
    _forbid(modeladmin, request, queryset, AdminForbidType.NONE, "Allowed sending for")


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AccountUserAdmin):
    """accounts' user admin (with its "Kick out" action: accounts.devices.user_kick),
    with profile changes checked by the profile rules and sent through
    relationships.services.profile_update (accounts cannot know friends), so the
    user's devices and everyone who has the user as a friend learn of them, the
    admin-only fields (admin_forbid_type, level, role) included."""

    def get_form(self, request, obj=None, **kwargs):
        base = super().get_form(request, obj, **kwargs)

        class ProfileCheckedForm(base):
            def clean(self):
                data = super().clean()
                changed = {f: data[f] for f in self.changed_data
                           if f in PROFILE_FIELDS and f in data}
                admin_fields = {f: data[f] for f in self.changed_data
                                if f in services.ADMIN_PROFILE_FIELDS and f in data}
                try:
                    check_profile_fields(changed)
                    services.check_admin_fields(admin_fields)  # e.g. a role past 2**31 - 1
                except ChatError as exc:
                    raise forms.ValidationError(f"{exc.code}: {exc.message}") from None
                return data

        return base if obj is None else ProfileCheckedForm

    actions = [*AccountUserAdmin.actions, forbid_sending_action, allow_sending_action]
    readonly_fields = (*AccountUserAdmin.readonly_fields, "relations")
    fieldsets = (*AccountUserAdmin.fieldsets,
                 ("Friends and blocklist", {"fields": ("relations",)}))

    # The section counts and links a user's friends, blocks and requests: shown to those
    # who may read those lists (else it is data they may not see, and links that 403).
    RELATIONS_PERMS = ("relationships.view_friendship", "relationships.view_block",
                       "relationships.view_friendrequest")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.has_perms(self.RELATIONS_PERMS):
            return fieldsets
        return without_fields(fieldsets, "relations")

    @admin.display(description="friends and blocks")
    def relations(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        counts = {
            "friends": Friendship.objects.filter(owner=obj).count(),
            "fans": Friendship.objects.filter(friend=obj).count(),
            "blocks": Block.objects.filter(owner=obj).count(),
            "blocked_by": Block.objects.filter(blocked=obj).count(),
        }
        links = [
            list_link("admin:relationships_friendship_changelist",
                      f"{counts['friends']} friend(s)", owner__id__exact=obj.pk),
            list_link("admin:relationships_friendship_changelist",
                      f"has them as a friend: {counts['fans']}", friend__id__exact=obj.pk),
            list_link("admin:relationships_block_changelist",
                      f"blocklist: {counts['blocks']}", owner__id__exact=obj.pk),
            list_link("admin:relationships_block_changelist",
                      f"blocked by: {counts['blocked_by']}", blocked__id__exact=obj.pk),
            list_link("admin:relationships_friendrequest_changelist", "friend requests sent",
                      requester__id__exact=obj.pk),
            list_link("admin:relationships_friendrequest_changelist",
                      "friend requests received", target__id__exact=obj.pk),
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changed = {f: getattr(obj, f) for f in form.changed_data
                   if f in PROFILE_FIELDS or f in services.ADMIN_PROFILE_FIELDS}
        if change and changed:
            # Saved above; this announces it (the values are the ones just stored).
            services.profile_update(user=obj, operator=request.user.user_id,
                                    platform=PLATFORM, **changed)
