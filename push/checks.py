"""System checks: a VAPID pair in settings must be a pair (run at every start)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from . import vapid


@register()
def check_vapid_keys(app_configs=None, **kwargs):
    errors = []
    try:
        pair = vapid.configured_pair()
        if pair:
            vapid.load_pair(*pair)
    except vapid.VapidKeyError as exc:
        errors.append(Error(
            f"Web Push: {exc}.", id="push.E001",
            hint="Generate a pair with `npx web-push generate-vapid-keys` (or unset both "
                 "CHAT_VAPID_PRIVATE_KEY and CHAT_VAPID_PUBLIC_KEY: the server then makes "
                 "and keeps its own)."))
    subject = getattr(settings, "CHAT_VAPID_SUBJECT", "")
    if subject:
        try:
            vapid.check_subject(subject)
        except vapid.VapidKeyError as exc:
            errors.append(Error(f"Web Push: {exc}.", id="push.E002",
                                hint="e.g. mailto:ops@example.com"))
    return errors


@register(Tags.security, deploy=True)
def check_vapid_subject(app_configs=None, **kwargs):
    if getattr(settings, "CHAT_VAPID_SUBJECT", ""):
        return []
    return [Warning(
        f"Web Push: CHAT_VAPID_SUBJECT is not set; pushes name {vapid.DEFAULT_SUBJECT}, "
        f"which some push services (Apple's) refuse.", id="push.W001",
        hint="Set CHAT_VAPID_SUBJECT to a mailto: address or https: URL of the operator.")]
