"""The cluster profile against a REAL Kubernetes control plane (testinfra/control_plane.py:
kube-apiserver with RBAC, controller manager, scheduler, etcd and kwok's fake nodes) instead of
the emulator: the same tasks and services the emulator tests run (tenants/tests/
test_reconcile_tenant.py, endpoints/tests/test_reconcile_endpoint.py), so the apiserver's own
validation, defaulting, admission (LimitRanger, ResourceQuota), controllers and namespace
finalization are what the product meets.

Covered, in order: tenant provisioning (namespace, quota, limits, network policies, RBAC, CA
secret) and the resync's view of it; an `mlserver` (and a `vllm`) endpoint applied, its pods
scheduled and Running on kwok, the status task turning it Ready; scaling to 2 and back; endpoint
deletion; tenant deletion through a Terminating namespace; and the worker under the
ServiceAccount and ClusterRole of deploy/kubernetes/modelport.yaml with a TokenRequest token
instead of the admin certificate.

Where the real apiserver behaves differently from the emulator, the test says so in a comment
(FINDING); a product bug found here is fixed with a test that fails without the fix.

Findings (the emulator has no admission, no controllers and deletes at once), fixed in
workers/pod_status.py: pods LimitRanger or ResourceQuota refuse were never explained (the reason
is the Deployment's ReplicaFailure condition); a Terminating pod was counted as running; a tenant
namespace takes seconds
(tens of seconds with pods: their grace period) to go, which the task's retries cover; the
worker's ClusterRole is enough.

Run: .venv/bin/pytest -m cluster workers/tests/test_real_cluster.py
"""

import base64
import contextlib
import logging
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from core.phase import Phase
from endpoints.models import Endpoint
from endpoints.services import request_endpoint_deletion, scale
from endpoints.tasks import reconcile_endpoint, resync_endpoints, sync_endpoint_status
from endpoints.tests.conftest import new_endpoint
from models_store.models import ModelVersion, VersionState
from tenants.manifests import role_binding_name
from tenants.models import Tenant, TenantBinding
from tenants.services import request_tenant_deletion
from tenants.tasks import reconcile_tenant, resync_tenants
from testinfra.fixtures import wait_until
from workers.backends.kube import reset_kube_client

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MANIFEST = ROOT / "deploy" / "kubernetes" / "modelport.yaml"
QUOTA = {"maxEndpoints": 3, "requests.cpu": "2", "limits.cpu": "4", "limits.memory": "8Gi"}


# --- the control plane and the product pointed at it -------------------------------------------


@pytest.fixture(scope="session")
def admin(control_plane):
    """The official client as the cluster admin: what the tests check the cluster with."""
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture
def cluster(control_plane, settings):
    """The product's orchestrator is Kubernetes, the real control plane, as its admin."""
    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    settings.KUBECONFIG = str(control_plane.kubeconfig_path)
    settings.MODELPORT_DOMAIN = "test-domain.com"
    reset_kube_client()
    yield control_plane
    reset_kube_client()


