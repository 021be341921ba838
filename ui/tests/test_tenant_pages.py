"""The tenant pages of the browser portal: the platform admins' tenant list (create, delete) and
each tenant's Settings tab (status, quota, bindings). The rules are the API's; these tests check
that the pages apply them and say what went wrong."""

from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import make_certificate
from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_page(browser_for, platform_admin):
    return browser_for(platform_admin)


@pytest.fixture
def team_a(db):
    tenant = Tenant.objects.create(
        name="team-a", scope="team-a-editors", quota={"maxEndpoints": 3, "limits.cpu": "4"}
    )
    for group, role in [
        ("team-a-admins", "admin"),
        ("team-a-editors", "editor"),
        ("team-a-viewers", "viewer"),
    ]:
        TenantBinding.objects.create(tenant=tenant, group=group, role=role)
    return tenant


@pytest.fixture
def member_page(browser_for, make_user, team_a):
    def make(role):
        return browser_for(make_user(f"{role}-user", groups=[f"team-a-{role}s"]))

    return make


def messages_of(response):
    return [unescape(str(message)) for message in response.context["messages"]]


def text_of(response):
    return unescape(response.content.decode())


def form(ca_pem, **changes):
    return {
        "name": "team-c",
        "scope": "team-c-users",
        "cert": ca_pem,
        "maxEndpoints": "5",
        "maxStorageBytes": "1073741824",
        "requests.cpu": "2",
        "limits.cpu": "4",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "gpu": "1",
        "gpu_vendor": "nvidia.com",
        **changes,
    }


def bindings_of(tenant):
    return sorted(tenant.bindings.values_list("group", "role"))


# --- the tenant list ---------------------------------------------------------------------------


def test_the_tenant_list_shows_every_tenant_with_its_phase_and_endpoints(admin_page, team_a):
    Tenant.objects.create(name="team-b", scope="team-b-users", phase=Phase.FAILED, message="No.")
    Endpoint.objects.create(
        tenant=team_a,
        name="scorer",
        model_name="m",
        serving=ServingTemplate.objects.get(name="mlserver"),
        subject_name="c",
    )
    response = admin_page.get("/ui/tenants/")
    assert response.status_code == 200
    rows = [
        (tenant.name, tenant.endpoint_count, limit) for tenant, limit in response.context["rows"]
    ]
    assert rows == [("team-a", 1, 3), ("team-b", 0, None)]
    page = text_of(response)
    assert "team-b-users" in page and "Failed" in page and "No." in page
    assert "1 / 3" in page and "0 / no limit" in page


def test_the_tenant_list_takes_the_same_queries_for_many_tenants(
    admin_page, platform_admin, team_a, django_assert_max_num_queries
):
    admin_page.get("/ui/tenants/")
    with CaptureQueriesContext(connection) as one:
        admin_page.get("/ui/tenants/")
    for number in range(5):
        Tenant.objects.create(name=f"team-{number}", scope="g", created_by=platform_admin)
    with django_assert_max_num_queries(len(one)):
        admin_page.get("/ui/tenants/")


def test_the_catalogue_links_platform_admins_to_the_tenants(admin_page):
    assert "/ui/tenants/" in admin_page.get("/ui/").content.decode()


