"""Operator console for messages and conversations (read-only: writes go through
the services, so that every change reaches the users' devices).

The message list's search box searches message text (messaging/search.py: full-text
search on PostgreSQL) and also finds a sender or receiver by exact UserID. Each row and
each conversation links to the timeline of its two users (messaging/admin_timeline.py),
and a user's page lists their conversations (messaging/admin_users.py).

Deletes go through the services too (accounts/admin_deletes.py): a message is deleted
from both sides' histories (changes.message_delete_both_sides: MESSAGE_DELETED to both
users' devices), a conversation from its owner's list with the owner's history of it
(changes.conversation_delete, as the SDK's deleteConversation: the owner's devices get
CONVERSATION_LIST_UPDATED isDeleted)."""

from django.contrib import admin, messages
from django.db.models import Q
from django.http import Http404
from django.urls import path
from django.utils.html import format_html

from accounts.admin import user_link
from accounts.admin_deletes import ServiceDeletes
from accounts.admin_lists import BigList
from accounts.audit import audited
from accounts.models import User
from chat_project.errors import ChatError

from . import (
    admin_send,  # noqa: F401  (the Send page, registered with admin there)
    admin_timeline,
)
from .changes import conversation_delete, message_delete_both_sides, message_revoke
from .elements import summary_text
from .models import Conversation, Message
from .search import SEARCH_MAX, newest_first, newest_matches


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _row_ids(view):
    """A view whose URL carries row ids (`<int:...>`): one past what a bigint holds is
    a 404, not an integer the database refuses (SQLite OverflowError, PostgreSQL 22003)."""
    def checked(request, **ids):
        if any(value >= 2**63 for value in ids.values()):
            raise Http404("no such row")
        return view(request, **ids)
    return checked


@audited("recall")
def _recall(modeladmin, request, queryset) -> None:
    done, failed = 0, []
    for pk in queryset.values_list("pk", flat=True):
        try:
            message_revoke(message_pk=pk, actor=None, platform="RESTAPI", time_limit=False)
            done += 1
        except ChatError as exc:
            failed.append(f"{pk}: {exc.message}")
    if done:
        modeladmin.message_user(request, f"Recalled {done} message(s).", messages.SUCCESS)
    if failed:
        modeladmin.message_user(request, "Not recalled: " + "; ".join(failed[:10]),
                                messages.WARNING)


@admin.register(Message)
class MessageAdmin(BigList, ServiceDeletes, ReadOnlyAdmin):
    list_display = ("public_id", "sender_link", "receiver_link", "seq", "preview",
                    "created_at", "is_revoked", "is_system", "timeline")
    list_filter = ("is_revoked", "is_system", "priority")
    search_fields = ("sender__user_id", "receiver__user_id")  # shows the box; see below
    search_help_text = (f"Words of the message text (each matched as a word prefix; the newest "
                        f"{SEARCH_MAX} matches), or a UserID.")
    list_select_related = ("sender", "receiver")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["recall"]
    delete_effect = "deleted from both sides' histories (their devices are told)"

    def delete_through_service(self, request, obj):
        message_delete_both_sides(message_pk=obj.pk)

    def delete_refusal(self, request, obj):
        # The row stays until the history purge: deleting it again would tell both
        # sides' devices again, and say a success for nothing done.
        if obj.deleted_by_sender and obj.deleted_by_receiver:
            return "already deleted from both sides' histories"
        return None

    def has_recall_permission(self, request):
        return request.user.has_perm("accounts.recall_message")

    @admin.action(description="Recall (as the app admin: both sides see it recalled)",
                  permissions=["recall"])
    def recall(self, request, queryset):
        # What was recalled already is said, not recalled again, and not audited again.
        already = list(queryset.filter(is_revoked=True).values_list("pk", flat=True)[:10])
        if already:
            self.message_user(request, "Not recalled (already recalled): "
                              + ", ".join(map(str, already)), messages.WARNING)
        left = queryset.filter(is_revoked=False)
        if left.exists():
            _recall(self, request, left)

    @admin.display(description="content")
    def preview(self, obj):
        return summary_text(obj.elements)[:80]

    @admin.display(description="sender", ordering="sender__user_id")
    def sender_link(self, obj):
        return user_link(obj.sender)

    @admin.display(description="receiver", ordering="receiver__user_id")
    def receiver_link(self, obj):
        return user_link(obj.receiver)

    @admin.display(description="timeline")
    def timeline(self, obj):
        return format_html('<a href="{}#m{}">timeline</a>',
                           admin_timeline.timeline_url(obj.sender_id, obj.receiver_id), obj.pk)

    def get_ordering(self, request):
        if request.GET.get("q", "").strip():
            return [newest_first()]  # see messaging.search.newest_first
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        """The newest SEARCH_MAX messages whose text matches (full-text search, in a
        query of its own: messaging.search.newest_matches), or whose sender or receiver
        has exactly this UserID."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(pk__in=newest_matches(Message.objects.all(), term))
        pks = list(User.objects.filter(user_id=term).values_list("pk", flat=True))
        if pks:
            found |= Q(sender_id__in=pks) | Q(receiver_id__in=pks)
        return queryset.filter(found), False

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(_row_ids(fn))
        return [
            path("timeline/<int:user_pk>/<int:peer_pk>/",
                 view(lambda request, **kw: admin_timeline.timeline_view(self, request, **kw)),
                 name="messaging_message_timeline"),
            path("timeline/<int:user_pk>/<int:peer_pk>/export/",
                 view(lambda request, **kw: admin_timeline.export_view(self, request, **kw)),
                 name="messaging_message_export"),
            path("<int:pk>/recall/",
                 view(lambda request, **kw: admin_timeline.recall_view(self, request, **kw)),
                 name="messaging_message_recall"),
            *super().get_urls(),
        ]


@admin.register(Conversation)
class ConversationAdmin(BigList, ServiceDeletes, ReadOnlyAdmin):
    list_display = ("owner_link", "peer_link", "unread_count", "read_seq", "is_pinned",
                    "updated_at", "timeline")
    search_fields = ("owner__user_id", "peer__user_id")
    list_select_related = ("owner", "peer")
    readonly_fields = [f.name for f in Conversation._meta.fields]
    delete_effect = ("removed from its owner's list with the owner's history of it "
                     "(the peer keeps theirs; the owner's devices are told)")

    def get_list_display(self, request):
        # The timeline is the messages' page: no link that would 403.
        shown = super().get_list_display(request)
        if request.user.has_perm(admin_timeline.VIEW):
            return shown
        return [f for f in shown if f != "timeline"]

    def delete_through_service(self, request, obj):
        conversation_delete(user=obj.owner, peer=obj.peer, clear_history=True)

    def delete_refusal(self, request, obj):
        if obj.is_hidden and obj.last_message_id is None:  # what a delete leaves
            return "already deleted from its owner's list, with its history"
        return None

    @admin.display(description="owner", ordering="owner__user_id")
    def owner_link(self, obj):
        return user_link(obj.owner)

    @admin.display(description="peer", ordering="peer__user_id")
    def peer_link(self, obj):
        return user_link(obj.peer)

    @admin.display(description="timeline")
    def timeline(self, obj):
        return format_html('<a href="{}">timeline</a>',
                           admin_timeline.timeline_url(obj.owner_id, obj.peer_id))


# Users' pages list their conversations (messaging/admin_users.py).
from . import admin_users  # noqa: E402,F401
