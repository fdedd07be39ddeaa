"""What the operator console's tests share: a signed-in staff client."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import User


def staff_client(user_id: str, group: str | None = None, *perms: str, **client_kw) -> Client:
    """A Django test client signed in as a new staff user in `group` ("support",
    "operator" or None) with the extra permissions `perms` ("app_label.codename")."""
    user = User.objects.create_user(user_id, password="staff-pass-1", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                         codename=codename))
    client = Client(**client_kw)
    assert client.login(user_id=user_id, password="staff-pass-1")
    return client
