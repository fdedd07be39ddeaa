"""The console's groups, as a team would use them, kept in being after every migrate.

- "support" reads users, conversations, messages, relationships, pushes and webhooks,
  sees the dashboard, and recalls messages; it cannot send as the app or as anyone,
  change users or delete anything.
- "operator" is support, plus sending as the app admin, as any user and as system
  notices, the user actions (kick, mute, forbid sending, edit, delete the account
  through the service), blocks, and reading the audit log.
- Superusers have everything.

Permissions are named "app_label.codename"; a name whose model does not exist (yet) is
skipped. Missing permissions are added to the group; ones a team added by hand stay.
"""

from __future__ import annotations

SUPPORT = (
    "accounts.view_user", "accounts.view_device", "accounts.view_syncentry",
    "accounts.view_webhookattempt", "accounts.view_dashboard", "accounts.recall_message",
    "messaging.view_message", "messaging.view_conversation",
    "relationships.view_friendship", "relationships.view_friendrequest",
    "relationships.view_friendgroup", "relationships.view_block",
    "push.view_pushdelivery", "push.view_pushattempt",
)
OPERATOR = SUPPORT + (
    "accounts.send_as_app", "accounts.send_as_user",
    "accounts.change_user", "accounts.delete_user", "accounts.view_auditentry",
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
