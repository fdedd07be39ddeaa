from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts.devices import on_user_delete

        from . import checks  # noqa: F401 (registers the system checks)
        from .account_delete import peers_lose_conversation

        on_user_delete(peers_lose_conversation)