def test_an_admin_creates_a_tenant_from_the_form(admin_page, platform_admin, ca_pem):
    response = admin_page.post("/ui/tenants/", form(ca_pem), follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/team-c/settings/"
    assert messages_of(response) == ["Tenant team-c created."]
    tenant = Tenant.objects.get(name="team-c")
    assert tenant.scope == "team-c-users"
    assert tenant.ca_cert.strip() == ca_pem.strip()
    assert tenant.quota == {
        "maxEndpoints": 5,
        "maxStorageBytes": 1073741824,
        "requests.cpu": "2",
        "limits.cpu": "4",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "requests.nvidia.com/gpu": "1",
    }
    assert tenant.created_by == platform_admin
    assert bindings_of(tenant) == [("team-c-users", "editor")]
    # The worker runs once the transaction commits, which a test's transaction never does.
    assert tenant.phase == Phase.PENDING
    page = text_of(response)
    assert 'hx-get="/ui/t/team-c/settings/status"' in page
    assert "Pending" in page


def test_the_certificate_may_be_a_file_and_the_quota_may_be_empty(admin_page, ca_pem):
    data = {"name": "team-c", "scope": "team-c-users"}
    data["cert_file"] = SimpleUploadedFile("ca.pem", ca_pem.encode())
    response = admin_page.post("/ui/tenants/", data)
    assert response.status_code == 302
    tenant = Tenant.objects.get(name="team-c")
    assert tenant.ca_cert.strip() == ca_pem.strip()
    assert tenant.quota == {}


def test_the_tenant_is_reconciled_when_the_transaction_commits(
    admin_page, ca_pem, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_page.post("/ui/tenants/", form(ca_pem))
    tenant = Tenant.objects.get(name="team-c")
    assert (tenant.phase, tenant.observed_generation) == (Phase.READY, 1)
    fragment = admin_page.get("/ui/t/team-c/settings/status", headers={"HX-Request": "true"})
    assert "Ready" in fragment.content.decode()
    assert "hx-get" not in fragment.content.decode()


# Quota inputs the create form and the edit form explain the same way: (inputs, field, words).
BAD_QUOTAS = [
    ({"requests.cpu": "lots"}, "requests.cpu", "must be a Kubernetes quantity"),
    ({"requests.cpu": "8"}, "requests.cpu", "must not exceed limits.cpu"),
    ({"maxEndpoints": "-1"}, "maxEndpoints", "whole number, 0 or more"),
    ({"maxStorageBytes": "1Gi"}, "maxStorageBytes", "whole number, 0 or more"),
    ({"gpu": "0.5"}, "gpu", "whole number of devices"),
]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "Team_C"}, "name", "may contain only lowercase letters"),
        ({"name": "kube-c"}, "name", "is reserved"),
        ({"scope": "two words"}, "scope", "without spaces"),
        ({"cert": "not a certificate"}, "cert", "cert is not valid base64 of a PEM certificate."),
        ({"cert": "@ca-leaf"}, "cert", "is not a CA certificate"),
        *BAD_QUOTAS,
    ],
)
def test_bad_input_is_explained_beside_the_field_and_nothing_is_created(
    admin_page, ca_pem, changes, field, message
):
    if changes.get("cert") == "@ca-leaf":
        changes["cert"] = make_certificate(ca=False)
    response = admin_page.post("/ui/tenants/", form(ca_pem, **changes))
    assert response.status_code == 200
    assert message in " ".join(messages_of(response))
    if field in ("name", "scope", "cert"):
        shown = response.context["fields"][field]
    else:
        shown = next(row["errors"] for row in response.context["quota_rows"] if row["key"] == field)
    assert message in " ".join(shown)
    assert f'<span class="field-error">{shown[0]}' in text_of(response)
    assert response.context["form"]["scope"] == form(ca_pem, **changes)["scope"]
    assert not Tenant.objects.exists()


def test_a_binary_certificate_file_is_refused(admin_page):
    data = {"name": "team-c", "scope": "g", "cert_file": SimpleUploadedFile("ca.der", b"\x30\x82")}
    response = admin_page.post("/ui/tenants/", data)
    assert messages_of(response) == [
        "cert: The certificate file must be PEM (text starting -----BEGIN CERTIFICATE)."
    ]
    assert not Tenant.objects.exists()


def test_a_taken_name_is_a_conflict_message(admin_page, team_a, ca_pem):
    response = admin_page.post("/ui/tenants/", form(ca_pem, name="team-a"))
    assert response.status_code == 200
    assert messages_of(response) == ["A tenant called 'team-a' already exists."]
    assert Tenant.objects.get().scope == "team-a-editors"


