"""The console audit log and the permissions behind the console's groups."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_webhook_attempt_purge_schedule'),
    ]

    operations = [
        migrations.CreateModel(
            name='Console',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
            ],
            options={
                'permissions': [('send_as_app', 'Send as the app admin and as system notices'), ('send_as_user', 'Send as any user (impersonation)'), ('recall_message', 'Recall any message'), ('view_dashboard', 'See the dashboard')],
                'managed': False,
                'default_permissions': (),
            },
        ),
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('operator_name', models.CharField(max_length=32)),
                ('action', models.CharField(db_index=True, max_length=64)),
                ('target', models.CharField(blank=True, db_index=True, max_length=200)),
                ('page', models.CharField(blank=True, max_length=500, verbose_name='from page')),
                ('detail', models.JSONField(blank=True, default=dict)),
                ('operator', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'ordering': ('-at', '-id'),
                'default_permissions': ('view',),
            },
        ),
    ]
