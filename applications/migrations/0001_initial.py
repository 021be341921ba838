"""The models moved here from the portal app keep their tables: this adopts them in Django's state
only (no table is created or copied) and relabels their content types."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.moved_models import adopt_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('portal', '0003_applications'),
        ('endpoints', '0002_seed_serving_templates'),
        ('tenants', '0002_quota_used'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Plan',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.SlugField(unique=True)),
                        ('description', models.TextField(blank=True)),
                        ('requests_per_minute', models.PositiveIntegerField(blank=True, null=True)),
                        ('requests_per_day', models.PositiveIntegerField(blank=True, null=True)),
                        ('concurrent_requests', models.PositiveIntegerField(blank=True, null=True)),
                        ('tokens_per_minute', models.PositiveIntegerField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'portal_plan',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Application',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=63)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('endpoints', models.ManyToManyField(blank=True, related_name='applications', to='endpoints.endpoint')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='applications', to='tenants.tenant')),
                        ('plan', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='applications', to='applications.plan')),
                    ],
                    options={
                        'db_table': 'portal_application',
                        'ordering': ['tenant', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='ApiKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('prefix', models.CharField(editable=False, max_length=12)),
                        ('key_hash', models.CharField(editable=False, max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('application', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='keys', to='applications.application')),
                    ],
                    options={
                        'verbose_name': 'API key',
                        'db_table': 'portal_apikey',
                        'ordering': ['-created_at', '-pk'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='application',
                    constraint=models.UniqueConstraint(fields=('tenant', 'name'), name='application_name_per_tenant'),
                ),
            ],
            database_operations=[
                adopt_content_types("portal", "applications", ['plan', 'application', 'apikey']),
            ],
        ),
    ]
