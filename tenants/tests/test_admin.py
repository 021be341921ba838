"""The admin site: observed state is read-only, input is checked as in the API, resync works."""

import pytest
from django.contrib.auth.models import User

from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", password="pw-for-tests-only")
    client.force_login(user)
    return client


def test_the_tenant_list_and_form_render(admin_client):
    Tenant.objects.create(name="team-a", scope="g", phase="Failed", message="quota rejected")
    assert admin_client.get("/admin/tenants/tenant/").status_code == 200
    page = admin_client.get(f"/admin/tenants/tenant/{Tenant.objects.get().pk}/change/")
    assert page.status_code == 200
    assert b"quota rejected" in page.content


def test_creating_in_the_admin_checks_the_name_and_binds_the_scope(
    admin_client, django_capture_on_commit_callbacks
):
    form = {
        "name": "Bad Name",
        "scope": "g",
        "ca_cert": "",
        "quota": "{}",
        "bindings-TOTAL_FORMS": "0",
        "bindings-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/tenants/tenant/add/", form)
    assert response.status_code == 200
    assert b"lowercase letters" in response.content
    assert not Tenant.objects.exists()

    form["name"] = "team-a"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/tenants/tenant/add/", form)
    assert response.status_code == 302
    tenant = Tenant.objects.get()
    assert tenant.phase == "Ready"  # the reconcile ran (eagerly) after the commit
    assert list(TenantBinding.objects.values_list("group", "role")) == [("g", "editor")]


def test_the_resync_action_reconciles_the_selected_tenants(admin_client):
    tenant = Tenant.objects.create(name="team-a", scope="g")
    response = admin_client.post(
        "/admin/tenants/tenant/",
        {"action": "resync", "_selected_action": [tenant.pk]},
        follow=True,
    )
    assert b"Asked the workers to reconcile 1 tenant" in response.content
    tenant.refresh_from_db()
    assert tenant.phase == "Ready"


def test_the_admin_cannot_delete_a_row_behind_the_workers_back(admin_client):
    tenant = Tenant.objects.create(name="team-a", scope="g")
    response = admin_client.get(f"/admin/tenants/tenant/{tenant.pk}/delete/")
    assert response.status_code == 403


def test_tokens_created_in_the_admin_are_shown_once(admin_client):
    user = User.objects.get(username="root")
    response = admin_client.post(
        "/admin/identity/personalaccesstoken/add/", {"user": user.pk, "name": "ci"}, follow=True
    )
    assert b"copy it now" in response.content
    from identity.models import PersonalAccessToken

    token = PersonalAccessToken.objects.get()
    assert token.name == "ci" and len(token.token_hash) == 64
