"""The console's groups, as a team would use them, kept in being after every migrate.

- "support" reads users, conversations, messages, relationships, pushes and webhooks,
  sees the dashboard, and recalls messages; it cannot send as the app or as anyone,
  change users or delete anything.
- "operator" is support, plus sending as the app admin, as any user and as system
  notices, the user actions (kick, mute, forbid sending, edit, delete the account
  through the service), blocks, reading the audit log, and "Queue now" on the
  webhook callbacks and the push tasks the broker would not take.
- Superusers have everything. Only they change console access (staff, superuser,
  groups, permissions), and only they act on a superuser's account or on another
  staff member's (edit, password, kick, mute, forbid, delete): an operator cannot make
  itself superuser or take over an account above it (`beyond_role`, `within_role`).

Permissions are named "app_label.codename"; a name whose model does not exist (yet) is
skipped. Missing permissions are added to the group; ones a team added by hand stay.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.db.models import Q

SUPPORT = (
    "accounts.view_user", "accounts.view_device", "accounts.view_syncentry",
    "accounts.view_webhookattempt", "accounts.view_webhookunqueued",
    "accounts.view_dashboard", "accounts.recall_message",
    "messaging.view_message", "messaging.view_conversation",
    "relationships.view_friendship", "relationships.view_friendrequest",
    "relationships.view_friendgroup", "relationships.view_block",
    "push.view_pushdelivery", "push.view_pushattempt", "push.view_pushunqueued",
)
OPERATOR = SUPPORT + (
    "accounts.send_as_app", "accounts.send_as_user",
    "accounts.change_user", "accounts.delete_user", "accounts.view_auditentry",
    "accounts.queue_webhookunqueued", "push.queue_pushunqueued",
    "relationships.add_block", "relationships.delete_block",
)
ROLES: dict[str, tuple[str, ...]] = {"support": SUPPORT, "operator": OPERATOR}


def ensure_roles(**kwargs) -> None:
    """post_migrate: the groups exist and hold at least their permissions."""
    from django.contrib.auth.models import Group, Permission

    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = set()
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            wanted.update(Permission.objects.filter(
                content_type__app_label=app_label, codename=codename).values_list("pk", flat=True))
        have = set(group.permissions.values_list("pk", flat=True))
        if wanted - have:
            group.permissions.add(*(wanted - have))


def beyond_role(request, user) -> bool:
    """Whether this console user may not change `user`: a superuser's account, or
    another staff member's, when the request's user is not a superuser."""
    actor = request.user
    return not actor.is_superuser and (
        user.is_superuser or (user.is_staff and user.pk != actor.pk))


def within_role(action):
    """An admin action on users: a non-superuser's selection loses the accounts beyond
    its role (said in a message), and the action (with its audit) runs on the rest."""

    @functools.wraps(action)
    def run(modeladmin, request, queryset):
        if not request.user.is_superuser:
            beyond = queryset.filter(Q(is_superuser=True) | Q(is_staff=True)) \
                .exclude(pk=request.user.pk)
            names = list(beyond.order_by("user_id").values_list("user_id", flat=True)[:20])
            if names:
                modeladmin.message_user(
                    request, "Left as they are (console accounts beyond your role): "
                    + ", ".join(names), messages.WARNING)
                queryset = queryset.exclude(pk__in=beyond.values("pk"))
        if not queryset.exists():
            return None
        return action(modeladmin, request, queryset)
    return run
