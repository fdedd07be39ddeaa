"""Operator console for messages and conversations (read-only: writes go through
the services, so that every change reaches the users' devices).

Deletes go through the services too (accounts/admin_deletes.py): a message is deleted
from both sides' histories (changes.message_delete_both_sides: MESSAGE_DELETED to both
users' devices), a conversation from its owner's list with the owner's history of it
(changes.conversation_delete, as the SDK's deleteConversation: the owner's devices get
CONVERSATION_LIST_UPDATED isDeleted)."""

from django.contrib import admin, messages

from accounts.admin_deletes import ServiceDeletes
from accounts.audit import audited
from chat_project.errors import ChatError

from .changes import conversation_delete, message_delete_both_sides, message_revoke
from .elements import summary_text
from .models import Conversation, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ServiceDeletes, ReadOnlyAdmin):
    list_display = ("public_id", "sender", "receiver", "seq", "preview", "created_at",
                    "is_revoked", "is_system")
    list_filter = ("is_revoked", "is_system", "priority")
    search_fields = ("sender__user_id", "receiver__user_id")
    list_select_related = ("sender", "receiver")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["recall"]
    delete_effect = "deleted from both sides' histories (their devices are told)"

    def delete_through_service(self, request, obj):
        message_delete_both_sides(message_pk=obj.pk)

    def has_recall_permission(self, request):
        return request.user.has_perm("accounts.recall_message")

    @admin.action(description="Recall (as the app admin: both sides see it recalled)",
                  permissions=["recall"])
    @audited("recall")
    def recall(self, request, queryset):
        done, failed = 0, []
        for pk in queryset.values_list("pk", flat=True):
            try:
                message_revoke(message_pk=pk, actor=None, platform="RESTAPI",
                               time_limit=False)
                done += 1
            except ChatError as exc:
                failed.append(f"{pk}: {exc.message}")
        if done:
            self.message_user(request, f"Recalled {done} message(s).", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not recalled: " + "; ".join(failed[:10]),
                              messages.WARNING)

    @admin.display(description="content")
    def preview(self, obj):
        return summary_text(obj.elements)[:80]


@admin.register(Conversation)
class ConversationAdmin(ServiceDeletes, ReadOnlyAdmin):
    list_display = ("owner", "peer", "unread_count", "read_seq", "is_pinned", "updated_at")
    search_fields = ("owner__user_id", "peer__user_id")
    list_select_related = ("owner", "peer")
    readonly_fields = [f.name for f in Conversation._meta.fields]
    delete_effect = ("removed from its owner's list with the owner's history of it "
                     "(the peer keeps theirs; the owner's devices are told)")

    def delete_through_service(self, request, obj):
        conversation_delete(user=obj.owner, peer=obj.peer, clear_history=True)
