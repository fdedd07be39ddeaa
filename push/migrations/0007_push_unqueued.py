"""Push tasks the broker would not take after their commit (PushUnqueued), and the sweep
that queues them (push.tasks.queue_unqueued_pushes), every 30 s, as a periodic task
operators see and change in Django admin."""

from django.db import migrations, models
from django.utils import timezone

NAME = "Queue offline pushes the broker would not take"
TASK = "push.tasks.queue_unqueued_pushes"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(task=TASK).exists() \
            or PeriodicTask.objects.filter(name=NAME).exists():
        return  # an operator's own entry wins
    every = IntervalSchedule.objects.filter(every=30, period="seconds").first() \
        or IntervalSchedule.objects.create(every=30, period="seconds")
    # A run not started within its interval is dropped: the next one does its work.
    PeriodicTask.objects.create(name=NAME, task=TASK, interval=every, expire_seconds=30)
    # Tells a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("push", "0006_pushdelivery_state_quiet"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="PushUnqueued",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("task", models.CharField(max_length=100)),
                ("args", models.JSONField()),
                ("created_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
