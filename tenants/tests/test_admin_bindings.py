"""Bindings edited in the admin site reach the cluster the same way as through the API."""

import pytest

from tenants.models import Tenant, TenantBinding


@pytest.fixture
def tenant(db):
    tenant = Tenant.objects.create(name="team-a", scope="team-a-users")
    TenantBinding.objects.create(tenant=tenant, group="team-a-users", role="editor")
    return tenant


def test_adding_a_binding_inline_bumps_the_generation_and_schedules_a_reconcile(
    admin_client, tenant, django_capture_on_commit_callbacks
):
    client = admin_client
    binding = tenant.bindings.get()
    form = {
        "scope": "team-a-users",
        "ca_cert": "",
        "quota": "{}",
        "bindings-TOTAL_FORMS": "2",
        "bindings-INITIAL_FORMS": "1",
        "bindings-0-id": str(binding.pk),
        "bindings-0-tenant": str(tenant.pk),
        "bindings-0-group": "team-a-users",
        "bindings-0-role": "editor",
        "bindings-1-tenant": str(tenant.pk),
        "bindings-1-group": "auditors",
        "bindings-1-role": "viewer",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form)
    assert response.status_code == 302
    assert response["Location"] == "/admin/tenants/tenant/"
    assert tenant.bindings.filter(group="auditors", role="viewer").exists()
    tenant.refresh_from_db()
    assert tenant.generation == 2
    assert len(callbacks) == 1  # the reconcile, once the transaction commits
