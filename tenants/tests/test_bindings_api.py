"""GET/POST/DELETE /tenants/<t>/bindings: which OIDC groups have which role in a tenant."""

import pytest

from tenants.manifests import role_binding_name
from tenants.models import Tenant, TenantBinding
from tenants.tasks import reconcile_tenant


@pytest.fixture
def tenant(db):
    tenant = Tenant.objects.create(name="team-a", scope="team-a-users")
    TenantBinding.objects.create(tenant=tenant, group="team-a-users", role="editor")
    TenantBinding.objects.create(tenant=tenant, group="team-a-admins", role="admin")
    TenantBinding.objects.create(tenant=tenant, group="team-a-viewers", role="viewer")
    return tenant


@pytest.fixture
def tenant_admin(make_user, client_for, tenant):
    return client_for(make_user("tara", groups=["team-a-admins"]))


def generation(tenant):
    tenant.refresh_from_db()
    return tenant.generation


def test_members_list_the_bindings(make_user, client_for, tenant):
    viewer = client_for(make_user("vic", groups=["team-a-viewers"]))
    response = viewer.get("/tenants/team-a/bindings")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "bindings": [
            {"group": "team-a-admins", "role": "admin"},
            {"group": "team-a-users", "role": "editor"},
            {"group": "team-a-viewers", "role": "viewer"},
        ]
    }


def test_a_tenant_admin_binds_a_group_and_the_generation_moves(tenant_admin, tenant):
    before = generation(tenant)
    response = tenant_admin.post(
        "/tenants/team-a/bindings", {"group": "data-science", "role": "viewer"}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {
        "status": "CREATED",
        "data": {"group": "data-science", "role": "viewer"},
    }
    assert generation(tenant) == before + 1


def test_binding_a_bound_group_again_changes_its_role(tenant_admin, tenant):
    response = tenant_admin.post(
        "/tenants/team-a/bindings", {"group": "team-a-viewers", "role": "editor"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "PATCHED"
    assert tenant.bindings.get(group="team-a-viewers").role == "editor"


def test_binding_the_same_role_again_changes_nothing(tenant_admin, tenant):
    before = generation(tenant)
    response = tenant_admin.post(
        "/tenants/team-a/bindings", {"group": "team-a-viewers", "role": "viewer"}, format="json"
    )
    assert response.json()["status"] == "OK"
    assert generation(tenant) == before


def test_a_tenant_admin_removes_a_binding(tenant_admin, tenant):
    before = generation(tenant)
    response = tenant_admin.delete(
        "/tenants/team-a/bindings", {"group": "team-a-viewers"}, format="json"
    )
    assert response.json() == {"status": "DELETED", "data": {"group": "team-a-viewers"}}
    assert not tenant.bindings.filter(group="team-a-viewers").exists()
    assert generation(tenant) == before + 1


def test_removing_a_group_that_has_no_role_is_not_found(tenant_admin, tenant):
    response = tenant_admin.delete("/tenants/team-a/bindings", {"group": "nobody"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "binding_not_found"


def test_platform_admins_manage_bindings_of_any_tenant(admin_api, tenant):
    response = admin_api.post(
        "/tenants/team-a/bindings", {"group": "ops", "role": "admin"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("group", ["team-a-users", "team-a-viewers"])
def test_editors_and_viewers_may_not_manage_bindings(make_user, client_for, tenant, group):
    member = client_for(make_user("mo", groups=[group]))
    response = member.post(
        "/tenants/team-a/bindings", {"group": "mine", "role": "admin"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You need the admin role in tenant 'team-a' to do this."
    )
    assert not tenant.bindings.filter(group="mine").exists()


def test_another_tenants_bindings_are_not_found(make_user, client_for, tenant):
    Tenant.objects.create(name="team-b", scope="team-b-admins")
    TenantBinding.objects.create(
        tenant=Tenant.objects.get(name="team-b"), group="team-b-admins", role="admin"
    )
    stranger = client_for(make_user("sam", groups=["team-b-admins"]))
    for response in (
        stranger.get("/tenants/team-a/bindings"),
        stranger.post("/tenants/team-a/bindings", {"group": "x", "role": "admin"}, format="json"),
        stranger.delete("/tenants/team-a/bindings", {"group": "team-a-users"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"
    assert tenant.bindings.count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group": "", "role": "viewer"}, "group"),
        ({"group": "two words", "role": "viewer"}, "group"),
        ({"group": ["g"], "role": "viewer"}, "group"),
        ({"group": "g", "role": "owner"}, "role"),
        ({"group": "g"}, "role"),
        ({"role": "viewer"}, "group"),
    ],
)
def test_a_bad_binding_is_a_400_naming_the_field(tenant_admin, tenant, body, field):
    response = tenant_admin.post("/tenants/team-a/bindings", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert error["message"].startswith(field)


def test_unknown_fields_are_refused(tenant_admin, tenant):
    response = tenant_admin.post(
        "/tenants/team-a/bindings", {"group": "g", "role": "viewer", "tenant": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"


def test_bindings_of_a_tenant_being_deleted_can_not_change(admin_api, tenant):
    admin_api.delete("/tenants", {"name": "team-a"}, format="json")
    response = admin_api.post(
        "/tenants/team-a/bindings", {"group": "g", "role": "viewer"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_deleting"


def test_role_bindings_in_the_cluster_follow_the_api(
    kube, s3, tenant_admin, tenant, django_capture_on_commit_callbacks
):
    # Given the tenant is provisioned
    reconcile_tenant.apply(kwargs={"pk": tenant.pk}).get()
    added = role_binding_name("viewer", "data-science")
    removed = role_binding_name("viewer", "team-a-viewers")
    assert kube.get_object("RoleBinding", "team-a", removed)

    # When a tenant admin adds one group and removes another (the task runs on commit)
    with django_capture_on_commit_callbacks(execute=True):
        tenant_admin.post(
            "/tenants/team-a/bindings", {"group": "data-science", "role": "viewer"}, format="json"
        )
        tenant_admin.delete("/tenants/team-a/bindings", {"group": "team-a-viewers"}, format="json")

    # Then the namespace's RoleBindings match
    binding = kube.get_object("RoleBinding", "team-a", added)
    assert binding["subjects"][0]["name"] == "data-science"
    assert binding["roleRef"]["name"] == "modelport-viewer"
    assert kube.get_object("RoleBinding", "team-a", removed) is None
    tenant.refresh_from_db()
    assert tenant.observed_generation == tenant.generation


def test_the_list_takes_a_constant_number_of_queries(
    tenant_admin, tenant, django_assert_max_num_queries
):
    TenantBinding.objects.bulk_create(
        TenantBinding(tenant=tenant, group=f"group-{i:03}", role="viewer") for i in range(120)
    )
    with django_assert_max_num_queries(8):
        body = tenant_admin.get("/tenants/team-a/bindings?page_size=100").json()
    assert len(body["data"]["bindings"]) == 100
    assert body["pagination"]["count"] == 123


def test_a_group_with_a_nul_character_is_a_400(tenant_admin, tenant):
    # PostgreSQL refuses NUL in a text column or a query, which was a 500.
    for response in (
        tenant_admin.post(
            "/tenants/team-a/bindings", {"group": "g\x00", "role": "viewer"}, format="json"
        ),
        tenant_admin.delete("/tenants/team-a/bindings", {"group": "g\x00"}, format="json"),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {
            "group": ["group must not contain NUL characters."]
        }
