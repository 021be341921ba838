"""The Models tab of the browser portal: the list people see, deleting a version, and uploading
from the browser straight to storage. The rules are the API's; these tests check that the page
applies them and says what went wrong."""

import hashlib
import os
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import Endpoint, ServingTemplate
from models_store.models import ModelFile, ModelVersion, VersionState
from models_store.tests.conftest import MiB, read_object, stored_objects, upload_file
from workers.storage import get_object_store

pytestmark = pytest.mark.django_db

PAGE = "/ui/t/team-a/models/"


@pytest.fixture
def store():
    """The pages read the index, not storage, so one backend is enough; the filesystem one
    serves presigned part URLs from the portal itself, which the browser test needs."""
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
        assert done.status_code == 200, done.json()


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
    assert upload_file(stranger_api, "team-b", "secret", 1, "x.bin", [b"s"]).status_code == 200

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


def test_the_upload_form_offers_the_next_version_of_each_model(editor_page, uploaded):
    response = editor_page.get(PAGE)
    assert response.context["next_versions"] == {"iris": 3, "resnet": 2}
    page = response.content.decode()
    assert '<script id="next-versions" type="application/json">{"iris": 3, "resnet": 2}' in page
    assert 'id="upload-form"' in page and "ui/upload.js" in page


def test_the_page_says_which_formats_the_runtime_serves_with_which_versions(viewer_page, tenant):
    from django.conf import settings

    from workers.backends.local_models import runtime_libraries

    page = unescape(viewer_page.get(PAGE).content.decode())
    libraries = runtime_libraries(settings.MODELPORT_MLSERVER)
    assert f"MLServer {libraries['mlserver']}" in page
    assert f"scikit-learn {libraries['scikit-learn']}" in page
    assert f"lightgbm {libraries['lightgbm']}" in page
    assert "one *.joblib, *.pkl or *.pickle file" in page


def test_on_a_cluster_the_page_points_at_the_serving_templates(viewer_page, tenant, settings):
    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    page = unescape(viewer_page.get(PAGE).content.decode())
    assert "Endpoints run on the cluster" in page and "scikit-learn" not in page


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
    assert 'id="version-iris-2"' in html and "upload-form" not in html


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
    assert "Delete" not in page and "upload-form" not in page and "upload.js" not in page

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


# --- in a real browser -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_editor_uploads_files_in_parts_from_the_browser(
    page, sign_in, live_server, tenant, editor, store, tmp_path
):
    from playwright.sync_api import expect

    data = os.urandom(20 * MiB + 12345)  # three parts of at most 8 MiB
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    sign_in(editor)
    part_puts = []
    page.on(
        "request",
        lambda request: (
            request.method == "PUT"
            and "/storage/parts/" in request.url
            and part_puts.append(request.url)
        ),
    )

    page.goto(f"{live_server.url}{PAGE}")
    page.get_by_label("Model name", exact=True).fill("iris")
    expect(page.get_by_label("Version", exact=True)).to_have_value("1")
    page.get_by_label("Files", exact=True).set_input_files([path, empty])
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#upload-summary")).to_contain_text("(100%)", timeout=60_000)
    expect(page.locator("#upload-messages")).to_have_text(
        "Uploaded 2 files to version 1 of iris.", timeout=30_000
    )
    expect(page.locator("#version-iris-1")).to_contain_text("20.0 MB")
    assert page.locator("#upload-overall").evaluate("bar => bar.value === bar.max")
    expect(page.get_by_label("Version", exact=True)).to_have_value("1")
    page.get_by_label("Model name", exact=True).fill("iris")  # the next upload's default
    expect(page.get_by_label("Version", exact=True)).to_have_value("2")

    files = ModelFile.objects.filter(model_version__name="iris", model_version__version=1)
    assert {file.path: file.size for file in files} == {"model.bin": len(data), "empty.txt": 0}
    assert read_object(store, tenant.bucket, "iris/1/model.bin") == (
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        len(data),
    )
    assert len(part_puts) == 3 + 1  # model.bin's three parts and empty.txt's one


@pytest.mark.django_db(transaction=True)
def test_the_browser_shows_the_apis_reason_when_an_upload_is_refused(
    page, sign_in, live_server, tenant, editor, tmp_path
):
    from playwright.sync_api import expect

    tenant.quota = {"maxStorageBytes": MiB}
    tenant.save(update_fields=["quota"])
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (2 * MiB))
    sign_in(editor)

    page.goto(f"{live_server.url}{PAGE}")
    page.get_by_label("Model name", exact=True).fill("iris")
    page.get_by_label("Files", exact=True).set_input_files(path)
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#upload-messages .message.error")).to_have_text(
        f"big.bin: This would take tenant 'team-a' to {2 * MiB} bytes of models; its storage "
        f"quota is {MiB} bytes. Delete versions you no longer need or ask a platform admin for "
        "more.",
        timeout=30_000,
    )
    assert not ModelVersion.objects.exists()
    assert not ModelFile.objects.exists()
