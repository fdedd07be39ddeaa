from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the sign-in hook that stores the session epoch (kicks end sessions).
        from . import devices  # noqa: F401
