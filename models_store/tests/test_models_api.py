"""Listing and deleting model versions: the reference calls, who may see what, query counts."""

import pytest

from models_store.models import ModelFile, ModelVersion, VersionState
from models_store.tests.conftest import stored_objects, upload_file


@pytest.fixture
def two_versions(editor_api, tenant):
    for version in (1, 2):
        done = upload_file(editor_api, "team-a", "resnet", version, "saved_model.pb", [b"m" * 64])
        assert done.status_code == 200, done.json()


# --- the reference calls, verbatim ------------------------------------------------------------


def test_reference_list_shows_one_entry_per_file(viewer_api, two_versions):
    response = viewer_api.get("/tenants/team-a/models")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["data"] == {
        "models": [
            {"path": "resnet/1/saved_model.pb", "name": "resnet", "version": "1", "size": 64},
            {"path": "resnet/2/saved_model.pb", "name": "resnet", "version": "2", "size": 64},
        ]
    }
    assert body["pagination"]["count"] == 2


def test_reference_delete_removes_the_version_from_storage_and_the_list(
    editor_api, two_versions, tenant, store, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.delete(
            "/tenants/team-a/models", {"modelName": "resnet", "modelVersion": 1}, format="json"
        )
    assert response.status_code == 200
    assert response.json() == {"status": "DELETED", "data": {"model_path": "resnet/1/"}}
    assert stored_objects(store, tenant.bucket) == {"resnet/2/saved_model.pb": 64}
    assert list(ModelVersion.objects.values_list("version", flat=True)) == [2]
    listed = editor_api.get("/tenants/team-a/models").json()["data"]["models"]
    assert [item["version"] for item in listed] == ["2"]


def test_a_version_being_deleted_is_hidden_and_cannot_be_deleted_twice(
    editor_api, two_versions, tenant
):
    # Without running the worker, the version stays in the Deleting state.
    body = {"modelName": "resnet", "modelVersion": "1"}
    assert editor_api.delete("/tenants/team-a/models", body, format="json").status_code == 200
    assert ModelVersion.objects.get(version=1).state == VersionState.DELETING
    listed = editor_api.get("/tenants/team-a/models").json()["data"]["models"]
    assert [item["version"] for item in listed] == ["2"]
    again = editor_api.delete("/tenants/team-a/models", body, format="json")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "model_version_not_found"


def test_deleting_a_version_that_does_not_exist_is_a_404(editor_api, tenant):
    response = editor_api.delete(
        "/tenants/team-a/models", {"modelName": "nope", "modelVersion": 1}, format="json"
    )
    assert response.status_code == 404
    assert "no version 1" in response.json()["error"]["message"]


def test_delete_with_a_bad_version_is_a_400(editor_api, tenant):
    response = editor_api.delete(
        "/tenants/team-a/models", {"modelName": "resnet", "modelVersion": "v1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_version"


# --- who may see and change what ----------------------------------------------------------


def test_a_viewer_can_list_but_not_delete(viewer_api, two_versions):
    assert viewer_api.get("/tenants/team-a/models").status_code == 200
    response = viewer_api.delete(
        "/tenants/team-a/models", {"modelName": "resnet", "modelVersion": 1}, format="json"
    )
    assert response.status_code == 403
    assert ModelVersion.objects.count() == 2


def test_another_tenants_models_are_a_404(two_versions, other_tenant, make_user, client_for):
    stranger = client_for(make_user("bob", groups=["team-b-editors"]))
    response = stranger.get("/tenants/team-a/models")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"
    deleted = stranger.delete(
        "/tenants/team-a/models", {"modelName": "resnet", "modelVersion": 1}, format="json"
    )
    assert deleted.status_code == 404
    download = stranger.get(
        "/tenants/team-a/models/download?modelName=resnet&modelVersion=1&fileName=saved_model.pb"
    )
    assert download.status_code == 404
    assert stranger.get("/tenants/team-b/models").json()["data"]["models"] == []


def test_listing_needs_a_token(client, two_versions):
    assert client.get("/tenants/team-a/models").status_code == 401


# --- cost -----------------------------------------------------------------------------------


def test_listing_1000_versions_takes_a_constant_number_of_queries(
    viewer_api, tenant, django_assert_max_num_queries
):
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(tenant=tenant, name="resnet", version=v, state=VersionState.READY)
        for v in range(1, 1001)
    )
    ModelFile.objects.bulk_create(
        ModelFile(model_version=mv, path="saved_model.pb", size=mv.version) for mv in versions
    )
    with django_assert_max_num_queries(8):
        response = viewer_api.get("/tenants/team-a/models?page_size=1000")
    models = response.json()["data"]["models"]
    assert len(models) == 1000
    assert models[0] == {
        "path": "resnet/1/saved_model.pb",
        "name": "resnet",
        "version": "1",
        "size": 1,
    }
