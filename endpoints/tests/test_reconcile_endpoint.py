"""Endpoints through the Kubernetes backend: the API emulator over HTTP, through the official
client; every object the templates render is checked against the Kubernetes 1.34 schema by the
`kube` fixture. Tasks run in this process (eager)."""

import re
from unittest import mock

import pytest
from prometheus_client import REGISTRY

from audit.models import AuditRecord
from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate, ServingTemplateFile
from endpoints.rendering import CONFIG_CHECKSUM_ANNOTATION
from endpoints.tasks import (
    reconcile_endpoint,
    resync_endpoints,
    scale_endpoint,
    sync_endpoint_status,
)
from tenants.tasks import reconcile_tenant

pytestmark = pytest.mark.django_db

LABELS = {
    "app.kubernetes.io/managed-by": "modelport",
    "modelport.io/tenant": "test",
    "modelport.io/component": "endpoint",
    "modelport.io/endpoint": "endpoint",
}


@pytest.fixture
def namespace(kube, tenant):
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}})
    return "test"


def reconcile(endpoint):
    reconcile_endpoint.apply(kwargs={"pk": endpoint.pk}).get()
    if Endpoint.objects.filter(pk=endpoint.pk).exists():
        endpoint.refresh_from_db()
    return endpoint


def objects_of(kube, namespace="test"):
    """The endpoint objects in the namespace."""
    return sorted(
        (o["kind"], o["metadata"]["name"])
        for o in kube.objects(namespace=namespace)
        if o["metadata"].get("labels", {}).get("modelport.io/component") == "endpoint"
    )


def versions(kube):
    return {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in kube.objects()
    }


@pytest.mark.parametrize(
    ("serving", "kinds"),
    [
        ("tf-serving", ["ConfigMap", "Deployment", "Ingress", "Service"]),
        ("ovms", ["ConfigMap", "Deployment", "Ingress", "Service"]),
        ("mlserver", ["ConfigMap", "Deployment", "Ingress", "Service"]),
        ("kserve", ["InferenceService"]),
    ],
)
def test_every_seeded_template_applies_valid_labelled_objects(
    kube, namespace, make_endpoint, serving, kinds
):
    endpoint = reconcile(make_endpoint(serving=serving))

    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    assert endpoint.observed_generation == endpoint.generation
    assert objects_of(kube) == sorted((kind, "endpoint") for kind in kinds)
    assert len(kube.objects(namespace="test")) == len(kinds)
    for obj in kube.objects(namespace="test"):
        assert obj["metadata"]["labels"].items() >= LABELS.items()
    assert not kube.invalid


def test_the_ingress_verifies_client_certificates_against_the_tenant_ca(
    kube, namespace, make_endpoint
):
    reconcile(make_endpoint(subject_name="client.example.com"))
    ingress = kube.get_object("Ingress", "test", "endpoint")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-secret"] == "test/modelport-ca"
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "on"
    pattern = annotations["nginx.ingress.kubernetes.io/auth-tls-match-cn"]
    assert pattern == r"CN=client\.example\.com(,|$)"  # ingress-nginx wants "CN=" first
    assert re.search(pattern, "CN=client.example.com,O=Team,C=DE")
    assert re.search(pattern, "CN=client.example.com")
    assert not re.search(pattern, "CN=client.example.com.evil.org,O=Team")
    assert not re.search(pattern, "CN=clientXexample.com")
    assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert ingress["spec"]["rules"][0]["host"] == "endpoint-test.test-domain.com"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["endpoint-test.test-domain.com"], "secretName": "tls-secret"}
    ]


def test_the_model_configuration_carries_the_bucket_and_version_policy(
    kube, namespace, make_endpoint
):
    reconcile(make_endpoint(version_policy="{specific {versions: 1 versions: 3}}"))
    config = kube.get_object("ConfigMap", "test", "endpoint")["data"]["models.config"]
    assert 'base_path: "s3://test/resnet"' in config
    assert "model_version_policy {specific {versions: 1 versions: 3}}" in config
    deployment = kube.get_object("Deployment", "test", "endpoint")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}}
    assert deployment["spec"]["replicas"] == 1