@pytest.fixture
def tenant_name(admin):
    """A fresh tenant (namespace) name per test: a namespace deleted by an earlier test may still
    be Terminating. Whatever the test leaves is deleted afterwards, without waiting."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        client.CoreV1Api(admin).delete_namespace(name)
    except ApiException as exc:
        if exc.status not in (404, 409):
            raise


@pytest.fixture
def tenant(cluster, tenant_name, ca_pem):
    tenant = Tenant.objects.create(name=tenant_name, scope="group-a", ca_cert=ca_pem, quota=QUOTA)
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    TenantBinding.objects.create(tenant=tenant, group="group-viewers", role="viewer")
    return tenant


@pytest.fixture
def provisioned(tenant):
    reconcile(tenant)
    assert tenant.phase == Phase.READY, tenant.message
    return tenant


@pytest.fixture
def make_endpoint(provisioned):
    return lambda name="endpoint", serving="mlserver", **fields: new_endpoint(
        provisioned, name, serving, **fields
    )


def reconcile(row):
    """One reconcile task of a tenant or an endpoint, run here (eager), as the emulator tests do."""
    task = reconcile_tenant if isinstance(row, Tenant) else reconcile_endpoint
    task.apply(kwargs={"pk": row.pk}).get()
    if type(row).objects.filter(pk=row.pk).exists():
        row.refresh_from_db()
    return row


def read(call, *args):
    """A read through the official client; None for 404."""
    try:
        return call(*args)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def endpoint_objects(admin, namespace, name="endpoint"):
    selector = f"modelport.io/endpoint={name}"
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    networking = client.NetworkingV1Api(admin)
    found = [
        *(
            ("ConfigMap", o)
            for o in core.list_namespaced_config_map(namespace, label_selector=selector).items
        ),
        *(
            ("Deployment", o)
            for o in apps.list_namespaced_deployment(namespace, label_selector=selector).items
        ),
        *(
            ("Service", o)
            for o in core.list_namespaced_service(namespace, label_selector=selector).items
        ),
        *(
            ("Ingress", o)
            for o in networking.list_namespaced_ingress(namespace, label_selector=selector).items
        ),
    ]
    return sorted((kind, obj.metadata.name) for kind, obj in found)


def running_pods(admin, namespace, name="endpoint"):
    pods = (
        client.CoreV1Api(admin)
        .list_namespaced_pod(namespace, label_selector=f"modelport.io/endpoint={name}")
        .items
    )
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def status_until(endpoint, predicate, timeout=60, message="endpoint status"):
    """Run the status task (what beat runs every few seconds) until the row satisfies predicate."""

    def check():
        sync_endpoint_status.apply().get()
        endpoint.refresh_from_db()
        return predicate(endpoint)

    try:
        wait_until(check, timeout=timeout, interval=0.5, message=message)
    except AssertionError:
        raise AssertionError(
            f"{message}: the endpoint is {endpoint.phase} {endpoint.message!r}, running "
            f"{endpoint.running_pods}, pending {endpoint.pending_pods}, available "
            f"{endpoint.available_replicas}"
        ) from None
    return endpoint


# --- 1. tenant provisioning ----------------------------------------------------------------


def test_tenant_provisioning_makes_every_object_and_the_apiserver_accepts_them(
    admin, provisioned, ca_pem
):
    name = provisioned.name
    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)
    networking = client.NetworkingV1Api(admin)

    assert provisioned.observed_generation == provisioned.generation
    assert provisioned.message == ""
    namespace = core.read_namespace(name)
    assert namespace.status.phase == "Active"
    # Defaulted by the apiserver (the emulator does not add it).
    assert namespace.metadata.labels == {
        "app.kubernetes.io/managed-by": "modelport",
        "modelport.io/tenant": name,
        "modelport.io/component": "tenant",
        "kubernetes.io/metadata.name": name,
    }

    quota = core.read_namespaced_resource_quota("modelport-quota", name)
    assert quota.spec.hard == {"requests.cpu": "2", "limits.cpu": "4", "limits.memory": "8Gi"}
    # The quota controller fills status in, which the emulator never does.
    wait_until(
        lambda: core.read_namespaced_resource_quota("modelport-quota", name).status.used,
        message="the quota controller to report usage",
        timeout=60,
    )

    (limits,) = core.read_namespaced_limit_range("modelport-defaults", name).spec.limits
    assert (limits.type, limits.default_request, limits.default) == (
        "Container",
        {"cpu": "100m", "memory": "256Mi"},
        {"cpu": "1", "memory": "1Gi"},
    )

    policies = {p.metadata.name: p for p in networking.list_namespaced_network_policy(name).items}
    assert sorted(policies) == ["allow-platform-ingress", "default-deny-ingress"]
    sources = policies["allow-platform-ingress"].spec.ingress[0]._from
    assert [s.namespace_selector.match_labels for s in sources if s.namespace_selector] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"},
        {"kubernetes.io/metadata.name": "modelport"},
    ]

    roles = sorted(r.metadata.name for r in rbac.list_namespaced_role(name).items)
    assert roles == ["modelport-admin", "modelport-editor", "modelport-viewer"]
    bindings = {b.metadata.name: b for b in rbac.list_namespaced_role_binding(name).items}
    assert sorted(bindings) == sorted(
        [role_binding_name("editor", "group-a"), role_binding_name("viewer", "group-viewers")]
    )
    editor = bindings[role_binding_name("editor", "group-a")]
    assert editor.role_ref.name == "modelport-editor"
    assert [(s.kind, s.name) for s in editor.subjects] == [("Group", "group-a")]

    secret = core.read_namespaced_secret("modelport-ca", name)
    assert base64.b64decode(secret.data["ca.crt"]).decode() == ca_pem
    assert secret.type == "Opaque"


def test_the_tenant_roles_grant_what_they_say_to_the_tenants_groups(admin, provisioned):
    """RBAC evaluated by the real authorizer: the editor group may read and delete pods in its
    namespace and nothing elsewhere; the viewer may only read."""
    authz = client.AuthorizationV1Api(admin)

    def allowed(group, verb, resource, namespace, subresource=None):
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user="someone",
                groups=[group, "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb=verb, resource=resource, subresource=subresource
                ),
            )
        )
        return authz.create_subject_access_review(review).status.allowed

    name = provisioned.name
    assert allowed("group-a", "delete", "pods", name)
    assert allowed("group-a", "create", "pods", name, subresource="portforward")
    assert not allowed("group-a", "create", "pods", name, subresource="exec")
    assert not allowed("group-a", "delete", "deployments", name)
    assert not allowed("group-a", "list", "pods", "default")
    assert allowed("group-viewers", "list", "pods", name)
    assert not allowed("group-viewers", "delete", "pods", name)


def test_reconciling_a_provisioned_tenant_again_changes_nothing(admin, provisioned):
    def versions():
        core = client.CoreV1Api(admin)
        rbac = client.RbacAuthorizationV1Api(admin)
        items = [
            core.read_namespace(provisioned.name),
            *core.list_namespaced_limit_range(provisioned.name).items,
            *core.list_namespaced_secret(provisioned.name).items,
            *rbac.list_namespaced_role(provisioned.name).items,
            *rbac.list_namespaced_role_binding(provisioned.name).items,
            *client.NetworkingV1Api(admin).list_namespaced_network_policy(provisioned.name).items,
        ]
        return {(type(i).__name__, i.metadata.name): i.metadata.resource_version for i in items}

    before = versions()
    reconcile(provisioned)
    assert provisioned.phase == Phase.READY
    # Server-side apply of an unchanged manifest is a no-op on a real apiserver too.
    assert versions() == before


def test_resync_repairs_a_deleted_quota_and_reads_back_what_it_reports_used(admin, provisioned):
    core = client.CoreV1Api(admin)
    core.delete_namespaced_resource_quota("modelport-quota", provisioned.name)
    result = resync_tenants.apply().get()
    assert result["reconciled"] == 1
    quota = core.read_namespaced_resource_quota("modelport-quota", provisioned.name)
    assert quota.spec.hard["requests.cpu"] == "2"

    # The quota controller fills status.used in; the next resync copies it to the row.
    wait_until(
        lambda: (
            core.read_namespaced_resource_quota("modelport-quota", provisioned.name).status.used
        ),
        message="the quota's status.used",
        timeout=60,
    )
    resync_tenants.apply().get()
    provisioned.refresh_from_db()
    assert provisioned.quota_used == {"requests.cpu": "0", "limits.cpu": "0", "limits.memory": "0"}


# --- 2. endpoints: applied, scheduled on kwok, Ready ----------------------------------------


def test_an_mlserver_endpoint_runs_on_the_kwok_node_and_turns_ready(
    admin, control_plane, make_endpoint
):
    endpoint = reconcile(make_endpoint())
    namespace = endpoint.tenant.name
    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    assert endpoint.observed_generation == endpoint.generation
    assert endpoint_objects(admin, namespace) == [
        ("ConfigMap", "endpoint"),
        ("Deployment", "endpoint"),
        ("Ingress", "endpoint"),
        ("Service", "endpoint"),
    ]
    service = client.CoreV1Api(admin).read_namespaced_service("endpoint", namespace)
    assert service.spec.cluster_ip  # allocated by the apiserver from the service CIDR
    assert [(p.name, p.port, p.target_port) for p in service.spec.ports] == [
        ("http", 8080, "http"),
        ("grpc", 8081, "grpc"),
    ]

    status_until(endpoint, lambda e: e.phase == Phase.READY, message="the endpoint Ready")
    assert (endpoint.running_pods, endpoint.pending_pods, endpoint.failed_pods) == (1, 0, 0)
    assert (endpoint.available_replicas, endpoint.unavailable_replicas) == (1, None)
    assert endpoint.message == ""
    (pod,) = running_pods(admin, namespace)
    assert pod.spec.node_name in control_plane.node_names
    # LimitRanger (admission) filled in the tenant's default limits, which the emulator never
    # does: the init container gets the defaults whole, the server the default limits.
    init, serving = pod.spec.init_containers[0], pod.spec.containers[0]
    assert init.resources.requests == {"cpu": "100m", "memory": "256Mi"}
    assert init.resources.limits == {"cpu": "1", "memory": "1Gi"}
    assert serving.resources.requests == {"cpu": "1", "memory": "1Gi"}
    assert serving.resources.limits == {"cpu": "1", "memory": "1Gi"}
    # ... and the ResourceQuota controller counts it.
    core = client.CoreV1Api(admin)
    wait_until(
        lambda: (
            core.read_namespaced_resource_quota("modelport-quota", namespace).status.used.get(
                "requests.cpu"
            )
            == "1"
        ),
        message="the quota to count the pod",
        timeout=60,
    )


def test_a_vllm_endpoint_of_a_ready_model_version_turns_ready(admin, make_endpoint, provisioned):
    ModelVersion.objects.create(tenant=provisioned, name="llm", version=3, state=VersionState.READY)
    endpoint = reconcile(
        make_endpoint("chat", serving="vllm", model_name="llm", version_policy="{latest {}}")
    )
    namespace = provisioned.name
    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    assert endpoint_objects(admin, namespace, "chat") == [
        ("Deployment", "chat"),
        ("Service", "chat"),
    ]
    deployment = client.AppsV1Api(admin).read_namespaced_deployment("chat", namespace)
    fetch = deployment.spec.template.spec.init_containers[0]
    assert fetch.command[-2:] == [f"s3://{provisioned.bucket}/llm/3/", "/mnt/models/model/"]
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="the vLLM endpoint Ready")
    assert endpoint.available_replicas == 1


@pytest.fixture(scope="session")
def kserve(control_plane):
    """KServe's InferenceService CRD (from the release's Go module), without its controller."""
    control_plane.install_kserve_crds()


def inference_service(admin, namespace, name):
    objects = client.CustomObjectsApi(admin)
    return read(
        objects.get_namespaced_custom_object,
        "serving.kserve.io",
        "v1beta1",
        namespace,
        "inferenceservices",
        name,
    )


def contains(stored, rendered):
    """Every field of `rendered` is in `stored` with the same value: the schema kept all of
    them (the apiserver may add defaults)."""
    if isinstance(rendered, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], value) for key, value in rendered.items()
        )
    if isinstance(rendered, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(rendered)
            and all(map(contains, stored, rendered))
        )
    return stored == rendered


@pytest.mark.parametrize("serving", ["kserve", "kserve-llm"])
def test_the_kserve_templates_are_valid_inferenceservices_kept_whole_scaled_and_deleted(
    admin, kserve, make_endpoint, provisioned, serving, django_capture_on_commit_callbacks
):
    from endpoints.rendering import render_endpoint_manifests

    ModelVersion.objects.create(tenant=provisioned, name="llm", version=2, state=VersionState.READY)
    endpoint = reconcile(
        make_endpoint("isvc", serving=serving, model_name="llm", version_policy="{latest {}}")
    )
    namespace = provisioned.name
    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    (rendered,) = render_endpoint_manifests(endpoint)
    stored = inference_service(admin, namespace, "isvc")
    assert stored is not None
    assert stored["metadata"]["labels"]["modelport.io/endpoint"] == "isvc"
    assert contains(stored["spec"], rendered["spec"]), (rendered["spec"], stored["spec"])

    with django_capture_on_commit_callbacks(execute=True):
        scale(endpoint, 2)
    scaled = inference_service(admin, namespace, "isvc")["spec"]["predictor"]
    assert scaled["maxReplicas"] == 2
    assert scaled["model"] == stored["spec"]["predictor"]["model"]

    request_endpoint_deletion(endpoint)
    reconcile(endpoint)
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert inference_service(admin, namespace, "isvc") is None


def test_a_template_field_the_crd_does_not_know_fails_the_endpoint_and_names_it(
    admin, kserve, make_endpoint, provisioned
):
    # FINDING: server-side apply of a field the schema does not declare (an admin's typo in a
    # template) is a 500 from the apiserver ("failed to create typed patch object ... field not
    # declared in schema"), which the worker took for a passing failure and retried 8 times
    # before failing the endpoint; the same manifest never fits, so it fails at once now.
    from endpoints.models import ServingTemplate, ServingTemplateFile

    kserve_files = ServingTemplate.objects.get(name="kserve").files()
    template = ServingTemplate.objects.create(name="kserve-typo")
    for filename, content in kserve_files.items():
        content = content.replace("    minReplicas:", "    minReplica:")
        ServingTemplateFile.objects.create(template=template, filename=filename, content=content)
    ModelVersion.objects.create(tenant=provisioned, name="llm", version=1, state=VersionState.READY)

    endpoint = reconcile(make_endpoint("typo", serving="kserve-typo", model_name="llm"))

    assert endpoint.phase == Phase.FAILED
    assert endpoint.message.startswith("Kubernetes apply of InferenceService typo failed (500)")
    assert ".spec.predictor.minReplica: field not declared in schema" in endpoint.message
    assert inference_service(admin, provisioned.name, "typo") is None


# --- 3. scale to 2 and back, delete ---------------------------------------------------------


def test_scaling_to_two_and_back_then_deleting_the_endpoint(
    admin, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = reconcile(make_endpoint())
    namespace = endpoint.tenant.name
    apps = client.AppsV1Api(admin)
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="1 replica Ready")
    generation = apps.read_namespaced_deployment("endpoint", namespace).metadata.generation

    with django_capture_on_commit_callbacks(execute=True):
        scale(endpoint, 2)
    deployment = apps.read_namespaced_deployment("endpoint", namespace)
    assert deployment.spec.replicas == 2
    assert deployment.metadata.generation == generation + 1  # replicas alone changed
    status_until(
        endpoint,
        lambda e: e.phase == Phase.READY and e.available_replicas == 2,
        message="2 replicas Ready",
    )
    assert endpoint.running_pods == 2
    assert len(running_pods(admin, namespace)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        scale(endpoint, 1)
    assert apps.read_namespaced_deployment("endpoint", namespace).spec.replicas == 1
    status_until(
        endpoint,
        lambda e: e.phase == Phase.READY and e.available_replicas == 1,
        message="back to 1 replica",
    )
    wait_until(
        lambda: len(running_pods(admin, namespace)) == 1, message="one pod left running", timeout=60
    )

    Endpoint.objects.filter(pk=endpoint.pk).update(deletion_requested_at="2026-01-01T00:00Z")
    reconcile(endpoint)
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert endpoint_objects(admin, namespace) == []
    # The garbage collector deletes the ReplicaSet and its pods; the pods are Terminating for
    # their grace period (30 s) before they go.
    wait_until(
        lambda: not running_pods(admin, namespace), message="the pods to be deleted", timeout=60
    )


def test_the_status_cycle_follows_the_apiservers_continue_tokens(make_endpoint, monkeypatch):
    """Pods and Deployments are listed across all namespaces a page at a time; with pages of one
    object, every count comes from following the real server's continue tokens."""
    from workers.backends.kube import KubeClient

    monkeypatch.setattr(KubeClient, "page_size", 1)
    endpoints = [reconcile(make_endpoint(name)) for name in ("first", "second")]

    for endpoint in endpoints:
        status_until(endpoint, lambda e: e.phase == Phase.READY, message=endpoint.name)
    for endpoint in endpoints:
        endpoint.refresh_from_db()
        assert (endpoint.phase, endpoint.running_pods, endpoint.available_replicas) == (
            Phase.READY,
            1,
            1,
        )


