"""The console page of kept webhook callbacks (accounts/admin_webhooks.py): its names,
and the permission of its "Queue now" action (granted to the "operator" group by
accounts/console_roles.py after every migrate). No change to the table."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0011_webhook_outbox'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='webhookunqueued',
            options={'permissions': [('queue_webhookunqueued', 'Queue kept webhook callbacks now')], 'verbose_name': 'kept webhook callback', 'verbose_name_plural': 'kept webhook callbacks'},
        ),
    ]
