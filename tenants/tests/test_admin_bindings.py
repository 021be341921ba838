"""Changes made in the admin site (bindings inline, quota, CA) reach the cluster the same way as
through the API: one service, one new generation, one reconcile."""

import json
from html import unescape

import pytest

from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding
from tenants.services import request_tenant_deletion


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


def change_form(tenant, **fields):
    """The admin's change form for `tenant` as stored, with `fields` changed."""
    binding = tenant.bindings.get()
    return {
        "scope": tenant.scope,
        "ca_cert": tenant.ca_cert,
        "quota": json.dumps(tenant.quota),
        "bindings-TOTAL_FORMS": "1",
        "bindings-INITIAL_FORMS": "1",
        "bindings-0-id": str(binding.pk),
        "bindings-0-tenant": str(tenant.pk),
        "bindings-0-group": binding.group,
        "bindings-0-role": binding.role,
        **fields,
    }


def test_a_quota_and_a_binding_changed_together_are_one_generation(
    admin_client, tenant, django_capture_on_commit_callbacks
):
    form = change_form(tenant, quota='{"limits.cpu": "4"}', **{"bindings-0-role": "viewer"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form)
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.quota == {"limits.cpu": "4"}
    assert tenant.bindings.get().role == "viewer"
    assert (tenant.generation, len(callbacks)) == (2, 1)
    assert (tenant.phase, tenant.observed_generation) == ("Ready", 2)


def test_saving_without_a_change_is_not_a_new_generation(
    admin_client, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            f"/admin/tenants/tenant/{tenant.pk}/change/", change_form(tenant)
        )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.generation, callbacks) == (1, [])


def test_the_admin_cannot_remove_a_ca_that_endpoints_verify_clients_against(
    admin_client, tenant, ca_pem
):
    Tenant.objects.filter(pk=tenant.pk).update(ca_cert=ca_pem)
    tenant.refresh_from_db()
    Endpoint.objects.create(
        tenant=tenant,
        name="scorer",
        model_name="m",
        serving=ServingTemplate.objects.get(name="mlserver"),
        subject_name="client",
    )
    response = admin_client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", change_form(tenant, ca_cert="")
    )
    assert response.status_code == 200
    assert "at the cluster ingress (scorer)" in unescape(response.content.decode())
    tenant.refresh_from_db()
    assert (tenant.ca_cert, tenant.generation) == (ca_pem, 1)


def test_a_tenant_being_deleted_cannot_change_in_the_admin(admin_client, tenant):
    request_tenant_deletion(tenant)
    tenant.refresh_from_db()
    response = admin_client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", change_form(tenant, quota="{}")
    )
    assert response.status_code == 200
    assert "This tenant is being deleted; it can't change." in unescape(response.content.decode())
    tenant.refresh_from_db()
    assert tenant.generation == 2  # the deletion's, nothing more


def test_a_new_scope_group_is_bound_as_editor_and_the_old_one_keeps_its_role(
    admin_client, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/tenants/tenant/{tenant.pk}/change/", change_form(tenant, scope="team-a-all")
        )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.scope == "team-a-all"
    assert sorted(tenant.bindings.values_list("group", "role")) == [
        ("team-a-all", "editor"),
        ("team-a-users", "editor"),
    ]
    assert tenant.generation == 2