def terminating(admin, namespace):
    pods = client.CoreV1Api(admin).list_namespaced_pod(namespace).items
    return [p for p in pods if p.metadata.deletion_timestamp]


def test_a_terminating_pod_is_not_counted_as_running(
    admin, make_endpoint, django_capture_on_commit_callbacks
):
    """A kubelet keeps a deleted pod Running for its grace period; kwok deletes it at once, so a
    finalizer holds it Terminating here."""
    endpoint = reconcile(make_endpoint(replicas=2))
    namespace = endpoint.tenant.name
    core = client.CoreV1Api(admin)
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="2 replicas Ready")
    held = {"metadata": {"finalizers": ["modelport.io/test-hold"]}}
    pods = [pod.metadata.name for pod in running_pods(admin, namespace)]
    for name in pods:
        core.patch_namespaced_pod(name, namespace, held)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            scale(endpoint, 1)
        wait_until(
            lambda: terminating(admin, namespace), message="a pod to be Terminating", timeout=60
        )

        # The Deployment reports one available replica a moment after its pod starts terminating.
        status_until(
            endpoint,
            lambda e: e.phase == Phase.READY and e.available_replicas == 1,
            message="1 replica available",
        )
        assert endpoint.running_pods == 1
        assert [pod.status.phase for pod in terminating(admin, namespace)] == ["Running"]
    finally:
        for name in pods:
            with contextlib.suppress(ApiException):
                core.patch_namespaced_pod(name, namespace, {"metadata": {"finalizers": None}})


