from django.urls import path

from . import views

# A UserID may hold any printable ASCII, "/" included, so conversation IDs are
# matched as paths.
urlpatterns = [
    path("messages/", views.MessageSendView.as_view(), name="api-message-send"),
    path("conversations/", views.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/remind-type/", views.RemindTypeView.as_view(),
         name="api-conversation-remind-type"),
    path("conversations/unread-count/", views.UnreadCountView.as_view(),
         name="api-unread-count"),
    path("conversations/<path:conversation_id>/messages/", views.MessagePageView.as_view(),
         name="api-conversation-messages"),
    path("conversations/<path:conversation_id>/read/", views.ConversationReadView.as_view(),
         name="api-conversation-read"),
    path("conversations/<path:conversation_id>/delete/", views.ConversationDeleteView.as_view(),
         name="api-conversation-delete"),
    path("conversations/<path:conversation_id>/clear-history/",
         views.ConversationClearHistoryView.as_view(), name="api-conversation-clear-history"),
    path("conversations/<path:conversation_id>/pin/", views.ConversationPinView.as_view(),
         name="api-conversation-pin"),
    path("conversations/<path:conversation_id>/draft/", views.ConversationDraftView.as_view(),
         name="api-conversation-draft"),
    path("messages/delete/", views.MessageDeleteView.as_view(), name="api-message-delete"),
    path("messages/read-receipts/", views.ReadReceiptView.as_view(),
         name="api-message-read-receipts"),
    path("messages/<str:message_id>/revoke/", views.MessageRevokeView.as_view(),
         name="api-message-revoke"),
    path("messages/<str:message_id>/modify/", views.MessageModifyView.as_view(),
         name="api-message-modify"),
    path("messages/<str:message_id>/extensions/", views.MessageExtensionsView.as_view(),
         name="api-message-extensions"),
    path("messages/<str:message_id>/extensions/delete/",
         views.MessageExtensionsDeleteView.as_view(), name="api-message-extensions-delete"),
    path("merged/<str:download_key>/", views.MergedListView.as_view(), name="api-merged-list"),
    path("files/", views.FileUploadView.as_view(), name="api-file-upload"),
]