def test_delete_needs_the_tenant_name_typed_to_confirm(admin_page, team_a):
    response = admin_page.post("/ui/tenants/team-a/delete", {"confirm": "team-b"}, follow=True)
    assert messages_of(response) == [
        "Type the tenant's name, team-a, to confirm that it should be deleted."
    ]
    team_a.refresh_from_db()
    assert team_a.deletion_requested_at is None

    response = admin_page.post("/ui/tenants/team-a/delete", {"confirm": "team-a"}, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/tenants/"
    assert messages_of(response) == [
        "Tenant team-a is being deleted: its endpoints, models and bucket go with it."
    ]
    team_a.refresh_from_db()
    assert team_a.deletion_requested_at is not None
    assert team_a.generation == 2
    assert "Deleting" in text_of(response)


def test_deleting_a_tenant_that_does_not_exist_says_so(admin_page):
    response = admin_page.post("/ui/tenants/nobody/delete", {"confirm": "nobody"}, follow=True)
    assert messages_of(response) == ["There is no tenant called 'nobody'."]


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_only_platform_admins_manage_tenants(member_page, team_a, ca_pem, role):
    page = member_page(role)
    listed = page.get("/ui/tenants/")
    assert listed.status_code == 403
    assert "Only platform admins can manage tenants." in text_of(listed)
    assert page.post("/ui/tenants/", form(ca_pem)).status_code == 403
    refused = page.post("/ui/tenants/team-a/delete", {"confirm": "team-a"})
    assert refused.status_code == 403
    assert "Only platform admins can delete tenants." in text_of(refused)
    assert list(Tenant.objects.values_list("name", "deletion_requested_at")) == [("team-a", None)]


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get("/ui/tenants/")
    assert response["Location"] == "/ui/login/?next=/ui/tenants/"


# --- the Settings tab --------------------------------------------------------------------------


def test_settings_show_status_names_quota_usage_and_bindings(member_page, team_a):
    Tenant.objects.filter(pk=team_a.pk).update(
        phase=Phase.PROVISIONING,
        message="Creating the namespace and bucket.",
        quota_used={"limits.cpu": "1500m", "requests.memory": "1Gi"},
    )
    response = member_page("viewer").get("/ui/t/team-a/settings/")
    assert response.status_code == 200
    assert response.context["tab"] == "settings"
    assert response.context["usage"] == [
        ("maxEndpoints", 3, 0),
        ("limits.cpu", "4", "1500m"),
        ("requests.memory", None, "1Gi"),
    ]
    page = text_of(response)
    assert "Creating the namespace and bucket." in page
    assert 'hx-get="/ui/t/team-a/settings/status"' in page
    assert "<code>team-a</code>" in page  # the namespace and the bucket
    for group in ("team-a-admins", "team-a-editors", "team-a-viewers"):
        assert group in page
    assert 'href="/ui/t/team-a/settings/"' in page  # the tab


def test_viewers_and_editors_see_bindings_but_cannot_change_them(member_page, team_a):
    before = bindings_of(team_a)
    for role in ("viewer", "editor"):
        page = member_page(role)
        assert "Save binding" not in text_of(page.get("/ui/t/team-a/settings/"))
        added = page.post("/ui/t/team-a/settings/bindings", {"group": "x", "role": "admin"})
        assert added.status_code == 403
        assert "You need the admin role in tenant 'team-a' to do this." in text_of(added)
        removed = page.post("/ui/t/team-a/settings/bindings/remove", {"group": "team-a-admins"})
        assert removed.status_code == 403
    assert bindings_of(team_a) == before


def test_tenant_admins_add_change_and_remove_bindings(member_page, team_a):
    page = member_page("admin")
    assert "Save binding" in text_of(page.get("/ui/t/team-a/settings/"))
    url = "/ui/t/team-a/settings/bindings"

    response = page.post(url, {"group": "data-science", "role": "viewer"}, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/team-a/settings/"
    assert messages_of(response) == ["Group data-science now has the viewer role."]
    response = page.post(url, {"group": "data-science", "role": "editor"}, follow=True)
    assert messages_of(response) == ["Group data-science now has the editor role instead."]
    response = page.post(url, {"group": "data-science", "role": "editor"}, follow=True)
    assert messages_of(response) == ["Group data-science already had the editor role."]
    assert ("data-science", "editor") in bindings_of(team_a)
    team_a.refresh_from_db()
    assert team_a.generation == 3  # created and changed: each a change for the worker

    response = page.post(url + "/remove", {"group": "data-science"}, follow=True)
    assert messages_of(response) == ["Group data-science no longer has a role in team-a."]
    assert "data-science" not in dict(bindings_of(team_a))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"group": "two words", "role": "viewer"}, "group: group must be a group name"),
        ({"group": "ops", "role": "owner"}, "role: role must be one of viewer, editor, admin"),
    ],
)
def test_bad_bindings_are_explained(admin_page, team_a, data, message):
    before = bindings_of(team_a)
    response = admin_page.post("/ui/t/team-a/settings/bindings", data, follow=True)
    assert message in messages_of(response)[0]
    assert bindings_of(team_a) == before


def test_removing_a_group_without_a_role_says_so(admin_page, team_a):
    response = admin_page.post(
        "/ui/t/team-a/settings/bindings/remove", {"group": "nobody"}, follow=True
    )
    assert messages_of(response) == ["Group 'nobody' has no role in tenant 'team-a'."]


