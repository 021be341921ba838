"""The real Kubernetes control plane under the tests (issue 15) does what the emulator cannot:
controllers turn a Deployment into scheduled, Running pods on kwok's fake nodes; server-side apply
tracks field ownership and refuses a second manager's change; a namespace goes Terminating while
the namespace controller empties it, then goes away."""

import json
import time
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def api_client(control_plane):
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture
def namespace(api_client):
    core = client.CoreV1Api(api_client)
    name = f"test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def wait_for(predicate, timeout=60, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def test_deployment_pods_are_scheduled_on_the_kwok_node_and_run(
    control_plane, api_client, namespace
):
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    labels = {"app": "echo"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "echo"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "echo", "image": "example.invalid/echo:1"}]},
                },
            },
        },
    )

    def running_pods():
        pods = core.list_namespaced_pod(namespace, label_selector="app=echo").items
        running = [pod for pod in pods if pod.status.phase == "Running"]
        return running if len(running) == 2 else None

    pods = wait_for(running_pods, message="2 Running pods")
    assert {pod.spec.node_name for pod in pods} <= set(control_plane.node_names)
    # The ServiceAccount admission plugin mounted the namespace's default account, which the
    # controller manager created: proof that the service-account machinery works.
    assert all(pod.spec.service_account_name == "default" for pod in pods)

    # The Deployment controller saw them ready through the ReplicaSet.
    def ready_replicas():
        return apps.read_namespaced_deployment("echo", namespace).status.ready_replicas == 2

    wait_for(ready_replicas, message="the Deployment's readyReplicas")


def test_server_side_apply_reports_a_field_manager_conflict(api_client, namespace):
    core = client.CoreV1Api(api_client)

    def apply(data, manager, force=False):
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": data,
        }
        return core.patch_namespaced_config_map(
            "settings",
            namespace,
            body,
            field_manager=manager,
            force=force,
            _content_type="application/apply-patch+yaml",
        )

    apply({"mode": "fast"}, "modelport")
    applied = apply({"mode": "fast"}, "modelport")  # the same apply again changes nothing
    assert applied.data == {"mode": "fast"}
    managers = {entry.manager for entry in applied.metadata.managed_fields}
    assert managers == {"modelport"}

    with pytest.raises(ApiException) as conflict:
        apply({"mode": "slow"}, "someone-else")
    assert conflict.value.status == 409
    causes = json.loads(conflict.value.body)["details"]["causes"]
    assert causes == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "modelport"',
            "field": ".data.mode",
        }
    ]

    # A field nobody else owns is no conflict, and a forced apply takes the field over.
    apply({"owner": "someone-else"}, "other-field")
    taken = apply({"mode": "slow"}, "someone-else", force=True)
    assert taken.data == {"mode": "slow", "owner": "someone-else"}


def test_a_deleted_namespace_is_terminating_then_gone(api_client, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="leftover"))
    )
    core.delete_namespace(namespace)

    # The namespace stays, Terminating, until the namespace controller has emptied it.
    assert core.read_namespace(namespace).status.phase == "Terminating"

    def gone():
        try:
            core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    wait_for(gone, message=f"namespace {namespace} to go")


def test_kubectl_applies_server_side_to_the_control_plane(control_plane, api_client, namespace):
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == version["clientVersion"]["gitVersion"]
    manifest = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {namespace}}}\n"
        "data: {mode: cluster}\n"
    )
    applied = control_plane.kubectl(
        "apply", "--server-side", "--field-manager", "test", "-f", "-", input=manifest
    )
    assert applied.stdout.strip() == "configmap/settings serverside-applied"
    found = client.CoreV1Api(api_client).read_namespaced_config_map("settings", namespace)
    assert found.data == {"mode": "cluster"}
    assert [entry.manager for entry in found.metadata.managed_fields] == ["test"]