def test_kserve_scales_to_zero_when_replicas_is_zero(kube, namespace, make_endpoint):
    reconcile(make_endpoint(serving="kserve", replicas=0))
    predictor = kube.get_object("InferenceService", "test", "endpoint")["spec"]["predictor"]
    assert predictor["minReplicas"] == 0
    assert predictor["maxReplicas"] == 1
    assert predictor["model"]["storageUri"] == "s3://test/resnet"
    assert predictor["labels"]["modelport.io/endpoint"] == "endpoint"


def test_reconciling_twice_changes_nothing(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint())
    before = versions(kube)
    reconcile(endpoint)
    assert versions(kube) == before


def test_scale_patches_only_replicas(kube, namespace, make_endpoint, editor_api):
    endpoint = reconcile(make_endpoint())
    before = versions(kube)
    already = len(kube.requests)

    response = editor_api.patch(
        "/tenants/test/endpoints/endpoint/replicas", {"replicas": 3}, format="json"
    )
    assert response.status_code == 200
    scale_endpoint.apply(kwargs={"pk": endpoint.pk}).get()
    endpoint.refresh_from_db()
    assert endpoint.message.startswith("Objects applied"), endpoint.message

    writes = [r for r in kube.requests[already:] if r.method != "GET"]
    assert len(writes) == 1
    assert writes[0].method == "PATCH"
    assert writes[0].path == "/apis/apps/v1/namespaces/test/deployments/endpoint"
    assert "force" not in writes[0].query  # a merge patch, not an apply of the whole object
    assert kube.get_object("Deployment", "test", "endpoint")["spec"]["replicas"] == 3
    after = versions(kube)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {("Deployment", "endpoint")}


def test_scale_of_a_kserve_endpoint_patches_min_and_max_replicas(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint(serving="kserve"))
    Endpoint.objects.filter(pk=endpoint.pk).update(replicas=0)
    scale_endpoint.apply(kwargs={"pk": endpoint.pk}).get()
    predictor = kube.get_object("InferenceService", "test", "endpoint")["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 1)


def test_a_template_change_prunes_objects_it_no_longer_renders(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint())
    ServingTemplateFile.objects.filter(template=endpoint.serving, filename="ingress.tmpl").delete()
    Endpoint.objects.filter(pk=endpoint.pk).update(generation=endpoint.generation + 1)
    reconcile(endpoint)
    assert objects_of(kube) == [
        ("ConfigMap", "endpoint"),
        ("Deployment", "endpoint"),
        ("Service", "endpoint"),
    ]


def test_switching_to_kserve_removes_the_deployment_objects(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint())
    Endpoint.objects.filter(pk=endpoint.pk).update(
        serving=ServingTemplate.objects.get(name="kserve"), generation=endpoint.generation + 1
    )
    reconcile(endpoint)
    assert objects_of(kube) == [("InferenceService", "endpoint")]


def test_pruning_leaves_other_endpoints_alone(kube, namespace, make_endpoint):
    reconcile(make_endpoint("other"))
    endpoint = reconcile(make_endpoint())
    Endpoint.objects.filter(pk=endpoint.pk).update(
        serving=ServingTemplate.objects.get(name="kserve"), generation=endpoint.generation + 1
    )
    reconcile(endpoint)
    assert kube.get_object("Deployment", "test", "other") is not None


def checksum(kube):
    deployment = kube.get_object("Deployment", "test", "endpoint")
    return deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]


