from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chat_project import v4
from chat_project.dashboard import dashboard_view
from messaging.pages import chat
from push.pages import service_worker
from relationships import pages as relationship_pages

# The operator console is Django admin, named for what it runs.
admin.site.site_header = "Parley console"
admin.site.site_title = "Parley console"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", lambda request: redirect("chat")),
    path("chat/", chat, name="chat"),
    path("sw.js", service_worker, name="service-worker"),  # Web Push (push/pages.py)
    path("contacts/", relationship_pages.contacts, name="contacts"),
    path("requests/", relationship_pages.friend_requests, name="friend-requests"),
    path("blocklist/", relationship_pages.blocklist, name="blocklist"),
    path("profile/", relationship_pages.my_profile, name="my-profile"),
    path("accounts/", include("accounts.urls")),
    # The operator console's dashboard (chat_project/dashboard.py), inside admin's login.
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="console-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("chat_project.api_urls")),
    # Tencent-compatible server REST API (tencent-rest.md; chat_project/v4.py).
    path("v4/<str:service>/<str:name>", v4.dispatch, name="v4"),
    re_path(r"^v4/(?P<rest>.*)$", v4.unknown_path),  # anything else: 60009, as JSON
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

if settings.SERVE_FILES:
    from django.contrib.staticfiles.views import serve as serve_static

    from chat_project.files import serve_media

    urlpatterns += [
        path(f"{settings.STATIC_URL.strip('/')}/<path:path>", serve_static, {"insecure": True}),
        path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve_media),
    ]
