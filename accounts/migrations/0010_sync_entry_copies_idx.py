"""The sync-log entries that may copy a message's content (every kind but message and
revoke), by user and time: a recall finds the copies to erase on it (messaging.changes
`_entries_carrying`, bench/recall.py). Partial, so the send's message entries never
enter it. Built CONCURRENTLY on PostgreSQL (the migration is not atomic): the log is
written by every send while it builds."""

from django.db import migrations, models

INDEX = models.Index(fields=["user", "created_at"],
                     condition=~models.Q(kind__in=["message", "revoke"]),
                     name="sync_entry_copies_idx")


def forwards(apps, schema_editor):
    model = apps.get_model("accounts", "SyncEntry")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")  # a failed build
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def backwards(apps, schema_editor):
    model = apps.get_model("accounts", "SyncEntry")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_webhook_unqueued"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="syncentry", index=INDEX)],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