def test_a_configuration_change_rolls_the_deployment(kube, namespace, make_endpoint, editor_api):
    endpoint = reconcile(make_endpoint())
    first = checksum(kube)

    editor_api.patch("/tenants/test/endpoints/endpoint", {"subjectName": "other"}, format="json")
    reconcile(endpoint)
    assert checksum(kube) == first  # the model configuration did not change

    body = {"modelVersionPolicy": "{all {}}"}
    editor_api.patch("/tenants/test/endpoints/endpoint", body, format="json")
    reconcile(endpoint)
    assert checksum(kube) != first
    assert (
        "model_version_policy {all {}}"
        in kube.get_object("ConfigMap", "test", "endpoint")["data"]["models.config"]
    )


def test_delete_removes_every_object_then_the_row(kube, namespace, make_endpoint, editor_api):
    endpoint = reconcile(make_endpoint())
    reconcile(make_endpoint("other", serving="kserve"))
    editor_api.delete("/tenants/test/endpoints", {"endpointName": "endpoint"}, format="json")
    reconcile(endpoint)
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert objects_of(kube) == [("InferenceService", "other")]
    # The trail: asked for through the API, done by the worker.
    asked, removed = AuditRecord.objects.filter(name="endpoint").order_by("id")
    assert (asked.action, asked.door) == ("delete", "api")
    assert (removed.action, removed.actor, removed.door) == ("removed", "system", "worker")


def runs(result):
    name = "endpoints.tasks.reconcile_endpoint"
    return REGISTRY.get_sample_value("modelport_task_runs_total", {"task": name, "result": result})


def test_a_server_error_is_retried(kube, namespace, make_endpoint):
    kube.fail_next(method="PATCH", path_contains="/deployments/", status=503, times=2)
    retries, lags = runs("retry") or 0, lag_count()
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.PROVISIONING
    assert kube.get_object("Deployment", "test", "endpoint") is not None
    assert runs("retry") == retries + 2
    assert lag_count() == lags + 1  # the generation was applied once


def lag_count():
    return (
        REGISTRY.get_sample_value("modelport_generation_lag_seconds_count", {"kind": "endpoint"})
        or 0
    )


def test_a_permanent_error_is_written_to_phase_and_message(kube, namespace, make_endpoint):
    kube.fail_next(method="PATCH", path_contains="/ingresses/", status=403)
    failed = runs("failed") or 0
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.FAILED
    assert runs("failed") == failed + 1
    assert "403" in endpoint.message
    assert "Ingress" in endpoint.message
    assert endpoint.observed_generation == 0


def test_an_mtls_ingress_is_not_published_for_a_tenant_without_a_ca(
    kube, namespace, make_endpoint, tenant
):
    tenant.ca_cert = ""
    tenant.save()
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.FAILED
    assert "no client CA certificate" in endpoint.message
    assert objects_of(kube) == []
    # KServe's template has no ingress of ours: it is applied.
    assert reconcile(make_endpoint("other", serving="kserve")).phase == Phase.PROVISIONING


def test_giving_the_tenant_its_ca_publishes_the_endpoints_that_waited_for_it(
    kube, s3, namespace, make_endpoint, tenant, ca_pem, django_capture_on_commit_callbacks
):
    from tenants.services import update_tenant

    tenant.ca_cert = ""
    tenant.save()
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        update_tenant(tenant, {"ca_cert": ca_pem})
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.PROVISIONING
    assert endpoint.observed_generation == endpoint.generation
    assert ("Ingress", "endpoint") in objects_of(kube)


def test_an_unprovisioned_tenant_makes_the_reconcile_wait(kube, namespace, make_endpoint, tenant):
    tenant.observed_generation = 0
    tenant.save()
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.FAILED
    assert "not provisioned yet" in endpoint.message
    assert kube.objects(namespace="test") == []


def test_the_local_orchestrator_says_when_the_model_has_no_ready_version(make_endpoint, settings):
    settings.MODELPORT_ORCHESTRATOR = "local"
    endpoint = reconcile(make_endpoint())
    assert endpoint.phase == Phase.FAILED
    assert "resnet has no ready version that {latest {}} selects" in endpoint.message
    Endpoint.objects.filter(pk=endpoint.pk).update(deletion_requested_at="2026-01-01T00:00Z")
    reconcile(endpoint)
    assert not Endpoint.objects.exists()