KUBELET_STATES = {
    "CrashLoopBackOff": (
        {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed"}},
        {"terminated": {"reason": "Error", "exitCode": 1}},
        "is in CrashLoopBackOff: back-off 40s restarting failed",
    ),
    "ImagePullBackOff": (
        {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}},
        {},
        'is in ImagePullBackOff: Back-off pulling image "x"',
    ),
    "OOMKilled": (
        {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed"}},
        {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        "is in CrashLoopBackOff (last terminated: OOMKilled; raise its memory limit)",
    ),
}


@pytest.mark.parametrize("state", sorted(KUBELET_STATES))
def test_a_pod_the_kubelet_reports_stuck_fails_the_endpoint_with_the_reason(
    admin, make_endpoint, state
):
    # The status a kubelet writes (kwok runs no containers, so the test writes it through the
    # pods/status subresource, as a kubelet does); the controllers react as they would.
    endpoint = reconcile(make_endpoint())
    namespace = endpoint.tenant.name
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="the endpoint Ready")
    (pod,) = running_pods(admin, namespace)
    current, last, sentence = KUBELET_STATES[state]
    container = pod.spec.containers[0].name
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "False", "lastTransitionTime": now},
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": pod.spec.containers[0].image,
                "imageID": "",
                "ready": False,
                "restartCount": 3,
                "state": current,
                "lastState": last,
            }
        ],
    }
    client.CoreV1Api(admin).patch_namespaced_pod_status(
        pod.metadata.name, namespace, {"status": status}
    )

    status_until(endpoint, lambda e: e.phase == Phase.FAILED, message=f"{state}: Failed")
    assert endpoint.message == f"Pod {pod.metadata.name}: container {container} {sentence}"
    # The Deployment controller sees the pod go unready too.
    apps = client.AppsV1Api(admin)
    wait_until(
        lambda: (
            not apps.read_namespaced_deployment("endpoint", namespace).status.available_replicas
        ),
        message="the Deployment to count no available replica",
        timeout=30,
    )