def test_bindings_of_a_tenant_being_deleted_cannot_change(admin_page, team_a):
    admin_page.post("/ui/tenants/team-a/delete", {"confirm": "team-a"}, follow=True)
    response = admin_page.post(
        "/ui/t/team-a/settings/bindings", {"group": "ops", "role": "viewer"}, follow=True
    )
    assert messages_of(response) == ["Tenant 'team-a' is being deleted; its bindings can't change."]
    assert "ops" not in dict(bindings_of(team_a))
    assert "Save binding" not in text_of(response) and "Remove" not in text_of(response)


def test_strangers_do_not_find_the_settings(browser_for, make_user, team_a):
    stranger = browser_for(make_user("mallory", groups=["elsewhere"]))
    for url in ("/ui/t/team-a/settings/", "/ui/t/team-a/settings/status"):
        response = stranger.get(url)
        assert response.status_code == 404
        assert "team-a-admins" not in text_of(response)
    refused = stranger.post("/ui/t/team-a/settings/bindings", {"group": "mine", "role": "admin"})
    assert refused.status_code == 404
    assert "mine" not in dict(bindings_of(team_a))


# --- the Settings tab: quota and CA certificate, for platform admins --------------------------


def quota_inputs(response):
    return {row["key"]: row["value"] for row in response.context["quota_rows"]}


def test_platform_admins_get_the_quota_form_filled_in_with_the_current_quota(admin_page, team_a):
    Tenant.objects.filter(pk=team_a.pk).update(
        quota={"maxEndpoints": 3, "limits.cpu": "4", "requests.amd.com/gpu": "2"}
    )
    response = admin_page.get("/ui/t/team-a/settings/")
    assert quota_inputs(response) == {
        "maxEndpoints": "3",
        "maxStorageBytes": "",
        "requests.cpu": "",
        "limits.cpu": "4",
        "requests.memory": "",
        "limits.memory": "",
        "gpu": "2",
    }
    page = text_of(response)
    assert "Edit quota" in page and 'name="gpu_vendor" value="amd.com"' in page
    assert 'action="/ui/t/team-a/settings/quota"' in page
    assert "Add a CA certificate" in page
    assert "Remove the CA certificate" not in page  # there is none to remove


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_members_see_neither_form_and_are_refused_if_they_post(member_page, team_a, ca_pem, role):
    page = member_page(role)
    shown = text_of(page.get("/ui/t/team-a/settings/"))
    assert "Edit quota" not in shown and "CA certificate</summary>" not in shown
    for url, data in [
        ("/ui/t/team-a/settings/quota", {"maxEndpoints": "100"}),
        ("/ui/t/team-a/settings/certificate", {"cert": ca_pem}),
        ("/ui/t/team-a/settings/certificate", {"remove": "1"}),
    ]:
        refused = page.post(url, data)
        assert refused.status_code == 403
        assert "Only platform admins can change tenants." in text_of(refused)
    team_a.refresh_from_db()
    assert (team_a.quota, team_a.ca_cert, team_a.generation) == (
        {"maxEndpoints": 3, "limits.cpu": "4"},
        "",
        1,
    )


def test_strangers_do_not_find_the_quota_and_certificate_forms(browser_for, make_user, team_a):
    stranger = browser_for(make_user("mallory", groups=["elsewhere"]))
    for url in ("/ui/t/team-a/settings/quota", "/ui/t/team-a/settings/certificate"):
        assert stranger.post(url, {"maxEndpoints": "1"}).status_code == 404


