"""End to end with a real Celery worker (and beat) process: an endpoint created through the API
is applied by the worker, reported Ready by the status task, scaled and deleted."""

import pytest

from endpoints.models import Endpoint, ServingTemplate, ServingTemplateFile
from endpoints.seeding import seed_serving_templates
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import WorkerProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_endpoint_is_applied_reported_scaled_and_deleted_by_the_worker(
    worker_env, make_user, client_for, kube, ca_pem, settings, tmp_path
):
    # A transactional test starts from empty tables: put the shipped templates back.
    seed_serving_templates(ServingTemplate, ServingTemplateFile)
    tenant = Tenant.objects.create(
        name="test", scope="g", ca_cert=ca_pem, observed_generation=1, phase="Ready"
    )
    TenantBinding.objects.create(tenant=tenant, group="g", role="editor")
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}})
    api = client_for(make_user("erin", groups=["g"]))
    env = {**worker_env, "MODELPORT_STATUS_SECONDS": "1"}
    worker = WorkerProcess(env, tmp_path / "worker.log", beat=True).start()
    try:
        body = {
            "endpointName": "endpoint",
            "modelName": "resnet",
            "servingName": "tf-serving",
            "subjectName": "client",
        }
        assert api.post("/tenants/test/endpoints", body, format="json").status_code == 201
        wait_until(
            lambda: kube.get_object("Deployment", "test", "endpoint"),
            message=f"the Deployment\n{worker.output()}",
        )
        deployment = kube.get_object("Deployment", "test", "endpoint")
        deployment["status"] = {"availableReplicas": 1, "replicas": 1}
        kube.put_object(deployment)
        wait_until(
            lambda: api.get("/tenants/test/endpoints/endpoint").json()["data"]["phase"] == "Ready",
            message=f"Ready\n{worker.output()}",
        )

        scale = {"replicas": 2}
        api.patch("/tenants/test/endpoints/endpoint/replicas", scale, format="json")
        wait_until(
            lambda: kube.get_object("Deployment", "test", "endpoint")["spec"]["replicas"] == 2,
            message=f"the scale\n{worker.output()}",
        )

        api.delete("/tenants/test/endpoints", {"endpointName": "endpoint"}, format="json")
        wait_until(lambda: not Endpoint.objects.exists(), message=f"deletion\n{worker.output()}")
        assert kube.objects(namespace="test") == []
    finally:
        worker.stop()
