"""A database made before the models moved out of the portal app (tokens, identities, plans,
applications, keys, usage) migrates forward with every row in place, under the new apps."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from applications.models import ApiKey, Application, Plan
from gateway.models import UsageMinute
from identity.models import OidcIdentity, PersonalAccessToken

pytestmark = pytest.mark.django_db(transaction=True)

# The portal's last migration before the move; the apps the move created did not exist.
LAST_BEFORE_THE_MOVE = ("portal", "0003_applications")
NEW_APPS = ("identity", "applications", "gateway")


def migrate_to_before_the_move():
    """Unapply the move; returns the models as they were before it."""
    executor = MigrationExecutor(connection)
    executor.migrate([LAST_BEFORE_THE_MOVE, *((app, None) for app in NEW_APPS)])
    executor.loader.build_graph()
    others = [
        node for node in executor.loader.graph.leaf_nodes() if node[0] not in (*NEW_APPS, "portal")
    ]
    return executor.loader.project_state([LAST_BEFORE_THE_MOVE, *others]).apps


def migrate_to_the_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_rows_made_before_the_move_are_read_by_the_new_apps():
    old = migrate_to_before_the_move()
    user = old.get_model("auth", "User").objects.create(username="alice")
    tenant = old.get_model("tenants", "Tenant").objects.create(name="team-a", scope="team-a")
    # Other tests empty the tables (the seeded templates too): make the one this row needs.
    serving = old.get_model("endpoints", "ServingTemplate").objects.get_or_create(name="mlserver")[
        0
    ]
    endpoint = old.get_model("endpoints", "Endpoint").objects.create(
        tenant=tenant, name="iris", model_name="iris", serving=serving, subject_name="client"
    )
    plan = old.get_model("portal", "Plan").objects.create(name="gold", requests_per_minute=60)
    application = old.get_model("portal", "Application").objects.create(
        tenant=tenant, name="shop", plan=plan, created_by=user
    )
    application.endpoints.add(endpoint)
    old.get_model("portal", "ApiKey").objects.create(
        application=application, prefix="mpk_abcdefgh", key_hash="k" * 64
    )
    old.get_model("portal", "PersonalAccessToken").objects.create(
        user=user, prefix="mpt_abcdefgh", token_hash="t" * 64
    )
    old.get_model("portal", "OidcIdentity").objects.create(
        user=user, issuer="https://dex.example.com", subject="sub-1"
    )
    minute = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    old.get_model("portal", "UsageMinute").objects.create(
        tenant=tenant, application="shop", endpoint="iris", minute=minute, requests=7
    )
    content_types = old.get_model("contenttypes", "ContentType").objects
    plan_type = content_types.get_or_create(app_label="portal", model="plan")[0]
    permission = old.get_model("auth", "Permission").objects.create(
        content_type=plan_type, codename="audit_plan", name="Can audit plans"
    )

    migrate_to_the_latest()

    moved = Application.objects.get(name="shop")
    assert moved.plan == Plan.objects.get(name="gold", requests_per_minute=60)
    assert [e.name for e in moved.endpoints.all()] == ["iris"]
    assert moved.created_by.username == "alice"
    assert ApiKey.objects.get(application=moved).prefix == "mpk_abcdefgh"
    assert PersonalAccessToken.objects.get(user__username="alice").prefix == "mpt_abcdefgh"
    assert OidcIdentity.objects.get(subject="sub-1").user.username == "alice"
    assert UsageMinute.objects.get(minute=minute).requests == 7
    # Permissions (and the admin's history) follow the model to its new app.
    assert Permission.objects.get(pk=permission.pk).content_type == ContentType.objects.get(
        app_label="applications", model="plan"
    )
    assert not ContentType.objects.filter(app_label="portal", model="plan").exists()
