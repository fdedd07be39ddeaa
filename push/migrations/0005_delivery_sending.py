"""Push deliveries: the "sending" claim (no transaction open during the vendor call)
and withdraw_wanted."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('push', '0004_vapidkeypair'),
    ]

    operations = [
        migrations.AddField(
            model_name='pushdelivery',
            name='withdraw_wanted',
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name='pushdelivery',
            name='state',
            field=models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('delivered', 'Delivered'), ('failed', 'Failed'), ('dead_token', 'Dead Token'), ('withdrawn', 'Withdrawn')], default='pending', max_length=12),
        ),
    ]