# --- status ---------------------------------------------------------------------------------


def pod(name, endpoint="endpoint", phase="Running", ready=True, containers=None, tenant="test"):
    labels = {**LABELS, "modelport.io/tenant": tenant, "modelport.io/endpoint": endpoint}
    status = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if containers is not None:
        status["containerStatuses"] = containers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": tenant, "labels": labels},
        "spec": {"containers": [{"name": "serving", "image": "x"}]},
        "status": status,
    }


def report_deployment(kube, name="endpoint", namespace="test", **status):
    deployment = kube.get_object("Deployment", namespace, name)
    deployment["status"] = status
    kube.put_object(deployment)


def test_status_counts_pods_and_replicas_and_turns_ready(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint(replicas=2))
    kube.put_object(pod("endpoint-a"))
    kube.put_object(pod("endpoint-b"))
    kube.put_object(pod("endpoint-c", phase="Pending", ready=False))
    kube.put_object(pod("endpoint-d", phase="Failed", ready=False))
    report_deployment(kube, availableReplicas=2, replicas=2)

    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()

    assert (endpoint.running_pods, endpoint.pending_pods, endpoint.failed_pods) == (2, 1, 1)
    assert (endpoint.available_replicas, endpoint.unavailable_replicas) == (2, None)


def test_a_pod_being_deleted_is_not_counted_as_running(kube, namespace, make_endpoint):
    """After a scale down the old pod says Running for its grace period (seen on a real
    apiserver: workers/tests/test_real_cluster.py); it is going, not serving."""
    endpoint = reconcile(make_endpoint(replicas=1))
    kube.put_object(pod("endpoint-a"))
    going = pod("endpoint-b")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    kube.put_object(going)
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert (endpoint.running_pods, endpoint.pending_pods) == (1, 0)


def test_pods_the_cluster_refuses_fail_the_endpoint_with_the_reason(kube, namespace, make_endpoint):
    """Admission (LimitRanger, the quota) refuses pods before they exist: only the Deployment's
    ReplicaFailure condition says why (seen on a real apiserver: test_real_cluster.py)."""
    endpoint = reconcile(make_endpoint(replicas=3))
    kube.put_object(pod("endpoint-a"))
    refused = (
        'pods "endpoint-x" is forbidden: exceeded quota: modelport-quota, requested: '
        "requests.cpu=1, used: requests.cpu=2, limited: requests.cpu=2"
    )
    condition = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}
    report_deployment(kube, availableReplicas=1, conditions=[{**condition, "message": refused}])
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.FAILED
    assert endpoint.message == f"The cluster refuses to create the endpoint's pods: {refused}"
    assert endpoint.available_replicas == 1


def test_status_is_provisioning_until_every_replica_is_available(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint(replicas=2))
    kube.put_object(pod("endpoint-a"))
    report_deployment(kube, availableReplicas=1, unavailableReplicas=1)
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.PROVISIONING
    assert endpoint.message == "1 of 2 replicas available."
    assert endpoint.unavailable_replicas == 1

    report_deployment(kube, availableReplicas=2)
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.READY
    assert endpoint.message == ""


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (
            {"name": "serving", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            "container serving is in ImagePullBackOff",
        ),
        (
            {"name": "serving", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            "container serving is in CrashLoopBackOff",
        ),
        (
            {
                "name": "serving",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            },
            "CrashLoopBackOff (last terminated: OOMKilled; raise its memory limit)",
        ),
        (
            {"name": "serving", "state": {"terminated": {"reason": "OOMKilled"}}},
            "container serving was OOMKilled",
        ),
    ],
)
def test_status_fails_with_the_reason_from_container_statuses(
    kube, namespace, make_endpoint, container, expected
):
    endpoint = reconcile(make_endpoint())
    kube.put_object(pod("endpoint-a", ready=False, containers=[container]))
    report_deployment(kube, unavailableReplicas=1)
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.FAILED
    assert expected in endpoint.message
    assert endpoint.message.startswith("Pod endpoint-a: ")


