"""The reference multipart upload calls, overwrite rules, the quota, abort, presigned URLs."""

import hashlib
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from models_store.models import ModelFile, ModelVersion, MultipartUpload, VersionState
from models_store.tests.conftest import (
    MiB,
    pending_uploads,
    put_part,
    read_object,
    stored_objects,
    upload_file,
)


def start(api, body, tenant="team-a"):
    return api.post(f"/tenants/{tenant}/upload/start", body, format="json")


# --- the reference calls, verbatim ------------------------------------------------------------


def test_reference_upload_start_part_done_stores_the_file(editor_api, tenant, store):
    started = start(
        editor_api, {"modelName": "resnet", "modelVersion": 1, "fileName": "saved_model.pb"}
    )
    assert started.status_code == 200
    # The reference's envelope, which its upload tool reads (data.uploadId, data.ETag).
    assert started.json()["status"] == "OK"
    assert set(started.json()["data"]) == {"uploadId"}
    upload_id = started.json()["data"]["uploadId"]

    part = put_part(editor_api, "team-a", "resnet", 1, "saved_model.pb", upload_id, 1, b"x" * 10)
    assert part.status_code == 200
    assert part.json() == {"status": "OK", "data": {"ETag": part["ETag"], "op": "upload_part"}}

    done = editor_api.post(
        "/tenants/team-a/upload/done",
        {
            "modelName": "resnet",
            "modelVersion": 1,
            "fileName": "saved_model.pb",
            "uploadId": upload_id,
            "parts": [{"ETag": part.json()["data"]["ETag"], "PartNumber": 1}],
        },
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json() == {
        "status": "OK",
        "data": {
            "path": "resnet/1/saved_model.pb",
            "name": "resnet",
            "version": "1",
            "size": 10,
            "uploadId": upload_id,
        },
    }
    assert stored_objects(store, tenant.bucket) == {"resnet/1/saved_model.pb": 10}
    version = ModelVersion.objects.get(tenant=tenant, name="resnet", version=1)
    assert version.state == VersionState.READY
    # S3's multipart ETag: MD5 of the parts' MD5s, then the part count (the same on both).
    part_md5 = hashlib.md5(b"x" * 10, usedforsecurity=False).digest()
    whole = hashlib.md5(part_md5, usedforsecurity=False).hexdigest()
    assert version.files.get().etag == f'"{whole}-1"'
    assert not MultipartUpload.objects.exists()
    assert pending_uploads(store, tenant.bucket) == []


def test_files_in_subfolders_keep_their_path(editor_api, tenant, store):
    done = upload_file(editor_api, "team-a", "bert", 3, "variables/variables.index", [b"idx"])
    assert done.status_code == 200, done.json()
    assert stored_objects(store, tenant.bucket) == {"bert/3/variables/variables.index": 3}


def test_the_reference_cli_uploads_a_folder_file_by_file(editor_api, tenant, store):
    for name in ("saved_model.pb", "variables/variables.index", "variables/variables.data"):
        assert upload_file(editor_api, "team-a", "m", 1, name, [b"abc"]).status_code == 200
    listing = editor_api.get("/tenants/team-a/models").json()["data"]["models"]
    assert [item["path"] for item in listing] == [
        "m/1/saved_model.pb",
        "m/1/variables/variables.data",
        "m/1/variables/variables.index",
    ]


def test_a_100_mb_file_goes_up_in_parts_and_arrives_whole(editor_api, tenant, store):
    part_size, count = 8 * MiB, 13  # 104 MiB; only one part is in memory at a time
    expected = hashlib.md5(usedforsecurity=False)

    def parts():
        for number in range(count):
            data = hashlib.sha256(str(number).encode()).digest() * (part_size // 32)
            expected.update(data)
            yield data

    done = upload_file(editor_api, "team-a", "big", 1, "weights.bin", parts())
    assert done.status_code == 200, done.json()
    assert done.json()["data"]["size"] == part_size * count
    assert read_object(store, tenant.bucket, "big/1/weights.bin") == (
        expected.hexdigest(),
        part_size * count,
    )
    assert ModelFile.objects.get().size == part_size * count


# --- abort ----------------------------------------------------------------------------------


def test_abort_leaves_nothing_behind(editor_api, tenant, store):
    body = {"modelName": "resnet", "modelVersion": 1, "fileName": "saved_model.pb"}
    upload_id = start(editor_api, body).json()["data"]["uploadId"]
    assert put_part(editor_api, "team-a", "resnet", 1, "saved_model.pb", upload_id, 1, b"a" * 100)
    assert pending_uploads(store, tenant.bucket) != []

    aborted = editor_api.post(
        "/tenants/team-a/upload/abort", {**body, "uploadId": upload_id}, format="json"
    )
    assert aborted.status_code == 200
    assert aborted.json()["status"] == "OK"
    assert pending_uploads(store, tenant.bucket) == []
    assert stored_objects(store, tenant.bucket) == {}
    assert not ModelVersion.objects.exists()
    assert not MultipartUpload.objects.exists()

    again = put_part(editor_api, "team-a", "resnet", 1, "saved_model.pb", upload_id, 2, b"b")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "upload_not_found"


def test_done_with_a_wrong_etag_is_a_400_and_the_upload_can_still_finish(editor_api, tenant):
    body = {"modelName": "m", "modelVersion": 1, "fileName": "f"}
    upload_id = start(editor_api, body).json()["data"]["uploadId"]
    etag = put_part(editor_api, "team-a", "m", 1, "f", upload_id, 1, b"abc").json()["data"]["ETag"]
    wrong = {**body, "uploadId": upload_id, "parts": [{"ETag": '"0000"', "PartNumber": 1}]}
    response = editor_api.post("/tenants/team-a/upload/done", wrong, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parts"
    right = {**body, "uploadId": upload_id, "parts": [{"ETag": etag, "PartNumber": 1}]}
    assert editor_api.post("/tenants/team-a/upload/done", right, format="json").status_code == 200


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_different_versions_all_arrive(
    store, make_user, client_for, django_db_blocker
):
    from models_store.tests.conftest import make_ready_tenant

    tenant = make_ready_tenant(store, "team-a", {"team-a-editors": "editor"})
    user = make_user("erin", groups=["team-a-editors"])
    barrier = threading.Barrier(4)

    def upload(version):
        try:
            api = client_for(user)
            barrier.wait(timeout=30)
            data = [bytes([version]) * (5 * MiB), bytes([version]) * 1000]
            return upload_file(api, "team-a", "resnet", version, "saved_model.pb", data)
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(upload, [1, 2, 3, 4]))
    assert [r.status_code for r in results] == [200] * 4
    assert stored_objects(store, tenant.bucket) == {
        f"resnet/{v}/saved_model.pb": 5 * MiB + 1000 for v in (1, 2, 3, 4)
    }
    assert sorted(
        ModelVersion.objects.filter(state=VersionState.READY).values_list("version", flat=True)
    ) == [1, 2, 3, 4]


# --- overwrite rules ------------------------------------------------------------------------


def test_uploading_a_file_that_exists_is_a_409_unless_overwrite(editor_api, tenant, store):
    assert upload_file(editor_api, "team-a", "m", 1, "f.bin", [b"old"]).status_code == 200

    again = upload_file(editor_api, "team-a", "m", 1, "f.bin", [b"new!"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "file_exists"
    assert pending_uploads(store, tenant.bucket) == []

    replaced = upload_file(editor_api, "team-a", "m", 1, "f.bin", [b"new!"], overwrite=True)
    assert replaced.status_code == 200
    assert stored_objects(store, tenant.bucket) == {"m/1/f.bin": 4}
    assert ModelFile.objects.get().size == 4


def test_overwrite_can_also_be_asked_in_the_query(editor_api, tenant):
    assert upload_file(editor_api, "team-a", "m", 1, "f.bin", [b"old"]).status_code == 200
    body = {"modelName": "m", "modelVersion": 1, "fileName": "f.bin"}
    response = editor_api.post("/tenants/team-a/upload/start?overwrite=true", body, format="json")
    assert response.status_code == 200


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["one", "1.5", 0, -3, 1.5, True, "", None])
def test_a_version_that_is_not_a_positive_integer_is_a_400(editor_api, tenant, version):
    response = start(editor_api, {"modelName": "m", "modelVersion": version, "fileName": "f"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_version"
    assert "positive whole number" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "file_name",
    ["../escape", "/etc/passwd", "a//b", "a/./b", "a/../../b", "bad\x00name", "tab\tname", ""],
)
def test_unsafe_file_names_are_a_400(editor_api, tenant, file_name):
    response = start(editor_api, {"modelName": "m", "modelVersion": 1, "fileName": file_name})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_file_name"


@pytest.mark.parametrize("model_name", ["..", "a/b", "", "-x", "x" * 101, "m\n"])
def test_unsafe_model_names_are_a_400(editor_api, tenant, model_name):
    response = start(editor_api, {"modelName": model_name, "modelVersion": 1, "fileName": "f"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_model_name"


def test_an_unknown_field_is_a_400(editor_api, tenant):
    body = {"modelName": "m", "modelVersion": 1, "fileName": "f", "bucket": "other"}
    response = start(editor_api, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"


def test_a_part_number_out_of_range_is_a_400(editor_api, tenant):
    started = start(editor_api, {"modelName": "m", "modelVersion": 1, "fileName": "f"})
    upload_id = started.json()["data"]["uploadId"]
    response = put_part(editor_api, "team-a", "m", 1, "f", upload_id, 10001, b"x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_part_number"


# --- who may upload -------------------------------------------------------------------------


def test_a_viewer_cannot_upload(viewer_api, tenant, store):
    response = start(viewer_api, {"modelName": "m", "modelVersion": 1, "fileName": "f"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert pending_uploads(store, tenant.bucket) == []


def test_another_tenants_uploads_are_a_404(editor_api, tenant, other_tenant, make_user, client_for):
    response = start(
        editor_api, {"modelName": "m", "modelVersion": 1, "fileName": "f"}, tenant="team-b"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"

    # An upload id from another tenant is unknown here, even to someone who knows it.
    other = client_for(make_user("bob", groups=["team-b-editors"]))
    upload_id = start(
        other, {"modelName": "m", "modelVersion": 1, "fileName": "f"}, tenant="team-b"
    ).json()["data"]["uploadId"]
    response = put_part(editor_api, "team-a", "m", 1, "f", upload_id, 1, b"x")
    assert response.status_code == 404


def test_a_tenant_that_is_not_ready_refuses_uploads(editor_api, tenant):
    tenant.phase = "Provisioning"
    tenant.save()
    response = start(editor_api, {"modelName": "m", "modelVersion": 1, "fileName": "f"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_not_ready"


# --- quota ----------------------------------------------------------------------------------


def test_the_storage_quota_refuses_a_part_before_accepting_its_bytes(editor_api, tenant, store):
    tenant.quota = {"maxStorageBytes": 1000}
    tenant.save()
    assert upload_file(editor_api, "team-a", "m", 1, "a", [b"x" * 600]).status_code == 200

    started = start(editor_api, {"modelName": "m", "modelVersion": 1, "fileName": "b"})
    upload_id = started.json()["data"]["uploadId"]
    response = put_part(editor_api, "team-a", "m", 1, "b", upload_id, 1, b"y" * 500)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "storage_quota_exceeded"
    assert MultipartUpload.objects.get().part_sizes == {}
    # What fits is still accepted.
    assert put_part(editor_api, "team-a", "m", 1, "b", upload_id, 1, b"y" * 400).status_code == 200


def test_overwriting_a_file_counts_only_the_difference_against_the_quota(editor_api, tenant):
    tenant.quota = {"maxStorageBytes": 1000}
    tenant.save()
    assert upload_file(editor_api, "team-a", "m", 1, "a", [b"x" * 900]).status_code == 200
    replaced = upload_file(editor_api, "team-a", "m", 1, "a", [b"z" * 950], overwrite=True)
    assert replaced.status_code == 200


# --- presigned URLs -------------------------------------------------------------------------


def http_put(url, data):
    # urllib would send a form content type; S3 clients send this.
    headers = {"Content-Type": "application/octet-stream"}
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["ETag"]


def presign(api, upload, numbers, file_size, part_size=5 * MiB, live_server=None):
    """POST /upload/presign; with `live_server`, filesystem URLs point at it."""
    server = {}
    if live_server is not None:
        host, port = live_server.url.split("//")[1].split(":")
        server = {"SERVER_NAME": host, "SERVER_PORT": port}
    body = {**upload, "partNumbers": numbers, "fileSize": file_size, "partSize": part_size}
    return api.post("/tenants/team-a/upload/presign", body, format="json", **server)


def started_upload(api, file_name="w.bin"):
    body = {"modelName": "m", "modelVersion": 1, "fileName": file_name}
    return {**body, "uploadId": start(api, body).json()["data"]["uploadId"]}


def test_presigned_parts_go_straight_to_storage_and_done_records_them(
    editor_api, tenant, store, live_server
):
    upload = started_upload(editor_api)
    answer = presign(editor_api, upload, [1, 2], 5 * MiB + 3, live_server=live_server)
    assert answer.status_code == 200, answer.json()
    urls = answer.json()["data"]["urls"]
    assert [(u["PartNumber"], u["size"]) for u in urls] == [(1, 5 * MiB), (2, 3)]

    etags = [http_put(urls[0]["url"], b"p" * (5 * MiB)), http_put(urls[1]["url"], b"abc")]
    parts = [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]
    done = editor_api.post("/tenants/team-a/upload/done", {**upload, "parts": parts}, format="json")
    assert done.status_code == 200, done.json()
    assert stored_objects(store, tenant.bucket) == {"m/1/w.bin": 5 * MiB + 3}


@pytest.mark.parametrize("sent", [2, 4], ids=["shorter", "longer"])
def test_a_presigned_url_takes_exactly_its_parts_length(
    editor_api, tenant, store, live_server, sent
):
    """The URL binds the declared length: on S3 Content-Length is signed (storage refuses the
    request), on the filesystem the portal checks it. Either way nothing is stored or counted."""
    upload = started_upload(editor_api)
    url = presign(editor_api, upload, [1], 3, live_server=live_server).json()["data"]["urls"][0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_put(url["url"], b"x" * sent)
    assert refused.value.code in (400, 403)
    assert MultipartUpload.objects.get(upload_id=upload["uploadId"]).part_sizes == {}
    etag = http_put(url["url"], b"abc")  # the right length still goes through
    parts = [{"ETag": etag, "PartNumber": 1}]
    done = editor_api.post("/tenants/team-a/upload/done", {**upload, "parts": parts}, format="json")
    assert done.status_code == 200, done.json()
    assert stored_objects(store, tenant.bucket) == {"m/1/w.bin": 3}


def test_part_numbers_stop_at_the_declared_files_last_part(editor_api, tenant):
    upload = started_upload(editor_api)
    answer = presign(editor_api, upload, [2, 3], 5 * MiB + 3)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_part_number"
    assert "2 part(s), so there is no part 3" in error["message"]


def test_a_part_through_the_api_must_be_its_declared_length(editor_api, tenant):
    upload = started_upload(editor_api)
    assert presign(editor_api, upload, [1], 3).status_code == 200
    ids = ("team-a", "m", 1, "w.bin", upload["uploadId"])
    wrong = put_part(editor_api, *ids, 1, b"abcd")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "part_size_mismatch"
    assert put_part(editor_api, *ids, 2, b"abc").json()["error"]["code"] == "invalid_part_number"
    assert put_part(editor_api, *ids, 1, b"abc").status_code == 200


def test_an_upload_is_declared_once(editor_api, tenant):
    upload = started_upload(editor_api)
    assert presign(editor_api, upload, [1], 6 * MiB).status_code == 200
    assert presign(editor_api, upload, [2], 6 * MiB).status_code == 200  # the next batch
    for size, part_size in ((7 * MiB, 5 * MiB), (6 * MiB, 6 * MiB)):
        again = presign(editor_api, upload, [1], size, part_size)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "upload_size_declared"


@pytest.mark.parametrize(
    ("file_size", "part_size", "words"),
    [
        (6 * MiB, MiB, "at least 5242880 bytes when the file has more than one part"),
        (10_001 * 5 * MiB, 5 * MiB, "more than 10000 parts"),
        (3, 0, "from 1 to"),
        (3, "5", "from 1 to"),
        (3, None, "from 1 to"),
    ],
)
def test_a_part_size_storage_would_refuse_is_a_400(editor_api, tenant, file_size, part_size, words):
    answer = presign(editor_api, started_upload(editor_api), [1], file_size, part_size)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_part_size"
    assert words in answer.json()["error"]["message"]


def test_presign_refuses_a_file_larger_than_the_quota(editor_api, tenant):
    tenant.quota = {"maxStorageBytes": 100}
    tenant.save()
    answer = presign(editor_api, started_upload(editor_api), [1], 101)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "storage_quota_exceeded"


def test_declared_sizes_are_reserved_until_the_upload_ends(editor_api, tenant):
    """Presigned bytes go straight to storage, so the declared size is what counts: two uploads
    cannot both be promised the same free bytes, and an abort gives them back."""
    tenant.quota = {"maxStorageBytes": 100}
    tenant.save()
    first, second = started_upload(editor_api, "a"), started_upload(editor_api, "b")
    assert presign(editor_api, first, [1], 60).status_code == 200
    refused = presign(editor_api, second, [1], 60)
    assert refused.status_code == 413
    assert "to 120 bytes" in refused.json()["error"]["message"]
    aborted = editor_api.post("/tenants/team-a/upload/abort", first, format="json")
    assert aborted.status_code == 200
    assert presign(editor_api, second, [1], 60).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_declarations_cannot_share_the_last_free_bytes(store, make_user, client_for):
    from models_store.tests.conftest import make_ready_tenant

    tenant = make_ready_tenant(store, "team-a", {"team-a-editors": "editor"})
    tenant.quota = {"maxStorageBytes": 100}
    tenant.save()
    user = make_user("erin", groups=["team-a-editors"])
    uploads = [started_upload(client_for(user), f"f{n}") for n in range(5)]
    barrier = threading.Barrier(5)

    def declare(upload):
        try:
            api = client_for(user)
            barrier.wait(timeout=30)
            return presign(api, upload, [1], 60).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        statuses = sorted(pool.map(declare, uploads))
    assert statuses == [200, 413, 413, 413, 413]


def one_part_url(api):
    """The presigned URL of part 1 of a new upload of a 3-byte file."""
    answer = presign(api, started_upload(api), [1], 3)
    return answer.json()["data"]["urls"][0]["url"]


@pytest.mark.parametrize("store", ["filesystem"], indirect=True)
def test_a_tampered_filesystem_part_url_is_refused(editor_api, tenant, client):
    url = one_part_url(editor_api)
    path = url.split("testserver", 1)[1]
    assert path.startswith("/storage/parts/")
    response = client.put(path[:-2] + "xx", b"abc", content_type="application/octet-stream")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("store", ["filesystem"], indirect=True)
def test_an_expired_filesystem_part_url_says_so_with_its_own_code(
    editor_api, tenant, client, settings
):
    url = one_part_url(editor_api)
    settings.MODELPORT_PRESIGNED_URL_SECONDS = -1  # every URL is now older than its lifetime
    response = client.put(
        url.split("testserver", 1)[1], b"abc", content_type="application/octet-stream"
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "link_expired"
    assert error["message"] == "This link has expired; ask the API for a new one."


def test_a_presigned_download_url_returns_the_file(editor_api, viewer_api, tenant, live_server):
    assert upload_file(editor_api, "team-a", "m", 1, "sub/f.txt", [b"hello"]).status_code == 200
    response = viewer_api.get(
        "/tenants/team-a/models/download?modelName=m&modelVersion=1&fileName=sub/f.txt",
        SERVER_NAME=live_server.url.split("//")[1].split(":")[0],
        SERVER_PORT=live_server.url.rsplit(":", 1)[1],
    )
    assert response.status_code == 200, response.json()
    with urllib.request.urlopen(response.json()["data"]["url"], timeout=30) as download:
        assert download.read() == b"hello"


def test_a_download_of_a_missing_file_is_a_404(viewer_api, tenant):
    response = viewer_api.get(
        "/tenants/team-a/models/download?modelName=m&modelVersion=1&fileName=nope"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_file_not_found"


# --- storage faults -------------------------------------------------------------------------


def test_unreachable_storage_is_a_503_and_releases_the_parts_quota(editor_api, tenant, store):
    """Fault injection: storage refuses the part; nothing stays reserved against the quota."""
    from unittest import mock

    from workers.errors import TransientError

    tenant.quota = {"maxStorageBytes": 100}
    tenant.save()
    body = {"modelName": "m", "modelVersion": 1, "fileName": "f"}
    upload_id = start(editor_api, body).json()["data"]["uploadId"]
    with mock.patch.object(
        type(store), "upload_part", side_effect=TransientError("connection refused")
    ):
        response = put_part(editor_api, "team-a", "m", 1, "f", upload_id, 1, b"x" * 80)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert MultipartUpload.objects.get().part_sizes == {}
    assert put_part(editor_api, "team-a", "m", 1, "f", upload_id, 1, b"x" * 80).status_code == 200
