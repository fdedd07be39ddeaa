"""Users' pages in the console, with their conversations: relationships' user admin
(itself accounts' one) plus a list of the user's conversations with unread counts, each
linking to the peer and to the timeline of the two, and a link to the conversation
list filtered to the user. messaging may know users; accounts may not know messages."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import list_link, without_fields
from accounts.models import User
from relationships.admin import UserAdmin as RelationshipsUserAdmin

from .admin_timeline import timeline_url
from .models import Conversation

SHOWN = 50  # conversations listed on the page (the list link has them all)


class UserAdmin(RelationshipsUserAdmin):
    readonly_fields = (*RelationshipsUserAdmin.readonly_fields, "conversations")
    fieldsets = (*RelationshipsUserAdmin.fieldsets,
                 ("Conversations", {"fields": ("conversations",)}))

    # The section lists the user's peers and unread counts and links their timelines:
    # shown to those who may read conversations and messages (else it is data they may
    # not see, and links that 403).
    CONVERSATIONS_PERMS = ("messaging.view_conversation", "messaging.view_message")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.has_perms(self.CONVERSATIONS_PERMS):
            return fieldsets
        return without_fields(fieldsets, "conversations")

    @admin.display(description="conversations (most recent first)")
    def conversations(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        convs = list(Conversation.objects.filter(owner=obj).select_related("peer")
                     .order_by("-updated_at", "-pk")[:SHOWN + 1])
        rows = format_html_join(
            "", '<li><a href="{}">{}</a>: {} unread{}{} · <a href="{}">timeline</a></li>',
            ((reverse("admin:accounts_user_change", args=[c.peer_id]), c.peer.user_id, c.unread_count,
              ", pinned" if c.is_pinned else "", ", hidden" if c.is_hidden else "",
              timeline_url(obj.pk, c.peer_id)) for c in convs[:SHOWN]))
        everything = list_link("admin:messaging_conversation_changelist",
                               "all conversations" if len(convs) > SHOWN else "as a list",
                               owner__id__exact=obj.pk)
        messages = list_link("admin:messaging_message_changelist", "messages", q=obj.user_id)
        if not convs:
            return format_html("none · {}", messages)
        return format_html('<ul class="pc-convs">{}</ul>{} · {}', rows, everything, messages)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
