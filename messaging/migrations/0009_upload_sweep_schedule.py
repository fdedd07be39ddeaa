"""The hourly upload sweep (messaging.tasks.purge_uploads), as a periodic task operators
see and change in Django admin. Data only."""

from django.db import migrations
from django.utils import timezone

NAME, TASK = "Delete uploads no message refers to", "messaging.tasks.purge_uploads"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(task=TASK).exists() \
            or PeriodicTask.objects.filter(name=NAME).exists():
        return  # an operator's own entry wins
    hourly = IntervalSchedule.objects.filter(every=1, period="hours").first() \
        or IntervalSchedule.objects.create(every=1, period="hours")
    # A run not started within the hour is dropped: the next one does its work.
    PeriodicTask.objects.create(name=NAME, task=TASK, interval=hourly, expire_seconds=3600)
    # Tells a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0008_uploads"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
