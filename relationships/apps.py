from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts.devices import on_user_delete

        from .account_delete import peers_lose_relationships

        on_user_delete(peers_lose_relationships)