def test_a_replica_count_changed_with_kubectl_is_scaled_back(admin, make_endpoint):
    endpoint = reconcile(make_endpoint())
    namespace = endpoint.tenant.name
    apps = client.AppsV1Api(admin)
    apps.patch_namespaced_deployment_scale("endpoint", namespace, {"spec": {"replicas": 3}})
    result = sync_endpoint_status.apply().get()
    assert result["rescaled"] == 1
    assert apps.read_namespaced_deployment("endpoint", namespace).spec.replicas == 1


def test_resync_removes_the_objects_of_an_endpoint_whose_row_is_gone(admin, make_endpoint):
    gone = reconcile(make_endpoint("gone"))
    namespace = gone.tenant.name
    Endpoint.objects.filter(pk=gone.pk).delete()
    result = resync_endpoints.apply().get()
    # (At least: objects in namespaces that earlier tests left Terminating are orphans too.)
    assert result["endpoint_objects_removed"] >= 4
    assert endpoint_objects(admin, namespace, "gone") == []


# --- what admission refuses: the pods never come, and the endpoint says why -----------------


def replica_failure(admin, namespace, name="endpoint"):
    """The Deployment controller's ReplicaFailure message (FailedCreate from the ReplicaSet)."""
    deployment = client.AppsV1Api(admin).read_namespaced_deployment(name, namespace)
    for condition in deployment.status.conditions or []:
        if condition.type == "ReplicaFailure" and condition.status == "True":
            return condition.message
    return None


