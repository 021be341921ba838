"""The Models tab of the browser portal: the list people see and deleting a version. The rules
are the API's; these tests check that the page applies them and says what went wrong."""

from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import Endpoint, ServingTemplate
from models_store.models import ModelFile, ModelVersion, VersionState
from models_store.storage import get_object_store
from models_store.tests.conftest import MiB, stored_objects, upload_file

pytestmark = pytest.mark.django_db

PAGE = "/ui/t/team-a/models/"


@pytest.fixture
def store():
    """The pages read the index, not storage, so one backend is enough."""
    return get_object_store()


@pytest.fixture
def editor_page(browser_for, editor):
    return browser_for(editor)


@pytest.fixture
def viewer_page(browser_for, make_user):
    return browser_for(make_user("vic", groups=["team-a-viewers"]))


@pytest.fixture
def uploaded(editor_api, tenant):
    """iris 1 (one file of 1.5 MiB), iris 2 (two files) and resnet 1 (2 KiB)."""
    for name, version, path, data in [
        ("iris", 1, "model.pkl", b"a" * (3 * MiB // 2)),
        ("iris", 2, "model.pkl", b"b" * MiB),
        ("iris", 2, "meta/settings.json", b"{}"),
        ("resnet", 1, "saved_model.pb", b"r" * 2048),
    ]:
        done = upload_file(editor_api, "team-a", name, version, path, [data])
        assert done.status_code == 201, done.json()


def serve(tenant, name, model_name, policy="{latest {}}"):
    return Endpoint.objects.create(
        tenant=tenant,
        name=name,
        model_name=model_name,
        version_policy=policy,
        serving=ServingTemplate.objects.get(name="mlserver"),
        subject_name="client",
    )


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def listed(response):
    return [
        (v.name, v.version, v.state, v.file_count, v.total_size, v.served_by)
        for v in response.context["page_obj"]
    ]


def row(response, name, version):
    """The HTML of one version's row (filesizeformat's no-break spaces as plain ones)."""
    html = unescape(response.content.decode()).replace("\xa0", " ")
    return html.split(f'id="version-{name}-{version}"', 1)[1].split("</tr>", 1)[0]


def test_the_page_lists_each_models_versions_with_files_sizes_and_endpoints(
    editor_page, uploaded, tenant, other_tenant, make_user, client_for
):
    serve(tenant, "iris-live", "iris")
    stranger_api = client_for(make_user("bea", groups=["team-b-editors"]))
    assert upload_file(stranger_api, "team-b", "secret", 1, "x.bin", [b"s"]).status_code == 201

    response = editor_page.get(PAGE)

    assert response.status_code == 200
    assert listed(response) == [
        ("iris", 2, VersionState.READY, 2, MiB + 2, ["iris-live"]),
        ("iris", 1, VersionState.READY, 1, 3 * MiB // 2, []),
        ("resnet", 1, VersionState.READY, 1, 2048, []),
    ]
    iris_2 = row(response, "iris", 2)
    assert "1.0 MB" in iris_2 and "2 files" in iris_2
    assert "meta/settings.json" in iris_2 and "2 bytes" in iris_2
    assert "/ui/t/team-a/endpoints/iris-live/" in iris_2
    assert "1.5 MB" in row(response, "iris", 1)
    assert "2.0 KB" in row(response, "resnet", 1)
    page = response.content.decode()
    assert "secret" not in page and "team-b" not in page
    assert 'aria-current="page">Models</a>' in page


def test_the_list_takes_the_same_queries_however_many_versions_and_endpoints(
    editor_page, editor_api, tenant
):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert editor_page.get(PAGE).status_code == 200
        return len(captured)

    upload_file(editor_api, "team-a", "iris", 1, "model.pkl", [b"a"])
    few = queries()
    for version in (2, 3):
        upload_file(editor_api, "team-a", "iris", version, "model.pkl", [b"a"])
        upload_file(editor_api, "team-a", f"model-{version}", 1, "model.pkl", [b"a"])
    serve(tenant, "iris-all", "iris", "{all {}}")
    serve(tenant, "iris-live", "iris")
    assert queries() == few


def test_versions_are_listed_fifty_a_page(editor_page, tenant):
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(tenant=tenant, name="big", version=n, state=VersionState.READY)
        for n in range(1, 52)
    )
    ModelFile.objects.bulk_create(ModelFile(model_version=v, path="f", size=1) for v in versions)

    first = editor_page.get(PAGE)
    assert [v[1] for v in listed(first)] == list(range(51, 1, -1))
    assert "Page 1 of 2" in first.content.decode()
    second = editor_page.get(PAGE + "?page=2")
    assert [v[1] for v in listed(second)] == [1]


def test_the_list_fragment_is_the_list_alone(editor_page, uploaded):
    fragment = editor_page.get(PAGE + "list", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section class="card" id="model-list">')
    assert 'id="version-iris-2"' in html and "Tenant" not in html


def test_an_editor_deletes_a_version_from_the_page(
    editor_page, uploaded, tenant, store, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_page.post(
            PAGE + "delete", {"modelName": "iris", "modelVersion": "1"}, follow=True
        )

    assert response.redirect_chain[-1][0] == PAGE
    assert messages_of(response) == ["Version 1 of iris is being deleted."]
    assert [(name, version) for name, version, *_ in listed(response)] in (
        [("iris", 2), ("resnet", 1)],
        [("iris", 2), ("iris", 1), ("resnet", 1)],  # if the worker had not finished yet
    )
    assert not ModelVersion.objects.filter(name="iris", version=1).exists()
    assert "iris/1/model.pkl" not in stored_objects(store, tenant.bucket)


def test_a_version_an_endpoint_serves_is_kept_with_the_apis_reason(editor_page, uploaded, tenant):
    serve(tenant, "iris-live", "iris", "{specific {versions: 1}}")

    response = editor_page.post(
        PAGE + "delete", {"modelName": "iris", "modelVersion": "1"}, follow=True
    )

    assert messages_of(response) == [
        "Version 1 of iris is served by endpoint(s) iris-live; change their modelVersionPolicy "
        "or delete them first."
    ]
    assert ModelVersion.objects.get(name="iris", version=1).state == VersionState.READY


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"modelName": "iris", "modelVersion": "one"},
            "modelVersion must be a positive whole number such as 1; 'one' is not.",
        ),
        ({"modelName": "", "modelVersion": "1"}, "modelName is required."),
        (
            {"modelName": "iris", "modelVersion": "7"},
            "Tenant 'team-a' has no version 7 of a model called 'iris'.",
        ),
    ],
)
def test_bad_input_is_explained_and_nothing_is_deleted(editor_page, uploaded, form, message):
    response = editor_page.post(PAGE + "delete", form, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [message]
    assert ModelVersion.objects.filter(state=VersionState.READY).count() == 3


def test_viewers_see_the_list_but_cannot_delete_or_upload(viewer_page, uploaded):
    page = viewer_page.get(PAGE).content.decode()
    assert 'id="version-iris-1"' in page
    assert "Delete" not in page

    refused = viewer_page.post(PAGE + "delete", {"modelName": "iris", "modelVersion": "1"})

    assert refused.status_code == 403
    assert "You need the editor role" in unescape(refused.content.decode())
    assert ModelVersion.objects.get(name="iris", version=1).state == VersionState.READY


def test_another_tenants_models_are_not_found(browser_for, make_user, uploaded):
    stranger = browser_for(make_user("mallory", groups=["elsewhere"]))
    for url in (PAGE, PAGE + "list"):
        response = stranger.get(url)
        assert response.status_code == 404
        assert "There is no tenant called 'team-a'." in unescape(response.content.decode())
    refused = stranger.post(PAGE + "delete", {"modelName": "iris", "modelVersion": "1"})
    assert refused.status_code == 404
    assert ModelVersion.objects.filter(state=VersionState.READY).count() == 3
