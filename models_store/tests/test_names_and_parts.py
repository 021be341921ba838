"""Names a filesystem can't hold and part numbers only int() would read are refused with a 4xx,
leaving nothing behind, on both storage backends."""

import pytest

from models_store.models import ModelVersion
from models_store.tests.conftest import put_part, stored_objects, upload_file
from models_store.tests.test_archive_upload import put_archive, regular, tar_bytes

pytestmark = pytest.mark.django_db


def start(api, file_name, version=1):
    body = {"modelName": "m", "modelVersion": version, "fileName": file_name}
    return api.post("/tenants/team-a/upload/start", body, format="json")


@pytest.mark.parametrize("number", [" 2", "1_0", "+4", "٣", "0", "10001", "2.0"])
def test_a_part_number_in_anything_but_ascii_digits_is_refused(editor_api, tenant, number):
    upload_id = start(editor_api, "model.joblib").json()["data"]["uploadId"]
    response = put_part(editor_api, "team-a", "m", 1, "model.joblib", upload_id, number, b"x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_part_number"


def test_a_name_longer_than_a_filesystem_takes_is_refused(editor_api, tenant, store):
    response = start(editor_api, "a" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file_name"
    assert "255 bytes" in response.json()["error"]["message"]
    assert start(editor_api, "a" * 255).status_code == 200


def test_an_archive_with_a_file_that_is_also_a_folder_leaves_nothing(editor_api, tenant, store):
    data = tar_bytes([regular("a", b"file"), regular("a/b", b"inside")])
    response = put_archive(editor_api, data)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_archive"
    assert "either a file or a folder" in response.json()["error"]["message"]
    assert stored_objects(store, tenant.bucket) == {}
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(("first", "second"), [("a", "a/b"), ("a/b", "a")])
def test_a_file_where_the_version_has_a_folder_is_refused(editor_api, tenant, store, first, second):
    assert upload_file(editor_api, "team-a", "m", 1, first, [b"1"]).status_code == 200
    response = start(editor_api, second)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "path_clash"
    assert list(stored_objects(store, tenant.bucket)) == [f"m/1/{first}"]
