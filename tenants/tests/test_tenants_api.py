import base64

import pytest
from django.utils.timezone import now

from conftest import make_certificate
from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding


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


def test_a_count_sent_as_digits_is_taken_as_the_reference_clients_send_it(admin_api, ca_pem):
    body = {"name": "test", "cert": b64(ca_pem), "scope": "g", "quota": {"maxEndpoints": "1"}}
    response = admin_api.post("/tenants", body, format="json")
    assert response.status_code == 201, response.json()
    assert Tenant.objects.get(name="test").quota == {"maxEndpoints": 1}


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
        ("quota", {"maxEndpoints": "1.5"}),
        ("quota", {"maxEndpoints": "\u0661"}),
        ("quota", {"maxEndpoints": "1\n"}),
        ("quota", {"requests.cpu": "two"}),
        ("quota", {"limits.memory": "-1Gi"}),
        ("quota", {"requests.memory": "2Gi", "limits.memory": "1Gi"}),
        ("quota", {"requests.nvidia.com/gpu": "0.5"}),
        ("quota", {"cpu": "1"}),
        # Python's $ matches before a final newline and \d matches any script's digits; the
        # names and quantities must not (Kubernetes refuses them).
        ("name", "abc\n"),
        ("quota", {"requests.cpu": "1\n"}),
        ("quota", {"requests.cpu": "\u0661"}),
        # PostgreSQL refuses NUL in a text column, which was a 500.
        ("scope", "group\x00"),
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


def test_a_tenant_name_with_a_nul_character_is_not_found(admin_api, tenant):
    # Seen while fixing the same bug schemathesis found in endpoint names: PostgreSQL refuses
    # NUL in a query, which was a 500.
    response = admin_api.get("/tenants/team-a%00")
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


# --- changing a tenant ----------------------------------------------------------------------


def patch(api, body, name="team-a"):
    return api.patch(f"/tenants/{name}", body, format="json")


