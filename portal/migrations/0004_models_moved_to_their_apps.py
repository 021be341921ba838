"""Tokens and identities moved to the identity app, plans, applications and keys to applications,
usage minutes to gateway, all keeping their tables: the portal forgets them in its state only."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0003_applications'),
        ('identity', '0001_initial'),
        ('applications', '0001_initial'),
        ('gateway', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='application',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='application',
                    name='endpoints',
                ),
                migrations.RemoveField(
                    model_name='application',
                    name='plan',
                ),
                migrations.RemoveField(
                    model_name='application',
                    name='tenant',
                ),
                migrations.RemoveField(
                    model_name='oidcidentity',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='personalaccesstoken',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='usageminute',
                    name='tenant',
                ),
                migrations.DeleteModel(
                    name='ApiKey',
                ),
                migrations.DeleteModel(
                    name='Plan',
                ),
                migrations.DeleteModel(
                    name='Application',
                ),
                migrations.DeleteModel(
                    name='OidcIdentity',
                ),
                migrations.DeleteModel(
                    name='PersonalAccessToken',
                ),
                migrations.DeleteModel(
                    name='UsageMinute',
                ),
            ],
        ),
    ]
