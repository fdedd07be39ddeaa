"""django-axes' sign-in lockout records in the console, as axes registers them, except
its "Clean up expired attempts" action: it reads the time of the sign-in being checked
(`request.axes_attempt_time`), which axes sets only while someone signs in, so from
the console it was a 500 whatever was selected. Here it cleans up to now."""

from __future__ import annotations

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request, queryset):
        request.axes_attempt_time = None  # axes reads None as "now"
        return axes_admin.AccessAttemptAdmin.cleanup_expired_attempts(self, request, queryset)


if admin.site.is_registered(AccessAttempt):  # axes registers it unless AXES_ENABLE_ADMIN is off
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