def test_an_admin_replaces_the_quota_from_the_form(
    admin_page, team_a, django_capture_on_commit_callbacks
):
    data = {"maxEndpoints": "1", "requests.memory": "1Gi", "gpu": "1", "gpu_vendor": "nvidia.com"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_page.post("/ui/t/team-a/settings/quota", data, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/team-a/settings/"
    assert messages_of(response) == ["Quota of team-a saved."]
    team_a.refresh_from_db()
    # limits.cpu was left empty: that limit is gone.
    assert team_a.quota == {
        "maxEndpoints": 1,
        "requests.memory": "1Gi",
        "requests.nvidia.com/gpu": "1",
    }
    assert (team_a.generation, team_a.observed_generation) == (2, 2)
    assert quota_inputs(response)["requests.memory"] == "1Gi"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    BAD_QUOTAS,
)
def test_a_bad_quota_is_explained_beside_the_field_and_nothing_changes(
    admin_page, team_a, changes, field, message
):
    data = {"maxEndpoints": "3", "limits.cpu": "4", **changes}
    response = admin_page.post("/ui/t/team-a/settings/quota", data)
    assert response.status_code == 200
    assert message in " ".join(messages_of(response))
    shown = next(row["errors"] for row in response.context["quota_rows"] if row["key"] == field)
    assert message in " ".join(shown)
    assert f'<span class="field-error">{shown[0]}' in text_of(response)
    assert quota_inputs(response)[field] == changes[field]  # what was typed, to correct it
    assert '<details class="manage" open>' in text_of(response)
    team_a.refresh_from_db()
    assert (team_a.quota, team_a.generation) == ({"maxEndpoints": 3, "limits.cpu": "4"}, 1)


def test_a_quota_with_gpus_of_two_vendors_is_not_offered_in_the_form(admin_page, team_a):
    Tenant.objects.filter(pk=team_a.pk).update(
        quota={"requests.nvidia.com/gpu": "1", "requests.amd.com/gpu": "1"}
    )
    response = admin_page.get("/ui/t/team-a/settings/")
    page = text_of(response)
    assert "Edit quota" not in page
    assert "GPUs of more than one vendor" in page and "PATCH /tenants/team-a" in page


def test_an_admin_adds_replaces_and_removes_the_ca_certificate(admin_page, team_a, ca_pem):
    url = "/ui/t/team-a/settings/certificate"
    response = admin_page.post(url, {"cert": ca_pem}, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/team-a/settings/"
    assert messages_of(response) == ["CA certificate of team-a saved."]
    assert "Modelport test CA" in text_of(response)
    assert "Remove the CA certificate" in text_of(response)

    other = make_certificate()
    upload = SimpleUploadedFile("ca.pem", other.encode())
    response = admin_page.post(url, {"cert_file": upload}, follow=True)
    assert messages_of(response) == ["CA certificate of team-a saved."]
    team_a.refresh_from_db()
    assert team_a.ca_cert.strip() == other.strip()

    response = admin_page.post(url, {"remove": "1"}, follow=True)
    assert messages_of(response) == ["CA certificate of team-a removed."]
    team_a.refresh_from_db()
    assert (team_a.ca_cert, team_a.generation) == ("", 4)
    assert "Add a CA certificate" in text_of(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cert": ""}, "cert: Paste the CA certificate's PEM or choose its file."),
        ({"cert": "not a certificate"}, "cert: cert is not valid base64 of a PEM certificate."),
        ({"cert": "@ca-leaf"}, "is not a CA certificate"),
    ],
)
def test_a_bad_certificate_is_explained_beside_the_field(admin_page, team_a, data, message):
    if data["cert"] == "@ca-leaf":
        data = {"cert": make_certificate(ca=False)}
    response = admin_page.post("/ui/t/team-a/settings/certificate", data)
    assert response.status_code == 200
    assert message in messages_of(response)[0]
    assert response.context["fields"]["cert"]
    assert f'<span class="field-error">{response.context["fields"]["cert"][0]}' in text_of(response)
    # The quota form still shows the stored quota, not the certificate form's input.
    assert quota_inputs(response)["maxEndpoints"] == "3"
    team_a.refresh_from_db()
    assert (team_a.ca_cert, team_a.generation) == ("", 1)


def test_a_ca_that_endpoints_verify_clients_against_is_not_removed(admin_page, team_a, ca_pem):
    Tenant.objects.filter(pk=team_a.pk).update(ca_cert=ca_pem)
    Endpoint.objects.create(
        tenant=team_a,
        name="scorer",
        model_name="m",
        serving=ServingTemplate.objects.get(name="mlserver"),
        subject_name="c",
    )
    response = admin_page.post("/ui/t/team-a/settings/certificate", {"remove": "1"})
    assert response.status_code == 200
    assert messages_of(response) == [
        "Endpoints of tenant 'team-a' check client certificates against its CA at the cluster "
        "ingress (scorer); delete them first, or give a new CA instead of removing it."
    ]
    team_a.refresh_from_db()
    assert team_a.ca_cert == ca_pem


def test_a_tenant_being_deleted_offers_no_forms_and_refuses_changes(admin_page, team_a):
    admin_page.post("/ui/tenants/team-a/delete", {"confirm": "team-a"})
    page = text_of(admin_page.get("/ui/t/team-a/settings/"))
    assert "Edit quota" not in page and "Add a CA certificate" not in page
    response = admin_page.post("/ui/t/team-a/settings/quota", {"maxEndpoints": "9"})
    assert messages_of(response) == ["Tenant 'team-a' is being deleted; it can't change."]
    team_a.refresh_from_db()
    assert team_a.quota == {"maxEndpoints": 3, "limits.cpu": "4"}