def test_a_request_above_the_default_limit_fails_the_endpoint_with_the_reason(admin, make_endpoint):
    endpoint = reconcile(make_endpoint(resources={"requests": {"cpu": "2", "memory": "1Gi"}}))
    namespace = endpoint.tenant.name
    message = wait_until(
        lambda: replica_failure(admin, namespace), message="ReplicaFailure", timeout=60
    )
    # What the apiserver says (shown here so the report carries it).
    assert "must be less than or equal to cpu limit" in message
    status_until(endpoint, lambda e: e.phase != Phase.PROVISIONING, timeout=10, message="Failed")
    assert endpoint.phase == Phase.FAILED
    assert "cpu limit" in endpoint.message


def test_replicas_beyond_the_quota_say_that_the_quota_is_exceeded(admin, make_endpoint):
    endpoint = reconcile(make_endpoint(replicas=3))
    namespace = endpoint.tenant.name
    message = wait_until(
        lambda: replica_failure(admin, namespace), message="ReplicaFailure", timeout=60
    )
    assert "exceeded quota: modelport-quota" in message
    status_until(endpoint, lambda e: e.available_replicas == 2, message="the two pods that fit")
    assert "exceeded quota" in endpoint.message


# --- 4. tenant deletion ----------------------------------------------------------------------


