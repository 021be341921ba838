"""End to end with a real Celery worker process: the API records desired state in PostgreSQL, the
task travels through Redis, the worker provisions the emulated cluster and S3 (versitygw)."""

import base64

import pytest

from core.phase import Phase
from tenants.models import Tenant
from testinfra.fixtures import WorkerProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def phase_of(name):
    return Tenant.objects.filter(name=name).values_list("phase", flat=True).first()


def test_a_created_tenant_reaches_ready_and_a_deleted_one_disappears(
    celery_worker, admin_api, kube, s3, ca_pem
):
    body = {
        "name": "test",
        "cert": base64.b64encode(ca_pem.encode()).decode(),
        "scope": "g",
        "quota": {},
    }
    assert admin_api.post("/tenants", body, format="json").status_code == 201

    wait_until(lambda: phase_of("test") == Phase.READY, message=f"Ready\n{celery_worker.output()}")
    assert kube.get_object("Namespace", None, "test") is not None
    assert s3.bucket_exists("test")
    assert admin_api.get("/tenants/test").json()["data"]["phase"] == "Ready"

    assert admin_api.delete("/tenants", {"name": "test"}, format="json").status_code == 200
    wait_until(lambda: not Tenant.objects.filter(name="test").exists(), message="row deleted")
    assert kube.get_object("Namespace", None, "test") is None
    assert not s3.bucket_exists("test")


def test_a_worker_killed_mid_reconcile_converges_after_restart(
    worker_env, admin_api, kube, tmp_path
):
    # Beat runs resync every second in the restarted worker, which is what finds the lost task.
    env = {**worker_env, "MODELPORT_RESYNC_SECONDS": "1"}
    first = WorkerProcess(env, tmp_path / "first.log").start()
    kube.delay_next(method="PATCH", path_contains="/limitranges", seconds=30)

    assert (
        admin_api.post("/tenants", {"name": "test", "scope": "g"}, format="json").status_code == 201
    )
    wait_until(
        lambda: any("/limitranges/" in r.path for r in kube.requests),
        message=f"the reconcile to be under way\n{first.output()}",
    )
    first.kill()
    assert phase_of("test") == Phase.PROVISIONING

    second = WorkerProcess(env, tmp_path / "second.log", beat=True).start()
    try:
        wait_until(
            lambda: phase_of("test") == Phase.READY,
            timeout=60,
            message=f"Ready after restart\n{second.output()}",
        )
    finally:
        second.stop()
    assert kube.get_object("LimitRange", "test", "modelport-defaults") is not None
