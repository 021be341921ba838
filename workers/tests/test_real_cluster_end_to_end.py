"""The cluster profile end to end on the REAL control plane: people call the API, a real Celery
worker and beat process (Redis, PostgreSQL, versitygw) push the desired state to the real
kube-apiserver, kwok's node runs the pods, and the status task reads them back; the same story
tenants/tests/test_worker_end_to_end.py and endpoints/tests/test_endpoint_end_to_end.py tell
against the emulator, where a test plays the controllers' part by hand."""

import base64
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate, ServingTemplateFile
from endpoints.seeding import seed_serving_templates
from tenants.models import Tenant
from testinfra.fixtures import WorkerProcess, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(worker_env, control_plane, tmp_path):
    """A worker with beat (status every second, resync every two) against the real cluster."""
    env = {
        **worker_env,
        "KUBECONFIG": str(control_plane.kubeconfig_path),
        "MODELPORT_STATUS_SECONDS": "1",
        "MODELPORT_RESYNC_SECONDS": "2",
    }
    process = WorkerProcess(env, tmp_path / "worker.log", beat=True).start()
    yield process
    process.stop()


def row(model, **lookup):
    return model.objects.filter(**lookup).values("phase", "message").first()


def pods(core, namespace):
    listed = core.list_namespaced_pod(namespace, label_selector="modelport.io/endpoint=chat")
    return sorted(
        (p.status.phase, bool(p.metadata.deletion_timestamp), p.spec.node_name or "")
        for p in listed.items
    )


def test_tenant_and_endpoint_through_the_api_and_a_real_worker(
    worker, control_plane, admin_api, make_user, client_for, s3, ca_pem
):
    seed_serving_templates(ServingTemplate, ServingTemplateFile)  # transactional: tables empty
    core = client.CoreV1Api(
        config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))
    )
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "cert": base64.b64encode(ca_pem.encode()).decode(), "scope": "g"}
    assert admin_api.post("/tenants", body, format="json").status_code == 201
    wait_until(
        lambda: row(Tenant, name=name)["phase"] == Phase.READY,
        timeout=60,
        message=f"the tenant Ready\n{worker.output()}",
    )
    assert core.read_namespace(name).status.phase == "Active"
    assert s3.bucket_exists(name)

    member = client_for(make_user("erin", groups=["g"]))
    endpoint = {"endpointName": "chat", "modelName": "resnet", "servingName": "tf-serving"}
    endpoint["subjectName"] = "client"
    assert member.post(f"/tenants/{name}/endpoints", endpoint, format="json").status_code == 201
    detail = f"/tenants/{name}/endpoints/chat"
    wait_until(
        lambda: member.get(detail).json()["data"]["phase"] == "Ready",
        timeout=90,
        message=f"the endpoint Ready\n{row(Endpoint, name='chat')}\n{worker.output()}",
    )
    assert pods(core, name) == [("Running", False, control_plane.node_names[0])]

    member.patch(f"{detail}/replicas", {"replicas": 2}, format="json")
    wait_until(
        lambda: (
            [p[:2] for p in pods(core, name)].count(("Running", False)) == 2
            and member.get(detail).json()["data"]["phase"] == "Ready"
        ),
        timeout=90,
        message=f"two replicas Ready\n{row(Endpoint, name='chat')}\n{worker.output()}",
    )

    member.delete(f"/tenants/{name}/endpoints", {"endpointName": "chat"}, format="json")
    wait_until(
        lambda: not Endpoint.objects.exists(),
        timeout=60,
        message=f"the endpoint deleted\n{worker.output()}",
    )
    apps = client.AppsV1Api(core.api_client)
    assert apps.list_namespaced_deployment(name).items == []

    assert admin_api.delete("/tenants", {"name": name}, format="json").status_code == 200
    # The namespace controller empties the namespace first (the pods' grace period included):
    # the row goes when the namespace is gone.
    wait_until(
        lambda: not Tenant.objects.filter(name=name).exists(),
        timeout=120,
        message=f"the tenant deleted\n{row(Tenant, name=name)}\n{worker.output()}",
    )
    with pytest.raises(ApiException) as gone:
        core.read_namespace(name)
    assert gone.value.status == 404
    assert not s3.bucket_exists(name)