def test_a_waiting_container_that_is_only_starting_is_not_a_failure(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint())
    waiting = {"name": "serving", "state": {"waiting": {"reason": "ContainerCreating"}}}
    kube.put_object(pod("endpoint-a", phase="Pending", ready=False, containers=[waiting]))
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.PROVISIONING
    assert endpoint.pending_pods == 1


def test_kserve_status_counts_ready_pods(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint(serving="kserve", replicas=2))
    kube.put_object(pod("predictor-a"))
    kube.put_object(pod("predictor-b", ready=False))
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert (endpoint.available_replicas, endpoint.unavailable_replicas) == (1, 1)
    assert endpoint.phase == Phase.PROVISIONING


def test_a_status_cycle_lists_pods_and_deployments_once_for_all_namespaces(
    kube, namespace, make_endpoint, ca_pem
):
    from tenants.models import Tenant

    for name in ("one", "two", "three"):
        reconcile(make_endpoint(name))
    second = Tenant.objects.create(
        name="second", scope="g2", ca_cert=ca_pem, observed_generation=1, phase="Ready"
    )
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "second"}})
    for name in ("four", "five"):
        reconcile(make_endpoint(name, tenant=second))
    already = len(kube.requests)

    sync_endpoint_status.apply().get()

    calls = kube.requests[already:]
    assert [(r.method, r.path) for r in calls] == [
        ("GET", "/api/v1/pods"),
        ("GET", "/apis/apps/v1/deployments"),
    ]


@pytest.fixture
def pages_of_two(monkeypatch):
    from workers.backends.kube import KubeClient

    monkeypatch.setattr(KubeClient, "page_size", 2)


@pytest.mark.usefixtures("pages_of_two")
def test_a_status_cycle_reads_long_lists_page_by_page(kube, namespace, make_endpoint):
    endpoints = [reconcile(make_endpoint(name, replicas=2)) for name in ("one", "two", "three")]
    for endpoint in endpoints:
        for letter in "ab":
            kube.put_object(pod(f"{endpoint.name}-{letter}", endpoint=endpoint.name))
        report_deployment(kube, endpoint.name, availableReplicas=2, replicas=2)
    already = len(kube.requests)

    result = sync_endpoint_status.apply().get()

    assert result == {"tenants": 1, "changed": 3, "rescaled": 0}
    for endpoint in endpoints:
        endpoint.refresh_from_db()
        assert (endpoint.running_pods, endpoint.available_replicas) == (2, 2)
        assert endpoint.phase == Phase.READY
    # Six pods and three Deployments, two at a time.
    paths = [r.path for r in kube.requests[already:]]
    assert paths == ["/api/v1/pods"] * 3 + ["/apis/apps/v1/deployments"] * 2


@pytest.mark.usefixtures("pages_of_two")
def test_a_list_whose_pages_expire_midway_is_read_again_next_cycle(
    kube, namespace, make_endpoint, caplog
):
    """The apiserver answers 410 Gone to a continue token older than its compaction window."""
    from workers.backends.kube import get_kube_client
    from workers.errors import TransientError

    for name in ("one", "two", "three"):
        reconcile(make_endpoint(name))
        kube.put_object(pod(f"{name}-a", endpoint=name))
    pages = get_kube_client().pages("Pod", "test")
    first = [next(pages), next(pages)]
    kube.fail_next("GET", "/pods", status=410)

    with pytest.raises(TransientError, match="took too long and expired; it is read again"):
        next(pages)
    assert [item["metadata"]["name"] for item in first] == ["one-a", "three-a"]

    kube.fail_next("GET", "/pods", status=410)
    assert sync_endpoint_status.apply().get() == {
        "skipped": "The list of pods took too long and expired; it is read again."
    }
    assert "status of endpoints skipped" in caplog.text


