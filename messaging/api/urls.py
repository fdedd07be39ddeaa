from django.urls import path

from . import views

# A UserID may hold any printable ASCII, "/" included, so conversation IDs are
# matched as paths.
urlpatterns = [
    path("messages/", views.MessageSendView.as_view(), name="api-message-send"),
    path("conversations/", views.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/unread-count/", views.UnreadCountView.as_view(),
         name="api-unread-count"),
    path("conversations/<path:conversation_id>/messages/", views.MessagePageView.as_view(),
         name="api-conversation-messages"),
    path("conversations/<path:conversation_id>/read/", views.ConversationReadView.as_view(),
         name="api-conversation-read"),
    path("files/", views.FileUploadView.as_view(), name="api-file-upload"),
]
