from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The system checks; the outbox's sweep, run when the broker is back
        # (chat_project/broker.py).
        from . import checks, tasks  # noqa: F401
