"""Offline pushes kept in an outbox: every push job's row is written in its send's
transaction (push.tasks.queue_on_commit), and `refused` marks the tasks the broker would
not take after the commit, which the sweep queues at once (the others once they were
queued more than CHAT_PUSH_OUTBOX_GRACE_SECONDS ago, at their commit or by the sweep:
`queued_at`). The rows kept so far were all refused."""

from django.db import migrations, models


def refused_so_far(apps, schema_editor):
    apps.get_model("push", "PushUnqueued").objects.update(refused=True)


class Migration(migrations.Migration):

    dependencies = [("push", "0007_push_unqueued")]

    operations = [
        migrations.AddField(model_name="pushunqueued", name="refused",
                            field=models.BooleanField(default=False)),
        migrations.AddField(model_name="pushunqueued", name="queued_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(refused_so_far, migrations.RunPython.noop),
    ]
