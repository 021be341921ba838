"""With a real Celery worker process: deleting a version travels through Redis to the worker,
which empties the version's folder in S3 (versitygw); beat's model resync repairs the index."""

import io

import pytest

from models_store.models import ModelFile, ModelVersion
from models_store.tests.conftest import make_ready_tenant, stored_objects, upload_file
from testinfra.fixtures import WorkerProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_deleted_version_is_removed_by_the_worker(celery_worker, s3, make_user, client_for):
    tenant = make_ready_tenant(s3, "team-a", {"team-a-editors": "editor"})
    api = client_for(make_user("erin", groups=["team-a-editors"]))
    for version in (1, 2):
        assert (
            upload_file(api, "team-a", "resnet", version, "saved_model.pb", [b"m"]).status_code
            == 200
        )

    body = {"modelName": "resnet", "modelVersion": 1}
    assert api.delete("/tenants/team-a/models", body, format="json").status_code == 200

    wait_until(
        lambda: not ModelVersion.objects.filter(version=1).exists(),
        message=f"the version row to go\n{celery_worker.output()}",
    )
    assert stored_objects(s3, tenant.bucket) == {"resnet/2/saved_model.pb": 1}


def test_beat_repairs_the_index_after_a_change_behind_its_back(
    worker_env, s3, make_user, client_for, tmp_path
):
    tenant = make_ready_tenant(s3, "team-a", {"team-a-editors": "editor"})
    api = client_for(make_user("erin", groups=["team-a-editors"]))
    assert upload_file(api, "team-a", "resnet", 1, "saved_model.pb", [b"m"]).status_code == 200
    s3.delete_objects(tenant.bucket, ["resnet/1/saved_model.pb"])
    s3.put_stream(tenant.bucket, "bert/4/model.onnx", io.BytesIO(b"onnx"), 4)

    env = {**worker_env, "MODELPORT_MODEL_SYNC_SECONDS": "1"}
    worker = WorkerProcess(env, tmp_path / "beat.log", beat=True).start()
    try:
        wait_until(
            lambda: (
                set(ModelFile.objects.values_list("model_version__name", "path"))
                == {("bert", "model.onnx")}
            ),
            message=f"the index to follow storage\n{worker.output()}",
        )
    finally:
        worker.stop()
    assert list(ModelVersion.objects.values_list("name", "version")) == [("bert", 4)]
