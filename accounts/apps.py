from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the sign-in hook that stores the session epoch (kicks end sessions),
        # and the copy of admin's LogEntry rows into the audit log.
        # The outbox's sweep, run when the broker is back (chat_project/broker.py).
        from . import audit, devices, webhook_tasks  # noqa: F401
        from .console_roles import ensure_roles

        # After every app's permissions exist (django.contrib.auth creates them in its
        # own post_migrate, which runs before the last app's).
        post_migrate.connect(ensure_roles, dispatch_uid="accounts.ensure_roles")
