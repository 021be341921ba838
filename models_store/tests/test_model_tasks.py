"""The model store's periodic work: the index follows storage, abandoned uploads are aborted,
deleted versions leave storage."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from models_store.models import ModelFile, ModelVersion, MultipartUpload, VersionState
from models_store.tasks import abort_abandoned_uploads, resync_models, sync_model_index
from models_store.tests.conftest import pending_uploads, put_part, stored_objects, upload_file


def put_behind_the_back(store, bucket, key, data):
    """Write an object straight to storage, as someone with storage credentials would."""
    import io

    store.put_stream(bucket, key, io.BytesIO(data), len(data))


def files_in_index(tenant):
    return {
        f"{f.model_version.prefix}{f.path}": f.size
        for f in ModelFile.objects.filter(model_version__tenant=tenant).select_related(
            "model_version"
        )
    }


def test_objects_added_behind_the_platforms_back_appear_in_the_index(editor_api, tenant, store):
    assert (
        upload_file(editor_api, "team-a", "resnet", 1, "saved_model.pb", [b"a"]).status_code == 200
    )
    put_behind_the_back(store, tenant.bucket, "resnet/1/extra.txt", b"12345")
    put_behind_the_back(store, tenant.bucket, "bert/7/variables/v.index", b"xyz")
    put_behind_the_back(store, tenant.bucket, "README.md", b"not a model")  # outside the layout

    result = sync_model_index.delay(tenant_pk=tenant.pk).get()

    assert result == {"added": 2, "removed": 0}
    assert files_in_index(tenant) == {
        "resnet/1/saved_model.pb": 1,
        "resnet/1/extra.txt": 5,
        "bert/7/variables/v.index": 3,
    }
    assert ModelVersion.objects.get(name="bert").state == VersionState.READY
    listed = editor_api.get("/tenants/team-a/models").json()["data"]["models"]
    assert {item["path"] for item in listed} == set(files_in_index(tenant))


def test_objects_removed_behind_the_platforms_back_disappear_from_the_index(
    editor_api, tenant, store
):
    for version in (1, 2):
        assert upload_file(editor_api, "team-a", "m", version, "a", [b"1"]).status_code == 200
    assert upload_file(editor_api, "team-a", "m", 1, "b", [b"22"]).status_code == 200
    store.delete_objects(tenant.bucket, ["m/1/b", "m/2/a"])

    result = sync_model_index.delay(tenant_pk=tenant.pk).get()

    assert result == {"added": 0, "removed": 2}
    assert files_in_index(tenant) == {"m/1/a": 1}
    assert list(ModelVersion.objects.values_list("version", flat=True)) == [1]


def test_a_file_whose_size_changed_behind_the_back_is_updated(editor_api, tenant, store):
    assert upload_file(editor_api, "team-a", "m", 1, "a", [b"1"]).status_code == 200
    put_behind_the_back(store, tenant.bucket, "m/1/a", b"longer")
    sync_model_index.delay(tenant_pk=tenant.pk).get()
    assert files_in_index(tenant) == {"m/1/a": 6}


def test_an_upload_in_progress_keeps_its_version_during_a_sync(editor_api, tenant, store):
    body = {"modelName": "m", "modelVersion": 1, "fileName": "a"}
    assert editor_api.post("/tenants/team-a/upload/start", body, format="json").status_code == 200
    sync_model_index.delay(tenant_pk=tenant.pk).get()
    assert MultipartUpload.objects.count() == 1
    assert ModelVersion.objects.get().state == VersionState.UPLOADING


def test_resync_models_syncs_every_ready_tenant(editor_api, tenant, store):
    put_behind_the_back(store, tenant.bucket, "m/3/f", b"abc")
    resync_models.delay().get()
    assert files_in_index(tenant) == {"m/3/f": 3}


def test_a_version_left_deleting_is_finished_by_the_sync(
    editor_api, tenant, store, django_capture_on_commit_callbacks
):
    assert upload_file(editor_api, "team-a", "m", 1, "a", [b"1"]).status_code == 200
    # The delete request commits, but its task is lost (the callback is not run).
    body = {"modelName": "m", "modelVersion": 1}
    assert editor_api.delete("/tenants/team-a/models", body, format="json").status_code == 200
    ModelVersion.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert stored_objects(store, tenant.bucket) == {"m/1/a": 1}

    sync_model_index.delay(tenant_pk=tenant.pk).get()

    assert stored_objects(store, tenant.bucket) == {}
    assert not ModelVersion.objects.exists()


def test_abandoned_uploads_are_aborted_after_the_allowed_age(editor_api, tenant, store):
    body = {"modelName": "m", "modelVersion": 1, "fileName": "old"}
    started = editor_api.post("/tenants/team-a/upload/start", body, format="json")
    old_id = started.json()["data"]["uploadId"]
    assert put_part(editor_api, "team-a", "m", 1, "old", old_id, 1, b"x" * 10).status_code == 200
    fresh = {"modelName": "m", "modelVersion": 2, "fileName": "new"}
    assert editor_api.post("/tenants/team-a/upload/start", fresh, format="json").status_code == 200
    age = timedelta(hours=settings.MODELPORT_UPLOAD_MAX_AGE_HOURS, minutes=1)
    MultipartUpload.objects.filter(upload_id=old_id).update(created_at=timezone.now() - age)

    assert abort_abandoned_uploads.delay().get() == {"aborted": 1}

    assert list(MultipartUpload.objects.values_list("path", flat=True)) == ["new"]
    assert list(ModelVersion.objects.values_list("version", flat=True)) == [2]
    assert len(pending_uploads(store, tenant.bucket)) == 1
    assert stored_objects(store, tenant.bucket) == {}


def test_the_beat_schedule_runs_the_model_resync():
    entry = settings.CELERY_BEAT_SCHEDULE["resync-models"]
    assert entry["task"] == "models_store.tasks.resync_models"
    assert entry["schedule"] == float(settings.MODELPORT_MODEL_SYNC_SECONDS)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_version_delete_that_meets_an_unreachable_s3_retries(
    editor_api, tenant, store, django_capture_on_commit_callbacks, s3_server
):
    """Fault injection: S3 refuses connections once; the task retries and finishes."""
    from unittest import mock

    from workers.errors import TransientError

    assert upload_file(editor_api, "team-a", "m", 1, "a", [b"1"]).status_code == 200
    real = type(store).delete_prefix
    calls = []

    def flaky(self, bucket, prefix):
        calls.append(prefix)
        if len(calls) == 1:
            raise TransientError("S3 is unreachable")
        return real(self, bucket, prefix)

    with (
        mock.patch.object(type(store), "delete_prefix", flaky),
        mock.patch("models_store.tasks.backoff", return_value=0),
        django_capture_on_commit_callbacks(execute=True),
    ):
        body = {"modelName": "m", "modelVersion": 1}
        assert editor_api.delete("/tenants/team-a/models", body, format="json").status_code == 200
    assert calls == ["m/1/", "m/1/"]
    assert stored_objects(store, tenant.bucket) == {}
    assert not ModelVersion.objects.exists()


def test_uploads_storage_holds_without_a_row_are_aborted_once_old(editor_api, tenant, store):
    """The API can stop between starting an upload in storage and recording it."""
    from models_store import uploads

    store.create_multipart_upload(tenant.bucket, "m/1/orphan")
    assert uploads.abort_uploads_started_before(timezone.now() - timedelta(hours=1)) == 0
    assert len(pending_uploads(store, tenant.bucket)) == 1

    assert uploads.abort_uploads_started_before(timezone.now() + timedelta(minutes=1)) == 1
    assert pending_uploads(store, tenant.bucket) == []


def test_the_bytes_of_an_archive_that_never_finished_are_given_back_once_old(tenant, store):
    """The server died while unpacking: its reservation must not hold the quota for ever."""
    from models_store import uploads
    from models_store.quota import storage_used

    ModelVersion.objects.create(tenant=tenant, name="m", version=1, reserved_bytes=100)
    assert storage_used(tenant) == 100
    assert uploads.abort_uploads_started_before(timezone.now() - timedelta(hours=1)) == 0
    assert storage_used(tenant) == 100

    assert uploads.abort_uploads_started_before(timezone.now() + timedelta(minutes=1)) == 1
    assert storage_used(tenant) == 0
    assert not ModelVersion.objects.exists()  # it had no files
