"""After-callbacks kept in an outbox: every callback's row is written in its change's
transaction (accounts.webhook_tasks.after), and `refused` marks those the broker would
not take at the commit, which the sweep queues at once (the others once they were
queued more than CHAT_WEBHOOK_OUTBOX_GRACE_SECONDS ago, at their commit or by the
sweep: `queued_at`). The rows kept so far were all refused."""

from django.db import migrations, models


def refused_so_far(apps, schema_editor):
    apps.get_model("accounts", "WebhookUnqueued").objects.update(refused=True)


class Migration(migrations.Migration):

    dependencies = [("accounts", "0010_sync_entry_copies_idx")]

    operations = [
        migrations.AddField(model_name="webhookunqueued", name="refused",
                            field=models.BooleanField(default=False)),
        migrations.AddField(model_name="webhookunqueued", name="queued_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(refused_so_far, migrations.RunPython.noop),
    ]
