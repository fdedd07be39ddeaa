"""The console page of kept push tasks (push/admin.py): its names, and the permission
of its "Queue now" action (granted to the "operator" group by accounts/console_roles.py
after every migrate). No change to the table."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('push', '0008_push_outbox'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='pushunqueued',
            options={'permissions': [('queue_pushunqueued', 'Queue kept push tasks now')], 'verbose_name': 'kept push task', 'verbose_name_plural': 'kept push tasks'},
        ),
    ]
