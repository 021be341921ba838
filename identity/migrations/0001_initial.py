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
        ('portal', '0002_oidc_identity'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PersonalAccessToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(default='default', max_length=100)),
                        ('prefix', models.CharField(editable=False, help_text='First characters, to recognise it.', max_length=12)),
                        ('token_hash', models.CharField(editable=False, max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='access_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'portal_personalaccesstoken',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='OidcIdentity',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('issuer', models.CharField(max_length=255)),
                        ('subject', models.CharField(max_length=255)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('last_login_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='oidc_identity', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'OIDC identity',
                        'verbose_name_plural': 'OIDC identities',
                        'db_table': 'portal_oidcidentity',
                        'constraints': [models.UniqueConstraint(fields=('issuer', 'subject'), name='one_user_per_oidc_subject')],
                    },
                ),
            ],
            database_operations=[
                adopt_content_types("portal", "identity", ['personalaccesstoken', 'oidcidentity']),
            ],
        ),
    ]
