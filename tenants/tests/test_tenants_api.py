import base64

import pytest

from conftest import make_certificate
from tenants.models import Phase, Tenant, TenantBinding


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def tenant(db):
    tenant = Tenant.objects.create(name="team-a", scope="group-a")
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    return tenant


# --- the reference calls, verbatim ----------------------------------------------------------


def test_reference_create_body_creates_a_tenant_and_binds_its_scope(admin_api, ca_pem):
    body = {"name": "test", "cert": b64(ca_pem), "scope": "test-group", "quota": {}}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 201
    assert response.json() == {"status": "CREATED", "data": {"name": "test"}}
    tenant = Tenant.objects.get(name="test")
    assert tenant.ca_cert.startswith("-----BEGIN CERTIFICATE-----")
    assert list(tenant.bindings.values_list("group", "role")) == [("test-group", "editor")]


def test_reference_create_with_quota_keeps_the_quota(admin_api, ca_pem):
    quota = {
        "maxEndpoints": 10,
        "requests.cpu": "2",
        "limits.cpu": "4",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "requests.nvidia.com/gpu": "1",
    }
    body = {"name": "test", "cert": b64(ca_pem), "scope": "g", "quota": quota}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 201, response.json()
    assert Tenant.objects.get(name="test").quota == quota


def test_reference_list_shows_tenant_names(admin_api, tenant):
    response = admin_api.get("/tenants")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["data"] == {"tenants": ["team-a"]}
    assert body["pagination"]["count"] == 1


def test_reference_delete_body_marks_the_tenant_for_deletion(admin_api, tenant):
    response = admin_api.delete("/tenants", {"name": "team-a"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"status": "DELETED", "data": {"name": "team-a"}}
    tenant.refresh_from_db()
    assert tenant.deletion_requested_at is not None
    assert tenant.generation == 2


# --- validation: each bad field is a 400 that names it -----------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "ab"),
        ("name", "Upper"),
        ("name", "-dash"),
        ("name", "x" * 31),
        ("name", "kube-system"),
        ("name", "default"),
        ("name", 12345),
        ("scope", ""),
        ("scope", "two words"),
        ("cert", "not base64!"),
        ("cert", b64("hello")),
        ("quota", "lots"),
        ("quota", {"maxEndpoints": -1}),
        ("quota", {"maxEndpoints": True}),
        ("quota", {"requests.cpu": "two"}),
        ("quota", {"limits.memory": "-1Gi"}),
        ("quota", {"requests.memory": "2Gi", "limits.memory": "1Gi"}),
        ("quota", {"requests.nvidia.com/gpu": "0.5"}),
        ("quota", {"cpu": "1"}),
    ],
)
def test_it_rejects_a_bad_field_and_names_it(admin_api, ca_pem, field, value):
    body = {"name": "good-name", "cert": b64(ca_pem), "scope": "g", "quota": {}, field: value}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert error["message"].startswith(field)
    assert not Tenant.objects.exists()


def test_it_rejects_a_leaf_certificate_that_is_not_a_ca(admin_api):
    body = {"name": "good-name", "cert": b64(make_certificate(ca=False)), "scope": "g", "quota": {}}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 400
    assert "not a CA certificate" in response.json()["error"]["fields"]["cert"][0]


def test_it_rejects_an_expired_ca(admin_api):
    body = {
        "name": "good-name",
        "cert": b64(make_certificate(days=-1, not_before_days=30)),
        "scope": "g",
    }
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 400
    assert "expired" in response.json()["error"]["fields"]["cert"][0]


def test_it_rejects_missing_name_and_scope(admin_api):
    response = admin_api.post("/tenants", {"quota": {}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "scope"}


def test_it_rejects_unknown_fields(admin_api):
    response = admin_api.post(
        "/tenants", {"name": "abc", "scope": "g", "quotas": {}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"
    assert "quotas" in response.json()["error"]["fields"]


def test_it_rejects_malformed_json(admin_api):
    response = admin_api.generic("POST", "/tenants", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_it_rejects_a_body_that_is_not_an_object(admin_api):
    response = admin_api.post("/tenants", ["test"], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_duplicate_name_is_a_conflict(admin_api, tenant):
    response = admin_api.post("/tenants", {"name": "team-a", "scope": "g"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_exists"


def test_a_name_being_deleted_is_a_conflict_with_its_own_code(admin_api, tenant):
    admin_api.delete("/tenants", {"name": "team-a"}, format="json")
    response = admin_api.post("/tenants", {"name": "team-a", "scope": "g"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_deleting"


def test_deleting_an_unknown_tenant_is_not_found(admin_api):
    response = admin_api.delete("/tenants", {"name": "nobody"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


# --- who may do what ------------------------------------------------------------------------


def test_only_platform_admins_create_tenants(make_user, client_for, tenant):
    member = client_for(make_user("bob", groups=["group-a"]))
    response = member.post("/tenants", {"name": "mine", "scope": "group-a"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Tenant.objects.filter(name="mine").exists()


def test_only_platform_admins_delete_tenants(make_user, client_for, tenant):
    member = client_for(make_user("bob", groups=["group-a"]))
    response = member.delete("/tenants", {"name": "team-a"}, format="json")
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.deletion_requested_at is None


def test_a_member_lists_only_their_tenants(make_user, client_for, tenant):
    Tenant.objects.create(name="team-b", scope="group-b")
    member = client_for(make_user("bob", groups=["group-a"]))
    assert member.get("/tenants").json()["data"] == {"tenants": ["team-a"]}


def test_another_tenants_detail_is_not_found(make_user, client_for, tenant):
    stranger = client_for(make_user("eve", groups=["group-b"]))
    response = stranger.get("/tenants/team-a")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_anonymous_callers_are_told_to_authenticate(client, tenant):
    response = client.get("/tenants")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_member_sees_phase_message_and_quota(make_user, client_for, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(phase=Phase.FAILED, message="quota rejected")
    member = client_for(make_user("bob", groups=["group-a"]), bearer=True)
    data = member.get("/tenants/team-a").json()["data"]
    assert data["phase"] == "Failed"
    assert data["message"] == "quota rejected"
    assert data["bindings"] == [{"group": "group-a", "role": "editor"}]
    assert data["namespace"] == "team-a"


def test_the_list_is_paginated_with_a_constant_number_of_queries(
    admin_api, db, django_assert_max_num_queries
):
    Tenant.objects.bulk_create(Tenant(name=f"tenant-{i:03}", scope="g") for i in range(150))
    with django_assert_max_num_queries(6):
        first = admin_api.get("/tenants?page_size=100").json()
    assert len(first["data"]["tenants"]) == 100
    assert first["pagination"]["count"] == 150
    second = admin_api.get(first["pagination"]["next"]).json()
    assert second["data"]["tenants"][-1] == "tenant-149"
    assert second["pagination"]["next"] is None
