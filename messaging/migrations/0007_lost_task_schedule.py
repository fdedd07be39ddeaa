"""Queue again what the broker lost (messaging.tasks.requeue_lost_tasks), every 30 s,
as a periodic task operators see and change in Django admin."""

from django.db import migrations
from django.utils import timezone

NAME = "Queue again batch chunks and pushes the broker lost"
TASK = "messaging.tasks.requeue_lost_tasks"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every = IntervalSchedule.objects.filter(every=30, period="seconds").first() \
        or IntervalSchedule.objects.create(every=30, period="seconds")
    if PeriodicTask.objects.filter(task=TASK).exists() \
            or PeriodicTask.objects.filter(name=NAME).exists():
        return  # an operator's own entry wins
    # A run not started within its interval is dropped: the next one does its work.
    PeriodicTask.objects.create(name=NAME, task=TASK, interval=every, expire_seconds=30)
    # Tells a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0006_batch_receipts_and_chunks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