@pytest.fixture
def worker_countdown(monkeypatch):
    """A worker waits out a retry's countdown (workers.reconcile.backoff: 1-2 s, 2-4 s, 4-8 s,
    ...); an eager task retries at once and would give up within milliseconds on a namespace that
    takes seconds to go. Wait the same countdown here, and note each retry's reason and the row's
    phase then: its message meanwhile ("Retrying: ...") is what the portal shows."""
    import tenants.tasks
    from workers.reconcile import backoff

    real = tenants.tasks.retry_or_fail
    messages = []

    def wait_then_retry(task, model, pk, exc):
        messages.append((str(exc), model.objects.get(pk=pk).phase))
        time.sleep(backoff(task.request.retries))
        return real(task, model, pk, exc)

    monkeypatch.setattr(tenants.tasks, "retry_or_fail", wait_then_retry)
    return messages


def test_deleting_a_tenant_waits_for_the_namespace_to_terminate_then_removes_the_row(
    admin, provisioned, worker_countdown
):
    core = client.CoreV1Api(admin)
    name = provisioned.name
    request_tenant_deletion(provisioned)
    reconcile(provisioned)

    # The first attempt found the namespace Terminating (the namespace controller empties it
    # first: seconds, not the emulator's instant) and retried until it was gone.
    assert worker_countdown, "the namespace went at once, as in the emulator"
    assert {message for message, _ in worker_countdown} == {
        f"Namespace {name} is still terminating."
    }
    assert not Tenant.objects.filter(pk=provisioned.pk).exists()
    assert read(core.read_namespace, name) is None
    from audit.models import AuditRecord

    assert AuditRecord.objects.filter(name=name, action="removed").exists()


