"""`maxStorageBytes` in a tenant's quota: validated like maxEndpoints, enforced by Modelport, and
never sent to Kubernetes as part of the ResourceQuota."""

import pytest
from django.core.exceptions import ValidationError

from tenants.manifests import tenant_manifests
from tenants.models import Tenant
from tenants.validation import validate_quota


def test_a_tenant_can_be_created_with_a_storage_quota(admin_api):
    body = {"name": "test", "scope": "g", "quota": {"maxStorageBytes": 10 * 1024**3}}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 201, response.json()
    assert Tenant.objects.get(name="test").quota == {"maxStorageBytes": 10 * 1024**3}


@pytest.mark.parametrize("value", [-1, 1.5, "10Gi", True, None])
def test_a_storage_quota_that_is_not_a_whole_number_of_bytes_is_refused(value):
    with pytest.raises(ValidationError) as raised:
        validate_quota({"maxStorageBytes": value})
    assert "maxStorageBytes must be a whole number" in str(raised.value.message_dict)


def test_the_storage_quota_is_not_part_of_the_kubernetes_resource_quota():
    tenant = Tenant(name="team-a", quota={"maxStorageBytes": 5, "maxEndpoints": 2})
    kinds = [manifest["kind"] for manifest in tenant_manifests(tenant, [])]
    assert "ResourceQuota" not in kinds

    tenant.quota["limits.cpu"] = "4"
    (quota,) = [m for m in tenant_manifests(tenant, []) if m["kind"] == "ResourceQuota"]
    assert quota["spec"]["hard"] == {"limits.cpu": "4"}