def test_a_new_quota_replaces_the_whole_quota_and_is_reconciled(
    admin_api, tenant, django_capture_on_commit_callbacks
):
    Tenant.objects.filter(pk=tenant.pk).update(quota={"maxEndpoints": 3, "limits.cpu": "4"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = patch(admin_api, {"quota": {"maxEndpoints": 5, "requests.memory": "1Gi"}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "PATCHED"
    assert body["data"]["quota"] == {"maxEndpoints": 5, "requests.memory": "1Gi"}
    assert body["data"]["name"] == "team-a"
    assert body["data"]["generation"] == 2
    assert len(callbacks) == 1
    tenant.refresh_from_db()
    assert tenant.quota == {"maxEndpoints": 5, "requests.memory": "1Gi"}
    assert (tenant.phase, tenant.observed_generation) == (Phase.READY, 2)


def test_an_empty_quota_removes_every_limit(admin_api, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(quota={"maxEndpoints": 3})
    response = patch(admin_api, {"quota": {}})
    assert response.json()["data"]["quota"] == {}


def test_the_cert_may_be_replaced_as_base64_or_pem_and_removed(admin_api, tenant, ca_pem):
    response = patch(admin_api, {"cert": b64(ca_pem)})
    assert response.status_code == 200
    assert response.json()["data"]["cert"]["subject"] == "CN=Modelport test CA"
    other = make_certificate()
    assert patch(admin_api, {"cert": other}).status_code == 200
    tenant.refresh_from_db()
    assert tenant.ca_cert.strip() == other.strip()

    response = patch(admin_api, {"cert": ""})
    assert response.status_code == 200
    assert response.json()["data"]["cert"] is None
    tenant.refresh_from_db()
    assert (tenant.ca_cert, tenant.generation) == ("", 4)


def test_quota_and_cert_change_together_in_one_generation(admin_api, tenant, ca_pem):
    response = patch(admin_api, {"quota": {"maxEndpoints": 1}, "cert": b64(ca_pem)})
    data = response.json()["data"]
    assert (data["quota"], data["generation"]) == ({"maxEndpoints": 1}, 2)
    assert data["cert"] is not None


def test_a_patch_that_changes_nothing_is_not_a_new_generation(
    admin_api, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = patch(admin_api, {"quota": {}, "cert": ""})
    assert response.status_code == 200
    assert response.json()["data"]["generation"] == 1
    assert callbacks == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quota": "lots"}, "quota"),
        ({"quota": {"maxEndpoints": -1}}, "quota"),
        ({"quota": {"requests.cpu": "8", "limits.cpu": "4"}}, "quota"),
        ({"quota": {"cpu": "1"}}, "quota"),
        ({"quota": None}, "quota"),
        ({"cert": "not base64!"}, "cert"),
        ({"cert": b64("hello")}, "cert"),
        ({"cert": 5}, "cert"),
    ],
)
def test_a_bad_change_is_refused_and_names_the_field(admin_api, tenant, body, field):
    response = patch(admin_api, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert error["message"].startswith(field)
    tenant.refresh_from_db()
    assert (tenant.quota, tenant.generation) == ({}, 1)


def test_a_leaf_certificate_is_not_a_ca(admin_api, tenant):
    response = patch(admin_api, {"cert": make_certificate(ca=False)})
    assert response.status_code == 400
    assert "not a CA certificate" in response.json()["error"]["fields"]["cert"][0]


def test_an_empty_change_says_what_to_send(admin_api, tenant):
    response = patch(admin_api, {})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == (
        'Give the quota, the cert or both; for example {"quota": {"maxEndpoints": 5}}.'
    )


def test_a_change_with_an_unknown_field_is_refused(admin_api, tenant):
    response = patch(admin_api, {"quota": {}, "scope": "other-group"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_field"
    assert error["message"] == "Unknown field 'scope'; expected some of: cert, quota."
    tenant.refresh_from_db()
    assert tenant.scope == "group-a"


def test_a_tenant_being_deleted_cannot_change(admin_api, tenant):
    admin_api.delete("/tenants", {"name": "team-a"}, format="json")
    response = patch(admin_api, {"quota": {"maxEndpoints": 1}})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_deleting"
    tenant.refresh_from_db()
    assert tenant.quota == {}


def test_changing_an_unknown_tenant_is_not_found(admin_api):
    response = patch(admin_api, {"quota": {}}, name="nobody")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_members_may_not_change_their_tenant(make_user, client_for, tenant, role):
    TenantBinding.objects.create(tenant=tenant, group=f"team-a-{role}s", role=role)
    member = client_for(make_user("bob", groups=[f"team-a-{role}s"]))
    response = patch(member, {"quota": {"maxEndpoints": 100}})
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "Only platform admins can change tenants.",
        "fields": {},
    }
    tenant.refresh_from_db()
    assert tenant.quota == {}


def test_strangers_do_not_learn_that_the_tenant_exists(make_user, client_for, tenant):
    stranger = client_for(make_user("eve", groups=["group-b"]))
    for name in ("team-a", "nobody"):
        response = patch(stranger, {"quota": {}}, name=name)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"


def endpoint_in(tenant, name, serving):
    return Endpoint.objects.create(
        tenant=tenant,
        name=name,
        model_name="m",
        serving=ServingTemplate.objects.get(name=serving),
        subject_name="client",
    )


def test_the_cert_cannot_be_removed_while_endpoints_verify_clients_against_it(
    admin_api, tenant, ca_pem
):
    Tenant.objects.filter(pk=tenant.pk).update(ca_cert=ca_pem)
    endpoint_in(tenant, "scorer", "mlserver")
    endpoint_in(tenant, "ranker", "tf-serving")
    endpoint_in(tenant, "kserved", "kserve")  # no ingress of its own: no client certificates
    response = patch(admin_api, {"cert": ""})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "ca_in_use",
        "message": (
            "Endpoints of tenant 'team-a' check client certificates against its CA at the cluster "
            "ingress (ranker, scorer); delete them first, or give a new CA instead of removing it."
        ),
        "fields": {},
    }
    tenant.refresh_from_db()
    assert (tenant.ca_cert, tenant.generation) == (ca_pem, 1)
    # Replacing it is fine, and so is removing it once only endpoints being deleted use it.
    assert patch(admin_api, {"cert": make_certificate()}).status_code == 200
    Endpoint.objects.filter(name__in=["scorer", "ranker"]).update(deletion_requested_at=now())
    assert patch(admin_api, {"cert": ""}).status_code == 200
