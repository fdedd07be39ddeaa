"""Serving uploaded files from local disk when no web server does it (SERVE_FILES)."""

import mimetypes

from django.conf import settings
from django.views.static import serve

# Shown inline: media a chat shows in place. Everything else is a download, so a
# file a user uploaded can never run as a page of this site.
INLINE_TYPES = ("image/", "audio/", "video/")


def serve_media(request, path):
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    content_type = mimetypes.guess_type(path)[0] or ""
    if not content_type.startswith(INLINE_TYPES) or content_type == "image/svg+xml":
        response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    return response
