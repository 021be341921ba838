"""The models moved here from the portal app keep their tables: this adopts them in Django's state
only (no table is created or copied) and relabels their content types."""

import django.db.models.deletion
from django.db import migrations, models

from core.moved_models import adopt_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('portal', '0003_applications'),
        ('tenants', '0002_quota_used'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='UsageMinute',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('application', models.CharField(blank=True, max_length=63)),
                        ('endpoint', models.CharField(max_length=63)),
                        ('minute', models.DateTimeField()),
                        ('requests', models.PositiveIntegerField(default=0)),
                        ('errors_4xx', models.PositiveIntegerField(default=0)),
                        ('errors_5xx', models.PositiveIntegerField(default=0)),
                        ('latency_ms_sum', models.BigIntegerField(default=0)),
                        ('latency_buckets', models.JSONField(default=list)),
                        ('tokens', models.BigIntegerField(default=0)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                    ],
                    options={
                        'db_table': 'portal_usageminute',
                        'ordering': ['minute'],
                        'indexes': [models.Index(fields=['tenant', 'minute'], name='portal_usag_tenant__289714_idx')],
                        'constraints': [models.UniqueConstraint(fields=('tenant', 'application', 'endpoint', 'minute'), name='one_usage_row')],
                    },
                ),
            ],
            database_operations=[
                adopt_content_types("portal", "gateway", ['usageminute']),
            ],
        ),
    ]
