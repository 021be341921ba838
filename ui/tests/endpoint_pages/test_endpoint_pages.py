"""The endpoint pages of the browser portal: what people see and what their forms change. The
rules are the API's; these tests check that the pages apply them and say what went wrong."""

from html import unescape

import pytest

from endpoints.models import Endpoint
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_page(browser_for, editor):
    return browser_for(editor)


@pytest.fixture
def viewer_page(browser_for, viewer):
    return browser_for(viewer)


FORM = {
    "endpointName": "iris",
    "modelName": "iris",
    "policy": "specific",
    "versions": "1, 3",
    "servingName": "mlserver",
    "subjectName": "client",
    "replicas": "2",
    "requests_cpu": "500m",
    "limits_memory": "1Gi",
}


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_signed_out_people_are_sent_to_sign_in(client, tenant):
    response = client.get("/ui/t/test/")
    assert response.status_code == 302
    assert response["Location"] == "/ui/login/?next=/ui/t/test/"
    assert client.get("/").headers["Location"] == "/ui/"


def test_the_catalogue_lists_the_endpoints_of_each_tenant_the_user_is_in(
    editor_page, make_endpoint, ca_pem
):
    make_endpoint("resnet")
    other = Tenant.objects.create(name="other", scope="other", ca_cert=ca_pem)
    Endpoint.objects.create(
        tenant=other, name="secret", model_name="m", serving_id=1, subject_name="c"
    )
    page = editor_page.get("/ui/").content.decode()
    assert "/ui/t/test/endpoints/resnet/" in page
    assert "secret" not in page and "other" not in page


def test_an_editor_creates_an_endpoint_from_the_form(editor_page, tenant):
    response = editor_page.post("/ui/t/test/endpoints/new", FORM, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/test/endpoints/iris/"
    endpoint = Endpoint.objects.get(name="iris")
    assert endpoint.version_policy == "{specific {versions: 1 versions: 3}}"
    assert endpoint.resources == {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}
    assert endpoint.replicas == 2
    assert messages_of(response) == [
        "Endpoint iris created.",
        "Warning: iris model is not available on the platform.",
    ]
    page = response.content.decode()
    assert "http://testserver/gateway/test/iris/" in page
    assert "v2/models/iris/infer" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpointName": "Bad_Name"}, "endpointName"),
        ({"requests_cpu": "lots"}, "resources"),
        ({"servingName": "nope"}, "There is no serving template called 'nope'"),
        ({"replicas": "-1"}, "replicas"),
    ],
)
def test_bad_input_is_explained_on_the_form_and_nothing_is_created(
    editor_page, tenant, change, message
):
    response = editor_page.post("/ui/t/test/endpoints/new", {**FORM, **change})
    assert response.status_code == 200
    assert message in " ".join(messages_of(response))
    assert response.context["form"]["endpointName"] == {**FORM, **change}["endpointName"]
    assert not Endpoint.objects.exists()


def test_a_taken_name_is_a_message_not_an_error_page(editor_page, make_endpoint):
    make_endpoint("iris")
    response = editor_page.post("/ui/t/test/endpoints/new", FORM)
    assert messages_of(response) == ["An endpoint called 'iris' already exists."]
    assert Endpoint.objects.count() == 1


def test_scale_edit_and_delete_from_the_endpoint_page(editor_page, make_endpoint):
    make_endpoint("resnet")
    base = "/ui/t/test/endpoints/resnet/"
    response = editor_page.post(base + "scale", {"replicas": "3"}, follow=True)
    assert messages_of(response) == ["Scaling resnet to 3 replicas."]
    assert Endpoint.objects.get().replicas == 3

    response = editor_page.post(
        base + "update",
        {"modelName": "resnet2", "policy": "all", "subjectName": "client", "limits_cpu": "2"},
        follow=True,
    )
    assert messages_of(response) == ["Endpoint resnet updated."]
    endpoint = Endpoint.objects.get()
    assert (endpoint.model_name, endpoint.version_policy) == ("resnet2", "{all {}}")
    assert endpoint.resources == {"limits": {"cpu": "2"}}
    assert endpoint.generation == 2

    response = editor_page.post(base + "scale", {"replicas": "many"}, follow=True)
    assert "replicas" in messages_of(response)[0]
    assert Endpoint.objects.get().replicas == 3

    response = editor_page.post(base + "delete", follow=True)
    assert response.redirect_chain[-1][0] == "/ui/t/test/"
    assert messages_of(response) == ["Endpoint resnet is being deleted."]
    listed = response.context["rows"]
    assert [(endpoint.name, status) for endpoint, status in listed] in (
        [],
        [("resnet", "deleting")],
    )


def test_the_live_status_fragment_follows_the_endpoint(editor_page, make_endpoint):
    endpoint = make_endpoint("resnet", phase="Ready", running_pods=2, message="")
    fragment = editor_page.get(
        "/ui/t/test/endpoints/resnet/status", headers={"HX-Request": "true"}
    ).content.decode()
    assert "Ready" in fragment and "2 running" in fragment
    endpoint.delete()
    gone = editor_page.get("/ui/t/test/endpoints/resnet/status", headers={"HX-Request": "true"})
    assert gone.status_code == 404
    assert unescape(gone.content.decode()).strip() == (
        "<p class=\"error\" role=\"alert\">Tenant 'test' has no endpoint called 'resnet'.</p>"
    )


def test_viewers_see_but_cannot_change(viewer_page, make_endpoint):
    make_endpoint("resnet")
    page = viewer_page.get("/ui/t/test/endpoints/resnet/").content.decode()
    assert "Delete endpoint" not in page and "Scale" not in page
    refused = viewer_page.post("/ui/t/test/endpoints/resnet/scale", {"replicas": "5"})
    assert refused.status_code == 403
    assert "You need the editor role" in unescape(refused.content.decode())
    assert Endpoint.objects.get().replicas == 1
    assert viewer_page.get("/ui/t/test/endpoints/new").status_code == 403


def test_another_tenants_pages_are_not_found(browser_for, make_user, make_endpoint):
    make_endpoint("resnet")
    stranger = browser_for(make_user("mallory", groups=["elsewhere"]))
    for url in ("/ui/t/test/", "/ui/t/test/endpoints/resnet/", "/ui/t/test/endpoints/new"):
        response = stranger.get(url)
        assert response.status_code == 404
        assert "There is no tenant called 'test'." in unescape(response.content.decode())
    assert stranger.post("/ui/t/test/endpoints/resnet/delete").status_code == 404
    assert Endpoint.objects.filter(deletion_requested_at__isnull=True).count() == 1


def test_platform_admins_see_every_tenant_in_the_catalogue(
    browser_for, platform_admin, make_endpoint, ca_pem
):
    make_endpoint("resnet")
    Tenant.objects.create(name="other", scope="other", ca_cert=ca_pem)
    response = browser_for(platform_admin).get("/ui/")
    assert response.status_code == 200
    assert [tenant.name for tenant, role in response.context["groups"]] == ["other", "test"]
    assert {role for _, role in response.context["groups"]} == {"admin"}


def test_unknown_portal_addresses_and_failures_are_pages_not_json(editor_page, settings, tenant):
    missing = editor_page.get("/ui/no/such/page")
    assert missing.status_code == 404
    assert "There is nothing at this address." in missing.content.decode()
    assert missing["Content-Type"].startswith("text/html")
    api_missing = editor_page.get("/no/such/api")
    assert api_missing.json()["error"]["code"] == "not_found"

    from ui.pages import server_error

    response = server_error(editor_page.get("/ui/").wsgi_request)
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