def test_a_namespace_deleted_behind_the_platforms_back_is_made_again_once_it_is_gone(
    admin, provisioned, worker_countdown
):
    # FINDING: a Terminating namespace accepts the apply of objects it still has and refuses new
    # ones (403), so the tenant read Ready while its namespace went, and every resync removed the
    # "orphan" again. Now the tenant is Provisioning until the namespace is gone, then made again.
    core = client.CoreV1Api(admin)
    name = provisioned.name
    core.delete_namespace(name)

    result = resync_tenants.apply().get()

    going = (
        f"Namespace {name} was deleted outside Modelport and is still terminating; it is made "
        "again once it is gone."
    )
    assert result["reconciled"] == 1
    assert worker_countdown, "the namespace went at once, as in the emulator"
    assert set(worker_countdown) == {(going, Phase.PROVISIONING)}
    provisioned.refresh_from_db()
    assert provisioned.phase == Phase.READY, provisioned.message
    namespace = core.read_namespace(name)
    assert namespace.metadata.deletion_timestamp is None
    assert core.read_namespaced_resource_quota("modelport-quota", name).spec.hard


def test_an_endpoint_apply_that_races_its_tenants_deletion_stands_down_quietly(
    admin, make_endpoint, provisioned, caplog
):
    # FINDING: the task read its rows, then the tenant's deletion began: the namespace refuses
    # new objects (403 "... because it is being terminated"), which failed the endpoint and
    # logged a warning. Now the endpoint is Deleting with its tenant, and the log says so calmly.
    from endpoints.tasks import _apply_endpoint

    endpoint = make_endpoint()
    stale = Endpoint.objects.select_related("tenant", "serving").get(pk=endpoint.pk)
    request_tenant_deletion(provisioned)
    client.CoreV1Api(admin).delete_namespace(provisioned.name)

    assert _apply_endpoint(stale) == "tenant deleting"

    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.DELETING
    assert endpoint.message == (
        f"Tenant {provisioned.name} is being deleted, and this endpoint with it."
    )
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- 5. the worker with the deploy manifests' ServiceAccount and ClusterRole -------------------


@pytest.fixture(scope="session")
def worker_kubeconfig(control_plane, admin, tmp_path_factory):
    """The rights of deploy/kubernetes/modelport.yaml (its Namespace, ServiceAccount,
    ClusterRole and ClusterRoleBinding, as written there) and a kubeconfig with a token minted
    for that ServiceAccount through the TokenRequest API: the worker as it runs in a cluster."""
    documents = [d for d in yaml.safe_load_all(DEPLOY_MANIFEST.read_text()) if d]
    rights = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    kinds = [d["kind"] for d in documents if d["kind"] in rights]
    assert sorted(kinds) == sorted(rights), kinds
    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)
    create = {
        "Namespace": core.create_namespace,
        "ServiceAccount": lambda d: core.create_namespaced_service_account(
            d["metadata"]["namespace"], d
        ),
        "ClusterRole": rbac.create_cluster_role,
        "ClusterRoleBinding": rbac.create_cluster_role_binding,
    }
    account = None
    for document in documents:
        if document["kind"] in rights:
            create[document["kind"]](document)
            if document["kind"] == "ServiceAccount":
                account = document["metadata"]
    path = tmp_path_factory.mktemp("worker") / "kubeconfig"
    return control_plane.service_account_kubeconfig(account["namespace"], account["name"], path)


@pytest.fixture
def as_worker(cluster, worker_kubeconfig, settings):
    worker = config.new_client_from_config(config_file=worker_kubeconfig)
    review = client.AuthenticationV1Api(worker).create_self_subject_review({})
    assert review.status.user_info.username == "system:serviceaccount:modelport:modelport"
    settings.KUBECONFIG = worker_kubeconfig
    reset_kube_client()
    return worker_kubeconfig


def test_the_worker_provisions_serves_and_deletes_with_the_deploy_manifests_rights(
    admin, as_worker, tenant, make_endpoint, worker_countdown
):
    """Every call the tenant, endpoint, status and resync tasks make, as the ServiceAccount: a
    right the ClusterRole lacks is a 403, a Failed row, and a failure here."""
    reconcile(tenant)
    assert (tenant.phase, tenant.message) == (Phase.READY, "")
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="the endpoint Ready")
    assert resync_tenants.apply().get()["reconciled"] == 0
    assert "skipped" not in resync_endpoints.apply().get()

    request_tenant_deletion(tenant)
    reconcile(tenant)
    assert not Tenant.objects.filter(pk=tenant.pk).exists(), worker_countdown
    assert read(client.CoreV1Api(admin).read_namespace, tenant.name) is None
