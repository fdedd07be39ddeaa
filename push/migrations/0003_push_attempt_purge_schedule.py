"""The schedule for purging old push attempt records (push/tasks.py), as a periodic
task operators see and change in Django admin. Data only."""

from django.db import migrations
from django.utils import timezone

TASKS = [
    # (name, task, every, period, expire_seconds)
    ("Purge old push attempt records", "push.tasks.purge_push_attempts", 1, "days", 86400),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, period, expire in TASKS:
        if PeriodicTask.objects.filter(task=task).exists() \
                or PeriodicTask.objects.filter(name=name).exists():
            continue  # an operator's own entry wins
        interval = IntervalSchedule.objects.filter(every=every, period=period).first() \
            or IntervalSchedule.objects.create(every=every, period=period)
        PeriodicTask.objects.create(name=name, task=task, interval=interval,
                                    expire_seconds=expire)
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[t[0] for t in TASKS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("push", "0002_deliveries_attempts_receive_option"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
