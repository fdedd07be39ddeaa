"""The hourly purges, as periodic tasks operators see and change in Django admin."""

from django.db import migrations
from django.utils import timezone

TASKS = [
    ("Purge the offline cache (sync log)", "accounts.tasks.purge_sync_log"),
    ("Purge history past retention", "messaging.tasks.purge_history"),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    hourly = IntervalSchedule.objects.filter(every=1, period="hours").first() \
        or IntervalSchedule.objects.create(every=1, period="hours")
    for name, task in TASKS:
        if PeriodicTask.objects.filter(task=task).exists() \
                or PeriodicTask.objects.filter(name=name).exists():
            continue  # an operator's own entry wins
        # A run not started within the hour is dropped: the next one does its work.
        PeriodicTask.objects.create(name=name, task=task, interval=hourly,
                                    expire_seconds=3600)
    # Tells a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _ in TASKS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0002_retry_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
