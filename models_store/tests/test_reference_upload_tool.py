"""The reference platform's upload tool (IMM's scripts/model_upload.py), its HTTP calls replayed
as it makes them, against a live server: `requests` with `json=` bodies and `params=` queries
that carry `"key": None` for files in the model's top folder and the subfolder's path for the
others, a raw token in Authorization, 200 expected at every step, and `data.uploadId` and
`data.ETag` read from the answers. Both storage backends."""

import os

import pytest
import requests

from identity.models import PersonalAccessToken
from models_store.tests.conftest import make_ready_tenant, stored_objects
from workers.storage.filesystem import FilesystemObjectStore

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024
PART_MIB = 5  # the tool's part size, in MiB, as its caller gives it


class ToolError(Exception):
    """What the tool raises when an answer is not a 200."""


def start(url, headers, model, version, file_name, key):
    body = {"modelName": model, "modelVersion": version, "fileName": file_name, "key": key}
    response = requests.post(url + "/upload/start", json=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise ToolError(response.text)
    return response.json()["data"]["uploadId"]


def send_part(url, headers, params, data, parts):
    response = requests.put(url + "/upload", data, headers=headers, params=params, timeout=30)
    if response.status_code != 200:
        raise ToolError(response.text)
    parts.append({"ETag": response.json()["data"]["ETag"], "PartNumber": params["partNumber"]})


def upload_file(url, headers, model, version, path, key):
    """One file: start, its parts in PART_MIB pieces, done (abort when a part fails)."""
    file_name = os.path.basename(path)
    upload_id = start(url, headers, model, version, file_name, key)
    ids = {"modelName": model, "modelVersion": version, "fileName": file_name, "key": key}
    parts = []
    try:
        with open(path, "rb") as handle:
            number = 1
            while True:
                data = handle.read(PART_MIB * MiB)
                params = {"partNumber": number, "uploadId": upload_id, **ids}
                send_part(url, headers, params, data, parts)
                if len(data) < PART_MIB * MiB:
                    break
                number += 1
    except ToolError:
        aborted = requests.post(
            url + "/upload/abort", json={**ids, "uploadId": upload_id}, headers=headers, timeout=30
        )
        if aborted.status_code != 200:
            raise ToolError(aborted.text) from None
        raise
    done = {**ids, "uploadId": upload_id, "parts": parts}
    response = requests.post(url + "/upload/done", json=done, headers=headers, timeout=30)
    if response.status_code != 200:
        raise ToolError(response.text)


def upload_folder(url, headers, model, version, folder):
    """The tool's walk: files at the top with no key, the others with their subfolder as the
    key, and an empty folder made with upload/dir."""
    for directory, subfolders, files in os.walk(folder):
        relative = os.path.relpath(directory, folder)
        key = None if relative == "." else relative
        for name in files:
            upload_file(url, headers, model, version, os.path.join(directory, name), key)
        if not files and not subfolders:
            body = {"modelName": model, "modelVersion": version, "key": key}
            response = requests.post(url + "/upload/dir", json=body, headers=headers, timeout=30)
            if response.status_code != 200:
                raise ToolError(response.text)


@pytest.fixture
def tool(live_server, store, make_user):
    tenant = make_ready_tenant(store, "team-a", {"team-a-editors": "editor"})
    _, token = PersonalAccessToken.issue(make_user("erin", groups=["team-a-editors"]))
    return tenant, f"{live_server.url}/tenants/team-a", {"Authorization": token}


def test_the_reference_tool_uploads_a_model_folder(tool, store, tmp_path):
    tenant, url, headers = tool
    model = tmp_path / "saved_model"
    (model / "variables").mkdir(parents=True)
    (model / "assets").mkdir()
    (model / "saved_model.pb").write_bytes(b"graph" * 10)
    (model / "variables" / "variables.index").write_bytes(b"index")
    weights = os.urandom(6 * MiB + 17)  # two parts
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(weights)

    upload_folder(url, headers, "resnet", 1, model)

    files = {key: size for key, size in stored_objects(store, tenant.bucket).items()}
    marker = files.pop("resnet/1/assets/", None)  # S3 keeps an empty folder as this object
    assert files == {
        "resnet/1/saved_model.pb": 50,
        "resnet/1/variables/variables.index": 5,
        "resnet/1/variables/variables.data-00000-of-00001": len(weights),
    }
    if isinstance(store, FilesystemObjectStore):
        assert (store.bucket_path(tenant.bucket) / "resnet" / "1" / "assets").is_dir()
    else:
        assert marker == 0
    models = requests.get(url + "/models", headers=headers, timeout=30).json()["data"]["models"]
    assert sorted(item["path"] for item in models) == [
        "resnet/1/saved_model.pb",
        "resnet/1/variables/variables.data-00000-of-00001",
        "resnet/1/variables/variables.index",
    ]


def test_the_reference_tools_abort_after_a_refused_part(tool, store, tmp_path):
    """A part the platform refuses (here: over the tenant's quota) makes the tool abort the
    upload, which must answer 200 too; nothing is left behind."""
    tenant, url, headers = tool
    tenant.quota = {"maxStorageBytes": 1024}
    tenant.save()
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(ToolError, match="storage_quota_exceeded"):
        upload_file(url, headers, "resnet", 1, path, None)
    assert stored_objects(store, tenant.bucket) == {}
