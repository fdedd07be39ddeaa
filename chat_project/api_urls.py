"""The native REST API under /api/v1/: each app's views, one URL each."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("relationships.api.urls")),
    path("", include("push.api.urls")),
]