def test_a_replica_count_changed_in_the_cluster_is_scaled_back(kube, namespace, make_endpoint):
    endpoint = reconcile(make_endpoint(replicas=2))
    deployment = kube.get_object("Deployment", "test", "endpoint")
    deployment["spec"]["replicas"] = 5
    kube.put_object(deployment)

    result = sync_endpoint_status.apply().get()

    assert result["rescaled"] == 1
    assert kube.get_object("Deployment", "test", "endpoint")["spec"]["replicas"] == 2
    endpoint.refresh_from_db()
    assert endpoint.phase != Phase.READY


def test_status_leaves_the_phase_of_an_endpoint_whose_change_is_not_applied(
    kube, namespace, make_endpoint
):
    endpoint = reconcile(make_endpoint())
    Endpoint.objects.filter(pk=endpoint.pk).update(
        generation=endpoint.generation + 1, phase=Phase.FAILED, message="apply failed"
    )
    kube.put_object(pod("endpoint-a"))
    report_deployment(kube, availableReplicas=1)
    sync_endpoint_status.apply().get()
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.FAILED
    assert endpoint.running_pods == 1


# --- resync ---------------------------------------------------------------------------------


def test_resync_reenqueues_lagging_endpoints_and_removes_orphaned_objects(
    kube, namespace, make_endpoint, tenant, settings
):
    settings.MODELPORT_RESYNC_SECONDS = 1
    # The tenant is up to date, so the resync's own endpoint pass is what finds the lagging one
    # (a tenant reconcile would wake it too).
    reconcile_tenant.apply(kwargs={"pk": tenant.pk}).get()
    lagging = make_endpoint()  # never reconciled: its task was lost
    gone = reconcile(make_endpoint("gone"))
    Endpoint.objects.filter(pk=gone.pk).delete()  # the row went, its objects stayed
    Endpoint.objects.filter(pk=lagging.pk).update(created_at="2026-01-01T00:00Z")

    result = resync_endpoints.apply().get()

    assert result["endpoints_reconciled"] == 1
    assert result["endpoint_objects_removed"] == 4
    lagging.refresh_from_db()
    assert lagging.observed_generation == lagging.generation
    assert objects_of(kube) == [
        ("ConfigMap", "endpoint"),
        ("Deployment", "endpoint"),
        ("Ingress", "endpoint"),
        ("Service", "endpoint"),
    ]


def test_resync_leaves_the_endpoints_of_a_tenant_being_deleted_to_the_tenant(
    kube, namespace, make_endpoint, tenant, settings
):
    settings.MODELPORT_RESYNC_SECONDS = 1
    endpoint = make_endpoint()
    Endpoint.objects.filter(pk=endpoint.pk).update(created_at="2026-01-01T00:00Z")
    tenant.deletion_requested_at = "2026-01-01T00:00Z"
    tenant.save()

    assert resync_endpoints.apply().get()["endpoints_reconciled"] == 0


def test_a_status_read_before_a_spec_change_is_not_written_over_it(kube, namespace, make_endpoint):
    from workers.backends.kubernetes import KubernetesOrchestrator

    endpoint = reconcile(make_endpoint())
    kube.put_object(pod("endpoint-a"))
    report_deployment(kube, availableReplicas=1)
    real = KubernetesOrchestrator.endpoint_statuses

    def change_meanwhile(self, replicas):
        # Someone patches the endpoint while the worker is reading the cluster.
        Endpoint.objects.filter(pk=endpoint.pk).update(generation=endpoint.generation + 1)
        return real(self, replicas)

    with mock.patch.object(KubernetesOrchestrator, "endpoint_statuses", change_meanwhile):
        result = sync_endpoint_status.apply().get()

    assert result["changed"] == 0
    endpoint.refresh_from_db()
    assert endpoint.phase == Phase.PROVISIONING
    assert endpoint.running_pods == 0
