from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts.devices import on_user_delete
        from push.pipeline import read_messages_with

        from . import checks  # noqa: F401 (registers the system checks)
        from .account_delete import peers_lose_conversation
        from .push_now import pushes_now

        on_user_delete(peers_lose_conversation)
        read_messages_with(pushes_now)  # the push task reads its messages as they are now
